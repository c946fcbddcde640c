/*
 * tls.c - crypto start-up (PSA, the random generator), the server key, and the small
 * text helpers the rest of the module logs with.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "core/err.h"
#include "core/log.h"
#include "tls/hash.h"
#include "tls/tls_int.h"

static struct {
	bool ready;
	bool cpu_aes;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
} tls_g;

/*
 * Does AES-GCM run in hardware here? Our AES-GCM (tls/gcm, mbedTLS's MBEDTLS_GCM_ALT:
 * README "TLS cost") takes its AES-NI + PCLMULQDQ path on x86-64 and its AESE/PMULL path
 * on aarch64 by the same CPU features, decided at run time, as does mbedTLS's own AES
 * code (MBEDTLS_AESNI_C, MBEDTLS_AESCE_C); 32-bit Arm builds have no hardware AES (our
 * GCM's portable path). MAILGWD_TEST_TLS_NO_AES=1 (tests only: README) takes the no-AES
 * path on any CPU.
 */
static bool tls_detect_aes(void)
{
	const char *force = getenv("MAILGWD_TEST_TLS_NO_AES");

	if (force != NULL && strcmp(force, "1") == 0)
		return false;
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d) == 0)
		return false;
	return (c & bit_AES) != 0 && (c & bit_PCLMUL) != 0;
#elif defined(__aarch64__)
	unsigned long caps = getauxval(AT_HWCAP);

	return (caps & HWCAP_AES) != 0 && (caps & HWCAP_PMULL) != 0;
#else
	return false;
#endif
}

/*
 * mbedTLS fills a few tables and caches a few CPU checks on first use, unlocked (the AES
 * tables and the AES-NI/Armv8 check, the lists of curves and cipher suites, the Armv8
 * SHA-256/512 check). The handshakes run on worker threads (net/conn.h): fill them all
 * here, once, before any thread starts, so no two threads ever race on that first use.
 */
static int tls_warm(void)
{
	static const unsigned char key[32];
	unsigned char d[HASH_SHA512_LEN];
	mbedtls_aes_context aes;
	int ret;

	mbedtls_aes_init(&aes);
	ret = mbedtls_aes_setkey_enc(&aes, key, 256);
	mbedtls_aes_free(&aes);
	(void)mbedtls_ecp_grp_id_list();
	(void)mbedtls_ssl_list_ciphersuites();
	if (ret != 0 || hash_once(HASH_SHA256, key, sizeof(key), d) < 0 ||
	    hash_once(HASH_SHA512, key, sizeof(key), d) < 0)
		return -MGW_ETLS;
	return 0;
}

bool tls_cpu_has_aes(void)
{
	return tls_g.cpu_aes;
}

int tls_init(void)
{
	static const char pers[] = "mailgwd";
	int ret;

	if (tls_g.ready)
		return 0;
	/* mbedTLS 3.6 needs PSA initialised before any handshake or key operation. */
	if (psa_crypto_init() != PSA_SUCCESS) {
		log_err("tls: psa_crypto_init failed");
		return -MGW_ETLS;
	}
	mbedtls_entropy_init(&tls_g.entropy);
	mbedtls_ctr_drbg_init(&tls_g.drbg);
	ret = mbedtls_ctr_drbg_seed(&tls_g.drbg, mbedtls_entropy_func, &tls_g.entropy,
				    (const unsigned char *)pers, sizeof(pers) - 1);
	if (ret != 0) {
		log_err("tls: cannot seed the random generator (-0x%04x)", (unsigned)-ret);
		goto fail;
	}
	if (tls_warm() < 0) {
		log_err("tls: cannot set up AES and the hashes");
		goto fail;
	}
	tls_g.cpu_aes = tls_detect_aes();
	tls_g.ready = true;
	return 0;
fail:
	mbedtls_ctr_drbg_free(&tls_g.drbg);
	mbedtls_entropy_free(&tls_g.entropy);
	mbedtls_psa_crypto_free();
	return -MGW_ETLS;
}

void tls_deinit(void)
{
	if (!tls_g.ready)
		return;
	mbedtls_ctr_drbg_free(&tls_g.drbg);
	mbedtls_entropy_free(&tls_g.entropy);
	mbedtls_psa_crypto_free();
	tls_g.ready = false;
}

mbedtls_ctr_drbg_context *tls_rng(void)
{
	return &tls_g.drbg;
}

