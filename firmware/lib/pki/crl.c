/*
 * crl.c - the CRL writer (mbedTLS has none), its reader for `crl show`, import and the
 * "re-sign before nextUpdate" refresh.
 *
 * CertificateList (RFC 5280 section 5.1), version 2:
 *   tbsCertList: version v2, signature algorithm, issuer (a byte-exact copy of the CA
 *   certificate's subject DER, so that every verifier matches it), thisUpdate, nextUpdate,
 *   revokedCertificates (serial, revocationDate, reasonCode unless unspecified - 5.3.1
 *   says not to write `unspecified`), crlExtensions: authorityKeyIdentifier (5.2.1, MUST)
 *   and cRLNumber (5.2.3, MUST, monotonic from the crlnumber file).
 * The TBS is written on mbedTLS's ASN.1 writer, hashed with SHA-256 and signed with
 * mbedtls_pk_sign; then the outer SEQUENCE is written around TBS, algorithm, signature.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mbedtls/asn1.h"
#include "mbedtls/asn1write.h"
#include "mbedtls/md.h"
#include "mbedtls/oid.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"
#include "pki/pki_int.h"

#define PKI_OID_CRL_REASON MBEDTLS_OID_ID_CE "\x15" /* id-ce-cRLReasons { id-ce 21 } */
#define PKI_CRL_ENTRY_MAX 64			    /* DER bytes of one revoked entry */
#define PKI_SIG_MAX 1024

#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)

static int pki_hex_bytes(const char *hex, unsigned char *b, size_t *n)
{
	size_t len = strlen(hex);

	if (len % 2 || len / 2 > 20)
		return -MGW_EINVAL;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -MGW_EINVAL;
		b[i] = (unsigned char)v;
	}
	*n = len / 2;
	return 0;
}

/* crlExtensions [0] EXPLICIT Extensions: authorityKeyIdentifier and cRLNumber. */
static int pki_crl_write_exts(unsigned char **p, unsigned char *start, const struct pki_ca *ca,
			      const unsigned char *number, size_t number_len)
{
	unsigned char v[PKI_KEYID_MAX + 16], *q;
	int ret, vl;
	size_t len = 0;

	q = v + sizeof(v);
	vl = pki_der_uint(&q, v, number, number_len);
	if (vl < 0)
		return vl;
	MBEDTLS_ASN1_CHK_ADD(len,
			     pki_der_ext(p, start, MBEDTLS_OID_CRL_NUMBER,
					 MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER), q, (size_t)vl));
	/* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING } */
	q = v + sizeof(v);
	vl = 0;
	MBEDTLS_ASN1_CHK_ADD(vl, mbedtls_asn1_write_raw_buffer(&q, v, ca->keyid, ca->keyid_len));
	MBEDTLS_ASN1_CHK_ADD(vl, pki_der_hdr(&q, v, (size_t)vl, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0));
	MBEDTLS_ASN1_CHK_ADD(vl, pki_der_hdr(&q, v, (size_t)vl, SEQ));
	MBEDTLS_ASN1_CHK_ADD(len,
			     pki_der_ext(p, start, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
					 MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), q,
					 (size_t)vl));
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_hdr(p, start, len, SEQ));
	MBEDTLS_ASN1_CHK_ADD(
	    len, pki_der_hdr(p, start, len,
			     MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
	return (int)len;
}

/* One revokedCertificates entry. */
static int pki_crl_write_entry(unsigned char **p, unsigned char *start,
			       const struct pki_cert_entry *e)
{
	unsigned char serial[20], v[8], *q;
	size_t serial_len, len = 0;
	int ret, vl;

	if (pki_hex_bytes(e->serial, serial, &serial_len) < 0)
		return MBEDTLS_ERR_ASN1_INVALID_DATA;
	if (e->reason != PKI_REASON_UNSPECIFIED) {
		q = v + sizeof(v);
		vl = mbedtls_asn1_write_enum(&q, v, (int)e->reason);
		if (vl < 0)
			return vl;
		MBEDTLS_ASN1_CHK_ADD(len, pki_der_ext(p, start, PKI_OID_CRL_REASON,
						      MBEDTLS_OID_SIZE(PKI_OID_CRL_REASON), q,
						      (size_t)vl));
		MBEDTLS_ASN1_CHK_ADD(len, pki_der_hdr(p, start, len, SEQ));
	}
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_time(p, start, e->revoked_at));
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_uint(p, start, serial, serial_len));
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_hdr(p, start, len, SEQ));
	return (int)len;
}

