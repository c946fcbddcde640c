/*
 * p12.c - a PKCS#12 writer (RFC 7292; mbedTLS only reads the old PBE schemes).
 *
 * The file is what OpenSSL 3 writes by default and what Thunderbird/NSS, Outlook/Windows,
 * Apple Mail and Android import:
 *   PFX { version 3,
 *         authSafe = data { AuthenticatedSafe {
 *             encryptedData(PBES2) { SafeContents { certBag(user), certBag(CA) } },
 *             data { SafeContents { pkcs8ShroudedKeyBag(PBES2) } } } },
 *         macData { HMAC-SHA256, salt, iterations } }
 * PBES2 (RFC 8018 section 6.2) = PBKDF2 with HMAC-SHA256 + AES-256-CBC, random salt and IV
 * for each encryption; the password is used as its (ASCII) bytes. The MAC key comes from
 * RFC 7292 appendix B with SHA-256 over the password as a NUL-terminated BMPString.
 * The user's key bag and certificate bag carry the same localKeyID so that importers pair
 * them, and a friendlyName.
 *
 * Every structure is written on mbedTLS's backwards ASN.1 writer, one buffer per stage
 * (what is encrypted or MACed must be complete before its wrapper is written).
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mbedtls/asn1write.h"
#include "mbedtls/cipher.h"
#include "mbedtls/md.h"
#include "mbedtls/oid.h"
#include "mbedtls/pkcs5.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha1.h"
#include "mbedtls/sha256.h"
#include "pki/pki_int.h"

#define P12_ITER 10000 /* PBKDF2 and MAC iterations */
#define P12_SALT_LEN 16
#define P12_IV_LEN 16
#define P12_KEY_LEN 32 /* AES-256 */
#define P12_PASS_MAX 128
#define P12_FRIENDLY_MAX 128
#define P12_SLACK 2048 /* headers, algorithm identifiers, attributes */

#define OID(o) o, MBEDTLS_OID_SIZE(o)
#define P12_OID_KEYBAG MBEDTLS_OID_PKCS12 "\x0a\x01\x02"  /* pkcs8ShroudedKeyBag */
#define P12_OID_CERTBAG MBEDTLS_OID_PKCS12 "\x0a\x01\x03" /* certBag */
#define P12_OID_X509 MBEDTLS_OID_PKCS9 "\x16\x01"	  /* x509Certificate */
#define P12_OID_FRIENDLY MBEDTLS_OID_PKCS9 "\x14"	  /* friendlyName */
#define P12_OID_LOCALKEYID MBEDTLS_OID_PKCS9 "\x15"	  /* localKeyID */
#define P12_OID_AES256_CBC MBEDTLS_OID_AES "\x2a"	  /* id-aes256-CBC */

#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define SET (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET)
#define CTX0 (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0)

/* A backwards-written DER buffer: content is [p, buf + cap). */
struct p12_buf {
	unsigned char *buf, *p;
	size_t cap;
};

static int p12_buf_init(struct p12_buf *b, size_t cap)
{
	b->buf = malloc(cap);
	b->cap = cap;
	b->p = b->buf ? b->buf + cap : NULL;
	return b->buf ? 0 : -MGW_ENOMEM;
}

static size_t p12_len(const struct p12_buf *b)
{
	return (size_t)(b->buf + b->cap - b->p);
}

static void p12_buf_free(struct p12_buf *b)
{
	if (b->buf) {
		mbedtls_platform_zeroize(b->buf, b->cap);
		free(b->buf);
	}
	b->buf = b->p = NULL;
}

/* Inside functions returning an mbedTLS code: add f's length to len or return. */
#define W(f) MBEDTLS_ASN1_CHK_ADD(len, f)

/* RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64). */
static int p12_kdf(const unsigned char *pwd, size_t pwdlen, const unsigned char *salt,
		   size_t saltlen, unsigned iter, unsigned char id, unsigned char *out,
		   size_t outlen)
{
	enum { U = 32, V = 64 };
	unsigned char d[V], a[U], b[V], *in;
	size_t slen = V * ((saltlen + V - 1) / V), plen = V * ((pwdlen + V - 1) / V);
	size_t ilen = slen + plen;
	mbedtls_sha256_context h;
	int ret = 0;

	in = malloc(ilen);
	if (in == NULL)
		return MBEDTLS_ERR_ASN1_ALLOC_FAILED;
	memset(d, id, sizeof(d));
	for (size_t i = 0; i < slen; i++)
		in[i] = salt[i % saltlen];
	for (size_t i = 0; i < plen; i++)
		in[slen + i] = pwd[i % pwdlen];
	mbedtls_sha256_init(&h);
	while (outlen > 0) {
		size_t n = outlen < U ? outlen : U;

		ret = mbedtls_sha256_starts(&h, 0);
		if (ret == 0)
			ret = mbedtls_sha256_update(&h, d, V);
		if (ret == 0)
			ret = mbedtls_sha256_update(&h, in, ilen);
		if (ret == 0)
			ret = mbedtls_sha256_finish(&h, a);
		for (unsigned k = 1; ret == 0 && k < iter; k++)
			ret = mbedtls_sha256(a, U, a, 0);
		if (ret != 0)
			break;
		memcpy(out, a, n);
		out += n;
		outlen -= n;
		if (outlen == 0)
			break;
		for (size_t i = 0; i < V; i++)
			b[i] = a[i % U];
		/* I_j = (I_j + B + 1) mod 2^(8v) for every v-byte block of I */
		for (size_t j = 0; j < ilen; j += V) {
			unsigned carry = 1;

			for (size_t i = V; i-- > 0;) {
				carry += (unsigned)in[j + i] + b[i];
				in[j + i] = (unsigned char)carry;
				carry >>= 8;
			}
		}
	}
	mbedtls_sha256_free(&h);
	mbedtls_platform_zeroize(a, sizeof(a));
	mbedtls_platform_zeroize(in, ilen);
	free(in);
	return ret;
}

/* AES-256-CBC under a PBKDF2-HMAC-SHA256 key; *ct is new (free()). */
static int p12_encrypt(const char *pass, const unsigned char *salt, const unsigned char *iv,
		       const unsigned char *in, size_t inlen, unsigned char **ct, size_t *ctlen)
{
	mbedtls_cipher_context_t c;
	unsigned char key[P12_KEY_LEN];
	int ret;

	*ct = malloc(inlen + 16);
	if (*ct == NULL)
		return MBEDTLS_ERR_ASN1_ALLOC_FAILED;
	mbedtls_cipher_init(&c);
	ret = mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, (const unsigned char *)pass,
					    strlen(pass), salt, P12_SALT_LEN, P12_ITER, sizeof(key),
					    key);
	if (ret == 0)
		ret = mbedtls_cipher_setup(
		    &c, mbedtls_cipher_info_from_type(MBEDTLS_CIPHER_AES_256_CBC));
	if (ret == 0)
		ret = mbedtls_cipher_setkey(&c, key, 256, MBEDTLS_ENCRYPT);
	if (ret == 0)
		ret = mbedtls_cipher_set_padding_mode(&c, MBEDTLS_PADDING_PKCS7);
	if (ret == 0)
		ret = mbedtls_cipher_crypt(&c, iv, P12_IV_LEN, in, inlen, *ct, ctlen);
	mbedtls_cipher_free(&c);
	mbedtls_platform_zeroize(key, sizeof(key));
	if (ret != 0) {
		free(*ct);
		*ct = NULL;
	}
	return ret;
}

/* AlgorithmIdentifier { PBES2, { PBKDF2 { salt, iter, hmacWithSHA256 }, aes256-CBC iv } } */
static int p12_write_pbes2(unsigned char **p, unsigned char *start, const unsigned char *salt,
			   const unsigned char *iv)
{
	size_t len = 0, enc = 0, kdf = 0;
	int ret;

	MBEDTLS_ASN1_CHK_ADD(enc, mbedtls_asn1_write_octet_string(p, start, iv, P12_IV_LEN));
	MBEDTLS_ASN1_CHK_ADD(enc, mbedtls_asn1_write_oid(p, start, OID(P12_OID_AES256_CBC)));
	MBEDTLS_ASN1_CHK_ADD(enc, pki_der_hdr(p, start, enc, SEQ));
	MBEDTLS_ASN1_CHK_ADD(kdf, mbedtls_asn1_write_algorithm_identifier_ext(
				      p, start, OID(MBEDTLS_OID_HMAC_SHA256), 0, 1));
	MBEDTLS_ASN1_CHK_ADD(kdf, mbedtls_asn1_write_int(p, start, P12_ITER));
	MBEDTLS_ASN1_CHK_ADD(kdf, mbedtls_asn1_write_octet_string(p, start, salt, P12_SALT_LEN));
	MBEDTLS_ASN1_CHK_ADD(kdf, pki_der_hdr(p, start, kdf, SEQ));
	MBEDTLS_ASN1_CHK_ADD(kdf, mbedtls_asn1_write_oid(p, start, OID(MBEDTLS_OID_PKCS5_PBKDF2)));
	MBEDTLS_ASN1_CHK_ADD(kdf, pki_der_hdr(p, start, kdf, SEQ));
	len = enc + kdf;
	W(pki_der_hdr(p, start, len, SEQ));
	W(mbedtls_asn1_write_oid(p, start, OID(MBEDTLS_OID_PKCS5_PBES2)));
	W(pki_der_hdr(p, start, len, SEQ));
	return (int)len;
}

