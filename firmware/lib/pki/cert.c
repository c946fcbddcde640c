/*
 * cert.c - users' certificates: issue (new key), sign a user's CSR, list, show, revoke.
 *
 * The identity of every certificate is the login it is issued for: subject CN=login and
 * subjectAltName email:login, which is what the certificate gate binds a POP3 login to
 * ([tls] identity). Nothing of a CSR but its public key reaches the certificate.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "core/err.h"
#include "mbedtls/asn1.h"
#include "mbedtls/asn1write.h"
#include "mbedtls/md.h"
#include "mbedtls/oid.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/x509_csr.h"
#include "pki/pki_int.h"

#define PKI_CRT_DER_MAX 4096

int pki_serial_new(struct pki_rng *rng, unsigned char serial[PKI_SERIAL_LEN])
{
	int ret = mbedtls_ctr_drbg_random(&rng->drbg, serial, PKI_SERIAL_LEN);

	/* positive and of full length (RFC 5280 4.1.2.2: positive, at most 20 octets) */
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x10);
	return ret;
}

static int pki_crt_exts(mbedtls_x509write_cert *w, const struct pki_crt_spec *s)
{
	/* ExtKeyUsageSyntax ::= SEQUENCE { id-kp-clientAuth }, not critical (as openssl
	 * writes it; mbedTLS's helper marks it critical, which some clients dislike) */
	static const unsigned char eku[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
					    0x01, 0x05, 0x05, 0x07, 0x03, 0x02};
	mbedtls_x509_san_list san;
	unsigned char aki[PKI_KEYID_MAX + 8], *q;
	int ret, len = 0;

	if (s->ca) {
		ret = mbedtls_x509write_crt_set_basic_constraints(w, 1, -1);
		if (ret == 0)
			ret = mbedtls_x509write_crt_set_key_usage(w, MBEDTLS_X509_KU_KEY_CERT_SIGN |
									 MBEDTLS_X509_KU_CRL_SIGN);
	} else {
		ret = mbedtls_x509write_crt_set_basic_constraints(w, 0, -1);
		if (ret == 0)
			ret = mbedtls_x509write_crt_set_key_usage(
			    w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
		if (ret == 0)
			ret = mbedtls_x509write_crt_set_extension(
			    w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
			    MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku, sizeof(eku));
	}
	if (ret == 0 && s->email != NULL) {
		memset(&san, 0, sizeof(san));
		san.node.type = MBEDTLS_X509_SAN_RFC822_NAME;
		san.node.san.unstructured_name.p = (unsigned char *)s->email;
		san.node.san.unstructured_name.len = strlen(s->email);
		ret = mbedtls_x509write_crt_set_subject_alternative_name(w, &san);
	}
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_subject_key_identifier(w);
	if (ret != 0)
		return ret;
	if (s->aki == NULL)
		return mbedtls_x509write_crt_set_authority_key_identifier(w);
	/* the issuer's own SKI, whatever method made it (RFC 5280 4.2.1.1) */
	q = aki + sizeof(aki);
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(&q, aki, s->aki, s->aki_len));
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_hdr(&q, aki, (size_t)len, MBEDTLS_ASN1_CONTEXT_SPECIFIC));
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_hdr(&q, aki, (size_t)len,
					      MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	return mbedtls_x509write_crt_set_extension(
	    w, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), 0, q, (size_t)len);
}

