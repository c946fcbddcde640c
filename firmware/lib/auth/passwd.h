/*
 * passwd.h - users and passwords: one dovecot passwd-file per domain, name validation.
 *
 * File: <data_dir>/etc/domains/<domain>/passwd, one user per line, dovecot's passwd-file
 * format (doc.dovecot.org, "Passwd-file"):
 *
 *   user:{SCHEME}hash:uid:gid:(gecos):home:(shell):extra
 *
 * Only the first two fields are required; the others may be empty or missing. Blank
 * lines and lines starting with '#' are ignored. The user field is the local part only
 * (the file is per domain). Schemes:
 *   {SHA512-CRYPT}$6$...  {SHA256-CRYPT}$5$...   SHA-crypt (auth/shacrypt.h), with
 *                         "rounds=N$" supported, so /etc/shadow hashes work as they are;
 *   $6$... / $5$...       the same without the prefix, as dovecot accepts;
 *   {PLAIN}text           only when the caller passes PASSWD_ALLOW_PLAIN (configuration).
 * Anything else (MD5-crypt, DES, {SSHA}, locked "!"/"*" hashes) never verifies.
 * New passwords get "{SHA512-CRYPT}$6$rounds=PASSWD_ROUNDS_DEFAULT$<16 random chars>$...".
 *
 * Names (CVE-2020-7247: nothing from a peer reaches a path unchecked): a user name is
 * 1..PASSWD_USER_MAX characters from [a-z0-9._+-], not starting with '.' and without
 * ".."; a domain is 1..PASSWD_DOMAIN_MAX characters, dot-separated labels of [a-z0-9-]
 * (1..63 each, not starting or ending with '-'). Upper case is refused by the validators;
 * passwd_addr_parse() folds an address to lower case first.
 *
 * Blocking: lookups read the file synchronously; a SHA-crypt verification costs a few
 * tens of milliseconds by design (see PASSWD_ROUNDS_DEFAULT).
 */
#ifndef MGW_PASSWD_H
#define MGW_PASSWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PASSWD_USER_MAX 64    /* RFC 5321 4.5.3.1.1 local-part limit */
#define PASSWD_DOMAIN_MAX 253 /* RFC 1035 */
#define PASSWD_ADDR_MAX (PASSWD_USER_MAX + 1 + PASSWD_DOMAIN_MAX)
#define PASSWD_HASH_MAX 255	   /* the hash field incl. its {SCHEME} prefix */
#define PASSWD_FIELD_MAX 255	   /* home, extra */
#define PASSWD_LINE_MAX 1024	   /* longer lines are malformed */
#define PASSWD_FILE_MAX (4u << 20) /* a passwd-file larger than this is refused */
#define PASSWD_PASSWORD_MAX 1024   /* longer passwords never verify */
/* Rounds for new SHA512-CRYPT hashes: 4x glibc's default of 5000; about 7 ms on the
 * x86-64 build host, estimated 40-60 ms on a Cortex-A53 (README, "Users and passwords"). */
#define PASSWD_ROUNDS_DEFAULT 20000

enum passwd_flag {
	PASSWD_ALLOW_PLAIN = 1u << 0, /* {PLAIN} hashes may verify */
};

/* One parsed line. Strings are NUL-terminated copies (no pointers into the file). */
struct passwd_entry {
	char user[PASSWD_USER_MAX + 1];
	char hash[PASSWD_HASH_MAX + 1]; /* as in the file, with its {SCHEME} if any */
	uint32_t uid, gid;		/* 0 when empty */
	bool has_uid, has_gid;
	char home[PASSWD_FIELD_MAX + 1];
	char extra[PASSWD_FIELD_MAX + 1]; /* field 8 and beyond, as written */
	uint64_t quota;			  /* from the extra fields; 0: no limit */
	bool has_quota;			  /* a quota rule for "*" was given */
};

/* A user address split and folded to lower case. */
struct passwd_addr {
	char user[PASSWD_USER_MAX + 1];
	char domain[PASSWD_DOMAIN_MAX + 1];
};

/* Name validation (see the top of this file). s is NUL-terminated. */
bool passwd_user_valid(const char *s);
bool passwd_domain_valid(const char *s);

/*
 * Splits "user@domain" (len bytes, not NUL-terminated, may contain anything) at its last
 * '@', folds both parts to lower case and validates them. MGW_PARSE_OK, or
 * MGW_PARSE_SYNTAX (no '@', empty part, invalid character, NUL) / MGW_PARSE_TOO_LONG.
 */
int passwd_addr_parse(const char *s, size_t len, struct passwd_addr *out);

/*
 * Parses one line (without its LF; a trailing CR is malformed). MGW_PARSE_OK fills out;
 * MGW_PARSE_SYNTAX with *why (static text) for a malformed line (bad user name, empty
 * hash, non-numeric uid/gid, NUL byte, field too long); MGW_PARSE_TOO_LONG for a line over
 * PASSWD_LINE_MAX. Blank and comment lines give MGW_PARSE_NEED_MORE (nothing to take).
 */
