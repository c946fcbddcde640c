/*
 * chain.c - the office CA's signature on a client certificate, checked by the gate
 * instead of by mbedTLS, with a cache of good verdicts.
 *
 * Verifying that signature was a fifth of a handshake's CPU (README "TLS cost"), paid
 * again on every connection of the same user with the same certificate. mbedTLS has no
 * way to skip it inside the handshake, so the gate configuration gives mbedTLS no trust
 * anchors at all: only a CA callback that names none (tls_chain_no_ca). mbedTLS then
 * still makes every other check (dates, the signature algorithms against the profile,
 * key usage and extended key usage, the client's CertificateVerify with the
 * certificate's key) and reports the certificate as "not trusted"; the session's verify
 * callback (sess.c) replaces that verdict by tls_chain_verify()'s, which checks what
 * mbedTLS's chain building would have (issuer name, the CA's basicConstraints and
 * keyCertSign, the signature, the CA key against the profile, the CA's dates), the
 * signature through the cache.
 *
 * The cache is keyed by the SHA-256 of the certificate's whole DER (so a certificate
 * with the same subject and serial but another signature or any other byte is another
 * key) and lives in the conf, i.e. in one generation of CA set and CRL: a reload starts
 * an empty one. It remembers only "this certificate is signed by a CA of this conf", the
 * one fact that cannot change while the conf lives; revocation and every date are
 * checked on every handshake. Only verified certificates enter it, so only holders of
 * certificates the office CA signed can fill it; it is a fixed ring, the oldest entry
 * replaced first.
 *
 * Threads: the handshake steps of a conf's sessions run on worker threads, several at a
 * time (net/conn.h), so the cache is read and written under its mutex; the signature
 * itself is checked outside it. The session of the handshake step under way is known
 * per thread (tls_chain_enter).
 */
#include <string.h>

#include <mbedtls/platform.h>

#include "core/err.h"
#include "tls/hash.h"
#include "tls/tls_int.h"

/* The session whose handshake step runs on this thread (tls_chain_enter/leave). */
static _Thread_local struct tls_sess *tls_chain_sess;

void tls_chain_enter(struct tls_sess *s)
{
	tls_chain_sess = s;
}

void tls_chain_leave(struct tls_sess *s)
{
	tls_chain_sess = NULL;
	if (s->chain_tail) {
		/* Not put back by tls_chain_relink (mbedTLS stopped before its callbacks):
		 * nobody else points to it any more. */
		mbedtls_x509_crt_free(s->chain_tail);
		mbedtls_free(s->chain_tail);
		s->chain_tail = NULL;
	}
}

/*
 * Called by mbedTLS while it builds the chain, first for the client's own certificate
 * (child, the head of the list it received) and then for each parent found. Names no
 * trusted CA. Most clients send the office CA after their certificate (OpenSSL adds the
 * chain it can build from its trust store): mbedTLS would then find that copy as the
 * parent and verify the signature with it, on every handshake. Such a copy adds nothing
 * (only byte-for-byte one of our CAs is accepted above a client certificate, sess.c),
 * so it is taken off the list for the time of the verification and put back by the
 * verify callback (tls_chain_relink), or freed by tls_chain_leave if mbedTLS never got
 * there. Only exactly [certificate, one of our CAs] is shortened: any other list is
 * verified as sent, and refused by the verify callback if it is longer than that.
 */
int tls_chain_no_ca(void *ctx, mbedtls_x509_crt const *child, mbedtls_x509_crt **candidates)
{
	struct tls_sess *s = tls_chain_sess;

	(void)ctx;
	*candidates = NULL;
	if (s == NULL || s->chain_seen)
		return 0;
	s->chain_seen = true;
	if (child->next && child->next->version && child->next->next == NULL &&
	    tls_conf_is_ca(s->conf, child->next)) {
		s->chain_tail = child->next;
		/* The list is the session's (mbedTLS hands its head to this callback as
		 * const only because the callback API is shared with CA lookups). */
		((mbedtls_x509_crt *)child)->next = NULL;
	}
	return 0;
}

void tls_chain_relink(struct tls_sess *s, mbedtls_x509_crt *crt)
{
	if (s->chain_tail && crt->next == NULL) {
		crt->next = s->chain_tail;
		s->chain_tail = NULL;
	}
}

