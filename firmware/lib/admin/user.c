/*
 * user.c - users of a domain: lines of etc/domains/<domain>/passwd (admin.h).
 *
 * Passwords are hashed here (SHA-crypt, auth/passwd.h) and every copy wiped; the hash is
 * the only form that reaches a file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "core/err.h"
#include "core/log.h"
#include "tls/hash.h"

enum admin_user_mode {
	ADMIN_USER_NEW,	     /* must not exist; domain must exist */
	ADMIN_USER_EXISTING, /* must exist */
	ADMIN_USER_ANY,	     /* either; the domain is created when missing */
};

/* Sets addr's hash in its domain's passwd-file per mode. */
static int admin_user_write(const struct layout *l, const struct passwd_addr *a, const char *hash,
			    enum admin_user_mode mode, char *msg, size_t msgsz)
{
	char rel[LAYOUT_PATH_MAX];
	char *old = NULL, *text = NULL;
	size_t oldlen = 0, len = 0;
	bool had;
	int rc;

	if (mode != ADMIN_USER_ANY) {
		rc = admin_domain_need(l, a->domain, msg, msgsz);
		if (rc < 0)
			return rc;
	}
	rc = admin_domain_rel(a->domain, "passwd", rel, sizeof(rel));
	if (rc < 0)
		return rc;
	rc = admin_domain_file(l, a->domain, "passwd", PASSWD_FILE_MAX, &old, &oldlen, msg, msgsz);
	if (rc < 0)
		return rc;
	had = admin_text_has_user(old, oldlen, a->user);
	rc = -MGW_EEXIST;
	if (had && mode == ADMIN_USER_NEW) {
		snprintf(msg, msgsz, "user %s@%s already exists", a->user, a->domain);
		goto out;
	}
	rc = -MGW_ENOENT;
	if (!had && mode == ADMIN_USER_EXISTING) {
		snprintf(msg, msgsz, "no user %s@%s", a->user, a->domain);
		goto out;
	}
	rc = passwd_text_set(old, oldlen, a->user, hash, &text, &len);
	if (rc < 0) {
		snprintf(msg, msgsz, "%s@%s: cannot set the password: %s", a->user, a->domain,
			 mgw_strerror(rc));
		goto out;
	}
	rc = layout_write(l, rel, text, len, msg, msgsz);
	if (rc < 0)
		goto out;
	snprintf(msg, msgsz, "%s %s@%s %s", had ? "password of" : "user", a->user, a->domain,
		 had ? "changed" : "added");
	log_info("%s", msg);
out:
	passwd_text_free(old, oldlen);
	passwd_text_free(text, len);
	return rc;
}

static int admin_user_pw(const struct layout *l, const char *addr, const char *password, size_t len,
			 unsigned rounds, enum admin_user_mode mode, char *msg, size_t msgsz)
{
	char h[PASSWD_HASH_MAX + 1];
	struct passwd_addr a;
	int rc;

	rc = admin_addr(addr, &a, msg, msgsz);
	if (rc < 0)
		return rc;
	if (len == 0 || len > PASSWD_PASSWORD_MAX) {
		snprintf(msg, msgsz, "%s", len ? "password too long" : "empty password refused");
		return -MGW_EINVAL;
	}
	rc = passwd_hash_new(password, len, rounds, h, sizeof(h));
	if (rc < 0) {
		snprintf(msg, msgsz, "cannot hash the password: %s", mgw_strerror(rc));
		return rc;
	}
	rc = admin_user_write(l, &a, h, mode, msg, msgsz);
	hash_wipe(h, sizeof(h));
	return rc;
}

int admin_user_add(const struct layout *l, const char *addr, const char *password, size_t len,
		   unsigned rounds, char *msg, size_t msgsz)
{
	return admin_user_pw(l, addr, password, len, rounds, ADMIN_USER_NEW, msg, msgsz);
}

int admin_user_passwd(const struct layout *l, const char *addr, const char *password, size_t len,
		      unsigned rounds, char *msg, size_t msgsz)
{
	return admin_user_pw(l, addr, password, len, rounds, ADMIN_USER_EXISTING, msg, msgsz);
}

int admin_user_set(const struct layout *l, const char *addr, const char *password, size_t len,
		   unsigned rounds, char *msg, size_t msgsz)
{
	return admin_user_pw(l, addr, password, len, rounds, ADMIN_USER_ANY, msg, msgsz);
}

int admin_user_set_hash(const struct layout *l, const char *addr, const char *hash, char *msg,
			size_t msgsz)
{
	struct passwd_addr a;
	int rc;

	rc = admin_addr(addr, &a, msg, msgsz);
	if (rc < 0)
		return rc;
	return admin_user_write(l, &a, hash, ADMIN_USER_ANY, msg, msgsz);
}