static int pki_crl_write_tbs(unsigned char **p, unsigned char *start, const struct pki_ca *ca,
			     const struct pki_db *db, const unsigned char *number,
			     size_t number_len, time_t now, unsigned days, const char *sig_oid,
			     size_t sig_oid_len, bool rsa)
{
	size_t len = 0, rl = 0;
	bool any = false;
	int ret;

	MBEDTLS_ASN1_CHK_ADD(len, pki_crl_write_exts(p, start, ca, number, number_len));
	/* written last to first, so that the CRL lists them in database order */
	for (size_t i = db->n; i-- > 0;) {
		if (db->e[i].status != 'R')
			continue;
		MBEDTLS_ASN1_CHK_ADD(rl, pki_crl_write_entry(p, start, &db->e[i]));
		any = true;
	}
	if (any) /* an empty list is omitted, not written empty (5.1.2.6) */
		MBEDTLS_ASN1_CHK_ADD(rl, pki_der_hdr(p, start, rl, SEQ));
	len += rl;
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_time(p, start, now + (time_t)days * 86400));
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_time(p, start, now));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(p, start, ca->crt.subject_raw.p,
								ca->crt.subject_raw.len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_algorithm_identifier_ext(p, start, sig_oid,
									      sig_oid_len, 0, rsa));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_int(p, start, 1)); /* v2 */
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_hdr(p, start, len, SEQ));
	return (int)len;
}

