/*
 * alias.c - aliases of a domain: lines of etc/domains/<domain>/aliases (admin.h), in the
 * format proto/smtp_rcpt.h reads. Lines the admin wrote by hand (comments, even
 * malformed ones) are kept as they are; only the edited alias's line changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "core/err.h"
#include "core/log.h"
#include "proto/smtp_rcpt.h"

#define ADMIN_ALIAS_TEXT_MAX (SMTP_ALIAS_LINE_MAX + 2)

/* Parses an aliases line; true with local (and targets) for an alias line. */
static bool admin_alias_parse(const char *line, size_t len, const char *domain, char *local,
			      size_t localsz, struct smtp_mbox *t, size_t *nt)
{
	const char *why;

	return smtp_alias_line_parse(line, len, domain, local, localsz, t, nt, &why) ==
	       MGW_PARSE_OK;
}

struct admin_alias_edit {
	const char *domain;
	const char *local;
	const char *line; /* replacement, NULL to delete */
	char *out;
	size_t len;
	bool found;
	struct smtp_mbox t[SMTP_ALIAS_TARGETS_MAX];
};

static int admin_alias_edit_line(void *arg, const char *line, size_t len, unsigned lineno)
{
	struct admin_alias_edit *e = arg;
	char local[PASSWD_USER_MAX + 1];
	size_t nt;

	(void)lineno;
	if (!e->found && admin_alias_parse(line, len, e->domain, local, sizeof(local), e->t, &nt) &&
	    strcmp(local, e->local) == 0) {
		e->found = true;
		if (e->line == NULL)
			return 0;
		line = e->line;
		len = strlen(e->line);
	}
	memcpy(e->out + e->len, line, len);
	e->len += len;
	e->out[e->len++] = '\n';
	return 0;
}

/* Rewrites domain's aliases with local's line replaced by line (appended when absent)
 * or, with line NULL, removed (-MGW_ENOENT when absent). */
static int admin_alias_edit(const struct layout *l, const char *domain, const char *local,
			    const char *line, char *msg, size_t msgsz)
{
	struct admin_alias_edit e;
	char rel[LAYOUT_PATH_MAX];
	char *old;
	size_t oldlen;
	int rc;

	memset(&e, 0, sizeof(e));
	e.domain = domain;
	e.local = local;
	e.line = line;
	rc = admin_domain_rel(domain, "aliases", rel, sizeof(rel));
	if (rc == 0)
		rc = admin_domain_file(l, domain, "aliases", SMTP_ALIAS_FILE_MAX, &old, &oldlen,
				       msg, msgsz);
	if (rc < 0)
		return rc;
	rc = -MGW_ENOMEM;
	e.out = malloc(oldlen + ADMIN_ALIAS_TEXT_MAX + 2);
	if (e.out == NULL)
		goto out;
	admin_lines(old, oldlen, admin_alias_edit_line, &e);
	rc = -MGW_ENOENT;
	if (!e.found && line == NULL) {
		snprintf(msg, msgsz, "no alias %s@%s", local, domain);
		goto out;
	}
	if (!e.found) {
		memcpy(e.out + e.len, line, strlen(line));
		e.len += strlen(line);
		e.out[e.len++] = '\n';
	}
	rc = -MGW_ELIMIT;
	if (e.len > SMTP_ALIAS_FILE_MAX) {
		snprintf(msg, msgsz, "%s/%s: would exceed %u bytes", l->data_dir, rel,
			 SMTP_ALIAS_FILE_MAX);
		goto out;
	}
	rc = layout_write(l, rel, e.out, e.len, msg, msgsz);
out:
	free(old);
	free(e.out);
	return rc;
}

