/*
 * passwd.c - dovecot passwd-file users per domain, name validation, password checks.
 *
 * The file is read whole (bounded by PASSWD_FILE_MAX) and walked line by line; nothing
 * from it is trusted: every field is length-checked and the user name validated like a
 * peer's. Hashes are verified by auth/shacrypt.c; {PLAIN} only on request.
 */
#include "auth/passwd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "auth/shacrypt.h"
#include "core/err.h"
#include "core/num.h"
#include "core/file.h"
#include "core/log.h"
#include "tls/hash.h"

#define PASSWD_PATH_MAX 1024
#define PASSWD_LABEL_MAX 63 /* RFC 1035 2.3.4 */
#define PASSWD_SALT_LEN 16
#define PASSWD_FIELDS 7 /* fields before "extra" */
/* Refuse to verify hashes whose round count would stall the event loop for seconds. */
#define PASSWD_VERIFY_ROUNDS_MAX 1000000
#define PASSWD_TMPL_SHA512 "{SHA512-CRYPT}"
#define PASSWD_STR_(x) #x
#define PASSWD_STR(x) PASSWD_STR_(x)

/* Frees a heap copy of (part of) a passwd-file after wiping it: it holds hashes. */
static void passwd_free_wiped(char *p, size_t len)
{
	if (p == NULL)
		return;
	hash_wipe(p, len);
	free(p);
}

/* ---- names ---------------------------------------------------------------------------- */

static bool passwd_user_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-' || c == '+';
}

bool passwd_user_valid(const char *s)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '.')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= PASSWD_USER_MAX || !passwd_user_char(s[i]))
			return false;
		if (s[i] == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

bool passwd_domain_valid(const char *s)
{
	size_t i, label = 0;

	if (s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= PASSWD_DOMAIN_MAX)
			return false;
		if (c == '.') {
			/* empty label (leading dot, ".."), label ending in '-' */
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > PASSWD_LABEL_MAX)
			return false;
	}
	return label > 0 && s[i - 1] != '-';
}

int passwd_addr_parse(const char *s, size_t len, struct passwd_addr *out)
{
	size_t at, i;

	memset(out, 0, sizeof(*out));
	if (len > PASSWD_ADDR_MAX)
		return MGW_PARSE_TOO_LONG;
	for (at = len; at > 0 && s[at - 1] != '@'; at--)
		;
	if (at == 0)
		return MGW_PARSE_SYNTAX;
	at--; /* index of the last '@' */
	if (at == 0 || at + 1 == len)
		return MGW_PARSE_SYNTAX;
	if (at > PASSWD_USER_MAX || len - at - 1 > PASSWD_DOMAIN_MAX)
		return MGW_PARSE_TOO_LONG;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '\0')
			return MGW_PARSE_SYNTAX;
		if (i < at)
			out->user[i] = c;
		else if (i > at)
			out->domain[i - at - 1] = c;
	}
	if (!passwd_user_valid(out->user) || !passwd_domain_valid(out->domain)) {
		memset(out, 0, sizeof(*out));
		return MGW_PARSE_SYNTAX;
	}
	return MGW_PARSE_OK;
}

/* ---- lines -------------------------------------------------------------------------- */

