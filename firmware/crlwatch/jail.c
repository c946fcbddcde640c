/*
 * jail.c - work on untrusted bytes in a child process without privileges (README
 * "crlwatch", privileges): the HTTP fetch (fetch.c) and every parse of CRL bytes, the
 * validation of a candidate and the reading of the installed CRL (install.c).
 *
 * The child keeps only stdio, the pipe to the parent and the one fd it is given, drops to
 * CW_JAIL_USER (no supplementary groups, setresgid/setresuid, no way back, no new
 * privileges), gets resource limits (CPU time, data size, no core file, no new process,
 * no file written), runs the job and sends back a header, the job's fixed-size result
 * and at most max bytes. The parent bounds what it reads, waits at most a deadline, and
 * takes nothing from a child that died, stalled, or sent less or more: such a child is
 * a failure with its reason (a signal, an exit status, a timeout), never a result.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "crlwatch.h"
#include "tls/client.h"

#define CW_JAIL_CPU_S 20		  /* CPU seconds of one job (a TLS fetch, a 1 MiB CRL) */
#define CW_JAIL_DATA (128u * 1024 * 1024) /* heap of one job (CRL at most 1 MiB) */
#define CW_JAIL_FDS_MAX 4096		  /* fds above this are not looked at */

/* ASan reserves terabytes of shadow memory: a data limit would stop every ASan build. */
#if defined(__SANITIZE_ADDRESS__)
#define CW_JAIL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CW_JAIL_ASAN 1
#endif
#endif
#ifndef CW_JAIL_ASAN
#define CW_JAIL_ASAN 0
#endif

/* What the child sends first. */
struct cw_jail_hdr {
	int failed;	   /* 1: the job did not run (why) */
	int rc;		   /* the job's return */
	unsigned uid, gid; /* the child's credentials when the job ran, for the log */
	int ngroups;
	size_t len; /* bytes after the result */
	char why[CW_WHY_MAX];
};

int cw_drop(const char *user, char *why, size_t whysz)
{
	struct passwd *pw = getpwnam(user);
	uid_t uid;
	gid_t gid;

	if (pw == NULL || pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(why, whysz, "user %s for the unprivileged work: unknown", user);
		return -MGW_ENOENT;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		snprintf(why, whysz, "cannot drop to %s: %s", user, strerror(errno));
		return -MGW_EPERM;
	}
	/* no way back */
	if (setuid(0) == 0 || setgid(0) == 0 || geteuid() != uid || getegid() != gid) {
		snprintf(why, whysz, "cannot drop to %s: root could be regained", user);
		return -MGW_EPERM;
	}
	return 0;
}

int cw_read_full(int fd, void *p, size_t len, uint64_t deadline_ms)
{
	uint8_t *q = p;

	while (len > 0) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		uint64_t now = tls_client_now_ms();
		ssize_t n;

		if (now >= deadline_ms || poll(&pf, 1, (int)(deadline_ms - now)) <= 0)
			return -MGW_EAGAIN;
		n = read(fd, q, len);
		if (n == 0)
			return -MGW_ECLOSED;
		if (n < 0 && errno != EINTR)
			return -MGW_EIO;
		if (n > 0) {
			q += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

/* In the child: every fd but stdio, wfd and keep goes (the install lock, the control
 * socket, a directory of the USB key: nothing the job may use). */
static void cw_jail_fds(int wfd, int keep)
{
	struct rlimit rl;
	int top = CW_JAIL_FDS_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)top)
		top = (int)rl.rlim_cur;
	for (int fd = 3; fd < top; fd++)
		if (fd != wfd && fd != keep)
			close(fd);
}

static int cw_jail_limits(char *why, size_t whysz)
{
	struct rlimit none = {0, 0}, cpu = {CW_JAIL_CPU_S, CW_JAIL_CPU_S + 1};
	struct rlimit data = {CW_JAIL_DATA, CW_JAIL_DATA};

	if (setrlimit(RLIMIT_CORE, &none) < 0 || setrlimit(RLIMIT_FSIZE, &none) < 0 ||
	    setrlimit(RLIMIT_CPU, &cpu) < 0 ||
	    (!CW_JAIL_ASAN && setrlimit(RLIMIT_DATA, &data) < 0) ||
	    setrlimit(RLIMIT_NPROC, &none) < 0) {
		snprintf(why, whysz, "cannot limit the unprivileged process: %s", strerror(errno));
		return -MGW_EPERM;
	}
	return 0;
}