int pki_crl_make(const struct pki_ca *ca, const struct pki_db *db, const unsigned char *number,
		 size_t number_len, time_t now, unsigned days, struct pki_rng *rng, char **pem,
		 size_t *pem_len, char *why, size_t whysz)
{
	mbedtls_pk_type_t pk_type = mbedtls_pk_get_type(&ca->key);
	unsigned char hash[32], sig[PKI_SIG_MAX], *tbs = NULL, *out = NULL, *p, *tp;
	size_t cap = 1024 + ca->crt.subject_raw.len + db->n * PKI_CRL_ENTRY_MAX, siglen = 0;
	const char *oid;
	size_t oid_len, len = 0;
	char e[160];
	int ret, tl, rc = -MGW_ETLS;

	*pem = NULL;
	if (pk_type == MBEDTLS_PK_ECKEY)
		pk_type = MBEDTLS_PK_ECDSA;
	if (mbedtls_oid_get_oid_by_sig_alg(pk_type, MBEDTLS_MD_SHA256, &oid, &oid_len) != 0)
		return pki_why(why, whysz, -MGW_EINVAL, "CA key: unsupported key type");
	tbs = malloc(cap);
	out = malloc(cap + PKI_SIG_MAX);
	if (tbs == NULL || out == NULL) {
		rc = pki_why(why, whysz, -MGW_ENOMEM, "CRL: out of memory");
		goto out;
	}
	tp = tbs + cap;
	tl = pki_crl_write_tbs(&tp, tbs, ca, db, number, number_len, now, days, oid, oid_len,
			       pk_type == MBEDTLS_PK_RSA);
	if (tl < 0) {
		rc = pki_why(why, whysz, -MGW_ETLS, "CRL: encoding failed: %s",
			     pki_tls_err(tl, e, sizeof(e)));
		goto out;
	}
	ret = mbedtls_sha256(tp, (size_t)tl, hash, 0);
	if (ret == 0)
		ret = mbedtls_pk_sign((mbedtls_pk_context *)&ca->key, MBEDTLS_MD_SHA256, hash,
				      sizeof(hash), sig, sizeof(sig), &siglen,
				      mbedtls_ctr_drbg_random, &rng->drbg);
	if (ret != 0) {
		rc = pki_why(why, whysz, -MGW_ETLS, "CRL: signing failed: %s",
			     pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	p = out + cap + PKI_SIG_MAX;
#define PKI_CHK(f)                                                                                 \
	do {                                                                                       \
		if ((ret = (f)) < 0)                                                               \
			goto enc;                                                                  \
		len += (size_t)ret;                                                                \
	} while (0)
	PKI_CHK(mbedtls_asn1_write_bitstring(&p, out, sig, siglen * 8));
	PKI_CHK(mbedtls_asn1_write_algorithm_identifier_ext(&p, out, oid, oid_len, 0,
							    pk_type == MBEDTLS_PK_RSA));
	PKI_CHK(mbedtls_asn1_write_raw_buffer(&p, out, tp, (size_t)tl));
	PKI_CHK(pki_der_hdr(&p, out, len, SEQ));
#undef PKI_CHK
	rc = pki_pem("X509 CRL", p, len, pem, pem_len);
	if (rc < 0)
		pki_why(why, whysz, rc, "CRL: PEM encoding failed");
	goto out;
enc:
	rc = pki_why(why, whysz, -MGW_ETLS, "CRL: encoding failed: %s",
		     pki_tls_err(ret, e, sizeof(e)));
out:
	free(tbs);
	free(out);
	return rc;
}

bool pki_crl_signed_by(const mbedtls_x509_crl *crl, const mbedtls_x509_crt *ca)
{
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(crl->MBEDTLS_PRIVATE(sig_md));

	if (md == NULL || mbedtls_md(md, crl->tbs.p, crl->tbs.len, hash) != 0)
		return false;
	return mbedtls_pk_verify_ext(crl->MBEDTLS_PRIVATE(sig_pk), crl->MBEDTLS_PRIVATE(sig_opts),
				     (mbedtls_pk_context *)&ca->pk, crl->MBEDTLS_PRIVATE(sig_md),
				     hash, mbedtls_md_get_size(md), crl->MBEDTLS_PRIVATE(sig).p,
				     crl->MBEDTLS_PRIVATE(sig).len) == 0;
}

/* Parses exactly one CRL from buf (PEM text NUL-terminated at buf[len], or DER) and
 * checks it against ca (pki_int.h). */
int pki_crl_parse_checked(mbedtls_x509_crl *crl, const mbedtls_x509_crt *ca, const char *buf,
			  size_t len, const char *name, char *why, size_t whysz)
{
	bool pem = strstr(buf, "-----BEGIN X509 CRL-----") != NULL;
	char e[160];
	int ret;

	ret = mbedtls_x509_crl_parse(crl, (const unsigned char *)buf, pem ? len + 1 : len);
	if (ret != 0)
		return pki_why(why, whysz, -MGW_EINVAL, "%s: not a valid CRL: %s", name,
			       pki_tls_err(ret, e, sizeof(e)));
	if (crl->next != NULL)
		return pki_why(why, whysz, -MGW_EINVAL, "%s: holds more than one CRL", name);
	if (ca == NULL)
		return 0;
	if (crl->issuer_raw.len != ca->subject_raw.len ||
	    memcmp(crl->issuer_raw.p, ca->subject_raw.p, ca->subject_raw.len) != 0)
		return pki_why(why, whysz, -MGW_EINVAL, "%s: CRL not issued by this CA", name);
	if (!pki_crl_signed_by(crl, ca))
		return pki_why(why, whysz, -MGW_EINVAL,
			       "%s: CRL signature does not verify with the CA's key", name);
	return 0;
}

int pki_crl_check(const mbedtls_x509_crt *ca, const char *buf, size_t len, const char *name,
		  char *why, size_t whysz)
{
	mbedtls_x509_crl crl;
	int rc;

	mbedtls_x509_crl_init(&crl);
	rc = pki_crl_parse_checked(&crl, ca, buf, len, name, why, whysz);
	mbedtls_x509_crl_free(&crl);
	return rc;
}

int pki_crl_sign_locked(const char *dir, const struct pki_ca *ca, unsigned days, time_t now,
			char **crl_pem, size_t *crl_len, char *why, size_t whysz)
{
	unsigned char number[21];
	size_t number_len = 0;
	struct pki_db db;
	struct pki_rng rng;
	char *pem = NULL;
	size_t pem_len = 0;
	int rc;

	if (days == 0)
		days = PKI_CRL_DAYS;
	if (days > PKI_CA_DAYS)
		return pki_why(why, whysz, -MGW_EINVAL, "CRL validity of %u days is too long",
			       days);
	rc = pki_rng_init(&rng);
	if (rc < 0) {
		pki_rng_free(&rng);
		return pki_why(why, whysz, rc, "random number generator failed");
	}
	rc = pki_db_load(dir, now, &db, why, whysz);
	if (rc < 0)
		goto out_rng;
	rc = pki_counter_read(dir, PKI_F_CRLNUMBER, number + 1, &number_len, why, whysz);
	if (rc < 0)
		goto out;
	rc = pki_crl_make(ca, &db, number + 1, number_len, now, days, &rng, &pem, &pem_len, why,
			  whysz);
	if (rc < 0)
		goto out;
	/* next number = this + 1, big-endian, growing by a byte on overflow (max 20 bytes) */
	number[0] = 0;
	for (size_t i = number_len + 1; i-- > 0;)
		if (++number[i] != 0)
			break;
	if (number[0] != 0)
		number_len++;
	if (number_len > 20) {
		rc = pki_why(why, whysz, -MGW_ELIMIT, "%s/%s: CRL number exhausted", dir,
			     PKI_F_CRLNUMBER);
		goto out;
	}
	/* the number is consumed before the CRL is published: never two CRLs with one number */
	rc = pki_counter_write(dir, PKI_F_CRLNUMBER, number + (number[0] == 0 ? 1 : 0), number_len,
			       why, whysz);
	if (rc == 0)
		rc = pki_write(dir, PKI_F_CRL, pem, pem_len, 0600, why, whysz);
	if (rc == 0 && crl_pem != NULL) {
		*crl_pem = pem;
		*crl_len = pem_len;
		pem = NULL;
	}
out:
	free(pem);
	pki_db_free(&db);
out_rng:
	pki_rng_free(&rng);
	return rc;
}

int pki_crl_sign(const char *dir, unsigned crl_days, time_t now, char **crl_pem, size_t *crl_len,
		 char *why, size_t whysz)
{
	struct pki_ca ca;
	int lock, rc;

	if (crl_pem)
		*crl_pem = NULL;
	lock = pki_lock(dir, why, whysz);
	if (lock < 0)
		return lock;
	rc = pki_ca_load(dir, true, &ca, why, whysz);
	if (rc == 0)
		rc = pki_crl_sign_locked(dir, &ca, crl_days, now, crl_pem, crl_len, why, whysz);
	pki_ca_free(&ca);
	pki_unlock(lock);
	return rc;
}

int pki_crl_refresh(const char *dir, unsigned min_days, unsigned crl_days, time_t now,
		    bool *resigned, char **crl_pem, size_t *crl_len, char *why, size_t whysz)
{
	struct pki_crl_info ci;
	char path[PKI_PATH_MAX], ca_path[PKI_PATH_MAX], ignored[PKI_WHY_MAX];
	int rc;

	*resigned = false;
	if (crl_pem)
		*crl_pem = NULL;
	if (min_days == 0)
		min_days = PKI_CRL_REFRESH_DAYS;
	if (pki_path(path, dir, PKI_F_CRL) < 0 || pki_path(ca_path, dir, PKI_F_CA_CRT) < 0)
		return pki_why(why, whysz, -MGW_ELIMIT, "%s: path too long", dir);
	rc = pki_crl_show(path, ca_path, now, &ci, ignored, sizeof(ignored));
	pki_crl_info_free(&ci);
	if (rc == 0 && ci.seconds_left >= (long long)min_days * 86400 && ci.this_update <= now)
		return 0;
	rc = pki_crl_sign(dir, crl_days, now, crl_pem, crl_len, why, whysz);
	if (rc == 0)
		*resigned = true;
	return rc;
}

int pki_crl_import(const char *dir, const char *crl_path, time_t now, char **crl_pem,
		   size_t *crl_len, char *why, size_t whysz)
{
	mbedtls_x509_crl crl;
	struct pki_ca ca;
	char *data = NULL, *pem = NULL;
	size_t len, pem_len = 0;
	int lock, rc;

	(void)now;
	if (crl_pem)
		*crl_pem = NULL;
	mbedtls_x509_crl_init(&crl);
	lock = pki_lock(dir, why, whysz);
	if (lock < 0)
		return lock;
	rc = pki_ca_load(dir, false, &ca, why, whysz);
	if (rc == 0)
		rc = pki_read(NULL, crl_path, &data, &len, why, whysz);
	if (rc == 0)
		rc = pki_crl_parse_checked(&crl, &ca.crt, data, len, crl_path, why, whysz);
	if (rc == 0) {
		rc = pki_pem("X509 CRL", crl.raw.p, crl.raw.len, &pem, &pem_len);
		if (rc < 0)
			pki_why(why, whysz, rc, "%s: PEM encoding failed", crl_path);
	}
	if (rc == 0)
		rc = pki_write(dir, PKI_F_CRL, pem, pem_len, 0600, why, whysz);
	if (rc == 0 && crl_pem) {
		*crl_pem = pem;
		*crl_len = pem_len;
		pem = NULL;
	}
	free(pem);
	free(data);
	mbedtls_x509_crl_free(&crl);
	pki_ca_free(&ca);
	pki_unlock(lock);
	return rc;
}

void pki_crl_info_free(struct pki_crl_info *ci)
{
	free(ci->entries);
	ci->entries = NULL;
	ci->n = 0;
}

static void pki_crl_entry_reason(const mbedtls_x509_crl_entry *en, const unsigned char *end,
				 enum pki_reason *r)
{
	const unsigned char *v;
	unsigned char *q;
	size_t vlen;
	int val;

	*r = PKI_REASON_UNSPECIFIED;
	if (en->entry_ext.p == NULL ||
	    pki_der_find_ext(en->entry_ext.p, end, PKI_OID_CRL_REASON,
			     MBEDTLS_OID_SIZE(PKI_OID_CRL_REASON), &v, &vlen) < 0)
		return;
	q = (unsigned char *)v;
	if (mbedtls_asn1_get_enum(&q, v + vlen, &val) == 0 && val >= 0 &&
	    val <= PKI_REASON_CESSATION)
		*r = (enum pki_reason)val;
}

/* Fills ci from crl (read from crl_path). */
static int pki_crl_info_fill(const mbedtls_x509_crl *crl, const char *crl_path, time_t now,
			     struct pki_crl_info *ci, char *why, size_t whysz)
{
	const unsigned char *v, *end;
	size_t vlen, n = 0;

	if (mbedtls_x509_dn_gets(ci->issuer, sizeof(ci->issuer), &crl->issuer) < 0)
		ci->issuer[0] = '\0';
	ci->this_update = pki_time_x509(&crl->this_update);
	ci->next_update = pki_time_x509(&crl->next_update);
	ci->seconds_left = (long long)ci->next_update - (long long)now;
	end = crl->raw.p + crl->raw.len;
	if (crl->crl_ext.p != NULL &&
	    pki_der_find_ext(crl->crl_ext.p, end, MBEDTLS_OID_CRL_NUMBER,
			     MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER), &v, &vlen) == 0) {
		unsigned char *q = (unsigned char *)v;
		size_t il;

		if (mbedtls_asn1_get_tag(&q, v + vlen, &il, MBEDTLS_ASN1_INTEGER) == 0) {
			mbedtls_x509_buf b = {.p = q, .len = il};

			pki_serial_of(&b, ci->number);
		}
	}
	for (const mbedtls_x509_crl_entry *en = &crl->entry; en && en->serial.len; en = en->next)
		n++;
	if (n) {
		ci->entries = calloc(n, sizeof(*ci->entries));
		if (ci->entries == NULL)
			return pki_why(why, whysz, -MGW_ENOMEM, "%s: out of memory", crl_path);
	}
	for (const mbedtls_x509_crl_entry *en = &crl->entry; en && en->serial.len; en = en->next) {
		struct pki_crl_entry *ce = &ci->entries[ci->n++];

		pki_serial_of(&en->serial, ce->serial);
		ce->revoked_at = pki_time_x509(&en->revocation_date);
		pki_crl_entry_reason(en, end, &ce->reason);
	}
	return 0;
}

int pki_crl_show(const char *crl_path, const char *ca_path, time_t now, struct pki_crl_info *ci,
		 char *why, size_t whysz)
{
	mbedtls_x509_crl crl;
	mbedtls_x509_crt ca;
	char *data = NULL, e[160];
	size_t len;
	int rc, ret;

	memset(ci, 0, sizeof(*ci));
	mbedtls_x509_crl_init(&crl);
	mbedtls_x509_crt_init(&ca);
	if (ca_path != NULL) {
		ret = mbedtls_x509_crt_parse_file(&ca, ca_path);
		if (ret != 0) {
			rc = pki_why(why, whysz, -MGW_EINVAL, "%s: not a readable certificate: %s",
				     ca_path, pki_tls_err(ret, e, sizeof(e)));
			goto out;
		}
	}
	rc = pki_read(NULL, crl_path, &data, &len, why, whysz);
	if (rc < 0)
		goto out;
	rc = pki_crl_parse_checked(&crl, ca_path ? &ca : NULL, data, len, crl_path, why, whysz);
	if (rc < 0)
		goto out;
	ci->verified = ca_path != NULL;
	rc = pki_crl_info_fill(&crl, crl_path, now, ci, why, whysz);
out:
	if (rc < 0)
		pki_crl_info_free(ci);
	free(data);
	mbedtls_x509_crl_free(&crl);
	mbedtls_x509_crt_free(&ca);
	return rc;
}

int pki_crl_show_nth(const char *crl_path, const char *ca_path, unsigned index, time_t now,
		     struct pki_crl_info *ci, char *why, size_t whysz)
{
	mbedtls_x509_crl set;
	mbedtls_x509_crt cas;
	const mbedtls_x509_crl *crl = &set;
	char *data = NULL, e[160];
	size_t len;
	int rc, ret;

	memset(ci, 0, sizeof(*ci));
	mbedtls_x509_crl_init(&set);
	mbedtls_x509_crt_init(&cas);
	ret = mbedtls_x509_crt_parse_file(&cas, ca_path);
	if (ret != 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: not a readable certificate: %s", ca_path,
			     pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	rc = pki_read(NULL, crl_path, &data, &len, why, whysz);
	if (rc < 0)
		goto out;
	ret = mbedtls_x509_crl_parse(&set, (const unsigned char *)data,
				     strstr(data, "-----BEGIN X509 CRL-----") ? len + 1 : len);
	if (ret != 0 && set.version == 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: not a valid CRL: %s", crl_path,
			     pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	for (unsigned i = 0; i < index && crl != NULL; i++)
		crl = crl->next;
	if (crl == NULL || crl->version == 0) {
		rc = -MGW_ENOENT;
		goto out;
	}
	rc = pki_why(why, whysz, -MGW_EINVAL, "%s: CRL %u is not issued by a CA of %s", crl_path,
		     index + 1, ca_path);
	for (const mbedtls_x509_crt *ca = &cas; ca && ca->version; ca = ca->next)
		if (crl->issuer_raw.len == ca->subject_raw.len &&
		    memcmp(crl->issuer_raw.p, ca->subject_raw.p, ca->subject_raw.len) == 0) {
			rc =
			    pki_crl_signed_by(crl, ca)
				? 0
				: pki_why(why, whysz, -MGW_EINVAL,
					  "%s: CRL %u: signature does not verify with the CA's key",
					  crl_path, index + 1);
			break;
		}
	if (rc < 0)
		goto out;
	ci->verified = true;
	rc = pki_crl_info_fill(crl, crl_path, now, ci, why, whysz);
out:
	if (rc < 0)
		pki_crl_info_free(ci);
	free(data);
	mbedtls_x509_crl_free(&set);
	mbedtls_x509_crt_free(&cas);
	return rc;
}
