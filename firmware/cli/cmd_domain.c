/*
 * cmd_domain.c - local domains: domain add|del|list (admin/admin.h).
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "apply.h"

/* Completion and listing: each domain. */
void cmd_domain_names(struct cons *c, cons_add_fn add, void *arg)
{
	struct layout l;
	char msg[LAYOUT_MSG_MAX];

	if (layout_open(&l, c->data_dir, NULL, msg, sizeof(msg)) < 0)
		return;
	admin_domain_list(&l, add, arg, msg, sizeof(msg));
	layout_close(&l);
}

/* The domain's two files, for a rollback. */
static void domain_snap(const struct layout *l, const char *domain, struct apply_snap s[2],
			char rel[2][LAYOUT_PATH_MAX])
{
	snprintf(rel[0], LAYOUT_PATH_MAX, "etc/domains/%s/passwd", domain);
	snprintf(rel[1], LAYOUT_PATH_MAX, "etc/domains/%s/aliases", domain);
	apply_snap(l, &s[0], rel[0]);
	apply_snap(l, &s[1], rel[1]);
}

static int domain_change(struct cons *c, bool del)
{
	const char *domain = cons_arg(c, "DOMAIN");
	char msg[LAYOUT_MSG_MAX], rel[2][LAYOUT_PATH_MAX], q[LAYOUT_MSG_MAX];
	struct apply_snap s[2];
	struct layout l;
	int rc;

	if (domain == NULL || strchr(domain, '/') != NULL) {
		cons_err(c, "domain: a domain name, e.g. example.com");
		return CONS_REFUSED;
	}
	rc = apply_open(c, &l);
	if (rc != CONS_OK)
		return rc;
	if (del) {
		snprintf(q, sizeof(q), "Delete domain %s and its users (their mail is kept)?",
			 domain);
		if (!cons_confirm(c, q)) {
			cons_out(c, "cancelled");
			layout_close(&l);
			return CONS_REFUSED;
		}
	}
	domain_snap(&l, domain, s, rel);
	rc = del ? admin_domain_del(&l, domain, cons_arg(c, "force") != NULL, msg, sizeof(msg))
		 : admin_domain_add(&l, domain, msg, sizeof(msg));
	return apply_finish(c, &l, rc, msg, s, 2);
}

static int cmd_domain_add(struct cons *c)
{
	return domain_change(c, false);
}

static int cmd_domain_del(struct cons *c)
{
	return domain_change(c, true);
}

static int domain_print(void *arg, const char *name, const char *value)
{
	(void)value;
	cons_out(arg, "%s", name);
	return 0;
}

static int cmd_domain_list(struct cons *c)
{
	char msg[LAYOUT_MSG_MAX];
	struct layout l;
	int rc = apply_open(c, &l);

	if (rc != CONS_OK)
		return rc;
	rc = admin_domain_list(&l, domain_print, c, msg, sizeof(msg));
	if (rc < 0)
		cons_err(c, "%s", msg);
	layout_close(&l);
	return apply_status(rc);
}

const struct cons_cmd cons_cmds_domain[] = {
    {"domain add",
     "add a local domain (mail for its users is accepted)",
     cmd_domain_add,
     {{"DOMAIN", CONS_ARG, "the new domain, e.g. example.com"}, {NULL}}},
    {"domain del",
     "delete a local domain (asks first; stored mail is kept)",
     cmd_domain_del,
     {{"DOMAIN", CONS_ARG, "an existing domain"},
      {"force", CONS_ARG_FLAG, "also when it still has users"},
      {NULL}}},
    {"domain list", "list the local domains", cmd_domain_list, {{NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