/* bagAttributes: SET { friendlyName, localKeyID } (DER order: ...9.20 before ...9.21). */
static int p12_write_attrs(unsigned char **p, unsigned char *start, const unsigned char *keyid,
			   size_t keyid_len, const unsigned char *bmp, size_t bmp_len)
{
	size_t len = 0, a;
	int ret;

	if (keyid != NULL) {
		a = 0;
		MBEDTLS_ASN1_CHK_ADD(a,
				     mbedtls_asn1_write_octet_string(p, start, keyid, keyid_len));
		MBEDTLS_ASN1_CHK_ADD(a, pki_der_hdr(p, start, a, SET));
		MBEDTLS_ASN1_CHK_ADD(a, mbedtls_asn1_write_oid(p, start, OID(P12_OID_LOCALKEYID)));
		MBEDTLS_ASN1_CHK_ADD(a, pki_der_hdr(p, start, a, SEQ));
		len += a;
	}
	if (bmp != NULL) {
		a = 0;
		MBEDTLS_ASN1_CHK_ADD(
		    a, mbedtls_asn1_write_tagged_string(p, start, MBEDTLS_ASN1_BMP_STRING,
							(const char *)bmp, bmp_len));
		MBEDTLS_ASN1_CHK_ADD(a, pki_der_hdr(p, start, a, SET));
		MBEDTLS_ASN1_CHK_ADD(a, mbedtls_asn1_write_oid(p, start, OID(P12_OID_FRIENDLY)));
		MBEDTLS_ASN1_CHK_ADD(a, pki_der_hdr(p, start, a, SEQ));
		len += a;
	}
	if (len > 0)
		W(pki_der_hdr(p, start, len, SET));
	return (int)len;
}

/* SafeBag { certBag, [0] CertBag { x509Certificate, [0] OCTET STRING cert }, attrs } */
static int p12_write_certbag(unsigned char **p, unsigned char *start, const mbedtls_x509_crt *crt,
			     const unsigned char *keyid, size_t keyid_len, const unsigned char *bmp,
			     size_t bmp_len)
{
	size_t len = 0, v = 0;
	int ret;

	W(p12_write_attrs(p, start, keyid, keyid_len, bmp, bmp_len));
	MBEDTLS_ASN1_CHK_ADD(v,
			     mbedtls_asn1_write_octet_string(p, start, crt->raw.p, crt->raw.len));
	MBEDTLS_ASN1_CHK_ADD(v, pki_der_hdr(p, start, v, CTX0));
	MBEDTLS_ASN1_CHK_ADD(v, mbedtls_asn1_write_oid(p, start, OID(P12_OID_X509)));
	MBEDTLS_ASN1_CHK_ADD(v, pki_der_hdr(p, start, v, SEQ));
	MBEDTLS_ASN1_CHK_ADD(v, pki_der_hdr(p, start, v, CTX0));
	len += v;
	W(mbedtls_asn1_write_oid(p, start, OID(P12_OID_CERTBAG)));
	W(pki_der_hdr(p, start, len, SEQ));
	return (int)len;
}

