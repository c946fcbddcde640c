/*
 * cmd_system.c - the appliance itself: shell, log, time, reboot, poweroff, factory-reset.
 *
 * Programs are run with fork + execv of an absolute path and fixed arguments; nothing an
 * admin types reaches a shell. The terminal goes back to its normal mode while a program
 * owns it (shell, log follow) and to raw mode afterwards.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "core/num.h"

#define SYS_SHELL "/bin/sh"
#define SYS_LOGREAD "/sbin/logread"
#define SYS_CLOCK "/usr/libexec/mailgw/clock"
#define SYS_LOG_LINES_DEFAULT 40
#define SYS_LOG_LINES_MAX 1000

/* Runs argv[0] with the terminal in its normal mode; the console ignores Ctrl-C meanwhile
 * (it belongs to the program). The exit status, or -1. */
int cons_run_prog(struct cons *c, char *const argv[], int out_fd)
{
	struct sigaction ign = {.sa_handler = SIG_IGN}, oint, oquit;
	int status = -1;
	pid_t pid;

	cons_tty_restore(c);
	sigaction(SIGINT, &ign, &oint);
	sigaction(SIGQUIT, &ign, &oquit);
	pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		if (out_fd >= 0 && out_fd != STDOUT_FILENO) {
			dup2(out_fd, STDOUT_FILENO);
			close(out_fd);
		}
		execv(argv[0], argv);
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	if (c->interactive)
		cons_tty_raw(c);
	if (pid < 0) {
		cons_err(c, "%s: %s", argv[0], strerror(errno));
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int cmd_shell(struct cons *c)
{
	char *argv[] = {SYS_SHELL, "-l", NULL};

	cons_out(c, "BusyBox shell for experts; 'exit' returns to the console.");
	cons_run_prog(c, argv, -1);
	return CONS_OK;
}

/* ---- log ---------------------------------------------------------------------------- */

static const char *sys_logread(void)
{
	const char *p = getenv("MAILGW_LOGREAD"); /* tests: a program printing the log */

	return p != NULL && p[0] == '/' ? p : SYS_LOGREAD;
}

int cons_log_lines(struct cons *c, const char *grep, unsigned lines)
{
	char *ring[SYS_LOG_LINES_MAX] = {0};
	char buf[1024];
	size_t n = 0;
	int fds[2];
	pid_t pid;
	FILE *f;

	if (lines == 0 || lines > SYS_LOG_LINES_MAX || pipe(fds) < 0)
		return CONS_ERROR;
	/* The reader runs in a child; we keep the last lines of its output. */
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDOUT_FILENO);
		execl(sys_logread(), sys_logread(), (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	f = pid > 0 ? fdopen(fds[0], "r") : NULL;
	if (f == NULL) {
		cons_err(c, "cannot read the log: %s", strerror(errno));
		close(fds[0]);
		return CONS_ERROR;
	}
	while (fgets(buf, sizeof(buf), f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		if (grep != NULL && strstr(buf, grep) == NULL)
			continue;
		free(ring[n % lines]);
		ring[n % lines] = strdup(buf);
		n++;
	}
	fclose(f);
	waitpid(pid, NULL, 0);
	for (size_t i = n > lines ? n - lines : 0; i < n; i++) {
		cons_out(c, "%s", ring[i % lines] != NULL ? ring[i % lines] : "");
		free(ring[i % lines]);
		ring[i % lines] = NULL;
	}
	if (n == 0)
		cons_out(c, "(no log lines%s)", grep != NULL ? " match" : "");
	return CONS_OK;
}

static int cmd_log(struct cons *c)
{
	const char *lines_s = cons_arg(c, "lines");
	uint32_t lines = SYS_LOG_LINES_DEFAULT;

	if (lines_s != NULL && (!num_parse_u32(lines_s, strlen(lines_s), &lines) || lines == 0 ||
				lines > SYS_LOG_LINES_MAX)) {
		cons_err(c, "lines: a number from 1 to %d", SYS_LOG_LINES_MAX);
		return CONS_REFUSED;
	}
	if (cons_arg(c, "follow") != NULL) {
		char *argv[] = {(char *)sys_logread(), "-f", NULL};

		cons_out(c, "following the log; Ctrl-C stops");
		return cons_run_prog(c, argv, -1) < 0 ? CONS_ERROR : CONS_OK;
	}
	return cons_log_lines(c, cons_arg(c, "grep"), lines);
}

/* ---- time --------------------------------------------------------------------------- */

static int cmd_time(struct cons *c)
{
	char when[64], ntp[256];
	time_t now = time(NULL);
	struct stat st;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	cons_out(c, "time: %s", when);
	cons_out(c, "rtc: %s", stat("/dev/rtc0", &st) == 0 ? "yes (/dev/rtc0)" : "none");
	net_ntp_servers(c, ntp, sizeof(ntp));
	cons_out(c, "ntp: %s", ntp[0] != '\0' ? ntp : "none ('net ntp' sets servers)");
	if (ntp[0] == '\0' && stat("/dev/rtc0", &st) != 0)
		cons_out(c, "without RTC and NTP: set it once with 'time set'");
	return CONS_OK;
}

static int cmd_time_set(struct cons *c)
{
	const char *s = cons_arg(c, "WHEN");
	struct tm tm = {0};
	struct timespec ts = {0};
	const char *end;
	char when[64], ntp[256];

	end = s != NULL ? strptime(s, "%Y-%m-%d %H:%M:%S", &tm) : NULL;
	if (end == NULL || *end != '\0') {
		cons_err(c, "time set: give the UTC time as \"YYYY-MM-DD HH:MM:SS\"");
		return CONS_REFUSED;
	}
	if (net_ntp_servers(c, ntp, sizeof(ntp))[0] != '\0') {
		cons_err(c, "time set: the clock follows NTP (%s); 'net ntp none' first", ntp);
		return CONS_REFUSED;
	}
	ts.tv_sec = timegm(&tm);
	if (ts.tv_sec < time(NULL)) {
		/* Certificates and CRLs are judged by this clock: never backwards. */
		cons_err(c, "time set: that is earlier than the clock; the clock never goes back");
		return CONS_REFUSED;
	}
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (!cons_confirm(c, "Set the clock to the given time?"))
		return CONS_REFUSED;
	if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
		cons_err(c, "time set: %s", strerror(errno));
		return CONS_ERROR;
	}
	{
		char *argv[] = {SYS_CLOCK, "save", NULL};

		if (access(SYS_CLOCK, X_OK) == 0)
			cons_run_prog(c, argv, -1);
	}
	cons_out(c, "clock set to %s", when);
	return CONS_OK;
}

/* ---- reboot, poweroff, factory-reset --------------------------------------------------- */

static int sys_power(struct cons *c, const char *question, const char *prog)
{
	char *argv[] = {(char *)prog, NULL};

	if (!cons_confirm(c, question)) {
		cons_out(c, "cancelled");
		return CONS_REFUSED;
	}
	sync();
	return cons_run_prog(c, argv, -1) == 0 ? CONS_OK : CONS_ERROR;
}

int cons_reboot(struct cons *c)
{
	const char *hook = getenv("MAILGW_REBOOT"); /* tests: a program instead */
	char *argv[] = {hook != NULL && hook[0] == '/' ? (char *)hook : "/sbin/reboot", NULL};

	sync();
	return cons_run_prog(c, argv, -1) == 0 ? CONS_OK : CONS_ERROR;
}

static int cmd_reboot(struct cons *c)
{
	return sys_power(c, "Reboot the gateway now?", "/sbin/reboot");
}

static int cmd_poweroff(struct cons *c)
{
	return sys_power(c, "Power the gateway off now?", "/sbin/poweroff");
}

static int cmd_factory_reset(struct cons *c)
{
	static const char *const wipe[] = {"etc", "ca", "mail", "spool", "state", "pki"};
	char *argv[4 + sizeof(wipe) / sizeof(wipe[0])], paths[sizeof(wipe) / sizeof(wipe[0])][512];
	size_t n = 0;

	if (!cons_confirm_typed(c,
				"This erases ALL mail, users, certificates and settings on "
				"/data and reboots.",
				"factory-reset")) {
		cons_out(c, "cancelled: nothing was changed");
		return CONS_REFUSED;
	}
	argv[n++] = "/bin/rm";
	argv[n++] = "-rf";
	argv[n++] = "--";
	for (size_t i = 0; i < sizeof(wipe) / sizeof(wipe[0]); i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/%s", c->data_dir, wipe[i]);
		argv[n++] = paths[i];
	}
	argv[n] = NULL;
	if (cons_run_prog(c, argv, -1) != 0) {
		cons_err(c, "factory-reset: could not erase everything under %s", c->data_dir);
		return CONS_ERROR;
	}
	sync();
	cons_out(c, "%s erased; rebooting to a first boot", c->data_dir);
	{
		char *rb[] = {"/sbin/reboot", NULL};

		cons_run_prog(c, rb, -1);
	}
	return CONS_OK;
}

const struct cons_cmd cons_cmds_system[] = {
    {"shell", "the BusyBox shell, for experts ('exit' comes back)", cmd_shell, {{NULL}}},
    {"log",
     "the system log (mailgwd, boot, network): the last lines",
     cmd_log,
     {{"follow", CONS_ARG_FLAG, "keep showing new lines until Ctrl-C"},
      {"lines", CONS_ARG_VALUE, "how many of the last lines (default 40)"},
      {"grep", CONS_ARG_VALUE, "only lines containing this text"},
      {NULL}}},
    {"time", "show the clock and where it comes from", cmd_time, {{NULL}}},
    {"time set",
     "set the clock once, when there is no RTC and no NTP",
     cmd_time_set,
     {{"WHEN", CONS_ARG_REST, "UTC time \"YYYY-MM-DD HH:MM:SS\""}, {NULL}}},
    {"reboot", "restart the gateway (asks first)", cmd_reboot, {{NULL}}},
    {"poweroff", "switch the gateway off (asks first)", cmd_poweroff, {{NULL}}},
    {"factory-reset",
     "erase /data and reboot to a first boot (asks for the word)",
     cmd_factory_reset,
     {{NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
