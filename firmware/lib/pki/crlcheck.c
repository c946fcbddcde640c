/*
 * crlcheck.c - validation of a candidate CRL against the CA and the installed CRL
 * (crlcheck.h). Uses the parser and signature check of crl.c; adds the time, size and
 * rollback rules.
 */
#include "pki/crlcheck.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mbedtls/asn1.h"
#include "mbedtls/oid.h"
#include "pki/pki_int.h"

void pki_crl_cand_free(struct pki_crl_cand *c)
{
	free(c->pem);
	memset(c, 0, sizeof(*c));
}

int pki_crl_number_cmp(const char *a, const char *b)
{
	size_t la, lb;

	while (*a == '0')
		a++;
	while (*b == '0')
		b++;
	la = strlen(a);
	lb = strlen(b);
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

/* The cRLNumber extension (RFC 5280 5.2.3) as hex into out ("" when absent). */
static void pki_crl_number_of(const mbedtls_x509_crl *crl, char out[PKI_SERIAL_MAX])
{
	const unsigned char *v;
	unsigned char *q;
	size_t vlen, il;

	out[0] = '\0';
	if (crl->crl_ext.p == NULL ||
	    pki_der_find_ext(crl->crl_ext.p, crl->raw.p + crl->raw.len, MBEDTLS_OID_CRL_NUMBER,
			     MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER), &v, &vlen) < 0)
		return;
	q = (unsigned char *)v;
	if (mbedtls_asn1_get_tag(&q, v + vlen, &il, MBEDTLS_ASN1_INTEGER) == 0 && il <= 20) {
		mbedtls_x509_buf b = {.p = q, .len = il};

		pki_serial_of(&b, out);
	}
}

/* A NUL-terminated copy, as the PEM parser wants. */
static char *pki_crl_dup(const void *data, size_t len)
{
	char *p = malloc(len + 1);

	if (p != NULL) {
		memcpy(p, data, len);
		p[len] = '\0';
	}
	return p;
}

/* Checks the candidate against the installed CRL; 0 (newer), PKI_CRL_SAME or refused. */
static int pki_crl_against(const mbedtls_x509_crl *cand, const mbedtls_x509_crt *ca,
			   const void *installed, size_t ilen, const char *name, char *why,
			   size_t whysz)
{
	mbedtls_x509_crl old;
	char ignored[PKI_WHY_MAX], nold[PKI_SERIAL_MAX], nnew[PKI_SERIAL_MAX];
	char *buf = NULL;
	time_t told, tnew;
	int rc = 0;

	if (installed == NULL || ilen == 0)
		return 0;
	mbedtls_x509_crl_init(&old);
	buf = pki_crl_dup(installed, ilen);
	if (buf == NULL) {
		rc = pki_why(why, whysz, -MGW_ENOMEM, "%s: out of memory", name);
		goto out;
	}
	/* an unreadable installed CRL, or one of another CA, is not a reference */
	if (pki_crl_parse_checked(&old, ca, buf, ilen, "installed CRL", ignored, sizeof(ignored)) <
	    0)
		goto out;
	if (old.raw.len == cand->raw.len && memcmp(old.raw.p, cand->raw.p, old.raw.len) == 0) {
		rc = PKI_CRL_SAME;
		goto out;
	}
	pki_crl_number_of(&old, nold);
	pki_crl_number_of(cand, nnew);
	told = pki_time_x509(&old.this_update);
	tnew = pki_time_x509(&cand->this_update);
	if (nold[0] && !nnew[0])
		rc = pki_why(why, whysz, -MGW_EINVAL,
			     "%s: has no CRL number but the installed CRL has number %s", name,
			     nold);
	else if (nold[0] && pki_crl_number_cmp(nnew, nold) < 0)
		rc = pki_why(why, whysz, -MGW_EINVAL,
			     "%s: CRL number %s is older than the installed CRL's %s (rollback "
			     "refused)",
			     name, nnew, nold);
	else if (tnew < told)
		rc = pki_why(
		    why, whysz, -MGW_EINVAL,
		    "%s: thisUpdate is earlier than the installed CRL's (rollback refused)", name);
	else if (nold[0] && pki_crl_number_cmp(nnew, nold) == 0)
		rc = pki_why(why, whysz, -MGW_EINVAL,
			     "%s: CRL number %s is the installed CRL's, with other contents", name,
			     nnew);
out:
	free(buf);
	mbedtls_x509_crl_free(&old);
	return rc;
}

int pki_crl_candidate(const char *ca_path, const void *data, size_t len, const void *installed,
		      size_t ilen, const struct pki_crl_policy *pol, time_t now,
		      struct pki_crl_cand *c, const char *name, char *why, size_t whysz)
{
	size_t max = pol && pol->max_size ? pol->max_size : PKI_CRL_SIZE_MAX;
	unsigned skew = pol ? pol->skew_s : PKI_CRL_SKEW_S;
	mbedtls_x509_crl crl;
	mbedtls_x509_crt ca;
	char *buf = NULL, e[160];
	int rc = -MGW_EINVAL, ret;

