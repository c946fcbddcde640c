/*
 * conf.c - building a TLS server configuration from files, and the checks mbedTLS does
 * not make for us: a CA set must come with exactly one CRL per CA, signed by it (mbedTLS
 * treats a CA without a CRL as "nothing revoked" and merges the flags of several CRLs
 * for one CA), and the server certificate must belong to the loaded key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "tls/tls_int.h"

#define TLS_CA_MAX 16 /* CA certificates in the CA file */

/* AEAD suites with ephemeral ECDH only, by cipher: AES-128-GCM, AES-256-GCM,
 * ChaCha20-Poly1305 (the order when the CPU has AES: tls_conf_order). */
static const int tls_suites13[TLS_SUITES13] = {MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
					       MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
					       MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256};
static const int tls_suites12[TLS_SUITES13][2] = {
    {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
     MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
    {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
     MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
    {MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
     MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256},
};

/*
 * Our preference: AES-GCM first where the CPU has AES instructions (and mbedTLS uses
 * them), ChaCha20-Poly1305 first where it has not (the Pi 4's Cortex-A72: table AES is
 * slow and not constant-time), as other TLS servers do. Fills conf's lists: suites for
 * ssl (TLS 1.3 then TLS 1.2, each in that order), and for each ssl13[i] the TLS 1.3 suite
 * order13[i] alone followed by the same TLS 1.2 list.
 */
static void tls_conf_order(struct tls_conf *conf)
{
	static const unsigned aes_first[TLS_SUITES13] = {0, 1, 2},
			      chacha_first[TLS_SUITES13] = {2, 0, 1};
	const unsigned *ord = tls_cpu_has_aes() ? aes_first : chacha_first;
	int t12[TLS_SUITES12];
	size_t n = 0;

	for (size_t i = 0; i < TLS_SUITES13; i++) {
		conf->order13[i] = tls_suites13[ord[i]];
		t12[2 * i] = tls_suites12[ord[i]][0];
		t12[2 * i + 1] = tls_suites12[ord[i]][1];
	}
	for (size_t i = 0; i < TLS_SUITES13; i++)
		conf->suites[n++] = conf->order13[i];
	memcpy(conf->suites + n, t12, sizeof(t12));
	conf->suites[n + TLS_SUITES12] = 0;
	for (size_t i = 0; i < TLS_SUITES13; i++) {
		conf->suites13[i][0] = conf->order13[i];
		memcpy(conf->suites13[i] + 1, t12, sizeof(t12));
		conf->suites13[i][1 + TLS_SUITES12] = 0;
	}
}

static int tls_file_check(const char *what, const char *path, char *err, size_t errsz)
{
	struct stat st;

	if (path == NULL || path[0] == '\0') {
		snprintf(err, errsz, "no %s file configured", what);
		return -MGW_ECONFIG;
	}
	if (stat(path, &st) < 0) {
		snprintf(err, errsz, "%s %s: %s", what, path, strerror(errno));
		return -MGW_ENOENT;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)TLS_FILE_MAX) {
		snprintf(err, errsz, "%s %s: not a regular file of at most %u bytes", what, path,
			 TLS_FILE_MAX);
		return -MGW_ECONFIG;
	}
	return 0;
}

/* Client certificates and CRLs: SHA-2 signatures, ECDSA or RSA, P-256/P-384, RSA >= 2048. */
const mbedtls_x509_crt_profile tls_crt_profile = {
    .allowed_mds = MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA256) |
		   MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA384) |
		   MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA512),
    .allowed_pks = MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECDSA) | MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECKEY) |
		   MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_RSA),
    .allowed_curves = MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP256R1) |
		      MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP384R1),
    .rsa_min_bitlen = 2048,
};

static void tls_mbed_err(int ret, char *out, size_t outsz)
{
	mbedtls_strerror(ret, out, outsz);
}

