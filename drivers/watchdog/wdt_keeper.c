/*
 * wdt_keeper.c - the boot guard's keeper: holds the watchdog for the guard's full time when
 * the driver counts less (wdt.h).
 *
 * `mailgw firmware guard` arms the device with the guard time; a driver may accept far
 * less (bcm2835_wdt: 15 s). The keeper, forked from it, keeps the device open and pets it
 * every third of that timeout until the guard's deadline, then exits without the magic
 * close: the board resets at most one driver timeout later unless mailgwd has taken the
 * device over. A hang of the kernel, or a keeper that is stopped or killed, stops the pets
 * and the board resets as before. Signals (from root, to the pid of the pidfile):
 *   SIGUSR1  hand over: exit without disarming (mailgwd opens the device next);
 *   SIGUSR2  disarm: magic close, then exit (`firmware confirm`, mailgwd without watchdog);
 *   SIGTERM, SIGINT, SIGHUP  exit without disarming (a stop is not a confirmation: init's
 *            kill at shutdown must not disarm the guard).
 */
#include "watchdog/wdt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

#define WDT_KEEPER_PIDFILE "/run/mailgw-wdt-guard.pid"
#define WDT_KEEPER_WAIT_MS 2000

static uint64_t wdt_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wdt_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *wdt_keeper_pidfile(void)
{
	const char *p = getenv("MAILGW_TEST_WDT_PIDFILE");

	return p != NULL && p[0] != '\0' ? p : WDT_KEEPER_PIDFILE;
}

static void wdt_keeper_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

static int wdt_keeper_write_pid(void)
{
	char tmp[300], text[24];
	const char *path = wdt_keeper_pidfile();
	int fd, n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, text, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* The keeper could not start: tells the guard why through the ready pipe (the guard says
 * it on the console: wdt_keeper_start's why) and ends. what names the failed step. */
static void wdt_keeper_fail(int ready, const char *what)
{
	char msg[400];
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));

	if (n > (int)sizeof(msg) - 1)
		n = (int)sizeof(msg) - 1;
	if (write(ready, msg, (size_t)n) != n) {
		/* the guard then says only that the keeper did not start */
	}
	_exit(1);
}

/* What the admin must see of the keeper: syslog, and the console when `firmware guard`
 * ran on it (/init's stderr, kept by wdt_keeper_run; elsewhere stderr is /dev/null). */
static void wdt_keeper_say(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wdt_keeper_say(int prio, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	syslog(prio, "%s", msg);
	dprintf(2, "firmware: %s\n", msg);
}

/* The keeper's life after the fork: never returns. */
static void wdt_keeper_run(struct wdt *w, const char *dev, uint64_t deadline_ms, int ready)
{
	uint64_t now, next, tried = 0;
	bool failing = false;
	struct timespec ts;
	char where[300];
	sigset_t set;
	int sig, fd, rc;

	prctl(PR_SET_NAME, WDT_KEEPER_NAME);
	/* Nothing of the command it was forked from stays open (no mount is kept busy). */
	for (fd = 3; fd < 1024; fd++)
		if (fd != w->fd && fd != w->sim_events && fd != ready)
			close(fd);
	if (setsid() < 0)
		wdt_keeper_fail(ready, "setsid");
	if (chdir("/") < 0)
		wdt_keeper_fail(ready, "chdir /");
	if (wdt_keeper_write_pid() < 0) {
		snprintf(where, sizeof(where), "pidfile %s", wdt_keeper_pidfile());
		wdt_keeper_fail(ready, where);
	}
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (!isatty(2))
			dup2(fd, 2); /* keep the console (/init), never a test's pipe */
		if (fd > 2)
			close(fd);
	}
	openlog("mailgw-wdt-keeper", LOG_PID, LOG_DAEMON);
	wdt_keeper_sigset(&set);
	if (write(ready, "1", 1) != 1)
		_exit(1);
	close(ready);
	for (;;) {
		/* A pet that fails is tried again a pet interval later, not at once (the
		 * keeper would spin), and said once per run of failures: the device counts
		 * on, and resets the board one timeout after the last pet that got through. */
		now = wdt_mono_ms();
		if (tried == 0 || (now - tried >= wdt_interval_ms(w) &&
				   tried + wdt_interval_ms(w) < deadline_ms)) {
			tried = now;
			rc = wdt_pet(w, now);
			if (rc < 0 && !failing) /* errno: the backend's failed call */
				wdt_keeper_say(LOG_ERR,
					       "watchdog %s: the boot guard's keeper cannot pet it "
					       "(%s): the board resets within %u s",
					       dev, strerror(errno), w->timeout_s);
			else if (rc == 0 && failing)
				wdt_keeper_say(LOG_NOTICE,
					       "watchdog %s: the boot guard's keeper pets it again",
					       dev);
			failing = rc < 0;
		}
		if (now >= deadline_ms) {
			wdt_keeper_say(LOG_ERR,
				       "watchdog %s: the boot guard's time is up and mailgwd "
				       "has not taken it over: the board resets within %u s",
				       dev, w->timeout_s);
			break;
		}
		next = tried + wdt_interval_ms(w);
		if (next > deadline_ms)
			next = deadline_ms;
		next = next > now ? next - now : 0;
		ts.tv_sec = (time_t)(next / 1000u);
		ts.tv_nsec = (long)(next % 1000u) * 1000000L;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGUSR1) {
			syslog(LOG_INFO, "watchdog %s: handed over to mailgwd", dev);
			break;
		}
		if (sig == SIGUSR2) {
			unlink(wdt_keeper_pidfile());
			wdt_close(w); /* the magic close: disarmed */
			syslog(LOG_INFO, "watchdog %s disarmed: the slot is confirmed", dev);
			_exit(0);
		}
		if (sig > 0) {
			syslog(LOG_WARNING, "watchdog %s: stopped by signal %d; left armed", dev,
			       sig);
			break;
		}
	}
	unlink(wdt_keeper_pidfile());
	wdt_release(w); /* no magic close: the device keeps counting */
	_exit(0);
}