/* PrivateKeyInfo (RFC 5208) around mbedTLS's SEC1 / PKCS#1 key DER. */
static int p12_write_pkcs8(unsigned char **p, unsigned char *start, mbedtls_pk_context *pk)
{
	unsigned char der[PKI_DER_MAX * 2];
	const char *curve;
	size_t len = 0, curve_len, par = 0;
	int ret, n;

	n = mbedtls_pk_write_key_der(pk, der, sizeof(der));
	if (n < 0)
		return n;
	ret = mbedtls_asn1_write_octet_string(p, start, der + sizeof(der) - n, (size_t)n);
	mbedtls_platform_zeroize(der, sizeof(der));
	if (ret < 0)
		return ret;
	len += (size_t)ret;
	if (mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY) {
		ret = mbedtls_oid_get_oid_by_ec_grp(mbedtls_pk_ec(*pk)->MBEDTLS_PRIVATE(grp).id,
						    &curve, &curve_len);
		if (ret != 0)
			return ret;
		MBEDTLS_ASN1_CHK_ADD(par, mbedtls_asn1_write_oid(p, start, curve, curve_len));
		W(mbedtls_asn1_write_algorithm_identifier_ext(
		    p, start, OID(MBEDTLS_OID_EC_ALG_UNRESTRICTED), par, 1));
	} else if (mbedtls_pk_get_type(pk) == MBEDTLS_PK_RSA) {
		W(mbedtls_asn1_write_algorithm_identifier_ext(p, start, OID(MBEDTLS_OID_PKCS1_RSA),
							      0, 1));
	} else {
		return MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE;
	}
	W(mbedtls_asn1_write_int(p, start, 0));
	W(pki_der_hdr(p, start, len, SEQ));
	return (int)len;
}

/* ContentInfo { data, [0] OCTET STRING content } */
static int p12_write_data(unsigned char **p, unsigned char *start, const unsigned char *c,
			  size_t clen)
{
	size_t len = 0;
	int ret;

	W(mbedtls_asn1_write_octet_string(p, start, c, clen));
	W(pki_der_hdr(p, start, len, CTX0));
	W(mbedtls_asn1_write_oid(p, start, OID(MBEDTLS_OID_PKCS7_DATA)));
	W(pki_der_hdr(p, start, len, SEQ));
	return (int)len;
}

/* ContentInfo { encryptedData, [0] EncryptedData { 0, { data, PBES2, [0] ct } } } */
static int p12_write_encrypted(unsigned char **p, unsigned char *start, const unsigned char *salt,
			       const unsigned char *iv, const unsigned char *ct, size_t ctlen)
{
	size_t len = 0;
	int ret;

	W(mbedtls_asn1_write_raw_buffer(p, start, ct, ctlen));
	W(pki_der_hdr(p, start, ctlen, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0)); /* IMPLICIT */
	W(p12_write_pbes2(p, start, salt, iv));
	W(mbedtls_asn1_write_oid(p, start, OID(MBEDTLS_OID_PKCS7_DATA)));
	W(pki_der_hdr(p, start, len, SEQ));
	W(mbedtls_asn1_write_int(p, start, 0));
	W(pki_der_hdr(p, start, len, SEQ));
	W(pki_der_hdr(p, start, len, CTX0));
	W(mbedtls_asn1_write_oid(p, start, OID(MBEDTLS_OID_PKCS7_ENCRYPTED_DATA)));
	W(pki_der_hdr(p, start, len, SEQ));
	return (int)len;
}

/* SafeContents { SafeBag { keyBag, [0] EncryptedPrivateKeyInfo, attrs } } */
static int p12_write_keybag(unsigned char **p, unsigned char *start, const unsigned char *salt,
			    const unsigned char *iv, const unsigned char *ct, size_t ctlen,
			    const unsigned char *keyid, size_t keyid_len, const unsigned char *bmp,
			    size_t bmp_len)
{
	size_t len = 0, v = 0;
	int ret;

	W(p12_write_attrs(p, start, keyid, keyid_len, bmp, bmp_len));
	MBEDTLS_ASN1_CHK_ADD(v, mbedtls_asn1_write_octet_string(p, start, ct, ctlen));
	MBEDTLS_ASN1_CHK_ADD(v, p12_write_pbes2(p, start, salt, iv));
	MBEDTLS_ASN1_CHK_ADD(v, pki_der_hdr(p, start, v, SEQ));
	MBEDTLS_ASN1_CHK_ADD(v, pki_der_hdr(p, start, v, CTX0));
	len += v;
	W(mbedtls_asn1_write_oid(p, start, OID(P12_OID_KEYBAG)));
	W(pki_der_hdr(p, start, len, SEQ));
	W(pki_der_hdr(p, start, len, SEQ));
	return (int)len;
}

