/*
 * der.c - small DER pieces on top of mbedTLS's ASN.1 writer and reader, shared by the
 * CRL writer (crl.c) and the PKCS#12 writer (p12.c).
 *
 * mbedTLS writes DER backwards: *p starts at the end of the buffer and each call moves
 * it towards start, returning the bytes it wrote; a structure is written content first,
 * then its length and tag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mbedtls/asn1.h"
#include "mbedtls/asn1write.h"
#include "mbedtls/base64.h"
#include "pki/pki_int.h"

int pki_der_hdr(unsigned char **p, unsigned char *start, size_t len, unsigned char tag)
{
	int ret;
	size_t n = 0;

	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(p, start, len));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(p, start, tag));
	return (int)n;
}

int pki_der_uint(unsigned char **p, unsigned char *start, const unsigned char *b, size_t n)
{
	int ret;
	size_t len = 0;

	while (n > 1 && b[0] == 0) {
		b++;
		n--;
	}
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(p, start, b, n));
	if (b[0] & 0x80) { /* keep it positive (X.690 8.3) */
		if (*p - start < 1)
			return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
		*--(*p) = 0;
		len++;
	}
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_hdr(p, start, len, MBEDTLS_ASN1_INTEGER));
	return (int)len;
}

int pki_der_time(unsigned char **p, unsigned char *start, time_t t)
{
	char s[16];
	bool utc = pki_time_index(t, s);

	return mbedtls_asn1_write_tagged_string(
	    p, start, utc ? MBEDTLS_ASN1_UTC_TIME : MBEDTLS_ASN1_GENERALIZED_TIME, s, strlen(s));
}

int pki_der_ext(unsigned char **p, unsigned char *start, const char *oid, size_t oidlen,
		const unsigned char *val, size_t vlen)
{
	int ret;
	size_t len = 0;

	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(p, start, val, vlen));
	MBEDTLS_ASN1_CHK_ADD(len, pki_der_hdr(p, start, vlen, MBEDTLS_ASN1_OCTET_STRING));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(p, start, oid, oidlen));
	MBEDTLS_ASN1_CHK_ADD(
	    len, pki_der_hdr(p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	return (int)len;
}

int pki_der_find_ext(const unsigned char *p, const unsigned char *end, const char *oid,
		     size_t oidlen, const unsigned char **val, size_t *vlen)
{
	unsigned char *q = (unsigned char *)p;
	const unsigned char *seq_end;
	size_t len;

	if (p == NULL ||
	    mbedtls_asn1_get_tag(&q, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
		return -MGW_ENOENT;
	seq_end = q + len;
	while (q < seq_end) {
		const unsigned char *ext_end;
		unsigned char *o;
		size_t olen;
		int crit;

		if (mbedtls_asn1_get_tag(&q, seq_end, &len,
					 MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
			return -MGW_ENOENT;
		ext_end = q + len;
		if (mbedtls_asn1_get_tag(&q, ext_end, &olen, MBEDTLS_ASN1_OID))
			return -MGW_ENOENT;
		o = q;
		q += olen;
		(void)mbedtls_asn1_get_bool(&q, ext_end, &crit);
		if (mbedtls_asn1_get_tag(&q, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING))
			return -MGW_ENOENT;
		if (olen == oidlen && memcmp(o, oid, oidlen) == 0) {
			*val = q;
			*vlen = len;
			return 0;
		}
		q = (unsigned char *)ext_end;
	}
	return -MGW_ENOENT;
}

int pki_pem(const char *label, const unsigned char *der, size_t len, char **pem, size_t *pem_len)
{
	size_t b64len = 0, cap, o;
	unsigned char *b64;
	char *out;

	mbedtls_base64_encode(NULL, 0, &b64len, der, len);
	b64 = malloc(b64len + 1);
	if (b64 == NULL)
		return -MGW_ENOMEM;
	if (mbedtls_base64_encode(b64, b64len + 1, &b64len, der, len) != 0) {
		free(b64);
		return -MGW_ETLS;
	}
	cap = b64len + b64len / 64 + 2 * strlen(label) + 64;
	out = malloc(cap);
	if (out == NULL) {
		free(b64);
		return -MGW_ENOMEM;
	}
	o = (size_t)snprintf(out, cap, "-----BEGIN %s-----\n", label);
	for (size_t i = 0; i < b64len; i += 64) {
		size_t n = b64len - i < 64 ? b64len - i : 64;

		memcpy(out + o, b64 + i, n);
		o += n;
		out[o++] = '\n';
	}
	o += (size_t)snprintf(out + o, cap - o, "-----END %s-----\n", label);
	free(b64);
	*pem = out;
	*pem_len = o;
	return 0;
}
