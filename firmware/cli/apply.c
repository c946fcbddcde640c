/*
 * apply.c - how the console changes things: open the data directory's layout (every
 * write goes through admin/layout.h: atomic, owner/group/mode of the table, no symlink
 * followed), keep a copy of the files a change touches, make the change, ask mailgwd to
 * reload; when mailgwd refuses, put the old files back, reload again and show the reason.
 */
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "core/err.h"

#define APPLY_FILE_MAX (4 * 1024 * 1024)

int apply_open(struct cons *c, struct layout *l)
{
	char msg[LAYOUT_MSG_MAX] = "";
	int rc = layout_open(l, c->data_dir, NULL, msg, sizeof(msg));

	if (rc < 0) {
		cons_err(c, "%s", msg[0] != '\0' ? msg : mgw_strerror(rc));
		return rc == -MGW_ECONFIG || rc == -MGW_ENOENT ? CONS_REFUSED : CONS_ERROR;
	}
	return CONS_OK;
}

int apply_status(int rc)
{
	switch (rc) {
	case 0:
		return CONS_OK;
	case -MGW_EINVAL:
	case -MGW_ENOENT:
	case -MGW_EEXIST:
	case -MGW_ECONFIG:
	case -MGW_EPERM:
		return CONS_REFUSED;
	default:
		return CONS_ERROR;
	}
}

void apply_snap(const struct layout *l, struct apply_snap *s, const char *rel)
{
	char msg[LAYOUT_MSG_MAX];

	memset(s, 0, sizeof(*s));
	s->rel = rel;
	s->existed = layout_read(l, rel, APPLY_FILE_MAX, &s->data, &s->len, msg, sizeof(msg)) == 0;
}

void apply_snap_free(struct apply_snap *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].data);
		s[i].data = NULL;
	}
}

static void apply_restore(struct cons *c, const struct layout *l, struct apply_snap *s, size_t n)
{
	char msg[LAYOUT_MSG_MAX];

	for (size_t i = 0; i < n; i++) {
		int rc = s[i].existed
			     ? layout_write(l, s[i].rel, s[i].data, s[i].len, msg, sizeof(msg))
			     : layout_unlink(l, s[i].rel, msg, sizeof(msg));

		if (rc < 0 && rc != -MGW_ENOENT)
			cons_err(c, "rollback: %s", msg);
	}
}

int apply_reload(struct cons *c, const struct layout *l, struct apply_snap *s, size_t n,
		 const char *done)
{
	char why[512], again[512];
	int rc = ctl_call(c->sock_path, "reload", NULL, NULL, why, sizeof(why));

	if (rc == CONS_OK) {
		cons_out(c, "%s", done);
		return CONS_OK;
	}
	if (rc == CONS_ERROR) {
		/* Written and kept: mailgwd reads it when it next starts or reloads. */
		cons_out(c, "%s", done);
		cons_err(c, "warning: not applied yet: %s", why);
		return CONS_OK;
	}
	apply_restore(c, l, s, n);
	if (ctl_call(c->sock_path, "reload", NULL, NULL, again, sizeof(again)) != CONS_OK)
		cons_err(c, "reload after the rollback: %s", again);
	cons_err(c, "mailgwd refused the change, which was undone: %s", why);
	return CONS_REFUSED;
}

int apply_finish(struct cons *c, struct layout *l, int rc, const char *msg, struct apply_snap *s,
		 size_t n)
{
	if (rc < 0) {
		cons_err(c, "%s", msg);
		rc = apply_status(rc);
	} else {
		rc = apply_reload(c, l, s, n, msg);
	}
	apply_snap_free(s, n);
	layout_close(l);
	return rc;
}

static int apply_print(void *arg, const char *name, const char *value)
{
	if (value != NULL)
		cons_out(arg, "%s -> %s", name, value);
	else
		cons_out(arg, "%s", name);
	return 0;
}

int apply_list(struct cons *c, apply_list_fn list, const char *domain)
{
	char msg[LAYOUT_MSG_MAX];
	struct layout l;
	int rc = apply_open(c, &l);

	if (rc != CONS_OK)
		return rc;
	rc = list(&l, domain, apply_print, c, msg, sizeof(msg));
	if (rc < 0)
		cons_err(c, "%s", msg);
	layout_close(&l);
	return apply_status(rc);
}

int apply_conf(struct cons *c, apply_conf_fn edit, const void *arg)
{
	char msg[LAYOUT_MSG_MAX];
	struct apply_snap s;
	struct layout l;
	int rc = apply_open(c, &l);

	if (rc != CONS_OK)
		return rc;
	apply_snap(&l, &s, "etc/mailgw.conf");
	rc = edit(&l, arg, msg, sizeof(msg));
	return apply_finish(c, &l, rc, msg, &s, 1);
}
