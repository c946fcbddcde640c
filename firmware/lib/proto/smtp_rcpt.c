/*
 * smtp_rcpt.c - recipient resolution: local domains, passwd users, aliases, admins.
 *
 * Every name that reaches a path went through passwd_user_valid()/passwd_domain_valid()
 * first (allow-lists; CVE-2020-7247 was a peer's text reaching a command).
 */
#include "proto/smtp_rcpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"

#define SMTP_RCPT_PATH_MAX 512

static void smtp_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

/* Copies len bytes into a NUL-terminated lower-case string; false if it does not fit. */
static bool smtp_copy_lower(char *out, size_t outsz, const void *p, size_t len)
{
	if (len >= outsz || memchr(p, '\0', len))
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	smtp_lower(out);
	return true;
}

int smtp_domain_local(const char *data_dir, const char *domain)
{
	char path[SMTP_RCPT_PATH_MAX];
	struct stat st;
	int n;

	if (!passwd_domain_valid(domain))
		return 0;
	n = snprintf(path, sizeof(path), "%s/etc/domains/%s", data_dir, domain);
	if (n < 0 || (size_t)n >= sizeof(path))
		return 0;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 1 : 0;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	/* EACCES (etc/ or etc/domains/ not readable by the daemon) is a local fault: a
	 * permanent "relaying denied" would bounce mail for a domain we serve. */
	log_err("%s: %s", path, strerror(errno));
	return -MGW_EIO;
}

/* A small list of mailboxes being collected for one RCPT. */
struct smtp_mbox_list {
	struct smtp_mbox mb[SMTP_ALIAS_TARGETS_MAX];
	size_t n;
};

static void smtp_list_add(struct smtp_mbox_list *l, const char *domain, const char *user)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->mb[i].domain, domain) == 0 && strcmp(l->mb[i].user, user) == 0)
			return;
	if (l->n < MGW_ARRAY_LEN(l->mb)) {
		snprintf(l->mb[l->n].domain, sizeof(l->mb[l->n].domain), "%s", domain);
		snprintf(l->mb[l->n].user, sizeof(l->mb[l->n].user), "%s", user);
		l->n++;
	}
}

/* 0 when domain/user is an existing local user; -MGW_ENOENT; -MGW_EIO. */
static int smtp_user_exists(const char *data_dir, const char *domain, const char *user)
{
	struct passwd_entry e;
	int rc;

	rc = smtp_domain_local(data_dir, domain);
	if (rc < 0)
		return rc;
	if (rc == 0 || !passwd_user_valid(user))
		return -MGW_ENOENT;
	rc = passwd_lookup(data_dir, domain, user, &e);
	explicit_bzero(&e, sizeof(e));
	if (rc == -MGW_EINVAL)
		rc = -MGW_ENOENT;
	return rc;
}

int smtp_rcpt_quota(const char *data_dir, uint64_t dflt, const struct smtp_mbox *mb,
		    uint64_t *limit)
{
	struct passwd_entry e;
	int rc = passwd_lookup(data_dir, mb->domain, mb->user, &e);

	*limit = rc == 0 && e.has_quota ? e.quota : dflt;
	explicit_bzero(&e, sizeof(e));
	return rc == -MGW_EIO ? rc : 0;
}

bool smtp_path_is_admin(const struct smtp_path *path)
{
	static const char *const roles[] = {"postmaster", "abuse"};

	if (path->null)
		return false;
	if (path->domain == NULL)
		return true; /* "<postmaster>" */
	for (size_t i = 0; i < MGW_ARRAY_LEN(roles); i++)
		if (!path->quoted && path->local_len == strlen(roles[i]) &&
		    strncasecmp((const char *)path->local, roles[i], path->local_len) == 0)
			return true;
	return false;
}

/*
 * Parses one target ("user" or "user@domain") into a mailbox; home_domain is used when
 * no domain is given. Returns false with *why on a malformed target.
 */
static bool smtp_target_parse(const char *p, size_t len, const char *home_domain,
			      struct smtp_mbox *out, const char **why)
{
	struct passwd_addr a;

