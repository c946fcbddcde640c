/*
 * cmd_daemon.c - the commands about mailgwd itself: status, reload, help.
 */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <libcli.h>

#include "console.h"

static void status_line(void *arg, const char *text)
{
	cons_out(arg, "%s", text);
}

/* What the console sees itself: the clock and the data partition. */
static void status_local(struct cons *c)
{
	struct statvfs sv;
	char when[64];
	time_t now = time(NULL);

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	cons_out(c, "clock: %s", when);
	if (statvfs(c->data_dir, &sv) == 0) {
		unsigned long long total = (unsigned long long)sv.f_blocks * sv.f_frsize;
		unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;

		cons_out(c, "data: %s, %llu MiB free of %llu MiB (%llu%% used)", c->data_dir,
			 avail >> 20, total >> 20,
			 total > 0 ? (total - avail) * 100 / total : 0ULL);
	} else {
		cons_out(c, "data: %s not mounted or not readable", c->data_dir);
	}
}

static int cmd_status(struct cons *c)
{
	char why[512];
	int rc = ctl_call(c->sock_path, "status", status_line, c, why, sizeof(why));

	status_local(c);
	if (rc != CONS_OK)
		cons_err(c, "mailgwd: %s", why);
	return rc;
}

static int cmd_reload(struct cons *c)
{
	return ctl_reload(c);
}

static int cmd_help(struct cons *c)
{
	cli_help(c->cli, "help", NULL, 0);
	cons_out(c, "%s", "");
	cons_out(c, "Type '?' after a command or part of one for what may follow; TAB completes "
		    "commands");
	cons_out(c, "and names; a unique prefix is enough (st = status).");
	return CONS_OK;
}

const struct cons_cmd cons_cmds_daemon[] = {
    {"status",
     "what the gateway is doing: services, sessions, certificates, disk, clock",
     cmd_status,
     {{NULL}}},
    {"reload",
     "re-read the configuration and the TLS files (sessions go on)",
     cmd_reload,
     {{NULL}}},
    {"help", "list the commands", cmd_help, {{NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
