/*
 * cmd_user.c - users: user add|del|passwd|list (admin/admin.h). Passwords are typed
 * twice without echo (cons_read_secret), never taken from the command line.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "apply.h"

void cmd_user_names(struct cons *c, cons_add_fn add, void *arg)
{
	struct layout l;
	char msg[LAYOUT_MSG_MAX];

	if (layout_open(&l, c->data_dir, NULL, msg, sizeof(msg)) < 0)
		return;
	admin_user_list(&l, NULL, add, arg, msg, sizeof(msg));
	layout_close(&l);
}

/* The passwd-file of addr's domain, for a rollback; false when addr has no '@'. */
static bool user_snap(const struct layout *l, const char *addr, struct apply_snap *s,
		      char rel[LAYOUT_PATH_MAX])
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

	if (at == NULL || strchr(at, '/') != NULL)
		return false;
	snprintf(rel, LAYOUT_PATH_MAX, "etc/domains/%s/passwd", at + 1);
	apply_snap(l, s, rel);
	return true;
}

enum user_op { USER_ADD, USER_PASSWD, USER_DEL };

static int user_change(struct cons *c, const char *argname, enum user_op op)
{
	const char *addr = cons_arg(c, argname);
	char msg[LAYOUT_MSG_MAX], rel[LAYOUT_PATH_MAX], pw[CONS_SECRET_MAX], q[LAYOUT_MSG_MAX];
	struct apply_snap s;
	struct layout l;
	int rc;

	if (addr == NULL || strchr(addr, '@') == NULL) {
		cons_err(c, "user: an address user@domain");
		return CONS_REFUSED;
	}
	rc = apply_open(c, &l);
	if (rc != CONS_OK)
		return rc;
	/* Checked before the password is asked, so nobody types one for nothing. */
	if (op == USER_ADD && admin_user_exists(&l, addr)) {
		cons_err(c, "user %s already exists ('user passwd' changes the password)", addr);
		layout_close(&l);
		return CONS_REFUSED;
	}
	if (op != USER_ADD && !admin_user_exists(&l, addr)) {
		cons_err(c, "no user %s", addr);
		layout_close(&l);
		return CONS_REFUSED;
	}
	if (op == USER_DEL) {
		snprintf(q, sizeof(q), "Delete user %s (the mail is kept)?", addr);
		if (!cons_confirm(c, q)) {
			cons_out(c, "cancelled");
			layout_close(&l);
			return CONS_REFUSED;
		}
	} else if (cons_read_secret(c, "Password: ", true, pw, sizeof(pw)) < 0) {
		layout_close(&l);
		return CONS_REFUSED;
	}
	if (!user_snap(&l, addr, &s, rel)) {
		cons_err(c, "user: an address user@domain");
		layout_close(&l);
		return CONS_REFUSED;
	}
	if (op == USER_ADD)
		rc = admin_user_add(&l, addr, pw, strlen(pw), 0, msg, sizeof(msg));
	else if (op == USER_PASSWD)
		rc = admin_user_passwd(&l, addr, pw, strlen(pw), 0, msg, sizeof(msg));
	else
		rc = admin_user_del(&l, addr, msg, sizeof(msg));
	memset(pw, 0, sizeof(pw));
	return apply_finish(c, &l, rc, msg, &s, 1);
}

static int cmd_user_add(struct cons *c)
{
	return user_change(c, "ADDRESS", USER_ADD);
}

static int cmd_user_passwd(struct cons *c)
{
	return user_change(c, "USER", USER_PASSWD);
}

static int cmd_user_del(struct cons *c)
{
	return user_change(c, "USER", USER_DEL);
}

static int cmd_user_list(struct cons *c)
{
	return apply_list(c, admin_user_list, cons_arg(c, "domain"));
}

const struct cons_cmd cons_cmds_user[] = {
    {"user add",
     "add a user (the password is asked twice, not shown)",
     cmd_user_add,
     {{"ADDRESS", CONS_ARG, "user@domain, in an existing domain"}, {NULL}}},
    {"user del",
     "delete a user (asks first; the mail is kept)",
     cmd_user_del,
     {{"USER", CONS_ARG, "an existing user@domain"}, {NULL}}},
    {"user passwd",
     "set a user's password (asked twice, not shown)",
     cmd_user_passwd,
     {{"USER", CONS_ARG, "an existing user@domain"}, {NULL}}},
    {"user list",
     "list the users",
     cmd_user_list,
     {{"domain", CONS_ARG_VALUE, "only the users of this domain"}, {NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