	if (memchr(p, '@', len) == NULL) {
		if (!smtp_copy_lower(out->user, sizeof(out->user), p, len) ||
		    !passwd_user_valid(out->user)) {
			*why = "invalid user name in target";
			return false;
		}
		snprintf(out->domain, sizeof(out->domain), "%s", home_domain);
		return true;
	}
	if (passwd_addr_parse(p, len, &a) != MGW_PARSE_OK) {
		*why = "invalid address in target";
		return false;
	}
	snprintf(out->user, sizeof(out->user), "%s", a.user);
	snprintf(out->domain, sizeof(out->domain), "%s", a.domain);
	return true;
}

static bool smtp_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* One comma-separated item from p: its bounds without blanks in [*t, *te); returns where
 * it ends (at the ',' or end). */
static const char *smtp_item(const char *p, const char *end, const char **t, const char **te)
{
	while (p < end && smtp_is_blank(*p))
		p++;
	*t = p;
	while (p < end && *p != ',')
		p++;
	*te = p;
	while (*te > *t && smtp_is_blank((*te)[-1]))
		(*te)--;
	return p;
}

/*
 * Parses one aliases line "local: t1, t2" (len bytes, no LF). MGW_PARSE_NEED_MORE for a
 * blank or comment line; MGW_PARSE_SYNTAX with *why; MGW_PARSE_OK with the alias name in
 * local and its targets in l.
 */
static int smtp_alias_line(const char *line, size_t len, const char *home_domain, char *local,
			   size_t localsz, struct smtp_mbox_list *l, const char **why)
{
	const char *p = line, *end = line + len, *colon;

	l->n = 0;
	if (len > 0 && line[len - 1] == '\r')
		end--;
	while (p < end && smtp_is_blank(*p))
		p++;
	if (p == end || *p == '#')
		return MGW_PARSE_NEED_MORE;
	if (memchr(p, '\0', (size_t)(end - p))) {
		*why = "NUL byte in line";
		return MGW_PARSE_SYNTAX;
	}
	colon = memchr(p, ':', (size_t)(end - p));
	if (colon == NULL) {
		*why = "expected 'local: user[, user...]'";
		return MGW_PARSE_SYNTAX;
	}
	{
		const char *ke = colon;

		while (ke > p && smtp_is_blank(ke[-1]))
			ke--;
		if (!smtp_copy_lower(local, localsz, p, (size_t)(ke - p)) ||
		    !passwd_user_valid(local)) {
			*why = "invalid alias name";
			return MGW_PARSE_SYNTAX;
		}
	}
	p = colon + 1;
	for (;;) {
		const char *t, *te;
		struct smtp_mbox mb;

		p = smtp_item(p, end, &t, &te);
		if (te == t) {
			*why = "empty target";
			return MGW_PARSE_SYNTAX;
		}
		if (l->n >= SMTP_ALIAS_TARGETS_MAX) {
			*why = "too many targets";
			return MGW_PARSE_SYNTAX;
		}
		if (!smtp_target_parse(t, (size_t)(te - t), home_domain, &mb, why))
			return MGW_PARSE_SYNTAX;
		smtp_list_add(l, mb.domain, mb.user);
		if (p == end)
			break;
		p++; /* ',' */
	}
	return MGW_PARSE_OK;
}

/*
 * Walks an aliases file. With want != NULL: stops at the entry named want and fills l
 * (returns 0, or -MGW_ENOENT when absent), logging malformed lines. With want == NULL:
 * checks every line, first problem into err (-MGW_ECONFIG).
 */
static int smtp_alias_walk(const char *path, const char *home_domain, const char *want,
			   struct smtp_mbox_list *l, unsigned *lineno_out, char *err, size_t errsz)
{
	char *text;
	size_t len, pos = 0;
	unsigned lineno = 0;
	int rc = file_read_all(path, SMTP_ALIAS_FILE_MAX, &text, &len);

	if (rc < 0) {
		if (err)
			snprintf(err, errsz, "%s: %s", path,
				 rc == -MGW_ELIMIT ? "file too large" : mgw_strerror(rc));
		return rc;
	}
	rc = -MGW_ENOENT;
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t l_len = nl ? (size_t)(nl - line) : len - pos;
		char local[PASSWD_USER_MAX + 1];
		const char *why = "malformed line";
		int r;