int pki_crt_make(const struct pki_crt_spec *s, struct pki_rng *rng, unsigned char **der,
		 size_t *der_len, char *why, size_t whysz)
{
	mbedtls_x509write_cert w;
	unsigned char *buf = malloc(PKI_CRT_DER_MAX);
	char from[16], to[16], e[160];
	int ret, rc = -MGW_ETLS;

	*der = NULL;
	mbedtls_x509write_crt_init(&w);
	if (buf == NULL) {
		rc = pki_why(why, whysz, -MGW_ENOMEM, "certificate: out of memory");
		goto out;
	}
	pki_time_validity(s->from, from);
	pki_time_validity(s->to, to);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, s->subject_key);
	mbedtls_x509write_crt_set_issuer_key(&w, s->issuer_key);
	ret = mbedtls_x509write_crt_set_subject_name(&w, s->subject);
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_issuer_name(&w, s->issuer);
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_serial_raw(&w, (unsigned char *)s->serial,
							   s->serial_len);
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_validity(&w, from, to);
	if (ret == 0)
		ret = pki_crt_exts(&w, s);
	if (ret != 0) {
		pki_why(why, whysz, rc, "certificate fields refused: %s",
			pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	ret = mbedtls_x509write_crt_der(&w, buf, PKI_CRT_DER_MAX, mbedtls_ctr_drbg_random,
					&rng->drbg);
	if (ret <= 0) {
		pki_why(why, whysz, rc, "certificate signing failed: %s",
			pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	/* mbedTLS writes the DER at the end of the buffer */
	memmove(buf, buf + PKI_CRT_DER_MAX - ret, (size_t)ret);
	*der = buf;
	*der_len = (size_t)ret;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	mbedtls_x509write_crt_free(&w);
	return rc;
}

bool pki_login_ok(const char *login)
{
	const char *at = strchr(login, '@');
	char user[PASSWD_USER_MAX + 1];
	size_t n;

	/* the same names the passwd-files accept (auth/passwd.h), nothing else */
	if (at == NULL || strlen(login) > PKI_LOGIN_MAX)
		return false;
	n = (size_t)(at - login);
	if (n == 0 || n > PASSWD_USER_MAX)
		return false;
	memcpy(user, login, n);
	user[n] = '\0';
	return passwd_user_valid(user) && passwd_domain_valid(at + 1);
}

void pki_issued_free(struct pki_issued *is)
{
	free(is->crt_pem);
	if (is->key_pem) {
		mbedtls_platform_zeroize(is->key_pem, is->key_len);
		free(is->key_pem);
	}
	memset(is, 0, sizeof(*is));
}

/* "CN=" and the login with mbedTLS's DN escapes ('+' would start a second attribute). */
static void pki_login_dn(const char *login, char *dn, size_t sz)
{
	size_t o = (size_t)snprintf(dn, sz, "CN=");

	for (const char *c = login; *c && o + 3 < sz; c++) {
		if (strchr("+,=\\\"<>;#", *c))
			dn[o++] = '\\';
		dn[o++] = *c;
	}
	dn[o] = '\0';
}

/* A serial for the next certificate: the `serial` file's, unless the database has it. */
static int pki_serial_take(const char *dir, const struct pki_db *db, struct pki_rng *rng,
			   unsigned char *serial, size_t *len, char *why, size_t whysz)
{
	char hex[PKI_SERIAL_MAX];
	int rc = pki_counter_read(dir, PKI_F_SERIAL, serial, len, why, whysz);

	for (int tries = 0; tries < 8; tries++) {
		bool used = false;

		/* positive (top bit clear, RFC 5280 4.1.2.2), minimal (no leading zero byte:
		 * index.txt and the certificate then spell it alike), unused; otherwise (a
		 * damaged or hand-edited serial file) a new random one */
		if (rc == 0 && *len > 0 && *len <= 20 && serial[0] != 0 &&
		    (serial[0] & 0x80) == 0) {
			pki_hex(serial, *len, hex, sizeof(hex));
			for (size_t i = 0; i < db->n && !used; i++)
				used = strcmp(db->e[i].serial, hex) == 0;
			if (!used)
				return 0;
		}
		if (pki_serial_new(rng, serial) != 0)
			break;
		*len = PKI_SERIAL_LEN;
		rc = 0;
	}
	return pki_why(why, whysz, -MGW_ETLS, "no unique serial number could be drawn");
}

static int pki_cert_make(const char *dir, const char *login, unsigned years, time_t now,
			 mbedtls_pk_context *user_key, struct pki_issued *out, char *why,
			 size_t whysz)
{
	unsigned char serial[21], next[PKI_SERIAL_LEN], *der = NULL;
	unsigned char keypem[PKI_DER_MAX];
	char dn[PKI_DN_MAX], issuer[PKI_DN_MAX], name[PKI_SERIAL_MAX + 16], e[160];
	size_t serial_len = 0, der_len = 0;
	struct pki_cert_entry ent;
	mbedtls_pk_context key;
	struct pki_ca ca;
	struct pki_db db = {0};
	struct pki_rng rng;
	int lock = -1, rc, ret;

	memset(out, 0, sizeof(*out));
	memset(&ca, 0, sizeof(ca));
	mbedtls_pk_init(&key);
	mbedtls_x509_crt_init(&ca.crt);
	mbedtls_pk_init(&ca.key);
	rc = pki_rng_init(&rng);
	if (rc < 0) {
		rc = pki_why(why, whysz, rc, "random number generator failed");
		goto out;
	}
	if (!pki_login_ok(login)) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: not a valid user@domain login", login);
		goto out;
	}
	if (years < PKI_CERT_YEARS_MIN || years > PKI_CERT_YEARS_MAX) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "validity of %u years: give %d to %d", years,
			     PKI_CERT_YEARS_MIN, PKI_CERT_YEARS_MAX);
		goto out;
	}
	lock = pki_lock(dir, why, whysz);
	if (lock < 0) {
		rc = lock;
		goto out;
	}
	rc = pki_ca_load(dir, true, &ca, why, whysz);
	if (rc == 0)
		rc = pki_db_load(dir, now, &db, why, whysz);
	if (rc == 0)
		rc = pki_serial_take(dir, &db, &rng, serial, &serial_len, why, whysz);
	if (rc < 0)
		goto out;
	if (user_key == NULL) {
		rc = -MGW_ETLS;
		ret = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
		if (ret == 0)
			ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
						  mbedtls_ctr_drbg_random, &rng.drbg);
		if (ret == 0)
			ret = mbedtls_pk_write_key_pem(&key, keypem, sizeof(keypem));
		if (ret != 0) {
			pki_why(why, whysz, rc, "key generation failed: %s",
				pki_tls_err(ret, e, sizeof(e)));
			goto out;
		}
		user_key = &key;
	}
	if (mbedtls_x509_dn_gets(issuer, sizeof(issuer), &ca.crt.subject) < 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s/%s: subject name too long", dir,
			     PKI_F_CA_CRT);
		goto out;
	}
	pki_login_dn(login, dn, sizeof(dn));
	{
		struct pki_crt_spec s = {
		    .subject_key = user_key,
		    .issuer_key = &ca.key,
		    .subject = dn,
		    .issuer = issuer,
		    .aki = ca.keyid,
		    .aki_len = ca.keyid_len,
		    .serial = serial,
		    .serial_len = serial_len,
		    .from = now - 3600,
		    .to = now + (time_t)years * 365 * 86400,
		    .email = login,
		};

		rc = pki_crt_make(&s, &rng, &der, &der_len, why, whysz);
		if (rc < 0)
			goto out;
		out->not_before = s.from;
		out->not_after = s.to;
	}
	rc = pki_pem("CERTIFICATE", der, der_len, &out->crt_pem, &out->crt_len);
	if (rc < 0) {
		pki_why(why, whysz, rc, "certificate: PEM encoding failed");
		goto out;
	}
	snprintf(out->login, sizeof(out->login), "%s", login);
	pki_hex(serial, serial_len, out->serial, sizeof(out->serial));
	pki_fp(der, der_len, out->fp);
	/* the copy first, then the database line, then the next serial: a failure leaves
	 * at most an unreferenced copy, never a database line without its certificate */
	snprintf(name, sizeof(name), "%s/%s.pem", PKI_F_CERTS, out->serial);
	rc = pki_write(dir, name, out->crt_pem, out->crt_len, 0600, why, whysz);
	if (rc < 0)
		goto out;
	memset(&ent, 0, sizeof(ent));
	ent.status = 'V';
	ent.not_after = out->not_after;
	snprintf(ent.serial, sizeof(ent.serial), "%s", out->serial);
	snprintf(ent.subject, sizeof(ent.subject), "/CN=%s", login);
	snprintf(ent.login, sizeof(ent.login), "%s", login);
	rc = pki_db_add(&db, &ent);
	if (rc == 0)
		rc = pki_db_save(dir, &db, why, whysz);
	else
		pki_why(why, whysz, rc, "out of memory");
	if (rc == 0 && pki_serial_new(&rng, next) == 0)
		rc = pki_counter_write(dir, PKI_F_SERIAL, next, sizeof(next), why, whysz);
	if (rc < 0) {
		char path[PKI_PATH_MAX];

		if (pki_path(path, dir, name) == 0)
			unlink(path);
		goto out;
	}
	if (user_key == &key) {
		out->key_pem = strdup((char *)keypem);
		if (out->key_pem == NULL) {
			rc = pki_why(why, whysz, -MGW_ENOMEM, "out of memory");
			goto out;
		}
		out->key_len = strlen(out->key_pem);
	}
	rc = 0;