/* Copies field [p, p+n) into out (size outsz) if it fits. */
static bool passwd_field_copy(char *out, size_t outsz, const char *p, size_t n)
{
	if (n >= outsz)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

int passwd_line_parse(const char *line, size_t len, struct passwd_entry *out, const char **why)
{
	const char *f[PASSWD_FIELDS + 1];
	size_t flen[PASSWD_FIELDS + 1];
	size_t nf = 0, i, start = 0;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (len > PASSWD_LINE_MAX) {
		*why = "line too long";
		return MGW_PARSE_TOO_LONG;
	}
	if (memchr(line, '\0', len) != NULL) {
		*why = "NUL byte in line";
		return MGW_PARSE_SYNTAX;
	}
	if (len > 0 && line[len - 1] == '\r') {
		*why = "line ends in CR (DOS line endings?)";
		return MGW_PARSE_SYNTAX;
	}
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i == len || line[i] == '#')
		return MGW_PARSE_NEED_MORE;
	/* Split into the 7 colon-separated fields; everything after the 7th colon is the
	 * "extra" field, which may itself contain colons (dovecot's extra fields). */
	for (i = 0; i <= len && nf < PASSWD_FIELDS; i++) {
		if (i == len || line[i] == ':') {
			f[nf] = line + start;
			flen[nf] = i - start;
			nf++;
			start = i + 1;
		}
	}
	if (nf == PASSWD_FIELDS && start <= len) {
		f[nf] = line + start;
		flen[nf] = len - start;
		nf++;
	}
	if (nf < 2) {
		*why = "expected user:hash";
		return MGW_PARSE_SYNTAX;
	}
	if (!passwd_field_copy(out->user, sizeof(out->user), f[0], flen[0]) ||
	    !passwd_user_valid(out->user)) {
		*why = "invalid user name (allowed: a-z 0-9 . _ - +, no leading dot, no '..')";
		goto bad;
	}
	if (flen[1] == 0) {
		*why = "empty password hash";
		goto bad;
	}
	if (!passwd_field_copy(out->hash, sizeof(out->hash), f[1], flen[1])) {
		*why = "password hash too long";
		goto bad;
	}
	if (nf > 2 && flen[2] > 0) {
		if (!num_parse_u32(f[2], flen[2], &out->uid)) {
			*why = "uid is not a number";
			goto bad;
		}
		out->has_uid = true;
	}
	if (nf > 3 && flen[3] > 0) {
		if (!num_parse_u32(f[3], flen[3], &out->gid)) {
			*why = "gid is not a number";
			goto bad;
		}
		out->has_gid = true;
	}
	if (nf > 5 && !passwd_field_copy(out->home, sizeof(out->home), f[5], flen[5])) {
		*why = "home too long";
		goto bad;
	}
	if (nf > 7 && !passwd_field_copy(out->extra, sizeof(out->extra), f[7], flen[7])) {
		*why = "extra fields too long";
		goto bad;
	}
	if (passwd_extra_quota(out->extra, &out->quota, &out->has_quota, why) < 0)
		goto bad;
	return MGW_PARSE_OK;
bad:
	hash_wipe(out, sizeof(*out));
	memset(out, 0, sizeof(*out));
	return MGW_PARSE_SYNTAX;
}

/* dovecot's size: digits and an optional unit b k M G T (case-insensitive); no unit
 * means kilobytes (doc.dovecot.org, "Quota configuration", storage). */