		pos += l_len + (nl ? 1 : 0);
		lineno++;
		if (l_len > SMTP_ALIAS_LINE_MAX) {
			r = MGW_PARSE_TOO_LONG;
			why = "line too long";
		} else {
			r = smtp_alias_line(line, l_len, home_domain, local, sizeof(local), l,
					    &why);
		}
		if (r == MGW_PARSE_NEED_MORE)
			continue;
		if (r != MGW_PARSE_OK) {
			if (want == NULL) {
				snprintf(err, errsz, "%s:%u: %s", path, lineno, why);
				rc = -MGW_ECONFIG;
				goto out;
			}
			log_warn("%s:%u: %s (line ignored)", path, lineno, why);
			continue;
		}
		if (want && strcmp(local, want) == 0) {
			if (lineno_out)
				*lineno_out = lineno;
			rc = 0;
			goto out;
		}
	}
	if (want == NULL)
		rc = 0;
out:
	free(text);
	return rc;
}

int smtp_alias_line_parse(const char *line, size_t len, const char *home_domain, char *local,
			  size_t localsz, struct smtp_mbox *targets, size_t *ntargets,
			  const char **why)
{
	struct smtp_mbox_list *l;
	int r;

	*ntargets = 0;
	if (len > SMTP_ALIAS_LINE_MAX) {
		*why = "line too long";
		return MGW_PARSE_TOO_LONG;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		*why = "out of memory";
		return MGW_PARSE_LIMIT;
	}
	r = smtp_alias_line(line, len, home_domain, local, localsz, l, why);
	if (r == MGW_PARSE_OK) {
		memcpy(targets, l->mb, l->n * sizeof(l->mb[0]));
		*ntargets = l->n;
	}
	free(l);
	return r;
}

int smtp_alias_file_check(const char *path, char *err, size_t errsz)
{
	struct smtp_mbox_list *l = calloc(1, sizeof(*l));
	int rc;

	if (l == NULL)
		return -MGW_ENOMEM;
	/* The home domain only fills in targets; its value does not matter for syntax. */
	rc = smtp_alias_walk(path, "localhost", NULL, l, NULL, err, errsz);
	free(l);
	return rc;
}

/* Parses the admin list into l; false on a syntax error (why set). */
static bool smtp_admins_parse(const char *admins, struct smtp_mbox_list *l, const char **why)
{
	const char *p = admins, *end = admins + strlen(admins);

	l->n = 0;
	while (p < end) {
		const char *t, *te;
		struct smtp_mbox mb;

		p = smtp_item(p, end, &t, &te);
		if (p < end)
			p++; /* ',' */
		if (te == t)
			continue; /* "a@b, , c@d" and a trailing comma are tolerated */
		if (memchr(t, '@', (size_t)(te - t)) == NULL) {
			*why = "an admin must be given as user@domain";
			return false;
		}
		if (l->n >= SMTP_ADMINS_MAX) {
			*why = "too many admins";
			return false;
		}
		if (!smtp_target_parse(t, (size_t)(te - t), "", &mb, why))
			return false;
		smtp_list_add(l, mb.domain, mb.user);
	}
	return true;
}

int smtp_admins_check(const char *admins, char *why, size_t whysz)
{
	struct smtp_mbox_list l;
	const char *w = "";

	if (!smtp_admins_parse(admins, &l, &w)) {
		snprintf(why, whysz, "%s", w);
		return -MGW_EINVAL;
	}
	return 0;
}

/* Checks that every mailbox in l exists; logs the first that does not (with origin). */
static enum smtp_rcpt_res smtp_list_verify(const char *data_dir, const struct smtp_mbox_list *l,
					   const char *origin, unsigned lineno)
{
	for (size_t i = 0; i < l->n; i++) {
		int rc = smtp_user_exists(data_dir, l->mb[i].domain, l->mb[i].user);

		if (rc == -MGW_EIO)
			return SMTP_RCPT_TEMP;
		if (rc < 0) {
			if (lineno)
				log_err("%s:%u: target %s@%s is not a local user", origin, lineno,
					l->mb[i].user, l->mb[i].domain);
			else
				log_err("%s: %s@%s is not a local user", origin, l->mb[i].user,
					l->mb[i].domain);
			return SMTP_RCPT_TEMP;
		}
	}
	return l->n > 0 ? SMTP_RCPT_OK : SMTP_RCPT_TEMP;
}

static enum smtp_rcpt_res smtp_admins_list(const char *data_dir, const char *admins,
					   struct smtp_mbox_list *l)
{
	const char *why = "";