out:
	if (rc < 0)
		pki_issued_free(out);
	mbedtls_platform_zeroize(keypem, sizeof(keypem));
	free(der);
	pki_db_free(&db);
	pki_ca_free(&ca);
	mbedtls_pk_free(&key);
	pki_rng_free(&rng);
	pki_unlock(lock);
	return rc;
}

int pki_cert_issue(const char *dir, const char *login, unsigned years, time_t now,
		   struct pki_issued *out, char *why, size_t whysz)
{
	return pki_cert_make(dir, login, years, now, NULL, out, why, whysz);
}

static bool pki_csr_signed(const mbedtls_x509_csr *csr)
{
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(csr->MBEDTLS_PRIVATE(sig_md));

	if (md == NULL || mbedtls_md(md, csr->cri.p, csr->cri.len, hash) != 0)
		return false;
	return mbedtls_pk_verify_ext(csr->MBEDTLS_PRIVATE(sig_pk), csr->MBEDTLS_PRIVATE(sig_opts),
				     (mbedtls_pk_context *)&csr->pk, csr->MBEDTLS_PRIVATE(sig_md),
				     hash, mbedtls_md_get_size(md), csr->MBEDTLS_PRIVATE(sig).p,
				     csr->MBEDTLS_PRIVATE(sig).len) == 0;
}

