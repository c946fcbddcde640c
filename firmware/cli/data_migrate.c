/*
 * data_migrate.c - the console side of /data's versioned migrations (admin/migrate.h):
 * run them (rcS through `firmware migrate`, and `firmware confirm` once a slot on trial
 * has confirmed) and show the data format in `firmware status`. Every line goes to the
 * console and to syslog.
 */
#include <stdio.h>
#include <syslog.h>

#include "admin/migrate.h"
#include "apply.h"
#include "console.h"
#include "core/err.h"

static void dm_report(void *arg, const char *line)
{
	struct cons *c = arg;

	cons_out(c, "%s", line);
	syslog(LOG_NOTICE, "%s", line);
}

int data_migrate(struct cons *c, bool reload)
{
	struct migrate_format f;
	char msg[LAYOUT_MSG_MAX] = "";
	struct layout l;
	int rc = apply_open(c, &l), ran;

	if (rc != CONS_OK)
		return rc;
	ran = migrate_run(&l, dm_report, c);
	layout_close(&l);
	if (ran == -MGW_EPERM && migrate_format_load(c->data_dir, &f, msg, sizeof(msg)) == 0)
		return migrate_too_new(&f) ? CONS_REFUSED : CONS_OK;
	if (ran < 0)
		return CONS_ERROR;
	if (ran > 0 && reload) {
		/* mailgwd runs on the data as it was: it re-reads its configuration and TLS files
		 */
		if (ctl_reload(c) != CONS_OK)
			return CONS_ERROR;
		dm_report(c, "data: mailgwd reloaded its configuration");
	}
	return CONS_OK;
}

void data_migrate_wait(struct cons *c, char slot)
{
	struct migrate_format f;
	char msg[LAYOUT_MSG_MAX] = "", line[MIGRATE_LINE_MAX];

	if (migrate_format_load(c->data_dir, &f, msg, sizeof(msg)) < 0) {
		snprintf(line, sizeof(line), "data: *** %s ***", msg);
		dm_report(c, line);
		return;
	}
	if (f.format >= migrate_latest())
		return;
	snprintf(line, sizeof(line),
		 "data: /data is in format %u, this firmware's is %u: the migrations wait until "
		 "slot %c confirms (the previous slot must still boot on /data as it is)",
		 f.format, migrate_latest(), slot);
	dm_report(c, line);
}

void data_status(struct cons *c)
{
	struct migrate_format f;
	char msg[LAYOUT_MSG_MAX] = "", text[MIGRATE_LINE_MAX];

	if (migrate_format_load(c->data_dir, &f, msg, sizeof(msg)) < 0) {
		cons_out(c, "data format: %s", msg);
		return;
	}
	if (f.format > migrate_latest()) {
		migrate_newer_text(&f, text, sizeof(text));
		cons_out(c, "data format: %s", text);
	} else if (f.format < migrate_latest()) {
		cons_out(c, "data format: %u (this firmware's: %u, migrations pending)", f.format,
			 migrate_latest());
	} else {
		cons_out(c, "data format: %u", f.format);
	}
}