/* The child: never returns. */
static void cw_jail_child(const struct cw_jail *j, int wfd, cw_jail_fn fn, void *arg, void *res,
			  size_t ressz)
{
	struct cw_jail_hdr h;
	const char *hold = getenv("CRLWATCH_TEST_HOLD");
	char *data = NULL;
	size_t len = 0;
	int rc;

	memset(&h, 0, sizeof(h));
	memset(res, 0, ressz);
	signal(SIGPIPE, SIG_DFL);
	cw_jail_fds(wfd, j->keep_fd);
	h.failed = 1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(h.why, sizeof(h.why), "no_new_privs: %s", strerror(errno));
		goto send;
	}
	if (geteuid() == 0 && cw_drop(CW_JAIL_USER, h.why, sizeof(h.why)) < 0)
		goto send;
	if (cw_jail_limits(h.why, sizeof(h.why)) < 0)
		goto send;
	/* tests/integration/test_crlwatch.py looks at the held child in /proc */
	if (hold != NULL && strcmp(hold, j->name) == 0)
		raise(SIGSTOP);
	h.failed = 0;
	h.uid = (unsigned)getuid();
	h.gid = (unsigned)getgid();
	h.ngroups = getgroups(0, NULL);
	h.rc = fn(arg, res, &data, &len);
	if (data == NULL)
		len = 0;
	h.len = len;
send:
	rc = file_write_all(wfd, &h, sizeof(h));
	if (rc == 0)
		rc = file_write_all(wfd, res, ressz);
	if (rc == 0 && h.len > 0)
		rc = file_write_all(wfd, data, h.len);
	_exit(rc == 0 ? 0 : 1);
}

/* How a child that did not answer ended, into why. */
static void cw_jail_end(const struct cw_jail *j, pid_t pid, int rc, char *why, size_t whysz)
{
	int st = 0;

	if (rc == -MGW_EAGAIN) {
		kill(pid, SIGKILL);
		snprintf(why, whysz, "%s: timed out after %u s (stopped)", j->what, j->timeout_s);
		(void)waitpid(pid, &st, 0);
		return;
	}
	/* it closed the pipe early: dead, or about to be made so */
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st))
		snprintf(why, whysz, "%s: the process died (signal %d, %s) before it answered",
			 j->what, WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(why, whysz, "%s: the process ended (status %d) before it answered",
			 j->what, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int cw_jail_run(const struct cw_jail *j, cw_jail_fn fn, void *arg, void *res, size_t ressz,
		size_t max, char **data, size_t *len, int *job_rc, char *why, size_t whysz)
{
	uint64_t dl = tls_client_now_ms() + (uint64_t)j->timeout_s * 1000u;
	struct cw_jail_hdr h;
	int pfd[2] = {-1, -1}, st = 0, rc;
	char *buf = NULL;
	pid_t pid;

	*data = NULL;
	*len = 0;
	*job_rc = -MGW_EIO;
	if (pipe2(pfd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		snprintf(why, whysz, "%s: cannot start a process: %s", j->what, strerror(errno));
		rc = -MGW_EIO;
		goto out;
	}
	if (pid == 0) {
		close(pfd[0]);
		cw_jail_child(j, pfd[1], fn, arg, res, ressz);
	}
	close(pfd[1]);
	pfd[1] = -1;
	rc = cw_read_full(pfd[0], &h, sizeof(h), dl);
	if (rc == 0)
		rc = cw_read_full(pfd[0], res, ressz, dl);
	if (rc < 0) {
		cw_jail_end(j, pid, rc, why, whysz);
		rc = -MGW_EIO;
		goto out;
	}
	h.why[sizeof(h.why) - 1] = '\0';
	if (h.failed) {
		char safe[CW_WHY_MAX];

		snprintf(why, whysz, "%s: %s", j->what,
			 log_safe(safe, sizeof(safe), h.why, strlen(h.why)));
		kill(pid, SIGKILL);
		(void)waitpid(pid, &st, 0);
		rc = -MGW_EPERM;
		goto out;
	}
	if (h.len > max) {
		snprintf(why, whysz, "%s: the process sent %zu bytes, more than the %zu expected",
			 j->what, h.len, max);
		kill(pid, SIGKILL);
		(void)waitpid(pid, &st, 0);
		rc = -MGW_ELIMIT;
		goto out;
	}
	buf = malloc(h.len + 1);
	if (buf == NULL) {
		snprintf(why, whysz, "%s: out of memory", j->what);
		kill(pid, SIGKILL);
		(void)waitpid(pid, &st, 0);
		rc = -MGW_ENOMEM;
		goto out;
	}
	rc = cw_read_full(pfd[0], buf, h.len, dl);
	if (rc < 0) {
		cw_jail_end(j, pid, rc, why, whysz);
		rc = -MGW_EIO;
		goto out;
	}
	buf[h.len] = '\0';
	/* everything read: the child must now end by itself, with status 0 */
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			st = -1;
			break;
		}
		if (tls_client_now_ms() >= dl) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &st, 0);
			break;
		}
		(void)poll(NULL, 0, 5);
	}
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(why, whysz, "%s: the process did not end cleanly after it answered",
			 j->what);
		rc = -MGW_EIO;
		goto out;
	}
	log_debug("%s: done by process %d as uid %u gid %u with %d supplementary groups", j->what,
		  (int)pid, h.uid, h.gid, h.ngroups);
	*job_rc = h.rc;
	*data = buf;
	*len = h.len;
	buf = NULL;
	rc = 0;
out:
	if (rc < 0)
		memset(res, 0, ressz);
	free(buf);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return rc;
}
