/*
 * db.c - the database of issued certificates (index.txt in openssl ca's format), and the
 * serial and crlnumber counters.
 *
 * index.txt: one line per certificate, six TAB-separated fields:
 *   status (V valid, R revoked, E expired), expiry, revocation date[,reason] (empty
 *   unless R), serial (upper-case hex), file name ("unknown"), subject ("/CN=...").
 * The file is rewritten whole and atomically; a line we cannot parse is an error naming
 * index.txt:LINE, never skipped (a lost R line would un-revoke a certificate).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/err.h"
#include "pki/pki_int.h"

static const char *const pki_reason_names[] = {
    [PKI_REASON_UNSPECIFIED] = "unspecified",
    [PKI_REASON_KEY_COMPROMISE] = "keyCompromise",
    [PKI_REASON_CA_COMPROMISE] = "CACompromise",
    [PKI_REASON_AFFILIATION_CHANGED] = "affiliationChanged",
    [PKI_REASON_SUPERSEDED] = "superseded",
    [PKI_REASON_CESSATION] = "cessationOfOperation",
};

const char *pki_reason_name(enum pki_reason r)
{
	if ((unsigned)r >= MGW_ARRAY_LEN(pki_reason_names))
		return "unspecified";
	return pki_reason_names[r];
}

/* Compares ignoring case and '-' so that "key-compromise" matches "keyCompromise". */
static bool pki_reason_eq(const char *a, const char *b)
{
	for (;;) {
		while (*a == '-' || *a == '_')
			a++;
		if (*a == '\0' || *b == '\0')
			return *a == *b;
		if ((*a | 0x20) != (*b | 0x20))
			return false;
		a++;
		b++;
	}
}

int pki_reason_parse(const char *s, enum pki_reason *r)
{
	for (unsigned i = 0; i < MGW_ARRAY_LEN(pki_reason_names); i++) {
		if (pki_reason_eq(s, pki_reason_names[i])) {
			*r = (enum pki_reason)i;
			return 0;
		}
	}
	return -MGW_EINVAL;
}

void pki_db_free(struct pki_db *db)
{
	free(db->e);
	db->e = NULL;
	db->n = db->cap = 0;
}

int pki_db_add(struct pki_db *db, const struct pki_cert_entry *e)
{
	if (db->n == db->cap) {
		size_t cap = db->cap ? db->cap * 2 : 16;
		struct pki_cert_entry *ne = realloc(db->e, cap * sizeof(*ne));

		if (ne == NULL)
			return -MGW_ENOMEM;
		db->e = ne;
		db->cap = cap;
	}
	db->e[db->n++] = *e;
	return 0;
}

/* The CN of an index subject ("/CN=joe@example.test/O=x"), "" without one. */
static void pki_db_login(const char *subject, char *login, size_t sz)
{
	const char *cn = strstr(subject, "/CN=");
	size_t n;

	login[0] = '\0';
	if (cn == NULL)
		return;
	cn += 4;
	n = strcspn(cn, "/");
	if (n < sz) {
		memcpy(login, cn, n);
		login[n] = '\0';
	}
}

static int pki_db_parse_line(char *line, time_t now, struct pki_cert_entry *e)
{
	char *f[6], *s = line, *comma;

	memset(e, 0, sizeof(*e));
	for (int i = 0; i < 6; i++) {
		f[i] = s;
		s = i < 5 ? strchr(s, '\t') : NULL;
		if (i < 5 && s == NULL)
			return -MGW_EINVAL;
		if (s)
			*s++ = '\0';
	}
	if (strlen(f[0]) != 1 || strchr("VRE", f[0][0]) == NULL)
		return -MGW_EINVAL;
	e->status = f[0][0];
	if (pki_time_index_parse(f[1], &e->not_after) < 0)
		return -MGW_EINVAL;
	if (e->status == 'R') {
		comma = strchr(f[2], ',');
		if (comma) {
			*comma++ = '\0';
			if (pki_reason_parse(comma, &e->reason) < 0)
				return -MGW_EINVAL;
		}
		if (pki_time_index_parse(f[2], &e->revoked_at) < 0)
			return -MGW_EINVAL;
	} else if (f[2][0] != '\0') {
		return -MGW_EINVAL;
	}
	if (pki_serial_norm(f[3], e->serial) < 0)
		return -MGW_EINVAL;
	if (strlen(f[5]) >= sizeof(e->subject) || f[5][0] != '/')
		return -MGW_EINVAL;
	strcpy(e->subject, f[5]);
	pki_db_login(e->subject, e->login, sizeof(e->login));
	if (e->status == 'V' && e->not_after <= now)
		e->status = 'E';
	return 0;
}