int wdt_keeper_start(struct wdt *w, const char *dev, unsigned guard_s, uint64_t armed_ms, char *why,
		     size_t whysz)
{
	char msg[400] = "";
	sigset_t set, old;
	int pipefd[2];
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(why, whysz, "pipe: %s", strerror(errno));
		return -MGW_EIO;
	}
	wdt_keeper_sigset(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		wdt_keeper_run(w, dev, armed_ms + (uint64_t)guard_s * 1000u, pipefd[1]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(pipefd[1]);
	if (pid < 0) {
		snprintf(why, whysz, "fork: %s", strerror(errno));
		close(pipefd[0]);
		return -MGW_EIO;
	}
	/* "1" once the keeper runs, else the reason it gives before it ends (or nothing). */
	while (got < sizeof(msg) - 1) {
		n = read(pipefd[0], msg + got, sizeof(msg) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || msg[0] == '1')
			break;
		got += (size_t)n;
	}
	close(pipefd[0]);
	if (msg[0] != '1') {
		snprintf(why, whysz, "the keeper did not start: %s",
			 got > 0 ? msg : "it ended without a word");
		return -MGW_EIO;
	}
	/* The keeper holds the device now; this copy of the descriptor lets go. */
	wdt_release(w);
	return (int)pid;
}

pid_t wdt_keeper_find(void)
{
	char text[24] = "", path[64], comm[32] = "";
	struct stat st;
	ssize_t n;
	long pid;
	int fd;

	fd = open(wdt_keeper_pidfile(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	if (n <= 0 || fstat(fd, &st) < 0 || st.st_uid != geteuid() || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	close(fd);
	pid = strtol(text, NULL, 10);
	if (pid <= 1)
		return 0;
	/* Really the keeper: a process of ours (root on the board) that named itself so. */
	snprintf(path, sizeof(path), "/proc/%ld", pid);
	if (stat(path, &st) < 0 || st.st_uid != geteuid())
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0 || strncmp(comm, WDT_KEEPER_NAME "\n", sizeof(WDT_KEEPER_NAME)) != 0)
		return 0;
	return (pid_t)pid;
}

int wdt_open_takeover(struct wdt *w, const char *path, unsigned timeout_s, pid_t *keeper, char *why,
		      size_t whysz)
{
	int rc = wdt_open(w, path, timeout_s, why, whysz);
	uint64_t until;

	*keeper = 0;
	if (rc != -MGW_EEXIST || (*keeper = wdt_keeper_find()) == 0)
		return rc;
	if (kill(*keeper, SIGUSR1) < 0)
		return rc;
	until = wdt_mono_ms() + WDT_KEEPER_WAIT_MS;
	do {
		wdt_sleep_ms(20);
		rc = wdt_open(w, path, timeout_s, why, whysz);
	} while (rc == -MGW_EEXIST && wdt_mono_ms() < until);
	return rc;
}

pid_t wdt_keeper_disarm(void)
{
	pid_t pid = wdt_keeper_find();
	uint64_t until;
	struct stat st;

	if (pid == 0 || kill(pid, SIGUSR2) < 0)
		return 0;
	until = wdt_mono_ms() + WDT_KEEPER_WAIT_MS;
	while (stat(wdt_keeper_pidfile(), &st) == 0 && wdt_mono_ms() < until)
		wdt_sleep_ms(20);
	return stat(wdt_keeper_pidfile(), &st) == 0 ? -1 : pid;
}