static bool pki_name_is(const mbedtls_x509_buf *v, const char *login)
{
	return v->len == strlen(login) && strncasecmp((const char *)v->p, login, v->len) == 0;
}

/* The CSR names nobody but login (CN, emailAddress, email SANs). */
static int pki_csr_identity(const mbedtls_x509_csr *csr, const char *login, const char *path,
			    char *why, size_t whysz)
{
	for (const mbedtls_x509_name *n = &csr->subject; n != NULL; n = n->next) {
		bool cn = MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0;
		bool mail = MBEDTLS_OID_CMP(MBEDTLS_OID_PKCS9_EMAIL, &n->oid) == 0;

		if ((cn || mail) && n->val.p != NULL && !pki_name_is(&n->val, login))
			return pki_why(why, whysz, -MGW_EPERM,
				       "%s: the request is for %s %.*s, not for %s", path,
				       cn ? "CN" : "emailAddress", (int)n->val.len,
				       (const char *)n->val.p, login);
	}
	for (const mbedtls_x509_sequence *s = &csr->subject_alt_names; s && s->buf.p; s = s->next) {
		mbedtls_x509_subject_alternative_name san;

		if (mbedtls_x509_parse_subject_alt_name(&s->buf, &san) != 0)
			continue; /* a kind we do not copy anyway */
		if (san.type == MBEDTLS_X509_SAN_RFC822_NAME &&
		    !pki_name_is(&san.san.unstructured_name, login)) {
			int rc = pki_why(why, whysz, -MGW_EPERM,
					 "%s: the request is for email %.*s, not for %s", path,
					 (int)san.san.unstructured_name.len,
					 (const char *)san.san.unstructured_name.p, login);

			mbedtls_x509_free_subject_alt_name(&san);
			return rc;
		}
		mbedtls_x509_free_subject_alt_name(&san);
	}
	return 0;
}