/* PFX { 3, data { authSafe }, MacData { DigestInfo { sha256, mac }, salt, iter } } */
static int p12_write_pfx(unsigned char **p, unsigned char *start, const unsigned char *as,
			 size_t as_len, const unsigned char *mac, const unsigned char *salt)
{
	size_t len = 0, m = 0;
	int ret;

	MBEDTLS_ASN1_CHK_ADD(m, mbedtls_asn1_write_int(p, start, P12_ITER));
	MBEDTLS_ASN1_CHK_ADD(m, mbedtls_asn1_write_octet_string(p, start, salt, P12_SALT_LEN));
	{
		size_t d = 0;

		MBEDTLS_ASN1_CHK_ADD(d, mbedtls_asn1_write_octet_string(p, start, mac, 32));
		MBEDTLS_ASN1_CHK_ADD(d, mbedtls_asn1_write_algorithm_identifier_ext(
					    p, start, OID(MBEDTLS_OID_DIGEST_ALG_SHA256), 0, 1));
		MBEDTLS_ASN1_CHK_ADD(d, pki_der_hdr(p, start, d, SEQ));
		m += d;
	}
	MBEDTLS_ASN1_CHK_ADD(m, pki_der_hdr(p, start, m, SEQ));
	len += m;
	W(p12_write_data(p, start, as, as_len));
	W(mbedtls_asn1_write_int(p, start, 3));
	W(pki_der_hdr(p, start, len, SEQ));
	return (int)len;
}

/* ASCII to a BMPString (UTF-16BE), with the NUL terminator when nul. */
static int p12_bmp(const char *s, bool nul, unsigned char *out, size_t outsz, size_t *len)
{
	size_t n = strlen(s);

	if (2 * (n + 1) > outsz)
		return -MGW_ELIMIT;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return -MGW_EINVAL;
		out[2 * i] = 0;
		out[2 * i + 1] = (unsigned char)s[i];
	}
	*len = 2 * n;
	if (nul) {
		out[2 * n] = out[2 * n + 1] = 0;
		*len += 2;
	}
	return 0;
}

