/*
 * cmd_alias.c - aliases (alias add|del|list) and the postmaster list (postmaster), both
 * through admin/admin.h.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "apply.h"

static int alias_name(void *arg, const char *name, const char *value)
{
	void **a = arg;

	(void)value;
	return ((cons_add_fn)a[0])(a[1], name, NULL);
}

void cmd_alias_names(struct cons *c, cons_add_fn add, void *arg)
{
	struct layout l;
	char msg[LAYOUT_MSG_MAX];
	void *a[2] = {(void *)add, arg};

	if (layout_open(&l, c->data_dir, NULL, msg, sizeof(msg)) < 0)
		return;
	admin_alias_list(&l, NULL, alias_name, a, msg, sizeof(msg));
	layout_close(&l);
}

static int alias_change(struct cons *c, bool del)
{
	const char *addr = cons_arg(c, "ALIAS"), *targets = cons_arg(c, "TARGETS");
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
	char msg[LAYOUT_MSG_MAX], rel[LAYOUT_PATH_MAX];
	struct apply_snap s;
	struct layout l;
	int rc;

	if (at == NULL || strchr(at, '/') != NULL) {
		cons_err(c, "alias: an address local@domain");
		return CONS_REFUSED;
	}
	rc = apply_open(c, &l);
	if (rc != CONS_OK)
		return rc;
	snprintf(rel, sizeof(rel), "etc/domains/%s/aliases", at + 1);
	apply_snap(&l, &s, rel);
	rc = del ? admin_alias_del(&l, addr, msg, sizeof(msg))
		 : admin_alias_add(&l, addr, targets != NULL ? targets : "", msg, sizeof(msg));
	return apply_finish(c, &l, rc, msg, &s, 1);
}

static int cmd_alias_add(struct cons *c)
{
	return alias_change(c, false);
}

static int cmd_alias_del(struct cons *c)
{
	return alias_change(c, true);
}

static int cmd_alias_list(struct cons *c)
{
	return apply_list(c, admin_alias_list, cons_arg(c, "domain"));
}

static int cmd_postmaster(struct cons *c)
{
	char msg[LAYOUT_MSG_MAX], list[LAYOUT_MSG_MAX];
	struct layout l;
	int rc = apply_open(c, &l);

	if (rc != CONS_OK)
		return rc;
	rc = admin_postmaster_get(&l, list, sizeof(list), msg, sizeof(msg));
	if (rc < 0)
		cons_err(c, "%s", msg);
	else
		cons_out(c, "postmaster: %s", list[0] != '\0' ? list : "(none)");
	layout_close(&l);
	return apply_status(rc);
}

static int postmaster_edit(const struct layout *l, const void *arg, char *msg, size_t msgsz)
{
	return admin_postmaster_set(l, arg, msg, msgsz);
}

static int cmd_postmaster_set(struct cons *c)
{
	const char *list = cons_arg(c, "ADDRESSES");

	return apply_conf(c, postmaster_edit,
			  list != NULL && strcmp(list, "none") != 0 ? list : "");
}

const struct cons_cmd cons_cmds_alias[] = {
    {"alias add",
     "mail for an alias goes to existing users",
     cmd_alias_add,
     {{"ALIAS", CONS_ARG, "the alias, local@domain"},
      {"TARGETS", CONS_ARG_REST, "users, separated by commas: joe, ann@example.com"},
      {NULL}}},
    {"alias del",
     "delete an alias",
     cmd_alias_del,
     {{"ALIAS", CONS_ARG, "an existing alias"}, {NULL}}},
    {"alias list",
     "list the aliases",
     cmd_alias_list,
     {{"domain", CONS_ARG_VALUE, "only the aliases of this domain"}, {NULL}}},
    {"postmaster",
     "who gets mail for postmaster@ and the gateway's reports",
     cmd_postmaster,
     {{NULL}}},
    {"postmaster set",
     "set the postmaster list (existing users)",
     cmd_postmaster_set,
     {{"ADDRESSES", CONS_ARG_REST, "user@domain[, user@domain...], or none"}, {NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
