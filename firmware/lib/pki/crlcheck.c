/*
 * crlcheck.c - validation of a candidate CRL against the CA and the installed CRL
 * (crlcheck.h). Uses the parser and signature check of crl.c; adds the time, size and
 * rollback rules.
 */
#include "pki/crlcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mbedtls/asn1.h"
#include "mbedtls/oid.h"
#include "pki/pki_int.h"

void pki_crl_cand_free(struct pki_crl_cand *c)
{
	free(c->pem);
	free(c->set);
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

/* Checks the candidate against the installed CRL of its CA (old, NULL: none); 0 (newer),
 * PKI_CRL_SAME or refused. */
static int pki_crl_against(const mbedtls_x509_crl *cand, const mbedtls_x509_crl *old,
			   const char *name, char *why, size_t whysz)
{
	char nold[PKI_SERIAL_MAX], nnew[PKI_SERIAL_MAX];
	time_t told, tnew;

	if (old == NULL)
		return 0;
	if (old->raw.len == cand->raw.len && memcmp(old->raw.p, cand->raw.p, old->raw.len) == 0)
		return PKI_CRL_SAME;
	pki_crl_number_of(old, nold);
	pki_crl_number_of(cand, nnew);
	told = pki_time_x509(&old->this_update);
	tnew = pki_time_x509(&cand->this_update);
	if (nold[0] && !nnew[0])
		return pki_why(why, whysz, -MGW_EINVAL,
			       "%s: has no CRL number but the installed CRL has number %s", name,
			       nold);
	if (nold[0] && pki_crl_number_cmp(nnew, nold) < 0)
		return pki_why(why, whysz, -MGW_EINVAL,
			       "%s: CRL number %s is older than the installed CRL's %s (rollback "
			       "refused)",
			       name, nnew, nold);
	if (tnew < told)
		return pki_why(
		    why, whysz, -MGW_EINVAL,
		    "%s: thisUpdate is earlier than the installed CRL's (rollback refused)", name);
	if (nold[0] && pki_crl_number_cmp(nnew, nold) == 0)
		return pki_why(why, whysz, -MGW_EINVAL,
			       "%s: CRL number %s is the installed CRL's, with other contents",
			       name, nnew);
	return 0;
}

static bool pki_raw_eq(const mbedtls_x509_buf *a, const mbedtls_x509_buf *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* The configured CA (in the chain cas) that issued crl: subject equal to the CRL's issuer
 * and a signature that verifies; NULL when none. *named: some CA has that subject. */
static const mbedtls_x509_crt *pki_crl_issuer(const mbedtls_x509_crl *crl,
					      const mbedtls_x509_crt *cas, bool *named)
{
	*named = false;
	for (const mbedtls_x509_crt *ca = cas; ca && ca->version; ca = ca->next) {
		if (!pki_raw_eq(&crl->issuer_raw, &ca->subject_raw))
			continue;
		*named = true;
		if (pki_crl_signed_by(crl, ca))
			return ca;
	}
	return NULL;
}

/* The installed CRL issued by ca in the chain set (NULL: none). */
static const mbedtls_x509_crl *pki_crl_of(const mbedtls_x509_crl *set, const mbedtls_x509_crt *ca)
{
	for (const mbedtls_x509_crl *crl = set; crl && crl->version; crl = crl->next)
		if (pki_raw_eq(&crl->issuer_raw, &ca->subject_raw) && pki_crl_signed_by(crl, ca))
			return crl;
	return NULL;
}

/* Parses a CRL file that may hold several CRLs (PEM) into set; false when nothing
 * usable (the caller then has no reference). buf is NUL-terminated at buf[len]. */
static bool pki_crl_set_parse(mbedtls_x509_crl *set, const char *buf, size_t len)
{
	bool pem = strstr(buf, "-----BEGIN X509 CRL-----") != NULL;

	/* a PEM block that fails stops the parse; the CRLs before it stay usable */
	(void)mbedtls_x509_crl_parse(set, (const unsigned char *)buf, pem ? len + 1 : len);
	return set->version != 0;
}

/* Appends the PEM of der to the growing file *out. */
static int pki_crl_set_add(char **out, size_t *out_len, const unsigned char *der, size_t len)
{
	char *pem = NULL, *n;
	size_t pem_len = 0;
	int rc = pki_pem("X509 CRL", der, len, &pem, &pem_len);

	if (rc < 0)
		return rc;
	n = realloc(*out, *out_len + pem_len + 1);
	if (n == NULL) {
		free(pem);
		return -MGW_ENOMEM;
	}
	memcpy(n + *out_len, pem, pem_len);
	*out_len += pem_len;
	n[*out_len] = '\0';
	*out = n;
	free(pem);
	return 0;
}

/* c->set: for each configured CA in order, the candidate for its own CA, the installed
 * CRL for the others (a CA with neither is left out: the gate will say so). */
static int pki_crl_set_make(struct pki_crl_cand *c, const mbedtls_x509_crt *cas,
			    const mbedtls_x509_crt *own, const mbedtls_x509_crl *cand,
			    const mbedtls_x509_crl *set)
{
	int rc = 0;

	for (const mbedtls_x509_crt *ca = cas; ca && ca->version && rc == 0; ca = ca->next) {
		const mbedtls_x509_crl *crl = ca == own ? cand : pki_crl_of(set, ca);
		bool dup = false;

		if (crl == NULL)
			continue;
		/* one CRL per CA, even when the CA file names one CA twice */
		for (const mbedtls_x509_crt *p = cas; p != ca; p = p->next)
			dup = dup || pki_raw_eq(&p->subject_raw, &ca->subject_raw);
		if (dup)
			continue;
		rc = pki_crl_set_add(&c->set, &c->set_len, crl->raw.p, crl->raw.len);
		if (rc == 0 && crl != cand)
			c->kept++;
	}
	for (const mbedtls_x509_crl *crl = set; crl && crl->version; crl = crl->next) {
		bool named;

		if (pki_crl_issuer(crl, cas, &named) == NULL)
			c->dropped++;
	}
	return rc;
}

/* The CA certificate file's bytes (PEM or DER, read by the caller) into cas, as
 * mbedtls_x509_crt_parse_file would parse the file. */
static int pki_crl_cas(mbedtls_x509_crt *cas, const struct pki_crl_ca *ca, int err, char *why,
		       size_t whysz)
{
	char *buf = pki_crl_dup(ca->data, ca->len), e[160];
	int ret;

	if (buf == NULL)
		return pki_why(why, whysz, -MGW_ENOMEM, "%s: out of memory", ca->name);
	ret = mbedtls_x509_crt_parse(cas, (const unsigned char *)buf, ca->len + 1);
	free(buf);
	if (ret != 0)
		return pki_why(why, whysz, err, "%s: not a readable certificate: %s", ca->name,
			       pki_tls_err(ret, e, sizeof(e)));
	return 0;
}

int pki_crl_candidate(const struct pki_crl_ca *ca, const void *data, size_t len,
		      const void *installed, size_t ilen, const struct pki_crl_policy *pol,
		      time_t now, struct pki_crl_cand *c, const char *name, char *why, size_t whysz)
{
	size_t max = pol && pol->max_size ? pol->max_size : PKI_CRL_SIZE_MAX;
	unsigned skew = pol ? pol->skew_s : PKI_CRL_SKEW_S;
	mbedtls_x509_crl crl, set;
	mbedtls_x509_crt cas;
	const mbedtls_x509_crt *own;
	char *buf = NULL, *ibuf = NULL;
	bool named, have_set = false;
	int rc = -MGW_EINVAL, ret;

	memset(c, 0, sizeof(*c));
	mbedtls_x509_crl_init(&crl);
	mbedtls_x509_crl_init(&set);
	mbedtls_x509_crt_init(&cas);
	if (len > max) {
		rc = pki_why(why, whysz, -MGW_ELIMIT, "%s: %zu bytes, more than the limit of %zu",
			     name, len, max);
		goto out;
	}
	if (len == 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: empty", name);
		goto out;
	}
	rc = pki_crl_cas(&cas, ca, -MGW_EIO, why, whysz);
	if (rc < 0)
		goto out;
	buf = pki_crl_dup(data, len);
	if (buf == NULL) {
		rc = pki_why(why, whysz, -MGW_ENOMEM, "%s: out of memory", name);
		goto out;
	}
	rc = pki_crl_parse_checked(&crl, NULL, buf, len, name, why, whysz);
	if (rc < 0)
		goto out;
	own = pki_crl_issuer(&crl, &cas, &named);
	if (own == NULL) {
		if (!named)
			rc = pki_why(why, whysz, -MGW_EINVAL, "%s: CRL not issued by %s", name,
				     cas.next && cas.next->version ? "any configured CA"
								   : "this CA");
		else
			rc = pki_why(why, whysz, -MGW_EINVAL,
				     "%s: CRL signature does not verify with the CA's key", name);
		goto out;
	}
	if (mbedtls_x509_dn_gets(c->issuer, sizeof(c->issuer), &own->subject) < 0)
		snprintf(c->issuer, sizeof(c->issuer), "?");
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
	if (installed != NULL && ilen > 0) {
		ibuf = pki_crl_dup(installed, ilen);
		if (ibuf == NULL) {
			rc = pki_why(why, whysz, -MGW_ENOMEM, "%s: out of memory", name);
			goto out;
		}
		/* an unreadable installed file is not a reference */
		have_set = pki_crl_set_parse(&set, ibuf, ilen);
	}
	rc = pki_crl_against(&crl, have_set ? pki_crl_of(&set, own) : NULL, name, why, whysz);
	if (rc < 0)
		goto out;
	pki_crl_number_of(&crl, c->number);
	for (const mbedtls_x509_crl_entry *en = &crl.entry; en && en->serial.len; en = en->next)
		c->revoked++;
	ret = pki_pem("X509 CRL", crl.raw.p, crl.raw.len, &c->pem, &c->pem_len);
	if (ret == 0)
		ret = pki_crl_set_make(c, &cas, own, &crl, have_set ? &set : NULL);
	if (ret < 0)
		rc = pki_why(why, whysz, ret, "%s: PEM encoding failed", name);
out:
	if (rc < 0)
		pki_crl_cand_free(c);
	free(buf);
	free(ibuf);
	mbedtls_x509_crl_free(&crl);
	mbedtls_x509_crl_free(&set);
	mbedtls_x509_crt_free(&cas);
	return rc;
}

int pki_crl_set_next(const void *crl_file, size_t crl_len, const char *crl_path,
		     const struct pki_crl_ca *ca_file, time_t *next, char *issuer, size_t issuersz,
		     char *why, size_t whysz)
{
	mbedtls_x509_crl set;
	mbedtls_x509_crt cas;
	char *data = NULL;
	int rc;

	*next = 0;
	if (issuersz)
		issuer[0] = '\0';
	mbedtls_x509_crl_init(&set);
	mbedtls_x509_crt_init(&cas);
	rc = pki_crl_cas(&cas, ca_file, -MGW_ENOENT, why, whysz);
	if (rc < 0)
		goto out;
	data = pki_crl_dup(crl_file, crl_len);
	if (data == NULL) {
		rc = pki_why(why, whysz, -MGW_ENOENT, "%s: out of memory", crl_path);
		goto out;
	}
	if (!pki_crl_set_parse(&set, data, crl_len)) {
		rc = pki_why(why, whysz, -MGW_ENOENT, "%s: no valid CRL", crl_path);
		goto out;
	}
	for (const mbedtls_x509_crt *ca = &cas; ca && ca->version; ca = ca->next) {
		const mbedtls_x509_crl *crl = pki_crl_of(&set, ca);
		char name[PKI_CRL_ISSUER_MAX];
		time_t t;

		if (mbedtls_x509_dn_gets(name, sizeof(name), &ca->subject) < 0)
			snprintf(name, sizeof(name), "?");
		if (crl == NULL || crl->next_update.year == 0) {
			rc = pki_why(why, whysz, -MGW_ENOENT, "%s: no valid CRL of the CA '%s'",
				     crl_path, name);
			goto out;
		}
		t = pki_time_x509(&crl->next_update);
		if (*next == 0 || t < *next) {
			*next = t;
			if (issuersz)
				snprintf(issuer, issuersz, "%s", name);
		}
	}
out:
	free(data);
	mbedtls_x509_crl_free(&set);
	mbedtls_x509_crt_free(&cas);
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

int pki_crt_crl_url(const char *crt_path, unsigned index, char *url, size_t urlsz)
{
	mbedtls_x509_crt chain;
	const mbedtls_x509_crt *crt;
	const unsigned char *v;
	unsigned char *q, *end;
	size_t vlen, len;
	int rc = -MGW_ENOENT;

	url[0] = '\0';
	mbedtls_x509_crt_init(&chain);
	if (mbedtls_x509_crt_parse_file(&chain, crt_path) != 0) {
		rc = -MGW_EIO;
		goto out;
	}
	crt = &chain;
	for (unsigned i = 0; i < index && crt != NULL; i++)
		crt = crt->next;
	if (crt == NULL || crt->version == 0) {
		rc = -MGW_EINVAL;
		goto out;
	}
	if (crt->v3_ext.p == NULL ||
	    pki_der_find_ext(crt->v3_ext.p, crt->v3_ext.p + crt->v3_ext.len,
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
	mbedtls_x509_crt_free(&chain);
	return rc;
}