int admin_alias_add(const struct layout *l, const char *addr, const char *targets, char *msg,
		    size_t msgsz)
{
	struct smtp_mbox t[SMTP_ALIAS_TARGETS_MAX];
	char line[ADMIN_ALIAS_TEXT_MAX], local[PASSWD_USER_MAX + 1];
	char user[PASSWD_ADDR_MAX + 2];
	struct passwd_addr a;
	const char *why = "";
	size_t nt, i, len;
	int rc, n;

	rc = admin_addr_local(l, addr, &a, msg, msgsz);
	if (rc < 0)
		return rc;
	snprintf(user, sizeof(user), "%s@%s", a.user, a.domain);
	if (admin_user_exists(l, user)) {
		snprintf(msg, msgsz, "%s is a user: an alias cannot shadow it", user);
		return -MGW_EEXIST;
	}
	if (strchr(targets, '\n') != NULL || strchr(targets, '\r') != NULL) {
		snprintf(msg, msgsz, "%s", "a line break in the targets");
		return -MGW_EINVAL;
	}
	n = snprintf(line, sizeof(line), "%s: %s", a.user, targets);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		snprintf(msg, msgsz, "%s", "too many targets");
		return -MGW_EINVAL;
	}
	if (smtp_alias_line_parse(line, (size_t)n, a.domain, local, sizeof(local), t, &nt, &why) !=
	    MGW_PARSE_OK) {
		snprintf(msg, msgsz, "alias %s: %s", user, why);
		return -MGW_EINVAL;
	}
	/* Every target an existing user, written in its canonical form. */
	len = (size_t)snprintf(line, sizeof(line), "%s:", a.user);
	for (i = 0; i < nt; i++) {
		snprintf(user, sizeof(user), "%s@%s", t[i].user, t[i].domain);
		if (!admin_user_exists(l, user)) {
			snprintf(msg, msgsz, "alias target %s is not an existing user", user);
			return -MGW_ENOENT;
		}
		n = snprintf(line + len, sizeof(line) - len, "%s %s", i ? "," : "",
			     strcmp(t[i].domain, a.domain) == 0 ? t[i].user : user);
		if (n < 0 || (size_t)n >= sizeof(line) - len) {
			snprintf(msg, msgsz, "%s", "too many targets");
			return -MGW_EINVAL;
		}
		len += (size_t)n;
	}
	rc = admin_alias_edit(l, a.domain, a.user, line, msg, msgsz);
	if (rc < 0)
		return rc;
	snprintf(msg, msgsz, "alias %s@%s set:%s", a.user, a.domain, strchr(line, ':') + 1);
	log_info("%s", msg);
	return 0;
}

int admin_alias_del(const struct layout *l, const char *addr, char *msg, size_t msgsz)
{
	struct passwd_addr a;
	int rc;

	rc = admin_addr_local(l, addr, &a, msg, msgsz);
	if (rc == 0)
		rc = admin_alias_edit(l, a.domain, a.user, NULL, msg, msgsz);
	if (rc < 0)
		return rc;
	snprintf(msg, msgsz, "alias %s@%s deleted", a.user, a.domain);
	log_info("%s", msg);
	return 0;
}

struct admin_alist {
	const struct layout *l;
	const char *domain;
	admin_list_fn fn;
	void *arg;
	char *msg;
	size_t msgsz;
};

static int admin_alias_line(void *arg, const char *line, size_t len, unsigned lineno)
{
	struct admin_alist *al = arg;
	struct smtp_mbox t[SMTP_ALIAS_TARGETS_MAX];
	char local[PASSWD_USER_MAX + 1], name[PASSWD_ADDR_MAX + 1];
	char targets[ADMIN_ALIAS_TEXT_MAX];
	size_t nt, i, tl = 0;

	(void)lineno;
	if (!admin_alias_parse(line, len, al->domain, local, sizeof(local), t, &nt))
		return 0;
	snprintf(name, sizeof(name), "%s@%s", local, al->domain);
	targets[0] = '\0';
	for (i = 0; i < nt && tl < sizeof(targets); i++) {
		int n = snprintf(targets + tl, sizeof(targets) - tl, "%s%s@%s", i ? ", " : "",
				 t[i].user, t[i].domain);

		if (n < 0)
			break;
		tl += (size_t)n;
	}
	return al->fn(al->arg, name, targets);
}

static int admin_alias_list_dom(void *arg, const char *domain, const char *unused)
{
	struct admin_alist *al = arg;
	char *text;
	size_t len;
	int rc;

	(void)unused;
	al->domain = domain;
	rc = admin_domain_need(al->l, domain, al->msg, al->msgsz);
	if (rc == 0)
		rc = admin_domain_file(al->l, domain, "aliases", SMTP_ALIAS_FILE_MAX, &text, &len,
				       al->msg, al->msgsz);
	if (rc < 0)
		return rc;
	rc = admin_lines(text, len, admin_alias_line, al);
	free(text);
	return rc;
}

int admin_alias_list(const struct layout *l, const char *domain, admin_list_fn fn, void *arg,
		     char *msg, size_t msgsz)
{
	struct admin_alist al = {l, domain, fn, arg, msg, msgsz};

	snprintf(msg, msgsz, "%s", "");
	if (domain != NULL)
		return admin_alias_list_dom(&al, domain, NULL);
	return admin_domain_list(l, admin_alias_list_dom, &al, msg, msgsz);
}