static bool passwd_quota_size(const char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0, mul = 1024;
	size_t i;

	for (i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (i == 0 || len - i > 1)
		return false;
	if (i < len) {
		static const char units[] = "bkmgt";
		const char *u = memchr(units, p[i] | 0x20, sizeof(units) - 1);

		if (u == NULL)
			return false;
		mul = 1;
		for (long k = u - units; k > 0; k--)
			mul *= 1024;
	}
	if (mul > 1 && v > UINT64_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

int passwd_extra_quota(const char *extra, uint64_t *bytes, bool *found, const char **why)
{
	static const char *const keys[] = {"userdb_quota_rule=", "quota_rule="};
	const char *p = extra;

	*bytes = 0;
	*found = false;
	while (*p != '\0') {
		size_t len = strcspn(p, " \t"), klen = 0, k;
		const char *r, *end = p + len;

		for (k = 0; k < MGW_ARRAY_LEN(keys) && klen == 0; k++)
			if (len > strlen(keys[k]) && strncmp(p, keys[k], strlen(keys[k])) == 0)
				klen = strlen(keys[k]);
		/* Only the rule for all mailboxes ("*:") counts: we have no folders yet. */
		if (klen > 0 && len >= klen + 2 && p[klen] == '*' && p[klen + 1] == ':') {
			*found = true;
			for (r = p + klen + 2; r < end;) {
				const char *colon = memchr(r, ':', (size_t)(end - r));
				size_t plen = (size_t)((colon ? colon : end) - r);

				if (plen >= 8 && strncmp(r, "storage=", 8) == 0 &&
				    !passwd_quota_size(r + 8, plen - 8, bytes)) {
					*why = "bad quota_rule storage= (a size such as 500M, "
					       "1G, or 0 for none)";
					return -MGW_EINVAL;
				}
				r += plen + (r + plen < end);
			}
		}
		p = end;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	return 0;
}

int passwd_entry_format(const struct passwd_entry *e, char *out, size_t outsz)
{
	char uid[12] = "", gid[12] = "";
	int n;

	if (e->has_uid)
		snprintf(uid, sizeof(uid), "%u", (unsigned)e->uid);
	if (e->has_gid)
		snprintf(gid, sizeof(gid), "%u", (unsigned)e->gid);
	if (e->extra[0] != '\0')
		n = snprintf(out, outsz, "%s:%s:%s:%s::%s::%s", e->user, e->hash, uid, gid, e->home,
			     e->extra);
	else
		n = snprintf(out, outsz, "%s:%s:%s:%s::%s::", e->user, e->hash, uid, gid, e->home);
	if (n < 0 || (size_t)n >= outsz)
		return -MGW_ELIMIT;
	return 0;
}

/* ---- files -------------------------------------------------------------------------- */

int passwd_file_path(const char *data_dir, const char *domain, char *out, size_t outsz)
{
	int n;

	if (!passwd_domain_valid(domain))
		return -MGW_EINVAL;
	n = snprintf(out, outsz, "%s/etc/domains/%s/passwd", data_dir, domain);
	if (n < 0 || (size_t)n >= outsz)
		return -MGW_ELIMIT;
	return 0;
}

bool passwd_domain_exists(const char *data_dir, const char *domain)
{
	char path[PASSWD_PATH_MAX];
	struct stat sb;

	if (passwd_file_path(data_dir, domain, path, sizeof(path)) < 0)
		return false;
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Calls fn for each line of text (len bytes) with its 1-based number; stops when fn
 * returns non-zero and returns that value. A last line without LF counts. */
typedef int (*passwd_line_fn)(void *arg, unsigned lineno, const char *line, size_t len);

static int passwd_lines_walk(const char *text, size_t len, passwd_line_fn fn, void *arg)
{
	size_t pos = 0;
	unsigned lineno = 0;
	int rc;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		rc = fn(arg, ++lineno, text + pos, n);
		if (rc != 0)
			return rc;
		pos += n + (nl ? 1 : 0);
	}
	return 0;
}

struct passwd_find {
	const char *path;
	const char *user;
	struct passwd_entry *out;
};

static int passwd_find_line(void *arg, unsigned lineno, const char *line, size_t len)
{
	struct passwd_find *f = arg;
	const char *why;
	int prc = passwd_line_parse(line, len, f->out, &why);

	if (prc == MGW_PARSE_NEED_MORE)
		return 0;
	if (prc != MGW_PARSE_OK) {
		log_warn("%s:%u: %s (line skipped)", f->path, lineno, why);
		return 0;
	}
	return strcmp(f->out->user, f->user) == 0 ? 1 : 0;
}

int passwd_lookup(const char *data_dir, const char *domain, const char *user,
		  struct passwd_entry *out)
{
	char path[PASSWD_PATH_MAX];
	struct passwd_find f = {path, user, out};
	char *text = NULL;
	size_t len;
	int rc = -MGW_EINVAL;

	memset(out, 0, sizeof(*out));
	if (!passwd_user_valid(user) || !passwd_domain_valid(domain))
		return rc;
	rc = passwd_file_path(data_dir, domain, path, sizeof(path));
	if (rc < 0)
		return rc;
	rc = file_read_all(path, PASSWD_FILE_MAX, &text, &len);
	if (rc == -MGW_ENOENT)
		return rc;
	if (rc < 0) {
		log_err("%s: cannot read: %s", path, mgw_strerror(rc));
		return -MGW_EIO;
	}
	rc = passwd_lines_walk(text, len, passwd_find_line, &f) == 1 ? 0 : -MGW_ENOENT;
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	passwd_free_wiped(text, len);
	return rc;
}

struct passwd_check {
	const char *path;
	char *err;
	size_t errsz;
	char (*users)[PASSWD_USER_MAX + 1];
	size_t n, cap;
};

static int passwd_check_line(void *arg, unsigned lineno, const char *line, size_t len)
{
	struct passwd_check *c = arg;
	struct passwd_entry e;
	const char *why;
	int prc = passwd_line_parse(line, len, &e, &why);
	size_t i;

	if (prc == MGW_PARSE_NEED_MORE)
		return 0;
	if (prc != MGW_PARSE_OK) {
		snprintf(c->err, c->errsz, "%s:%u: %s", c->path, lineno, why);
		return -MGW_ECONFIG;
	}
	for (i = 0; i < c->n; i++) {
		if (strcmp(c->users[i], e.user) == 0) {
			snprintf(c->err, c->errsz, "%s:%u: user '%s' appears twice", c->path,
				 lineno, e.user);
			return -MGW_ECONFIG;
		}
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		void *p = realloc(c->users, ncap * sizeof(*c->users));

		if (p == NULL) {
			snprintf(c->err, c->errsz, "%s: out of memory", c->path);
			return -MGW_ENOMEM;
		}
		c->users = p;
		c->cap = ncap;
	}
	memcpy(c->users[c->n++], e.user, sizeof(e.user));
	hash_wipe(&e, sizeof(e));
	return 0;
}

int passwd_file_check(const char *path, char *err, size_t errsz)
{
	struct passwd_check c = {path, err, errsz, NULL, 0, 0};
	char *text = NULL;
	size_t len;
	int rc;

	if (errsz > 0)
		err[0] = '\0';
	rc = file_read_all(path, PASSWD_FILE_MAX, &text, &len);
	if (rc < 0) {
		snprintf(err, errsz, "%s: cannot read: %s", path, mgw_strerror(rc));
		return rc == -MGW_ENOENT ? rc : -MGW_EIO;
	}
	rc = passwd_lines_walk(text, len, passwd_check_line, &c);
	free(c.users);
	passwd_free_wiped(text, len);
	return rc;
}

/* ---- verification ------------------------------------------------------------------- */

/* Constant-time equality of two byte strings of possibly different lengths: both are
 * hashed first, so the time depends on the lengths only, never on the content. */
static bool passwd_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t ha[HASH_SHA256_LEN], hb[HASH_SHA256_LEN];
	unsigned char diff = (unsigned char)(alen != blen);
	size_t i;

	/* A hash that failed never compares equal (fail closed). */
	if (hash_once(HASH_SHA256, a, alen, ha) < 0)
		diff = 1;
	if (hash_once(HASH_SHA256, b, blen, hb) < 0)
		diff = 1;
	for (i = 0; i < sizeof(ha); i++)
		diff |= ha[i] ^ hb[i];
	hash_wipe(ha, sizeof(ha));
	hash_wipe(hb, sizeof(hb));
	return diff == 0;
}

/* Round count written in a "$5$rounds=N$"/"$6$rounds=N$" hash, else the default. */
static unsigned long passwd_hash_rounds(const char *h)
{
	const char *p = h + 3;

	if (strncmp(p, "rounds=", 7) != 0)
		return SHACRYPT_ROUNDS_DEFAULT;
	return strtoul(p + 7, NULL, 10);
}

static bool passwd_shacrypt_ok(const char *h, const char *password, size_t len)
{
	if (passwd_hash_rounds(h) > PASSWD_VERIFY_ROUNDS_MAX) {
		log_warn("passwd: hash with more than %u rounds refused (too slow)",
			 PASSWD_VERIFY_ROUNDS_MAX);
		return false;
	}
	return shacrypt_verify(password, len, h);
}

int passwd_hash_verify(const char *hash, const char *password, size_t len, unsigned flags)
{
	const char *body = hash;
	const char *close;
	char scheme[32] = "";
	bool ok = false;

	if (len > PASSWD_PASSWORD_MAX)
		return -MGW_EAUTH;
	if (hash[0] == '{') {
		close = strchr(hash, '}');
		if (close == NULL || (size_t)(close - hash - 1) >= sizeof(scheme))
			return -MGW_EAUTH;
		memcpy(scheme, hash + 1, (size_t)(close - hash - 1));
		scheme[close - hash - 1] = '\0';
		body = close + 1;
	}
	if (scheme[0] == '\0' || strcasecmp(scheme, "CRYPT") == 0) {
		/* dovecot's default scheme: crypt(3); we support its SHA-crypt flavours. */
		if (strncmp(body, "$5$", 3) == 0 || strncmp(body, "$6$", 3) == 0)
			ok = passwd_shacrypt_ok(body, password, len);
	} else if (strcasecmp(scheme, "SHA512-CRYPT") == 0) {
		ok = strncmp(body, "$6$", 3) == 0 && passwd_shacrypt_ok(body, password, len);
	} else if (strcasecmp(scheme, "SHA256-CRYPT") == 0) {
		ok = strncmp(body, "$5$", 3) == 0 && passwd_shacrypt_ok(body, password, len);
	} else if (strcasecmp(scheme, "PLAIN") == 0 || strcasecmp(scheme, "CLEARTEXT") == 0) {
		ok = (flags & PASSWD_ALLOW_PLAIN) &&
		     passwd_ct_equal(body, strlen(body), password, len);
	}
	return ok ? 0 : -MGW_EAUTH;
}

int passwd_auth(const char *data_dir, const char *domain, const char *user, const char *password,
		size_t len, unsigned flags)
{
	/* Burnt when the user does not exist, so that "no such user" costs as much as a
	 * wrong password (the hash is of a random-looking string nobody knows). */
	static const char dummy[] = "$6$rounds=" PASSWD_STR(
	    PASSWD_ROUNDS_DEFAULT) "$mailgwdummysalt$x1LyKBGLOX0b6cJ34Rr4aC8Rw0ZuAqPOvO6nrWm0F."
				   "tNSRs7Cbh1OlkMSRxHOQG7QOnZOuUzR9Qr0zK3Z2uI5/";
	struct passwd_entry e;
	int rc;

	rc = passwd_lookup(data_dir, domain, user, &e);
	if (rc == -MGW_EINVAL || rc == -MGW_EIO)
		return rc;
	if (rc < 0) {
		(void)shacrypt_verify(password, len, dummy);
		return -MGW_EAUTH;
	}
	rc = passwd_hash_verify(e.hash, password, len, flags);
	hash_wipe(&e, sizeof(e));
	return rc;
}

int passwd_hash_new(const char *password, size_t len, unsigned rounds, char *out, size_t outsz)
{
	static const char b64[] =
	    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	uint8_t rnd[PASSWD_SALT_LEN];
	char setting[64], h[SHACRYPT_OUT_MAX];
	size_t got = 0, i;
	int n, rc = -MGW_EIO;

	if (rounds == 0)
		rounds = PASSWD_ROUNDS_DEFAULT;
	while (got < sizeof(rnd)) {
		ssize_t r = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_err("getrandom: %s", strerror(errno));
			goto out;
		}
		got += (size_t)r;
	}
	n = snprintf(setting, sizeof(setting), "$6$rounds=%u$", rounds);
	for (i = 0; i < sizeof(rnd); i++)
		setting[n + (int)i] = b64[rnd[i] & 0x3f];
	setting[n + (int)sizeof(rnd)] = '\0';
	rc = shacrypt_hash(password, len, setting, h, sizeof(h));
	if (rc < 0)
		goto out;
	rc = -MGW_ELIMIT;
	n = snprintf(out, outsz, "%s%s", PASSWD_TMPL_SHA512, h);
	if (n < 0 || (size_t)n >= outsz)
		goto out;
	rc = 0;
out:
	hash_wipe(rnd, sizeof(rnd));
	hash_wipe(h, sizeof(h));
	return rc;
}

/* ---- editing ------------------------------------------------------------------------- */

static bool passwd_hash_field_ok(const char *hash)
{
	return hash[0] != '\0' && strlen(hash) <= PASSWD_HASH_MAX && strpbrk(hash, ":\r\n") == NULL;
}

void passwd_text_free(char *text, size_t len)
{
	passwd_free_wiped(text, len);
}

int passwd_text_build(const struct passwd_entry *e, size_t n, char **out, size_t *outlen)
{
	char line[PASSWD_LINE_MAX + 2];
	char *text = NULL;
	size_t len = 0, i;
	int rc = -MGW_ENOMEM;

	*out = NULL;
	*outlen = 0;
	text = malloc(n * (PASSWD_LINE_MAX + 1) + 1);
	if (text == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		struct passwd_entry back;
		const char *why;

		rc = -MGW_EINVAL;
		if (!passwd_hash_field_ok(e[i].hash) || strpbrk(e[i].home, ":\r\n") != NULL ||
		    strpbrk(e[i].extra, "\r\n") != NULL)
			goto out;
		if (passwd_entry_format(&e[i], line, PASSWD_LINE_MAX + 1) < 0)
			goto out;
		/* Only write what reads back as the same entry. */
		if (passwd_line_parse(line, strlen(line), &back, &why) != MGW_PARSE_OK ||
		    strcmp(back.user, e[i].user) != 0 || strcmp(back.hash, e[i].hash) != 0)
			goto out;
		hash_wipe(&back, sizeof(back));
		memcpy(text + len, line, strlen(line));
		len += strlen(line);
		text[len++] = '\n';
	}
	text[len] = '\0';
	*out = text;
	*outlen = len;
	text = NULL;
	rc = 0;
out:
	hash_wipe(line, sizeof(line));
	passwd_free_wiped(text, len);
	return rc;
}

/*
 * Copies every line of old as it is (comments and even malformed lines are the
 * admin's), except user's own line: with hash != NULL its hash field is replaced (the
 * line appended when absent), with hash == NULL it is dropped.
 */
static int passwd_text_edit(const char *old, size_t oldlen, const char *user, const char *hash,
			    char **out, size_t *outlen)
{
	char line[PASSWD_LINE_MAX + 2];
	char *text = NULL;
	size_t len = 0, pos = 0;
	bool found = false;
	int rc = -MGW_ENOMEM;

	*out = NULL;
	*outlen = 0;
	text = malloc(oldlen + PASSWD_LINE_MAX + 3);
	if (text == NULL)
		goto out;
	while (pos < oldlen) {
		const char *l = old + pos;
		const char *nl = memchr(l, '\n', oldlen - pos);
		size_t n = nl ? (size_t)(nl - l) : oldlen - pos;
		struct passwd_entry e;
		const char *why;

		pos += n + (nl ? 1 : 0);
		if (!found && passwd_line_parse(l, n, &e, &why) == MGW_PARSE_OK &&
		    strcmp(e.user, user) == 0) {
			found = true;
			if (hash == NULL) {
				hash_wipe(&e, sizeof(e));
				continue;
			}
			snprintf(e.hash, sizeof(e.hash), "%s", hash);
			/* at most PASSWD_LINE_MAX characters, so that it parses back */
			rc = passwd_entry_format(&e, line, PASSWD_LINE_MAX + 1);
			hash_wipe(&e, sizeof(e));
			if (rc < 0)
				goto out;
			memcpy(text + len, line, strlen(line));
			len += strlen(line);
		} else {
			memcpy(text + len, l, n);
			len += n;
		}
		text[len++] = '\n';
	}
	if (!found && hash == NULL) {
		rc = -MGW_ENOENT;
		goto out;
	}
	if (!found) {
		int m = snprintf(line, PASSWD_LINE_MAX + 2, "%s:%s::::::\n", user, hash);

		rc = -MGW_ELIMIT;
		if (m < 0 || (size_t)m >= PASSWD_LINE_MAX + 2)
			goto out;
		memcpy(text + len, line, (size_t)m);
		len += (size_t)m;
	}
	text[len] = '\0';
	*out = text;
	*outlen = len;
	text = NULL;
	rc = 0;
out:
	hash_wipe(line, sizeof(line));
	passwd_free_wiped(text, len);
	return rc;
}

int passwd_text_set(const char *old, size_t oldlen, const char *user, const char *hash, char **out,
		    size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	if (!passwd_user_valid(user) || !passwd_hash_field_ok(hash))
		return -MGW_EINVAL;
	return passwd_text_edit(old, oldlen, user, hash, out, outlen);
}

int passwd_text_del(const char *old, size_t oldlen, const char *user, char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	if (!passwd_user_valid(user))
		return -MGW_EINVAL;
	return passwd_text_edit(old, oldlen, user, NULL, out, outlen);
}