bool tls_signed_by(const mbedtls_x509_buf *tbs, mbedtls_md_type_t md_type, mbedtls_pk_type_t pk,
		   const void *opts, const mbedtls_x509_buf *sig, mbedtls_pk_context *key)
{
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(md_type);

	if (md == NULL || mbedtls_md(md, tbs->p, tbs->len, hash) != 0)
		return false;
	return mbedtls_pk_verify_ext(pk, opts, key, md_type, hash, mbedtls_md_get_size(md), sig->p,
				     sig->len) == 0;
}

/* What mbedTLS's x509_profile_check_key() refuses in a CA's key (BADCERT_BAD_KEY). */
static bool tls_chain_key_ok(const mbedtls_x509_crt_profile *prof, const mbedtls_pk_context *pk)
{
	mbedtls_pk_type_t type = mbedtls_pk_get_type(pk);

	if ((prof->allowed_pks & MBEDTLS_X509_ID_FLAG(type)) == 0)
		return false;
	if (type == MBEDTLS_PK_RSA || type == MBEDTLS_PK_RSASSA_PSS)
		return mbedtls_pk_get_bitlen(pk) >= prof->rsa_min_bitlen;
	if (type == MBEDTLS_PK_ECDSA || type == MBEDTLS_PK_ECKEY || type == MBEDTLS_PK_ECKEY_DH)
		return (prof->allowed_curves &
			MBEDTLS_X509_ID_FLAG(
			    mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(*pk)))) != 0;
	return false;
}

static bool tls_chain_cached(struct tls_chain_cache *c, const uint8_t *key)
{
	bool found = false;

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->used && !found; i++)
		found = memcmp(c->key[i], key, HASH_SHA256_LEN) == 0;
	pthread_mutex_unlock(&c->mu);
	return found;
}

static void tls_chain_remember(struct tls_chain_cache *c, const uint8_t *key)
{
	pthread_mutex_lock(&c->mu);
	memcpy(c->key[c->next], key, HASH_SHA256_LEN);
	c->next = (c->next + 1) % TLS_CHAIN_CACHE_SLOTS;
	if (c->used < TLS_CHAIN_CACHE_SLOTS)
		c->used++;
	pthread_mutex_unlock(&c->mu);
}

uint32_t tls_chain_verify(struct tls_conf *conf, const mbedtls_x509_crt *crt)
{
	uint8_t key[HASH_SHA256_LEN];
	bool keyed = hash_once(HASH_SHA256, crt->raw.p, crt->raw.len, key) == 0;
	uint32_t flags = MBEDTLS_X509_BADCERT_NOT_TRUSTED;

	for (mbedtls_x509_crt *ca = &conf->ca; ca && ca->version; ca = ca->next) {
		/* x509_crt_check_parenthood(): the issuer's name, and a CA allowed to sign
		 * certificates (tls_conf_check_crls already refused a conf whose "CA" lacks
		 * basicConstraints cA, checked again here as mbedTLS does). */
		if (crt->issuer_raw.len != ca->subject_raw.len ||
		    memcmp(crt->issuer_raw.p, ca->subject_raw.p, crt->issuer_raw.len) != 0)
			continue;
		if (!ca->MBEDTLS_PRIVATE(ca_istrue) ||
		    mbedtls_x509_crt_check_key_usage(ca, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0)
			continue;
		if (!(keyed && tls_chain_cached(&conf->chain, key))) {
			if (!tls_signed_by(&crt->tbs, crt->MBEDTLS_PRIVATE(sig_md),
					   crt->MBEDTLS_PRIVATE(sig_pk),
					   crt->MBEDTLS_PRIVATE(sig_opts),
					   &crt->MBEDTLS_PRIVATE(sig), &ca->pk))
				continue;
			if (keyed)
				tls_chain_remember(&conf->chain, key);
		}
		/* The parent found: what mbedTLS checks of a trusted root and its key. */
		flags = 0;
		if (!tls_chain_key_ok(&tls_crt_profile, &ca->pk))
			flags |= MBEDTLS_X509_BADCERT_BAD_KEY;
		if (mbedtls_x509_time_is_past(&ca->valid_to))
			flags |= MBEDTLS_X509_BADCERT_EXPIRED;
		if (mbedtls_x509_time_is_future(&ca->valid_from))
			flags |= MBEDTLS_X509_BADCERT_FUTURE;
		break;
	}
	return flags;
}