static int pki_csr_key_ok(mbedtls_pk_context *pk, const char *path, char *why, size_t whysz)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
	size_t bits = mbedtls_pk_get_bitlen(pk);

	if (t == MBEDTLS_PK_RSA && bits >= 2048 && bits <= 8192)
		return 0;
	if (t == MBEDTLS_PK_ECKEY) {
		mbedtls_ecp_group_id g = mbedtls_pk_ec(*pk)->MBEDTLS_PRIVATE(grp).id;

		if (g == MBEDTLS_ECP_DP_SECP256R1 || g == MBEDTLS_ECP_DP_SECP384R1)
			return 0;
	}
	return pki_why(why, whysz, -MGW_EINVAL,
		       "%s: key type refused (EC P-256/P-384 or RSA 2048+ only)", path);
}

int pki_cert_sign(const char *dir, const char *login, const char *csr_path, unsigned years,
		  time_t now, struct pki_issued *out, char *why, size_t whysz)
{
	mbedtls_x509_csr csr;
	char *data = NULL, e[160];
	size_t len;
	int rc, ret;

	memset(out, 0, sizeof(*out));
	mbedtls_x509_csr_init(&csr);
	if (!pki_login_ok(login))
		return pki_why(why, whysz, -MGW_EINVAL, "%s: not a valid user@domain login", login);
	rc = pki_read(NULL, csr_path, &data, &len, why, whysz);
	if (rc < 0)
		goto out;
	ret = mbedtls_x509_csr_parse(&csr, (unsigned char *)data,
				     strstr(data, "-----BEGIN") ? len + 1 : len);
	if (ret == MBEDTLS_ERR_X509_FEATURE_UNAVAILABLE) {
		/* mbedTLS refuses a request with a critical extension it does not parse */
		rc = pki_why(why, whysz, -MGW_EINVAL,
			     "%s: the request holds a critical extension the gateway cannot "
			     "read; make it without extensions (the certificate gets its own)",
			     csr_path);
		goto out;
	}
	if (ret != 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: not a certificate request: %s", csr_path,
			     pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	if (!pki_csr_signed(&csr)) {
		rc = pki_why(why, whysz, -MGW_EINVAL,
			     "%s: the request's signature does not verify (damaged or forged)",
			     csr_path);
		goto out;
	}
	rc = pki_csr_identity(&csr, login, csr_path, why, whysz);
	if (rc == 0)
		rc = pki_csr_key_ok(&csr.pk, csr_path, why, whysz);
	if (rc == 0)
		rc = pki_cert_make(dir, login, years, now, &csr.pk, out, why, whysz);
out:
	free(data);
	mbedtls_x509_csr_free(&csr);
	return rc;
}

int pki_cert_list(const char *dir, time_t now, struct pki_cert_entry **entries, size_t *n,
		  char *why, size_t whysz)
{
	struct pki_db db;
	int rc;

	*entries = NULL;
	*n = 0;
	rc = pki_dir_check(dir, 0700, false, why, whysz);
	if (rc == 0)
		rc = pki_db_load(dir, now, &db, why, whysz);
	if (rc < 0)
		return rc;
	*entries = db.e;
	*n = db.n;
	return 0;
}

int pki_cert_show(const char *dir, const char *serial, time_t now, struct pki_cert_entry *e,
		  time_t *not_before, char fp[PKI_FP_MAX], char **crt_pem, char *why, size_t whysz)
{
	char norm[PKI_SERIAL_MAX], name[PKI_SERIAL_MAX + 16], *data = NULL;
	mbedtls_x509_crt crt;
	struct pki_db db;
	size_t len, i;
	int rc;

	if (crt_pem)
		*crt_pem = NULL;
	if (pki_serial_norm(serial, norm) < 0)
		return pki_why(why, whysz, -MGW_EINVAL, "%s: not a serial number (hex)", serial);
	rc = pki_cert_list(dir, now, &db.e, &db.n, why, whysz);
	if (rc < 0)
		return rc;
	for (i = 0; i < db.n && strcmp(db.e[i].serial, norm) != 0; i++)
		;
	if (i == db.n) {
		pki_db_free(&db);
		return pki_why(why, whysz, -MGW_ENOENT, "%s/%s: no certificate with serial %s", dir,
			       PKI_F_INDEX, norm);
	}
	*e = db.e[i];
	pki_db_free(&db);
	snprintf(name, sizeof(name), "%s/%s.pem", PKI_F_CERTS, norm);
	rc = pki_read(dir, name, &data, &len, why, whysz);
	if (rc < 0)
		return rc;
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse(&crt, (unsigned char *)data, len + 1) != 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s/%s: not a valid certificate", dir, name);
	} else {
		*not_before = pki_time_x509(&crt.valid_from);
		pki_fp(crt.raw.p, crt.raw.len, fp);
		if (crt_pem) {
			*crt_pem = data;
			data = NULL;
		}
	}
	mbedtls_x509_crt_free(&crt);
	free(data);
	return rc;
}