static bool tls_raw_eq(const mbedtls_x509_buf *a, const mbedtls_x509_buf *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

const mbedtls_x509_crl *tls_conf_crl_for(const struct tls_conf *conf, const mbedtls_x509_crt *crt)
{
	for (const mbedtls_x509_crl *crl = &conf->crl; crl && crl->version; crl = crl->next)
		if (tls_raw_eq(&crl->issuer_raw, &crt->issuer_raw))
			return crl;
	return NULL;
}

bool tls_conf_is_ca(const struct tls_conf *conf, const mbedtls_x509_crt *crt)
{
	for (const mbedtls_x509_crt *ca = &conf->ca; ca && ca->version; ca = ca->next)
		if (tls_raw_eq(&ca->raw, &crt->raw))
			return true;
	return false;
}

bool tls_conf_issuer_known(const struct tls_conf *conf, const mbedtls_x509_crt *crt)
{
	for (const mbedtls_x509_crt *ca = &conf->ca; ca && ca->version; ca = ca->next)
		if (tls_raw_eq(&ca->subject_raw, &crt->issuer_raw))
			return true;
	return false;
}

/*
 * What mbedTLS's x509_crt_verifycrl() would add for crl and the client certificate crt,
 * without its signature check. mbedTLS verifies the CRL's signature by the CA again in
 * every handshake (a fifth of a handshake's CPU, README "TLS cost"), although the CRL
 * and the CA belong to the generation and cannot change under it; tls_conf_check_crls()
 * verified that signature once, when this conf was built, and refuses a conf where it
 * fails. So mbedTLS is given no CRL (tls_conf_ssl) and the session's verify callback
 * takes these flags instead (sess.c), with revocation.
 */
uint32_t tls_conf_crl_flags(const struct tls_conf *conf, const mbedtls_x509_crt *crt,
			    const mbedtls_x509_crl *crl)
{
	const mbedtls_x509_crt *ca = &conf->ca;
	uint32_t flags = 0;

	while (ca && ca->version && !tls_raw_eq(&ca->subject_raw, &crt->issuer_raw))
		ca = ca->next;
	if (ca == NULL || ca->version == 0)
		return MBEDTLS_X509_BADCRL_NOT_TRUSTED;
	if (mbedtls_x509_crt_check_key_usage(ca, MBEDTLS_X509_KU_CRL_SIGN) != 0)
		return MBEDTLS_X509_BADCRL_NOT_TRUSTED;
	if ((tls_crt_profile.allowed_mds & MBEDTLS_X509_ID_FLAG(crl->MBEDTLS_PRIVATE(sig_md))) == 0)
		flags |= MBEDTLS_X509_BADCRL_BAD_MD;
	if ((tls_crt_profile.allowed_pks & MBEDTLS_X509_ID_FLAG(crl->MBEDTLS_PRIVATE(sig_pk))) == 0)
		flags |= MBEDTLS_X509_BADCRL_BAD_PK;
	if (mbedtls_x509_time_is_past(&crl->next_update))
		flags |= MBEDTLS_X509_BADCRL_EXPIRED;
	if (mbedtls_x509_time_is_future(&crl->this_update))
		flags |= MBEDTLS_X509_BADCRL_FUTURE;
	return flags;
}

/* The CRL's signature by ca (mbedTLS checks it only during a handshake, silently). */
static bool tls_crl_signed_by(const mbedtls_x509_crl *crl, mbedtls_x509_crt *ca)
{
	return tls_signed_by(&crl->tbs, crl->MBEDTLS_PRIVATE(sig_md), crl->MBEDTLS_PRIVATE(sig_pk),
			     crl->MBEDTLS_PRIVATE(sig_opts), &crl->MBEDTLS_PRIVATE(sig), &ca->pk);
}

/* Every CA has exactly one CRL, signed by it; every CRL belongs to a CA. */
static int tls_conf_check_crls(struct tls_conf *conf, const char *ca_path, const char *crl_path,
			       char *err, size_t errsz)
{
	char name[TLS_SUBJECT_MAX], when[48];
	int64_t now = (int64_t)time(NULL);
	unsigned nca = 0;

	for (mbedtls_x509_crt *ca = &conf->ca; ca && ca->version; ca = ca->next) {
		unsigned found = 0;

		if (++nca > TLS_CA_MAX) {
			snprintf(err, errsz, "CA file %s: more than %d certificates", ca_path,
				 TLS_CA_MAX);
			return -MGW_ECONFIG;
		}
		tls_crt_subject(ca, name, sizeof(name));
		if (!ca->MBEDTLS_PRIVATE(ca_istrue)) {
			snprintf(err, errsz, "CA file %s: '%s' is not a CA certificate", ca_path,
				 name);
			return -MGW_ECONFIG;
		}
		for (mbedtls_x509_crl *crl = &conf->crl; crl && crl->version; crl = crl->next) {
			if (!tls_raw_eq(&crl->issuer_raw, &ca->subject_raw))
				continue;
			if (++found > 1) {
				snprintf(err, errsz,
					 "CRL file %s: two CRLs for CA '%s' (replace the CRL, "
					 "never append)",
					 crl_path, name);
				return -MGW_ECONFIG;
			}
			if (!tls_crl_signed_by(crl, ca)) {
				snprintf(err, errsz,
					 "CRL file %s: the CRL of '%s' is not signed by that CA",
					 crl_path, name);
				return -MGW_ECONFIG;
			}
			if (tls_x509_time(&crl->next_update) < now) {
				tls_time_format(tls_x509_time(&crl->next_update), when,
						sizeof(when));
				log_warn("tls: the CRL of '%s' expired at %s (%s policy applies)",
					 name, when, tls_crl_policy_name(conf->crl_policy));
			}
			if (tls_x509_time(&crl->this_update) > now) {
				tls_time_format(tls_x509_time(&crl->this_update), when,
						sizeof(when));
				log_warn("tls: the CRL of '%s' is issued in the future (%s): is "
					 "the clock set?",
					 name, when);
			}
		}
		if (found == 0) {
			snprintf(err, errsz,
				 "CRL file %s: no CRL for CA '%s' (a CA without a CRL is an error)",
				 crl_path, name);
			return -MGW_ECONFIG;
		}
	}
	for (mbedtls_x509_crl *crl = &conf->crl; crl && crl->version; crl = crl->next) {
		bool known = false;

		for (mbedtls_x509_crt *ca = &conf->ca; ca && ca->version; ca = ca->next)
			known = known || tls_raw_eq(&crl->issuer_raw, &ca->subject_raw);
		if (!known) {
			char raw[TLS_SUBJECT_MAX];

			/* dn_gets leaves the buffer untouched for an empty name (CVE-2026-115489).
			 */
			raw[0] = '\0';
			if (mbedtls_x509_dn_gets(raw, sizeof(raw), &crl->issuer) < 0)
				snprintf(raw, sizeof(raw), "?");
			log_safe(name, sizeof(name), raw, strlen(raw));
			snprintf(err, errsz, "CRL file %s: CRL issuer '%s' is not a configured CA",
				 crl_path, name);
			return -MGW_ECONFIG;
		}
	}
	return 0;
}

static int tls_conf_load(struct tls_conf *conf, const struct tls_conf_params *p, char *err,
			 size_t errsz)
{
	char msg[160];
	int rc, ret;

	rc = tls_file_check("certificate", p->cert, err, errsz);
	if (rc < 0)
		return rc;
	ret = mbedtls_x509_crt_parse_file(&conf->cert, p->cert);
	if (ret != 0) {
		tls_mbed_err(ret, msg, sizeof(msg));
		snprintf(err, errsz, "certificate %s: %s", p->cert,
			 ret > 0 ? "some certificates could not be parsed" : msg);
		return -MGW_ECONFIG;
	}
	if (p->key == NULL) {
		snprintf(err, errsz, "no private key loaded");
		return -MGW_ECONFIG;
	}
	if (mbedtls_pk_check_pair(&conf->cert.pk, &p->key->pk, mbedtls_ctr_drbg_random,
				  tls_rng()) != 0) {
		snprintf(err, errsz,
			 "certificate %s does not match the private key loaded at start "
			 "(a new key needs a restart)",
			 p->cert);
		return -MGW_ECONFIG;
	}
	if (tls_x509_time(&conf->cert.valid_to) < (int64_t)time(NULL))
		log_warn("tls: the server certificate %s has expired", p->cert);
	if (!conf->client_auth)
		return 0;
	rc = tls_file_check("CA", p->ca, err, errsz);
	if (rc < 0)
		return rc;
	ret = mbedtls_x509_crt_parse_file(&conf->ca, p->ca);
	if (ret != 0) {
		tls_mbed_err(ret, msg, sizeof(msg));
		snprintf(err, errsz, "CA file %s: %s", p->ca,
			 ret > 0 ? "some certificates could not be parsed" : msg);
		return -MGW_ECONFIG;
	}
	if (p->crl == NULL || p->crl[0] == '\0') {
		snprintf(
		    err, errsz,
		    "CA %s given without a CRL (set [tls] crl; a CA without a CRL is an error)",
		    p->ca);
		return -MGW_ECONFIG;
	}
	rc = tls_file_check("CRL", p->crl, err, errsz);
	if (rc < 0)
		return rc;
	ret = mbedtls_x509_crl_parse_file(&conf->crl, p->crl);
	if (ret != 0) {
		tls_mbed_err(ret, msg, sizeof(msg));
		snprintf(err, errsz, "CRL file %s: %s", p->crl, msg);
		return -MGW_ECONFIG;
	}
	return tls_conf_check_crls(conf, p->ca, p->crl, err, errsz);
}

/* One mbedTLS server configuration of conf, with the suite list suites (kept in conf). */
static int tls_conf_ssl(struct tls_conf *conf, mbedtls_ssl_config *ssl, const int *suites,
			const struct tls_conf_params *p, char *err, size_t errsz)
{
	int ret;

	ret = mbedtls_ssl_config_defaults(ssl, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
					  MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0) {
		snprintf(err, errsz, "mbedtls_ssl_config_defaults failed (-0x%04x)",
			 (unsigned)-ret);
		return -MGW_ETLS;
	}
	mbedtls_ssl_conf_rng(ssl, mbedtls_ctr_drbg_random, tls_rng());
	mbedtls_ssl_conf_min_tls_version(ssl, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(ssl, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_ciphersuites(ssl, suites);
	/* TLS 1.3: (EC)DHE only, never a PSK, so no resumption. Tickets and the session cache
	 * are compiled out (mbedtls_config.h): every handshake is a full one, with the client
	 * certificate verified against the CRL of this generation. */
	mbedtls_ssl_conf_tls13_key_exchange_modes(ssl,
						  MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
	/* The key is only read by mbedTLS; it is shared by the confs of every generation. */
	ret = mbedtls_ssl_conf_own_cert(ssl, &conf->cert, (mbedtls_pk_context *)&p->key->pk);
	if (ret != 0) {
		snprintf(err, errsz, "mbedtls_ssl_conf_own_cert failed (-0x%04x)", (unsigned)-ret);
		return -MGW_ETLS;
	}
	if (conf->client_auth) {
		/* An explicit profile: chain signatures are governed by it alone, not by the
		 * TLS signature-algorithm list (CVE-2026-54441). */
		mbedtls_ssl_conf_cert_profile(ssl, &tls_crt_profile);
		mbedtls_ssl_conf_authmode(ssl, MBEDTLS_SSL_VERIFY_REQUIRED);
		/* No CRL for mbedTLS: it would verify the CRL's signature again in every
		 * handshake; the verify callback checks the CRL instead (tls_conf_crl_flags).
		 * No trust anchors either: the CA's signature on the client certificate is
		 * verified, once per certificate and conf, by the verify callback
		 * (tls_chain_verify). The CAs are still named in a TLS 1.2 CertificateRequest,
		 * so that clients pick the right certificate (TLS 1.3's carries no names in
		 * mbedTLS 3.6). */
		mbedtls_ssl_conf_ca_cb(ssl, tls_chain_no_ca, NULL);
		mbedtls_ssl_conf_dn_hints(ssl, &conf->ca);
	} else {
		mbedtls_ssl_conf_authmode(ssl, MBEDTLS_SSL_VERIFY_NONE);
	}
	return 0;
}

int tls_conf_new(const struct tls_conf_params *p, char *err, size_t errsz, struct tls_conf **out)
{
	struct tls_conf *conf;
	int rc = -MGW_ECONFIG;

	*out = NULL;
	if (tls_init() < 0) {
		snprintf(err, errsz, "cannot initialise the crypto library");
		return -MGW_ETLS;
	}
	conf = calloc(1, sizeof(*conf));
	if (conf == NULL)
		return -MGW_ENOMEM;
	if (pthread_mutex_init(&conf->chain.mu, NULL) != 0) {
		free(conf);
		return -MGW_ENOMEM;
	}
	mbedtls_ssl_config_init(&conf->ssl);
	for (size_t i = 0; i < TLS_SUITES13; i++)
		mbedtls_ssl_config_init(&conf->ssl13[i]);
	mbedtls_x509_crt_init(&conf->cert);
	mbedtls_x509_crt_init(&conf->ca);
	mbedtls_x509_crl_init(&conf->crl);
	conf->refs = 1;
	conf->client_auth = p->ca != NULL && p->ca[0] != '\0';
	conf->crl_policy = p->crl_policy;
	conf->crl_grace_s = p->crl_grace_s;
	rc = tls_conf_load(conf, p, err, errsz);
	if (rc < 0)
		goto out;
	tls_conf_order(conf);
	rc = tls_conf_ssl(conf, &conf->ssl, conf->suites, p, err, errsz);
	for (size_t i = 0; rc == 0 && i < TLS_SUITES13; i++)
		rc = tls_conf_ssl(conf, &conf->ssl13[i], conf->suites13[i], p, err, errsz);
	if (rc < 0)
		goto out;
	*out = conf;
	conf = NULL;
	rc = 0;
out:
	tls_conf_put(conf);
	return rc;
}

void tls_conf_put(struct tls_conf *conf)
{
	if (conf == NULL || --conf->refs > 0)
		return;
	mbedtls_ssl_config_free(&conf->ssl);
	for (size_t i = 0; i < TLS_SUITES13; i++)
		mbedtls_ssl_config_free(&conf->ssl13[i]);
	mbedtls_x509_crt_free(&conf->cert);
	mbedtls_x509_crt_free(&conf->ca);
	mbedtls_x509_crl_free(&conf->crl);
	pthread_mutex_destroy(&conf->chain.mu);
	free(conf);
}

bool tls_conf_client_auth(const struct tls_conf *conf)
{
	return conf->client_auth;
}

void tls_conf_describe(const struct tls_conf *conf, char *out, size_t outsz)
{
	const mbedtls_x509_crl *crl = &conf->crl;
	char when[48], of[32] = "";
	int64_t next, now = (int64_t)time(NULL);
	unsigned n = 0;

	if (!conf->client_auth || crl->version == 0) {
		snprintf(out, outsz, "no client certificates");
		return;
	}
	/* with several CAs, the CRL that ends first is the one that matters */
	next = tls_x509_time(&crl->next_update);
	for (const mbedtls_x509_crl *c = crl; c && c->version; c = c->next, n++)
		if (tls_x509_time(&c->next_update) < next)
			next = tls_x509_time(&c->next_update);
	if (n > 1)
		snprintf(of, sizeof(of), " (first of %u CRLs)", n);
	tls_time_format(next, when, sizeof(when));
	if (next >= now)
		snprintf(out, outsz, "CRL next update %s%s (in %lld h), policy %s", when, of,
			 (long long)((next - now) / 3600), tls_crl_policy_name(conf->crl_policy));
	else
		snprintf(out, outsz, "CRL EXPIRED at %s%s (%lld h ago), policy %s", when, of,
			 (long long)((now - next) / 3600), tls_crl_policy_name(conf->crl_policy));
}