	if (!smtp_admins_parse(admins, l, &why)) {
		log_err("[smtp] postmaster: %s", why);
		return SMTP_RCPT_TEMP;
	}
	if (l->n == 0) {
		log_err("[smtp] postmaster is not set: mail to postmaster/abuse is deferred");
		return SMTP_RCPT_TEMP;
	}
	return smtp_list_verify(data_dir, l, "[smtp] postmaster", 0);
}

static bool smtp_set_has(const struct smtp_mbox_set *set, const struct smtp_mbox *mb)
{
	for (size_t j = 0; j < set->n; j++)
		if (strcmp(set->mb[j].domain, mb->domain) == 0 &&
		    strcmp(set->mb[j].user, mb->user) == 0)
			return true;
	return false;
}

/* Appends l to set unless it would overflow max. */
static enum smtp_rcpt_res smtp_set_merge(struct smtp_mbox_set *set, size_t max,
					 const struct smtp_mbox_list *l)
{
	size_t add = 0;

	if (max > MAILDIR_RCPT_MAX)
		max = MAILDIR_RCPT_MAX;
	for (size_t i = 0; i < l->n; i++)
		if (!smtp_set_has(set, &l->mb[i]))
			add++;
	if (set->n + add > max)
		return SMTP_RCPT_FULL;
	for (size_t i = 0; i < l->n; i++)
		if (!smtp_set_has(set, &l->mb[i]))
			set->mb[set->n++] = l->mb[i];
	return SMTP_RCPT_OK;
}

/* The mailboxes a local part of a local domain names (into l), in the order of the file
 * header: user, alias, postmaster/abuse. */
static enum smtp_rcpt_res smtp_local_lookup(const char *data_dir, const char *admins,
					    const char *domain, const char *user,
					    struct smtp_mbox_list *l)
{
	char apath[SMTP_RCPT_PATH_MAX];
	unsigned lineno = 0;
	int rc, n;

	rc = smtp_user_exists(data_dir, domain, user);
	if (rc == 0) {
		smtp_list_add(l, domain, user);
		return SMTP_RCPT_OK;
	}
	if (rc != -MGW_ENOENT)
		return SMTP_RCPT_TEMP;
	n = snprintf(apath, sizeof(apath), "%s/etc/domains/%s/aliases", data_dir, domain);
	if (n < 0 || (size_t)n >= sizeof(apath))
		return SMTP_RCPT_TEMP;
	rc = smtp_alias_walk(apath, domain, user, l, &lineno, NULL, 0);
	if (rc == 0)
		return smtp_list_verify(data_dir, l, apath, lineno);
	if (rc != -MGW_ENOENT) {
		log_err("%s: %s", apath, mgw_strerror(rc));
		return SMTP_RCPT_TEMP;
	}
	if (strcmp(user, "postmaster") == 0 || strcmp(user, "abuse") == 0)
		return smtp_admins_list(data_dir, admins, l);
	return SMTP_RCPT_UNKNOWN;
}

enum smtp_rcpt_res smtp_rcpt_resolve(const char *data_dir, const char *admins,
				     const struct smtp_path *path, struct smtp_mbox_set *set,
				     size_t max)
{
	struct smtp_mbox_list *l = calloc(1, sizeof(*l));
	char domain[PASSWD_DOMAIN_MAX + 1], user[PASSWD_USER_MAX + 1];
	enum smtp_rcpt_res res = SMTP_RCPT_TEMP;
	int local = 0;

	if (l == NULL)
		return SMTP_RCPT_TEMP;
	if (path->domain == NULL) {
		/* "<postmaster>" without a domain, RFC 5321 §4.1.1.3. */
		res = smtp_admins_list(data_dir, admins, l);
	} else if (path->null || path->route || path->literal || path->percent ||
		   !smtp_copy_lower(domain, sizeof(domain), path->domain, path->domain_len) ||
		   (local = smtp_domain_local(data_dir, domain)) == 0) {
		res = SMTP_RCPT_RELAY;
	} else if (local < 0) {
		res = SMTP_RCPT_TEMP;
	} else if (path->quoted ||
		   !smtp_copy_lower(user, sizeof(user), path->local, path->local_len) ||
		   !passwd_user_valid(user)) {
		res = SMTP_RCPT_UNKNOWN;
	} else {
		res = smtp_local_lookup(data_dir, admins, domain, user, l);
	}
	if (res == SMTP_RCPT_OK)
		res = smtp_set_merge(set, max, l);
	free(l);
	return res;
}