int pki_p12_build(const char *key_pem, const char *crt_pem, const char *ca_pem,
		  const char *friendly, const char *pass, unsigned char **der, size_t *len,
		  char *why, size_t whysz)
{
	unsigned char ksalt[P12_SALT_LEN], kiv[P12_IV_LEN], csalt[P12_SALT_LEN], civ[P12_IV_LEN];
	unsigned char msalt[P12_SALT_LEN], mkey[32], mac[32], keyid[20];
	unsigned char bmp_pass[2 * P12_PASS_MAX + 2], bmp_name[2 * P12_FRIENDLY_MAX + 2];
	unsigned char *kct = NULL, *cct = NULL;
	size_t kct_len = 0, cct_len = 0, bmp_pass_len, bmp_name_len = 0, cap;
	struct p12_buf b8 = {0}, bk = {0}, bc = {0}, bas = {0}, bpfx = {0};
	mbedtls_x509_crt crt, ca;
	mbedtls_pk_context pk;
	struct pki_rng rng;
	char e[160];
	int rc = -MGW_EINVAL, ret;

	*der = NULL;
	*len = 0;
	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crt_init(&ca);
	mbedtls_pk_init(&pk);
	if (pki_rng_init(&rng) < 0) {
		rc = pki_why(why, whysz, -MGW_ETLS, "random number generator failed");
		goto out;
	}
	if (p12_bmp(pass, true, bmp_pass, sizeof(bmp_pass), &bmp_pass_len) < 0 ||
	    (friendly && p12_bmp(friendly, false, bmp_name, sizeof(bmp_name), &bmp_name_len) < 0)) {
		pki_why(why, whysz, rc,
			"PKCS#12: passphrase and name: printable ASCII, at most "
			"%d characters",
			P12_PASS_MAX);
		goto out;
	}
	ret = mbedtls_pk_parse_key(&pk, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL,
				   0, mbedtls_ctr_drbg_random, &rng.drbg);
	if (ret == 0)
		ret = mbedtls_x509_crt_parse(&crt, (const unsigned char *)crt_pem,
					     strlen(crt_pem) + 1);
	if (ret == 0 && ca_pem != NULL)
		ret =
		    mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, strlen(ca_pem) + 1);
	if (ret == 0 && mbedtls_pk_check_pair(&crt.pk, &pk, mbedtls_ctr_drbg_random, &rng.drbg))
		ret = MBEDTLS_ERR_PK_BAD_INPUT_DATA;
	if (ret != 0) {
		pki_why(why, whysz, rc, "PKCS#12: key or certificates unusable: %s",
			pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	rc = -MGW_ETLS;
	ret = mbedtls_ctr_drbg_random(&rng.drbg, ksalt, sizeof(ksalt));
	if (ret == 0)
		ret = mbedtls_ctr_drbg_random(&rng.drbg, kiv, sizeof(kiv));
	if (ret == 0)
		ret = mbedtls_ctr_drbg_random(&rng.drbg, csalt, sizeof(csalt));
	if (ret == 0)
		ret = mbedtls_ctr_drbg_random(&rng.drbg, civ, sizeof(civ));
	if (ret == 0)
		ret = mbedtls_ctr_drbg_random(&rng.drbg, msalt, sizeof(msalt));
	if (ret == 0) /* localKeyID as OpenSSL makes it: SHA-1 of the certificate */
		ret = mbedtls_sha1(crt.raw.p, crt.raw.len, keyid);
	if (ret != 0)
		goto fail;
	cap = crt.raw.len + ca.raw.len + PKI_DER_MAX * 2 + P12_SLACK;
	if (p12_buf_init(&b8, cap) || p12_buf_init(&bk, cap) || p12_buf_init(&bc, cap) ||
	    p12_buf_init(&bas, 2 * cap) || p12_buf_init(&bpfx, 2 * cap + P12_SLACK)) {
		rc = pki_why(why, whysz, -MGW_ENOMEM, "PKCS#12: out of memory");
		goto out;
	}
	/* the key: PrivateKeyInfo, encrypted, in its bag */
	ret = p12_write_pkcs8(&b8.p, b8.buf, &pk);
	if (ret >= 0)
		ret = p12_encrypt(pass, ksalt, kiv, b8.p, p12_len(&b8), &kct, &kct_len);
	if (ret >= 0)
		ret = p12_write_keybag(&bk.p, bk.buf, ksalt, kiv, kct, kct_len, keyid,
				       sizeof(keyid), friendly ? bmp_name : NULL, bmp_name_len);
	if (ret < 0)
		goto fail;
	/* the certificates: SafeContents { user, CA }, encrypted */
	{
		size_t l = 0;

		if (ca_pem != NULL) {
			ret = p12_write_certbag(&bc.p, bc.buf, &ca, NULL, 0, NULL, 0);
			if (ret < 0)
				goto fail;
			l += (size_t)ret;
		}
		ret = p12_write_certbag(&bc.p, bc.buf, &crt, keyid, sizeof(keyid),
					friendly ? bmp_name : NULL, bmp_name_len);
		if (ret < 0)
			goto fail;
		l += (size_t)ret;
		ret = pki_der_hdr(&bc.p, bc.buf, l, SEQ);
		if (ret < 0)
			goto fail;
	}
	ret = p12_encrypt(pass, csalt, civ, bc.p, p12_len(&bc), &cct, &cct_len);
	if (ret < 0)
		goto fail;
	/* AuthenticatedSafe { certificates, key } */
	{
		int a = p12_write_data(&bas.p, bas.buf, bk.p, p12_len(&bk));
		int c = a < 0 ? a : p12_write_encrypted(&bas.p, bas.buf, csalt, civ, cct, cct_len);

		ret = c < 0 ? c : pki_der_hdr(&bas.p, bas.buf, (size_t)a + (size_t)c, SEQ);
		if (ret < 0)
			goto fail;
	}
	/* the MAC over the AuthenticatedSafe's DER */
	ret =
	    p12_kdf(bmp_pass, bmp_pass_len, msalt, sizeof(msalt), P12_ITER, 3, mkey, sizeof(mkey));
	if (ret == 0)
		ret = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), mkey,
				      sizeof(mkey), bas.p, p12_len(&bas), mac);
	if (ret == 0)
		ret = p12_write_pfx(&bpfx.p, bpfx.buf, bas.p, p12_len(&bas), mac, msalt);
	if (ret < 0)
		goto fail;
	*der = malloc(p12_len(&bpfx));
	if (*der == NULL) {
		rc = pki_why(why, whysz, -MGW_ENOMEM, "PKCS#12: out of memory");
		goto out;
	}
	memcpy(*der, bpfx.p, p12_len(&bpfx));
	*len = p12_len(&bpfx);
	rc = 0;
	goto out;
fail:
	rc = pki_why(why, whysz, -MGW_ETLS, "PKCS#12: encoding failed: %s",
		     pki_tls_err(ret, e, sizeof(e)));
out:
	mbedtls_platform_zeroize(mkey, sizeof(mkey));
	mbedtls_platform_zeroize(bmp_pass, sizeof(bmp_pass));
	p12_buf_free(&b8);
	p12_buf_free(&bk);
	p12_buf_free(&bc);
	p12_buf_free(&bas);
	p12_buf_free(&bpfx);
	free(kct);
	free(cct);
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&ca);
	pki_rng_free(&rng);
	return rc;
}