int tls_key_load(const char *path, struct tls_key **out, char *err, size_t errsz)
{
	struct tls_key *k = NULL;
	char msg[128];
	struct stat st;
	int rc = -MGW_ECONFIG, ret;

	*out = NULL;
	if (tls_init() < 0) {
		snprintf(err, errsz, "cannot initialise the crypto library");
		return -MGW_ETLS;
	}
	if (stat(path, &st) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -MGW_ENOENT;
	}
	if (st.st_size > (off_t)TLS_FILE_MAX) {
		snprintf(err, errsz, "%s: file too large", path);
		return rc;
	}
	if (st.st_mode & S_IROTH)
		log_warn("tls: private key %s is readable by everyone; make it 0600 root", path);
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -MGW_ENOMEM;
	mbedtls_pk_init(&k->pk);
	ret = mbedtls_pk_parse_keyfile(&k->pk, path, NULL, mbedtls_ctr_drbg_random, tls_rng());
	if (ret != 0) {
		mbedtls_strerror(ret, msg, sizeof(msg));
		snprintf(err, errsz, "%s: cannot read the private key: %s", path, msg);
		if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR)
			rc = -MGW_ENOENT;
		goto out;
	}
	if (mbedtls_pk_get_type(&k->pk) == MBEDTLS_PK_RSA) {
		if (mbedtls_pk_get_bitlen(&k->pk) < 2048) {
			snprintf(err, errsz, "%s: RSA key of %zu bits (at least 2048 needed)", path,
				 mbedtls_pk_get_bitlen(&k->pk));
			goto out;
		}
	} else if (mbedtls_pk_get_type(&k->pk) == MBEDTLS_PK_ECKEY) {
		mbedtls_ecp_group_id gid = mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(k->pk));

		if (gid != MBEDTLS_ECP_DP_SECP256R1 && gid != MBEDTLS_ECP_DP_SECP384R1) {
			snprintf(err, errsz, "%s: EC key not on P-256 or P-384", path);
			goto out;
		}
	} else {
		snprintf(err, errsz, "%s: not an RSA or ECDSA key", path);
		goto out;
	}
	*out = k;
	k = NULL;
	rc = 0;
out:
	if (k) {
		mbedtls_pk_free(&k->pk);
		free(k);
	}
	return rc;
}

void tls_key_free(struct tls_key *key)
{
	if (key == NULL)
		return;
	mbedtls_pk_free(&key->pk); /* zeroizes */
	free(key);
}

int64_t tls_x509_time(const mbedtls_x509_time *t)
{
	struct tm tm = {0};

	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return (int64_t)timegm(&tm);
}

void tls_time_format(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, outsz, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, outsz, "?");
}

void tls_crt_subject(const mbedtls_x509_crt *crt, char *out, size_t outsz)
{
	char raw[TLS_SUBJECT_MAX];
	int n;

	if (crt == NULL) {
		snprintf(out, outsz, "-");
		return;
	}
	/* dn_gets returns 0 and leaves the buffer untouched for an empty name
	 * (CVE-2026-115489): start from an empty string and say so. */
	raw[0] = '\0';
	n = mbedtls_x509_dn_gets(raw, sizeof(raw), &crt->subject);
	if (n < 0)
		snprintf(raw, sizeof(raw), "?");
	else if (n == 0 || raw[0] == '\0')
		snprintf(raw, sizeof(raw), "(empty)");
	log_safe(out, outsz, raw, strlen(raw));
}

void tls_crt_serial(const mbedtls_x509_crt *crt, char *out, size_t outsz)
{
	char raw[TLS_SERIAL_MAX];

	if (crt == NULL || mbedtls_x509_serial_gets(raw, sizeof(raw), &crt->serial) < 0) {
		snprintf(out, outsz, "-");
		return;
	}
	snprintf(out, outsz, "%s", raw);
}

void tls_crt_id(const mbedtls_x509_crt *crt, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[HASH_SHA256_LEN];
	struct hash_ctx h;

	if (crt == NULL || outsz < 2 * sizeof(d) + 1) {
		snprintf(out, outsz, "-");
		return;
	}
	/* The issuer is a DER SEQUENCE with its own length: issuer || serial is unambiguous. */
	hash_init(&h, HASH_SHA256);
	hash_update(&h, crt->issuer_raw.p, crt->issuer_raw.len);
	hash_update(&h, crt->serial.p, crt->serial.len);
	if (hash_finish(&h, d) < 0) {
		snprintf(out, outsz, "-");
		return;
	}
	for (size_t i = 0; i < sizeof(d); i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * sizeof(d)] = '\0';
}

/* Verify flags in words (the text mbedTLS uses, one phrase per flag). */
void tls_flags_text(uint32_t flags, char *out, size_t outsz)
{
	char buf[1024];
	char *p, *line;
	size_t used = 0;

	out[0] = '\0';
	if (mbedtls_x509_crt_verify_info(buf, sizeof(buf), "", flags) < 0)
		snprintf(buf, sizeof(buf), "verification failed (flags 0x%08x)\n", (unsigned)flags);
	for (line = strtok_r(buf, "\n", &p); line; line = strtok_r(NULL, "\n", &p)) {
		int n = snprintf(out + used, outsz - used, "%s%s", used ? "; " : "", line);

		if (n < 0 || (size_t)n >= outsz - used)
			break;
		used += (size_t)n;
	}
	if (out[0] == '\0')
		snprintf(out, outsz, "flags 0x%08x", (unsigned)flags);
}

const char *tls_crl_policy_name(enum tls_crl_policy p)
{
	return p == TLS_CRL_GRACE ? "grace" : "refuse";
}

const char *tls_identity_name(enum tls_identity id)
{
	switch (id) {
	case TLS_IDENTITY_EMAIL:
		return "email";
	case TLS_IDENTITY_CN:
		return "cn";
	case TLS_IDENTITY_NONE:
		return "none";
	}
	return "?";
}