int admin_user_del(const struct layout *l, const char *addr, char *msg, size_t msgsz)
{
	char rel[LAYOUT_PATH_MAX];
	char *old = NULL, *text = NULL;
	size_t oldlen = 0, len = 0;
	struct passwd_addr a;
	int rc;

	rc = admin_addr_local(l, addr, &a, msg, msgsz);
	if (rc < 0)
		return rc;
	rc = admin_domain_rel(a.domain, "passwd", rel, sizeof(rel));
	if (rc == 0)
		rc = admin_domain_file(l, a.domain, "passwd", PASSWD_FILE_MAX, &old, &oldlen, msg,
				       msgsz);
	if (rc < 0)
		return rc;
	rc = passwd_text_del(old, oldlen, a.user, &text, &len);
	if (rc == -MGW_ENOENT)
		snprintf(msg, msgsz, "no user %s@%s", a.user, a.domain);
	else if (rc < 0)
		snprintf(msg, msgsz, "%s@%s: %s", a.user, a.domain, mgw_strerror(rc));
	if (rc == 0)
		rc = layout_write(l, rel, text, len, msg, msgsz);
	if (rc == 0) {
		snprintf(msg, msgsz, "user %s@%s deleted (its mail under %s/mail/%s/%s is kept)",
			 a.user, a.domain, l->data_dir, a.domain, a.user);
		log_info("user %s@%s deleted", a.user, a.domain);
	}
	passwd_text_free(old, oldlen);
	passwd_text_free(text, len);
	return rc;
}

bool admin_user_exists(const struct layout *l, const char *addr)
{
	char msg[LAYOUT_MSG_MAX];
	struct passwd_addr a;
	char *text;
	size_t len;
	bool found;

	if (admin_addr(addr, &a, msg, sizeof(msg)) < 0 || !admin_domain_exists(l, a.domain) ||
	    admin_domain_file(l, a.domain, "passwd", PASSWD_FILE_MAX, &text, &len, msg,
			      sizeof(msg)) < 0)
		return false;
	found = admin_text_has_user(text, len, a.user);
	passwd_text_free(text, len);
	return found;
}

struct admin_ulist {
	const char *domain;
	admin_list_fn fn;
	void *arg;
};

static int admin_user_line(void *arg, const char *line, size_t len, unsigned lineno)
{
	struct admin_ulist *u = arg;
	char addr[PASSWD_ADDR_MAX + 1];
	struct passwd_entry e;
	const char *why;

	(void)lineno;
	if (passwd_line_parse(line, len, &e, &why) != MGW_PARSE_OK)
		return 0;
	snprintf(addr, sizeof(addr), "%s@%s", e.user, u->domain);
	explicit_bzero(&e, sizeof(e));
	return u->fn(u->arg, addr, NULL);
}

struct admin_ulist_all {
	const struct layout *l;
	admin_list_fn fn;
	void *arg;
	char *msg;
	size_t msgsz;
};

static int admin_user_list_one(const struct layout *l, const char *domain, admin_list_fn fn,
			       void *arg, char *msg, size_t msgsz)
{
	struct admin_ulist u = {domain, fn, arg};
	char *text;
	size_t len;
	int rc;

	rc = admin_domain_need(l, domain, msg, msgsz);
	if (rc == 0)
		rc = admin_domain_file(l, domain, "passwd", PASSWD_FILE_MAX, &text, &len, msg,
				       msgsz);
	if (rc < 0)
		return rc;
	rc = admin_lines(text, len, admin_user_line, &u);
	passwd_text_free(text, len);
	return rc;
}

static int admin_user_list_dom(void *arg, const char *domain, const char *unused)
{
	struct admin_ulist_all *a = arg;

	(void)unused;
	return admin_user_list_one(a->l, domain, a->fn, a->arg, a->msg, a->msgsz);
}

int admin_user_list(const struct layout *l, const char *domain, admin_list_fn fn, void *arg,
		    char *msg, size_t msgsz)
{
	struct admin_ulist_all a = {l, fn, arg, msg, msgsz};

	snprintf(msg, msgsz, "%s", "");
	if (domain != NULL)
		return admin_user_list_one(l, domain, fn, arg, msg, msgsz);
	return admin_domain_list(l, admin_user_list_dom, &a, msg, msgsz);
}

int admin_domain_replace_users(const struct layout *l, const char *domain,
			       const struct passwd_entry *e, size_t n, char *msg, size_t msgsz)
{
	char rel[LAYOUT_PATH_MAX];
	char *text;
	size_t len;
	int rc;

	if (admin_domain_rel(domain, "passwd", rel, sizeof(rel)) < 0) {
		snprintf(msg, msgsz, "'%s' is not a valid domain name", domain);
		return -MGW_EINVAL;
	}
	rc = passwd_text_build(e, n, &text, &len);
	if (rc < 0) {
		snprintf(msg, msgsz, "%s: an entry cannot be written: %s", domain,
			 mgw_strerror(rc));
		return rc;
	}
	rc = layout_write(l, rel, text, len, msg, msgsz);
	passwd_text_free(text, len);
	if (rc == 0) {
		snprintf(msg, msgsz, "%zu user%s written to %s", n, n == 1 ? "" : "s", domain);
		log_info("%s", msg);
	}
	return rc;
}
