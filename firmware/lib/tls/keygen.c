/*
 * keygen.c - first-boot server key and self-signed certificate (see keygen.h).
 *
 * Random numbers come from mbedTLS' CTR-DRBG seeded by its platform entropy source
 * (getrandom on Linux), which blocks until the kernel's pool is initialised: a key is
 * never made from a predictable seed.
 */
#include "tls/keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/pem.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"
#include "mbedtls/x509_crt.h"

#define TLS_KEYGEN_PEM_MAX 4096
#define TLS_KEYGEN_DN_MAX 320
#define TLS_KEYGEN_SERIAL_LEN 16
#define TLS_KEYGEN_CN_MAX 253

static void tls_keygen_fp_format(const unsigned char hash[32], char fp[TLS_KEYGEN_FP_MAX])
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < 32; i++) {
		if (i)
			fp[o++] = ':';
		fp[o++] = hex[hash[i] >> 4];
		fp[o++] = hex[hash[i] & 15];
	}
	fp[o] = '\0';
}

/* Writes len bytes to path through path.tmp, fsync and rename; mode applies at create. */
static int tls_keygen_write_file(const char *path, const void *data, size_t len, mode_t mode,
				 bool excl)
{
	char tmp[4096];
	int fd, rc = -MGW_EIO;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -MGW_EINVAL;
	if (excl && access(path, F_OK) == 0)
		return -MGW_EEXIST;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -MGW_EIO;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

static bool tls_keygen_cn_ok(const char *cn)
{
	size_t n = strlen(cn);

	if (n == 0 || n > TLS_KEYGEN_CN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = cn[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

static void tls_keygen_time(time_t t, char out[16])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 16, "%Y%m%d%H%M%S", &tm) == 0)
		out[0] = '\0';
}

int tls_keygen_selfsigned(const char *key_path, const char *crt_path, const char *cn, unsigned days,
			  char fp[TLS_KEYGEN_FP_MAX], char *why, size_t whysz)
{
	static const char pers[] = "mailgw-keygen";
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	mbedtls_x509_san_list san;
	unsigned char pem[TLS_KEYGEN_PEM_MAX], der[TLS_KEYGEN_PEM_MAX],
	    serial[TLS_KEYGEN_SERIAL_LEN];
	unsigned char hash[32];
	char dn[TLS_KEYGEN_DN_MAX], from[16], to[16];
	time_t now = time(NULL);
	int rc = -MGW_ETLS, ret, len;

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	if (!tls_keygen_cn_ok(cn) || days == 0 || days > TLS_KEYGEN_DAYS_MAX) {
		snprintf(why, whysz, "bad name or validity");
		rc = -MGW_EINVAL;
		goto out;
	}
	if (access(key_path, F_OK) == 0) {
		snprintf(why, whysz, "%s exists: not replacing a server key", key_path);
		rc = -MGW_EEXIST;
		goto out;
	}
	ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
				    (const unsigned char *)pers, sizeof(pers) - 1);
	if (ret == 0)
		ret = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (ret == 0)
		ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
					  mbedtls_ctr_drbg_random, &drbg);
	if (ret == 0)
		ret = mbedtls_ctr_drbg_random(&drbg, serial, sizeof(serial));
	if (ret != 0) {
		snprintf(why, whysz, "key generation failed (mbedTLS -0x%04x)", (unsigned)-ret);
		goto out;
	}
	serial[0] &= 0x7f; /* a positive INTEGER (RFC 5280 section 4.1.2.2) */
	serial[0] |= 0x01;
	snprintf(dn, sizeof(dn), "CN=%s", cn);
	tls_keygen_time(now - 86400, from);
	tls_keygen_time(now + (time_t)days * 86400, to);
	memset(&san, 0, sizeof(san));
	san.node.type = MBEDTLS_X509_SAN_DNS_NAME;
	san.node.san.unstructured_name.p = (unsigned char *)cn;
	san.node.san.unstructured_name.len = strlen(cn);
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	ret = mbedtls_x509write_crt_set_subject_name(&crt, dn);
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_issuer_name(&crt, dn);
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof(serial));
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_validity(&crt, from, to);
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1);
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_subject_key_identifier(&crt);
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_subject_alternative_name(&crt, &san);
	if (ret != 0) {
		snprintf(why, whysz, "certificate fields refused (mbedTLS -0x%04x)",
			 (unsigned)-ret);
		goto out;
	}
	len = mbedtls_x509write_crt_der(&crt, der, sizeof(der), mbedtls_ctr_drbg_random, &drbg);
	if (len <= 0) {
		snprintf(why, whysz, "certificate signing failed (mbedTLS -0x%04x)",
			 (unsigned)-len);
		goto out;
	}
	/* the DER is written at the end of the buffer */
	ret = mbedtls_sha256(der + sizeof(der) - len, (size_t)len, hash, 0);
	if (ret != 0) {
		snprintf(why, whysz, "hash failed");
		goto out;
	}
	tls_keygen_fp_format(hash, fp);
	ret = mbedtls_pk_write_key_pem(&key, pem, sizeof(pem));
	if (ret != 0) {
		snprintf(why, whysz, "key encoding failed (mbedTLS -0x%04x)", (unsigned)-ret);
		goto out;
	}
	rc = tls_keygen_write_file(key_path, pem, strlen((char *)pem), 0600, true);
	if (rc < 0) {
		snprintf(why, whysz, "%s: %s", key_path,
			 rc == -MGW_EEXIST ? "exists" : strerror(errno));
		goto out;
	}
	rc = -MGW_ETLS;
	ret = mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem), mbedtls_ctr_drbg_random, &drbg);
	if (ret != 0) {
		snprintf(why, whysz, "certificate encoding failed (mbedTLS -0x%04x)",
			 (unsigned)-ret);
		goto out;
	}
	rc = tls_keygen_write_file(crt_path, pem, strlen((char *)pem), 0644, false);
	if (rc < 0)
		snprintf(why, whysz, "%s: %s", crt_path, strerror(errno));