int passwd_line_parse(const char *line, size_t len, struct passwd_entry *out, const char **why);

/*
 * The per-user quota among dovecot's extra fields (space separated):
 * "userdb_quota_rule=*:storage=<size>" (or "quota_rule=..."), size as dovecot reads it
 * (digits, then b k M G T; no unit means kilobytes; 0 means no limit). Other rules
 * (other mailboxes, messages=) are ignored. *found says whether a rule for "*" was
 * present, *bytes the limit. 0, or -MGW_EINVAL with *why for a malformed storage= value
 * (the line is then malformed, like a bad uid).
 */
int passwd_extra_quota(const char *extra, uint64_t *bytes, bool *found, const char **why);

/* "<data_dir>/etc/domains/<domain>/passwd" into out. -MGW_EINVAL / -MGW_ELIMIT. */
int passwd_file_path(const char *data_dir, const char *domain, char *out, size_t outsz);

/* True when <data_dir>/etc/domains/<domain>/passwd exists (a configured local domain). */
bool passwd_domain_exists(const char *data_dir, const char *domain);

/*
 * Finds user in domain's passwd-file. 0 and *out filled; -MGW_ENOENT (no such user, no
 * such domain); -MGW_EINVAL (invalid name); -MGW_EIO (unreadable, too large). Malformed
 * lines are skipped, each logged once per lookup as "path:line: why" (a lookup never
 * fails because another user's line is broken). The first matching line wins.
 */
int passwd_lookup(const char *data_dir, const char *domain, const char *user,
		  struct passwd_entry *out);

/*
 * Checks a whole file: 0 if every line parses; otherwise -MGW_ECONFIG and the first
 * problem as "path:line: why" in err. Also refuses duplicate users. -MGW_EIO/-MGW_ENOENT
 * if the file cannot be read (message in err as well).
 */
int passwd_file_check(const char *path, char *err, size_t errsz);

/*
 * Verifies password (len bytes, may contain anything but is compared as bytes) against
 * a hash field. 0 on match; -MGW_EAUTH on mismatch, on an unknown or locked scheme, on
 * {PLAIN} without PASSWD_ALLOW_PLAIN, on an over-long password. Comparison is constant
 * time in the content. Intermediate secrets are wiped.
 */
int passwd_hash_verify(const char *hash, const char *password, size_t len, unsigned flags);

/*
 * The whole login check: lookup + verify. 0 or -MGW_EAUTH (unknown user, unknown domain,
 * wrong password: indistinguishable to the caller, and an unknown user still costs one
 * SHA-crypt computation so timing does not tell), -MGW_EINVAL (invalid name), -MGW_EIO.
 */
int passwd_auth(const char *data_dir, const char *domain, const char *user, const char *password,
		size_t len, unsigned flags);

/*
 * A new hash for password: "{SHA512-CRYPT}$6$rounds=<rounds>$<salt>$<hash>" with 16 salt
 * characters from getrandom(). rounds 0 means PASSWD_ROUNDS_DEFAULT. 0, -MGW_ELIMIT (out
 * too small), -MGW_EIO (no randomness).
 */
int passwd_hash_new(const char *password, size_t len, unsigned rounds, char *out, size_t outsz);

/*
 * Editing (the files are written by admin/, which knows the layout's owners and modes).
 * Each builds a new passwd-file text into a heap buffer *out (*outlen bytes and a NUL,
 * owned by the caller: passwd_text_free(), which wipes it, as it holds hashes).
 *
 * passwd_text_set: old (oldlen bytes, may be empty) with user's hash replaced (other
 * fields and every other line, comments and malformed ones included, kept as they are)
 * or "user:hash::::::" appended when absent. -MGW_EINVAL (name, or a hash that is empty
 * or holds ':' or a line break), -MGW_ELIMIT, -MGW_ENOMEM.
 * passwd_text_del: old without user's line; -MGW_ENOENT when absent.
 * passwd_text_build: the n entries, one line each; -MGW_EINVAL if an entry would not
 * parse back as itself (the import tool's path).
 */
int passwd_text_set(const char *old, size_t oldlen, const char *user, const char *hash, char **out,
		    size_t *outlen);
int passwd_text_del(const char *old, size_t oldlen, const char *user, char **out, size_t *outlen);
int passwd_text_build(const struct passwd_entry *e, size_t n, char **out, size_t *outlen);
void passwd_text_free(char *text, size_t len);

/* Formats one entry as a passwd-file line (no LF). -MGW_ELIMIT if it does not fit. */
int passwd_entry_format(const struct passwd_entry *e, char *out, size_t outsz);

#endif