int pki_db_load(const char *dir, time_t now, struct pki_db *db, char *why, size_t whysz)
{
	char *data = NULL, *line, *next;
	size_t len;
	unsigned lineno = 0;
	int rc;

	memset(db, 0, sizeof(*db));
	rc = pki_read(dir, PKI_F_INDEX, &data, &len, why, whysz);
	if (rc < 0)
		return rc;
	if (memchr(data, '\0', len) != NULL) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s/%s: contains a NUL byte", dir,
			     PKI_F_INDEX);
		goto out;
	}
	for (line = data; *line; line = next) {
		struct pki_cert_entry e;

		lineno++;
		next = strchr(line, '\n');
		if (next == NULL) {
			rc = pki_why(why, whysz, -MGW_EINVAL, "%s/%s:%u: last line not complete",
				     dir, PKI_F_INDEX, lineno);
			goto out;
		}
		*next++ = '\0';
		rc = pki_db_parse_line(line, now, &e);
		if (rc == 0)
			rc = pki_db_add(db, &e);
		if (rc < 0) {
			rc = pki_why(why, whysz, rc, "%s/%s:%u: %s", dir, PKI_F_INDEX, lineno,
				     rc == -MGW_ENOMEM ? "out of memory" : "not a valid line");
			goto out;
		}
	}
	rc = 0;
out:
	free(data);
	if (rc < 0)
		pki_db_free(db);
	return rc;
}

int pki_db_save(const char *dir, const struct pki_db *db, char *why, size_t whysz)
{
	size_t cap = db->n * (PKI_DN_MAX + 128) + 1, len = 0;
	char *buf = malloc(cap);
	int rc;

	if (buf == NULL)
		return pki_why(why, whysz, -MGW_ENOMEM, "%s/%s: out of memory", dir, PKI_F_INDEX);
	for (size_t i = 0; i < db->n; i++) {
		const struct pki_cert_entry *e = &db->e[i];
		char exp[16], rev[64] = "";

		pki_time_index(e->not_after, exp);
		if (e->status == 'R') {
			pki_time_index(e->revoked_at, rev);
			if (e->reason != PKI_REASON_UNSPECIFIED) {
				strcat(rev, ",");
				strcat(rev, pki_reason_name(e->reason));
			}
		}
		len += (size_t)snprintf(buf + len, cap - len, "%c\t%s\t%s\t%s\tunknown\t%s\n",
					e->status, exp, rev, e->serial, e->subject);
	}
	rc = pki_write(dir, PKI_F_INDEX, buf, len, 0600, why, whysz);
	free(buf);
	return rc;
}

int pki_counter_read(const char *dir, const char *name, unsigned char *b, size_t *n, char *why,
		     size_t whysz)
{
	char *data = NULL, norm[PKI_SERIAL_MAX];
	size_t len;
	int rc = pki_read(dir, name, &data, &len, why, whysz);

	if (rc < 0)
		return rc;
	data[strcspn(data, "\r\n")] = '\0';
	rc = pki_serial_norm(data, norm);
	free(data);
	if (rc < 0)
		return pki_why(why, whysz, -MGW_EINVAL, "%s/%s: not a hex number", dir, name);
	*n = strlen(norm) / 2;
	for (size_t i = 0; i < *n; i++) {
		unsigned v;

		sscanf(norm + 2 * i, "%2x", &v);
		b[i] = (unsigned char)v;
	}
	return 0;
}

int pki_counter_write(const char *dir, const char *name, const unsigned char *b, size_t n,
		      char *why, size_t whysz)
{
	char hex[PKI_SERIAL_MAX + 1];

	pki_hex(b, n, hex, PKI_SERIAL_MAX);
	strcat(hex, "\n");
	return pki_write(dir, name, hex, strlen(hex), 0600, why, whysz);
}

int pki_db_create(const char *dir, struct pki_rng *rng, char *why, size_t whysz)
{
	static const unsigned char one[] = {0x01};
	unsigned char serial[PKI_SERIAL_LEN];
	char path[PKI_PATH_MAX];
	int rc;

	if (pki_path(path, dir, PKI_F_CERTS) < 0)
		return pki_why(why, whysz, -MGW_ELIMIT, "%s: path too long", dir);
	rc = pki_dir_check(path, 0700, true, why, whysz);
	if (rc == 0)
		rc = pki_write(dir, PKI_F_INDEX, "", 0, 0600, why, whysz);
	if (rc == 0 && mbedtls_ctr_drbg_random(&rng->drbg, serial, sizeof(serial)) != 0)
		rc = pki_why(why, whysz, -MGW_ETLS, "random number generator failed");
	if (rc < 0)
		return rc;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x10); /* positive, full length */
	rc = pki_counter_write(dir, PKI_F_SERIAL, serial, sizeof(serial), why, whysz);
	if (rc == 0)
		rc = pki_counter_write(dir, PKI_F_CRLNUMBER, one, sizeof(one), why, whysz);
	return rc;
}