	memset(c, 0, sizeof(*c));
	mbedtls_x509_crl_init(&crl);
	mbedtls_x509_crt_init(&ca);
	if (len > max) {
		rc = pki_why(why, whysz, -MGW_ELIMIT, "%s: %zu bytes, more than the limit of %zu",
			     name, len, max);
		goto out;
	}
	if (len == 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: empty", name);
		goto out;
	}
	ret = mbedtls_x509_crt_parse_file(&ca, ca_path);
	if (ret != 0) {
		rc = pki_why(why, whysz, -MGW_EIO, "%s: not a readable certificate: %s", ca_path,
			     pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	buf = pki_crl_dup(data, len);
	if (buf == NULL) {
		rc = pki_why(why, whysz, -MGW_ENOMEM, "%s: out of memory", name);
		goto out;
	}
	rc = pki_crl_parse_checked(&crl, &ca, buf, len, name, why, whysz);
	if (rc < 0)
		goto out;
	c->this_update = pki_time_x509(&crl.this_update);
	c->next_update = pki_time_x509(&crl.next_update);
	if (crl.next_update.year == 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: has no nextUpdate", name);
		goto out;
	}
	if (c->this_update > now + (time_t)skew) {
		rc = pki_why(why, whysz, -MGW_EINVAL,
			     "%s: thisUpdate is %lld s in the future (clock or CRL wrong)", name,
			     (long long)(c->this_update - now));
		goto out;
	}
	if (c->next_update <= now) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: nextUpdate passed %lld s ago (expired)",
			     name, (long long)(now - c->next_update));
		goto out;
	}
	rc = pki_crl_against(&crl, &ca, installed, ilen, name, why, whysz);
	if (rc < 0)
		goto out;
	pki_crl_number_of(&crl, c->number);
	for (const mbedtls_x509_crl_entry *en = &crl.entry; en && en->serial.len; en = en->next)
		c->revoked++;
	ret = pki_pem("X509 CRL", crl.raw.p, crl.raw.len, &c->pem, &c->pem_len);
	if (ret < 0)
		rc = pki_why(why, whysz, ret, "%s: PEM encoding failed", name);
out:
	if (rc < 0)
		pki_crl_cand_free(c);
	free(buf);
	mbedtls_x509_crl_free(&crl);
	mbedtls_x509_crt_free(&ca);
	return rc;
}

/* DistributionPoint ::= SEQUENCE { distributionPoint [0] { fullName [0] GeneralNames } }
 * GeneralName uniformResourceIdentifier is [6] IA5String. */
static int pki_dp_url(unsigned char *q, const unsigned char *end, char *url, size_t urlsz)
{
	const unsigned char CTX0 = MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0;
	const unsigned char URI = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 6;
	size_t len;

	if (mbedtls_asn1_get_tag(&q, end, &len, CTX0) != 0 ||
	    mbedtls_asn1_get_tag(&q, q + len, &len, CTX0) != 0)
		return -MGW_ENOENT;
	end = q + len;
	while (q < end) {
		unsigned char tag = *q++;

		if (mbedtls_asn1_get_len(&q, end, &len) != 0)
			return -MGW_ENOENT;
		if (tag == URI && ((len > 7 && memcmp(q, "http://", 7) == 0) ||
				   (len > 8 && memcmp(q, "https://", 8) == 0))) {
			if (len >= urlsz)
				return -MGW_ELIMIT;
			for (size_t i = 0; i < len; i++)
				if (q[i] <= 0x20 || q[i] >= 0x7f)
					return -MGW_ENOENT;
			memcpy(url, q, len);
			url[len] = '\0';
			return 0;
		}
		q += len;
	}
	return -MGW_ENOENT;
}

int pki_crt_crl_url(const char *crt_path, char *url, size_t urlsz)
{
	mbedtls_x509_crt crt;
	const unsigned char *v;
	unsigned char *q, *end;
	size_t vlen, len;
	int rc = -MGW_ENOENT;

	url[0] = '\0';
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_file(&crt, crt_path) != 0) {
		rc = -MGW_EIO;
		goto out;
	}
	if (crt.v3_ext.p == NULL ||
	    pki_der_find_ext(crt.v3_ext.p, crt.v3_ext.p + crt.v3_ext.len,
			     MBEDTLS_OID_CRL_DISTRIBUTION_POINTS,
			     MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_DISTRIBUTION_POINTS), &v, &vlen) < 0)
		goto out;
	q = (unsigned char *)v;
	end = q + vlen;
	if (mbedtls_asn1_get_tag(&q, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
		goto out;
	end = q + len;
	while (q < end && rc == -MGW_ENOENT) {
		if (mbedtls_asn1_get_tag(&q, end, &len,
					 MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
			break;
		rc = pki_dp_url(q, q + len, url, urlsz);
		q += len;
	}
out:
	mbedtls_x509_crt_free(&crt);
	return rc;
}