out:
	mbedtls_platform_zeroize(pem, sizeof(pem));
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return rc;
}

int tls_keygen_fingerprint(const char *crt_path, char fp[TLS_KEYGEN_FP_MAX], char *why,
			   size_t whysz)
{
	mbedtls_x509_crt crt;
	unsigned char hash[32];
	int rc = -MGW_ETLS, ret;

	mbedtls_x509_crt_init(&crt);
	ret = mbedtls_x509_crt_parse_file(&crt, crt_path);
	if (ret != 0) {
		snprintf(why, whysz, "%s: not a readable certificate (mbedTLS -0x%04x)", crt_path,
			 (unsigned)-ret);
		goto out;
	}
	if (mbedtls_sha256(crt.raw.p, crt.raw.len, hash, 0) != 0) {
		snprintf(why, whysz, "hash failed");
		goto out;
	}
	tls_keygen_fp_format(hash, fp);
	rc = 0;
out:
	mbedtls_x509_crt_free(&crt);
	return rc;
}

int tls_keygen_check_pair(const char *key_path, const char *crt_path, char *why, size_t whysz)
{
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	int rc = -MGW_EINVAL, ret;

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&key);
	ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
				    (const unsigned char *)"mailgw-pair", 11);
	if (ret != 0) {
		snprintf(why, whysz, "no randomness (mbedTLS -0x%04x)", (unsigned)-ret);
		rc = -MGW_ETLS;
		goto out;
	}
	ret = mbedtls_x509_crt_parse_file(&crt, crt_path);
	if (ret != 0) {
		snprintf(why, whysz, "%s: not a readable certificate (mbedTLS -0x%04x)", crt_path,
			 (unsigned)-ret);
		goto out;
	}
	ret = mbedtls_pk_parse_keyfile(&key, key_path, NULL, mbedtls_ctr_drbg_random, &drbg);
	if (ret != 0) {
		snprintf(why, whysz, "%s: not a readable unencrypted private key (mbedTLS -0x%04x)",
			 key_path, (unsigned)-ret);
		goto out;
	}
	ret = mbedtls_pk_check_pair(&crt.pk, &key, mbedtls_ctr_drbg_random, &drbg);
	if (ret != 0) {
		snprintf(why, whysz, "%s is not the key of %s", key_path, crt_path);
		goto out;
	}
	rc = 0;
out:
	mbedtls_pk_free(&key);
	mbedtls_x509_crt_free(&crt);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return rc;
}
