/*
 * domain.c - local domains: etc/domains/<domain>/ with its passwd-file (admin.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin/admin_int.h"
#include "core/err.h"
#include "core/log.h"

int admin_addr(const char *addr, struct passwd_addr *a, char *msg, size_t msgsz)
{
	if (passwd_addr_parse(addr, strlen(addr), a) != MGW_PARSE_OK) {
		snprintf(msg, msgsz,
			 "'%s' is not a valid user@domain (a-z 0-9 . _ - + before the @)", addr);
		return -MGW_EINVAL;
	}
	return 0;
}

int admin_domain_rel(const char *domain, const char *file, char *rel, size_t relsz)
{
	int n;

	if (!passwd_domain_valid(domain))
		return -MGW_EINVAL;
	n = snprintf(rel, relsz, "etc/domains/%s%s%s", domain, file ? "/" : "", file ? file : "");
	return (n < 0 || (size_t)n >= relsz) ? -MGW_ELIMIT : 0;
}

int admin_domain_file(const struct layout *l, const char *domain, const char *file, size_t max,
		      char **text, size_t *len, char *msg, size_t msgsz)
{
	char rel[LAYOUT_PATH_MAX];
	int rc;

	rc = admin_domain_rel(domain, file, rel, sizeof(rel));
	if (rc < 0) {
		snprintf(msg, msgsz, "'%s' is not a valid domain name", domain);
		return rc;
	}
	rc = layout_read(l, rel, max, text, len, msg, msgsz);
	if (rc == -MGW_ENOENT) {
		*text = calloc(1, 1);
		*len = 0;
		rc = *text ? 0 : -MGW_ENOMEM;
	}
	return rc;
}

int admin_lines(const char *text, size_t len, admin_line_fn fn, void *arg)
{
	size_t pos = 0;
	unsigned lineno = 0;
	int rc = 0;

	while (pos < len && rc == 0) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;

		pos += n + (nl ? 1 : 0);
		rc = fn(arg, line, n, ++lineno);
	}
	return rc;
}

struct admin_find {
	const char *user;
	size_t n; /* users seen */
};

static int admin_find_line(void *arg, const char *line, size_t len, unsigned lineno)
{
	struct admin_find *f = arg;
	struct passwd_entry e;
	const char *why;
	int found = 0;

	(void)lineno;
	if (passwd_line_parse(line, len, &e, &why) == MGW_PARSE_OK) {
		f->n++;
		found = f->user != NULL && strcmp(e.user, f->user) == 0;
	}
	explicit_bzero(&e, sizeof(e));
	return found;
}

bool admin_text_has_user(const char *text, size_t len, const char *user)
{
	struct admin_find f = {user, 0};

	return admin_lines(text, len, admin_find_line, &f) == 1;
}

bool admin_domain_exists(const struct layout *l, const char *domain)
{
	char rel[LAYOUT_PATH_MAX];
	struct stat sb;

	return admin_domain_rel(domain, NULL, rel, sizeof(rel)) == 0 &&
	       layout_stat(l, rel, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int admin_domain_need(const struct layout *l, const char *domain, char *msg, size_t msgsz)
{
	if (admin_domain_exists(l, domain))
		return 0;
	snprintf(msg, msgsz, "no domain %s (add it first)", domain);
	return -MGW_ENOENT;
}

int admin_domain_add(const struct layout *l, const char *domain, char *msg, size_t msgsz)
{
	char rel[LAYOUT_PATH_MAX];
	int rc;

	if (admin_domain_rel(domain, "passwd", rel, sizeof(rel)) < 0) {
		snprintf(msg, msgsz,
			 "'%s' is not a valid domain name (lower-case a-z 0-9 - labels, dots)",
			 domain);
		return -MGW_EINVAL;
	}
	if (admin_domain_exists(l, domain)) {
		snprintf(msg, msgsz, "domain %s already exists", domain);
		return -MGW_EEXIST;
	}
	rc = layout_write(l, rel, "", 0, msg, msgsz);
	if (rc < 0)
		return rc;
	snprintf(msg, msgsz, "domain %s added", domain);
	log_info("domain %s added", domain);
	return 0;
}

int admin_domain_del(const struct layout *l, const char *domain, bool force, char *msg,
		     size_t msgsz)
{
	struct admin_find f = {NULL, 0};
	char rel[LAYOUT_PATH_MAX];
	char *text;
	size_t len;
	int rc;

	if (admin_domain_rel(domain, NULL, rel, sizeof(rel)) < 0) {
		snprintf(msg, msgsz, "'%s' is not a valid domain name", domain);
		return -MGW_EINVAL;
	}
	rc = admin_domain_need(l, domain, msg, msgsz);
	if (rc < 0)
		return rc;
	rc = admin_domain_file(l, domain, "passwd", PASSWD_FILE_MAX, &text, &len, msg, msgsz);
	if (rc < 0)
		return rc;
	admin_lines(text, len, admin_find_line, &f);
	passwd_text_free(text, len);
	if (f.n > 0 && !force) {
		snprintf(msg, msgsz, "domain %s still has %zu user%s: delete them first", domain,
			 f.n, f.n == 1 ? "" : "s");
		return -MGW_EEXIST;
	}
	rc = layout_remove_dir(l, rel, msg, msgsz);
	if (rc < 0)
		return rc;
	snprintf(msg, msgsz, "domain %s deleted (its mail under %s/mail/%s is kept)", domain,
		 l->data_dir, domain);
	log_info("domain %s deleted", domain);
	return 0;
}

struct admin_dlist {
	const struct layout *l;
	admin_list_fn fn;
	void *arg;
};

static int admin_domain_name(void *arg, const char *name)
{
	struct admin_dlist *d = arg;

	if (!admin_domain_exists(d->l, name))
		return 0; /* a temporary or stray file, not a domain */
	return d->fn(d->arg, name, NULL);
}

int admin_domain_list(const struct layout *l, admin_list_fn fn, void *arg, char *msg, size_t msgsz)
{
	struct admin_dlist d = {l, fn, arg};
	int rc;

	rc = layout_list(l, "etc/domains", admin_domain_name, &d, msg, msgsz);
	if (rc == -MGW_ENOENT) {
		snprintf(msg, msgsz, "%s", "");
		return 0;
	}
	return rc;
}

int admin_addr_local(const struct layout *l, const char *addr, struct passwd_addr *a, char *msg,
		     size_t msgsz)
{
	int rc = admin_addr(addr, a, msg, msgsz);

	return rc < 0 ? rc : admin_domain_need(l, a->domain, msg, msgsz);
}