int pki_cert_revoke(const char *dir, const char *which, enum pki_reason reason, unsigned crl_days,
		    time_t now, unsigned *count, char **crl_pem, size_t *crl_len, char *why,
		    size_t whysz)
{
	char norm[PKI_SERIAL_MAX];
	bool by_login = strchr(which, '@') != NULL;
	struct pki_ca ca;
	struct pki_db db = {0};
	unsigned done = 0;
	int lock, rc;

	if (count)
		*count = 0;
	if (crl_pem)
		*crl_pem = NULL;
	if ((unsigned)reason > PKI_REASON_CESSATION)
		return pki_why(why, whysz, -MGW_EINVAL, "unknown revocation reason");
	if (!by_login && pki_serial_norm(which, norm) < 0)
		return pki_why(why, whysz, -MGW_EINVAL,
			       "%s: neither a login (user@domain) nor a serial number", which);
	lock = pki_lock(dir, why, whysz);
	if (lock < 0)
		return lock;
	rc = pki_ca_load(dir, true, &ca, why, whysz);
	if (rc == 0)
		rc = pki_db_load(dir, now, &db, why, whysz);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < db.n; i++) {
		struct pki_cert_entry *e = &db.e[i];

		if (by_login ? (strcasecmp(e->login, which) != 0 || e->status != 'V')
			     : strcmp(e->serial, norm) != 0)
			continue;
		if (e->status == 'R') {
			rc = pki_why(why, whysz, -MGW_EEXIST, "%s: revoked already", norm);
			goto out;
		}
		e->status = 'R';
		e->revoked_at = now;
		e->reason = reason;
		done++;
	}
	if (done == 0) {
		rc = pki_why(why, whysz, -MGW_ENOENT, "%s/%s: %s %s", dir, PKI_F_INDEX,
			     by_login ? "no valid certificate for" : "no certificate with serial",
			     by_login ? which : norm);
		goto out;
	}
	rc = pki_db_save(dir, &db, why, whysz);
	if (rc < 0)
		goto out;
	rc = pki_crl_sign_locked(dir, &ca, crl_days, now, crl_pem, crl_len, why, whysz);
	if (rc < 0) {
		size_t n = strlen(why);

		snprintf(why + n, whysz - n,
			 " (revoked in the database; the CRL is not "
			 "updated yet: crl refresh)");
		goto out;
	}
	if (count)
		*count = done;
out:
	pki_db_free(&db);
	pki_ca_free(&ca);
	pki_unlock(lock);
	return rc;
}
