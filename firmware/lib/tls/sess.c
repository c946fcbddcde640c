/*
 * sess.c - one TLS server session as a conn transport: mbedTLS driven through bio
 * callbacks on the non-blocking socket, the certificate-gate verify callback (CRL expiry
 * policy, issuer check), refusal logging, and what the protocols need to know about the
 * client certificate afterwards.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "tls/hello.h"
#include "tls/tls_int.h"

/* The bio over another transport (tls_sess_new_transport): its codes in mbedTLS's. */
static int tls_bio_code(ssize_t n)
{
	if (n >= 0)
		return (int)n;
	if (n == -MGW_EWANTREAD)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n == -MGW_EWANTWRITE)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_SSL_CONN_EOF;
}

static int tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_sess *s = ctx;
	ssize_t n;

	if (s->lower.ops)
		return tls_bio_code(s->lower.ops->write(s->lower.ctx, buf, len));
	/* wr_more: the conn has more output than this record, and writes it next (at once,
	 * or corked with the session's next output; conn.c). The kernel joins such records
	 * into one packet (and on loopback one pass through the receiver's TCP code)
	 * instead of pushing each alone (TCP_NODELAY is on). The record of a write that
	 * fits in one goes without MSG_MORE and pushes what the others left corked: the
	 * last of any output (a reply, the end of a FETCH), since the conn writes all of it
	 * once it is not corked. */
	do
		n = send(s->fd, buf, len, MSG_NOSIGNAL | (s->wr_more ? MSG_MORE : 0));
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		s->tcp_corked = s->wr_more;
		return (int)n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		/* The write stops here until the socket has room: push what earlier records
		 * left corked (setting TCP_NODELAY does, tcp(7)), or no ACK might ever come
		 * to make that room. */
		if (s->tcp_corked)
			(void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
		s->tcp_corked = false;
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	}
	return MBEDTLS_ERR_SSL_CONN_EOF; /* reset or broken pipe: the peer is gone */
}

static int tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_sess *s = ctx;
	ssize_t n;

	if (s->lower.ops)
		return tls_bio_code(s->lower.ops->read(s->lower.ctx, buf, len));
	do
		n = recv(s->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return (int)n; /* 0: EOF, which mbedTLS reports as MBEDTLS_ERR_SSL_CONN_EOF */
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return MBEDTLS_ERR_SSL_CONN_EOF;
}

/*
 * Called by mbedTLS for every certificate of the client's chain, top first, depth 0
 * (the client's own) last, with the flags its own checks set. We add two rules and one
 * policy, then remember what we saw for the refusal log.
 */
static int tls_sess_verify(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct tls_sess *s = arg;
	const struct tls_conf *conf = s->conf;

	/*
	 * Chains are exactly office CA -> user certificate. Anything deeper, or a "CA" that is
	 * not byte for byte one of ours, is refused: a user's certificate must never be able
	 * to act as an issuer (mbedTLS before 3.6.7 read some malformed basicConstraints as
	 * cA=TRUE, CVE-2026-49300; the rule stays as the gate's policy).
	 */
	if (depth > 1 || (depth == 1 && !tls_conf_is_ca(conf, crt)))
		*flags |= MBEDTLS_X509_BADCERT_NOT_TRUSTED;
	else if (depth == 1)
		/* One of our CAs, sent along by the client: mbedTLS, which holds no trust
		 * anchors (chain.c), found no parent for it. It is a trust anchor of ours, and
		 * of a trust anchor mbedTLS checks only the dates. */
		*flags &= MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE;
	if (depth == 0) {
		const mbedtls_x509_crl *own = tls_conf_crl_for(conf, crt);

		/* Whether a CA of ours signed it is decided here, not by mbedTLS, which was
		 * given no trust anchors and so flags every certificate as not trusted. */
		tls_chain_relink(s, crt);
		*flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_NOT_TRUSTED;
		*flags |= tls_chain_verify(s->conf, crt);

		tls_crt_subject(crt, s->subject, sizeof(s->subject));
		tls_crt_serial(crt, s->serial, sizeof(s->serial));
		tls_crt_id(crt, s->cert_id, sizeof(s->cert_id));
		/* The gate's own refusals: BADCERT_OTHER, and for the log which. */
		if (crt->subject_raw.len <= 2 || strcmp(s->subject, "(empty)") == 0) {
			*flags |= MBEDTLS_X509_BADCERT_OTHER; /* an empty subject names nobody */
			s->other_empty = true;
		}
		if (crt->MBEDTLS_PRIVATE(ca_istrue)) {
			*flags |= MBEDTLS_X509_BADCERT_OTHER; /* a user certificate is not a CA */
			s->other_ca = true;
		}
		/* Revocation is checked by us, against the CRL whose issuer is byte for byte
		 * the certificate's issuer (mbedTLS skips a CRL whose issuer name it does not
		 * match and then treats the certificate as not revoked, CVE-2026-116462; it is
		 * not given the CRL at all any more, see tls_conf_crl_flags). */
		if (own == NULL)
			*flags |= MBEDTLS_X509_BADCERT_NOT_TRUSTED;
		else if (mbedtls_x509_crt_is_revoked(crt, own))
			*flags |= MBEDTLS_X509_BADCERT_REVOKED;
		/* The CRL's own checks (dates, algorithms, the CA's cRLSign): mbedTLS is not
		 * given the CRL, whose signature was verified once for this conf (conf.c). */
		if (own != NULL)
			*flags |= tls_conf_crl_flags(conf, crt, own);
		/* Only the configured CAs' CRLs are held: a certificate issued by anything else
		 * (an intermediate the client sends along) could not be checked for revocation. */
		if (!tls_conf_issuer_known(conf, crt))
			*flags |= MBEDTLS_X509_BADCERT_NOT_TRUSTED;
		if ((*flags & MBEDTLS_X509_BADCRL_EXPIRED) && conf->crl_policy == TLS_CRL_GRACE) {
			const mbedtls_x509_crl *crl = tls_conf_crl_for(conf, crt);
			int64_t now = (int64_t)time(NULL);
			char when[48], until[48];

			if (crl) {
				int64_t next = tls_x509_time(&crl->next_update);

				tls_time_format(next, when, sizeof(when));
				tls_time_format(next + conf->crl_grace_s, until, sizeof(until));
				if (now <= next + (int64_t)conf->crl_grace_s) {
					*flags &= ~(uint32_t)MBEDTLS_X509_BADCRL_EXPIRED;
					log_warn("tls %s: CRL EXPIRED at %s, accepted under the "
						 "grace period until %s "
						 "(subject %s, serial %s): install a new CRL",
						 s->peer, when, until, s->subject, s->serial);
				} else {
					log_warn("tls %s: CRL EXPIRED at %s and the grace period "
						 "ended at %s",
						 s->peer, when, until);
				}
			}
		}
	}
	s->vrfy_flags |= *flags;
	return 0;
}

/* Sets s->ssl up on cfg (one of s->conf's): 0, -MGW_ENOMEM or -MGW_ETLS (logged; s->ssl
 * is then freed). */
static int tls_sess_setup(struct tls_sess *s, const mbedtls_ssl_config *cfg)
{
	int ret = mbedtls_ssl_setup(&s->ssl, cfg);

	if (ret != 0) {
		log_err("tls %s: mbedtls_ssl_setup failed (-0x%04x)", s->peer, (unsigned)-ret);
		mbedtls_ssl_free(&s->ssl);
		return ret == MBEDTLS_ERR_SSL_ALLOC_FAILED ? -MGW_ENOMEM : -MGW_ETLS;
	}
	mbedtls_ssl_set_bio(&s->ssl, s, tls_bio_send, tls_bio_recv, NULL);
	if (s->conf->client_auth)
		mbedtls_ssl_set_verify(&s->ssl, tls_sess_verify, s);
	return 0;
}

/* Bytes of the ClientHello peeked for its cipher_suites list: the list follows 44 bytes
 * of headers, random and (at most 32 bytes of) session id, and clients offer a few dozen
 * suites at most. */
#define TLS_HELLO_PEEK 1024

/*
 * Our cipher preference for TLS 1.3 (tls_int.h, struct tls_conf), applied before
 * mbedTLS reads a byte: peeks at the ClientHello and, when it offers one of our TLS 1.3
 * suites, sets s->ssl up again on the configuration that allows only the first of them
 * in our order. Falls back to the configuration with every suite (client's order for
 * TLS 1.3, ours for TLS 1.2) when the hello is not at hand in one piece or not
 * readable: a transport other than the socket (netsim), a first segment that ends
 * before the list (waiting for more would spin a level-triggered loop), a malformed
 * hello (mbedTLS refuses it properly). 0 when done, -MGW_EWANTREAD while nothing has
 * arrived, or tls_sess_setup()'s error.
 */
static int tls_sess_prefer(struct tls_sess *s)
{
	uint8_t buf[TLS_HELLO_PEEK];
	bool offered[TLS_SUITES13];
	uint16_t want[TLS_SUITES13];
	ssize_t n;
	int rc;

	if (s->lower.ops || s->fd < 0) {
		s->suite_set = true;
		return 0;
	}
	do
		n = recv(s->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -MGW_EWANTREAD;
	s->suite_set = true;
	if (n <= 0)
		return 0; /* EOF or an error: mbedTLS's own read reports it */
	for (size_t i = 0; i < TLS_SUITES13; i++)
		want[i] = (uint16_t)s->conf->order13[i];
	if (tls_hello_offers(buf, (size_t)n, want, TLS_SUITES13, offered) != MGW_PARSE_OK)
		return 0;
	for (size_t i = 0; i < TLS_SUITES13; i++) {
		if (!offered[i])
			continue;
		mbedtls_ssl_free(&s->ssl);
		mbedtls_ssl_init(&s->ssl);
		rc = tls_sess_setup(s, &s->conf->ssl13[i]);
		if (rc < 0)
			mbedtls_ssl_init(&s->ssl); /* stays freeable by tls_destroy */
		return rc;
	}
	return 0;
}

int tls_sess_new(struct tls_conf *conf, int fd, const char *peer, struct tls_sess **out)
{
	struct tls_sess *s;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -MGW_ENOMEM;
	mbedtls_ssl_init(&s->ssl);
	s->conf = conf;
	s->fd = fd;
	snprintf(s->peer, sizeof(s->peer), "%s", peer ? peer : "?");
	snprintf(s->subject, sizeof(s->subject), "-");
	snprintf(s->serial, sizeof(s->serial), "-");
	snprintf(s->cert_id, sizeof(s->cert_id), "-");
	ret = tls_sess_setup(s, &conf->ssl);
	if (ret < 0) {
		free(s);
		return ret;
	}
	conf->refs++; /* dropped by tls_destroy, after mbedtls_ssl_free */
	*out = s;
	return 0;
}

int tls_sess_new_transport(struct tls_conf *conf, const struct transport *lower, const char *peer,
			   struct tls_sess **out)
{
	int rc = tls_sess_new(conf, -1, peer, out);

	if (rc == 0)
		(*out)->lower = *lower;
	return rc;
}

/*
 * The verify flags in words (tls_flags_text), the gate's own reasons for BADCERT_OTHER
 * first, in words of their own instead of mbedTLS's "Other reason".
 */
static void tls_sess_flags_text(const struct tls_sess *s, uint32_t flags, char *out, size_t outsz)
{
	static const char empty[] = "The certificate's subject is empty";
	static const char ca[] =
	    "The certificate is a CA's (basicConstraints CA:TRUE), not a user's";
	char own[sizeof(empty) + sizeof(ca) + 2], rest[480];

	snprintf(own, sizeof(own), "%s%s%s", s->other_empty ? empty : "",
		 s->other_empty && s->other_ca ? "; " : "", s->other_ca ? ca : "");
	if (!(flags & MBEDTLS_X509_BADCERT_OTHER))
		own[0] = '\0';
	else if (own[0] != '\0')
		flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_OTHER;
	rest[0] = '\0';
	if (flags)
		tls_flags_text(flags, rest, sizeof(rest));
	snprintf(out, outsz, "%s%s%s", own, own[0] && rest[0] ? "; " : "", rest);
}

/* Logs a refused or failed handshake once: reason in words, peer, subject, serial. */
static void tls_sess_refused(struct tls_sess *s, int ret, uint32_t flags)
{
	char why[600], msg[128];

	if (s->refused_logged)
		return;
	s->refused_logged = true;
	if (ret == MBEDTLS_ERR_SSL_CONN_EOF) {
		log_info("tls %s: peer closed the connection during the handshake", s->peer);
		return;
	}
	if (flags & MBEDTLS_X509_BADCERT_MISSING)
		flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_MISSING;
	if (flags) {
		tls_sess_flags_text(s, flags, why, sizeof(why));
	} else if (ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE ||
		   (s->conf->client_auth && s->subject[0] == '-' &&
		    (ret == MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE || ret == 0))) {
		snprintf(why, sizeof(why), "no client certificate");
	} else if (ret == MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION) {
		snprintf(why, sizeof(why), "protocol version refused (TLS 1.2 or 1.3 required)");
	} else {
		mbedtls_strerror(ret, msg, sizeof(msg));
		snprintf(why, sizeof(why), "%s (-0x%04x)", msg, (unsigned)-ret);
	}
	log_warn("tls %s: refused: %s; subject %s; serial %s", s->peer, why, s->subject, s->serial);
}

/*
 * mbedTLS's verdict on the client certificate so far, or 0 when the handshake failed
 * before it (mbedTLS keeps -1u there until a Certificate message was processed). It holds
 * what the verify callback left and what mbedTLS checks after the callback: keyUsage and
 * extendedKeyUsage, and under TLS 1.2 the curve of an EC key.
 */
static uint32_t tls_sess_verdict(const struct tls_sess *s)
{
	uint32_t flags = mbedtls_ssl_get_verify_result(&s->ssl);

	return flags == UINT32_MAX ? 0 : flags;
}

/*
 * The alert for a refused client certificate with these verify flags, under TLS 1.2 and
 * 1.3 alike (version: the session's): the one mbedtls_ssl_verify_certificate() would
 * send, flag for flag and in its order, so a certificate with several faults gets the
 * alert of the first one checked here: access_denied for what only the gate's policy
 * refuses (BADCERT_OTHER: an empty subject, a user certificate with CA:TRUE, sess.c's
 * verify callback), unsupported_certificate for a keyUsage, extendedKeyUsage or key the
 * certificate may not be used with, then expired, revoked, unknown CA, and
 * certificate_unknown for the rest (a signature hash the profile refuses, an expired
 * CRL). Where mbedTLS's choice is not the RFC's, the RFC's:
 * - not yet valid: certificate_expired, "a certificate has expired or is not currently
 *   valid" (RFC 5246, section 7.2.2; RFC 8446, section 6.2); mbedTLS sends
 *   certificate_unknown;
 * - no certificate: TLS 1.3 has certificate_required for it (RFC 8446, section
 *   4.4.2.4); TLS 1.2 has no such alert, and a server that will not go on without one
 *   answers handshake_failure (RFC 5246, section 7.4.6); mbedTLS sends none.
 */
static unsigned char tls_alert_for(uint32_t flags, mbedtls_ssl_protocol_version version)
{
	if (flags & MBEDTLS_X509_BADCERT_MISSING)
		return version == MBEDTLS_SSL_VERSION_TLS1_3
			   ? MBEDTLS_SSL_ALERT_MSG_CERT_REQUIRED
			   : MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE;
	if (flags & MBEDTLS_X509_BADCERT_OTHER)
		return MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED;
	if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
		     MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY))
		return MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT;
	if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
		return MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED;
	if (flags & MBEDTLS_X509_BADCERT_REVOKED)
		return MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED;
	if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		return MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA;
	return MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN;
}

/*
 * The gate's decision on the client certificate's verify flags: 0 when there are none;
 * else the refusal is logged, the client gets the alert for it (tls_alert_for) and the
 * result is -MGW_ETLS.
 */
static int tls_sess_decide(struct tls_sess *s, uint32_t flags)
{
	if (flags == 0)
		return 0;
	tls_sess_refused(s, 0, flags | s->vrfy_flags);
	(void)mbedtls_ssl_send_alert_message(
	    &s->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
	    tls_alert_for(flags, mbedtls_ssl_get_version_number(&s->ssl)));
	return -MGW_ETLS;
}

/*
 * The handshake, one mbedTLS step at a time, so that the gate, not mbedTLS, refuses a
 * client certificate, with one choice of alert for both versions (tls_alert_for). mbedTLS
 * is told to only note what is wrong with the certificate (authmode OPTIONAL for this
 * session, set just before the client's Certificate is processed), and the gate
 * decides:
 * - under TLS 1.2 right after that Certificate, before the client's next message, where
 *   mbedTLS would have refused it (the alert goes out in the clear, as mbedTLS's would);
 * - under TLS 1.3 right after the handshake, before the session sees a byte. When
 *   mbedTLS refuses a client certificate in a TLS 1.3 handshake it sends its alert under
 *   the handshake keys, while the client, having sent its Finished, already reads with
 *   the application keys, so OpenSSL-based clients report "bad record mac" instead of
 *   "certificate revoked". After the handshake the alert goes under the keys the client
 *   expects. The client cannot tell the difference otherwise (in TLS 1.3 its handshake
 *   is over once it sent Finished).
 * The check after the handshake runs for every version (fail closed).
 */
static int tls_hs(void *ctx)
{
	struct tls_sess *s = ctx;
	uint32_t flags;
	int ret = 0;

	if (!s->suite_set) {
		ret = tls_sess_prefer(s);
		if (ret == -MGW_EWANTREAD)
			return ret;
		if (ret < 0) {
			tls_sess_refused(s, MBEDTLS_ERR_SSL_ALLOC_FAILED, 0);
			return -MGW_ETLS;
		}
	}
	while (!mbedtls_ssl_is_handshake_over(&s->ssl)) {
		bool cert_step = s->conf->client_auth &&
				 s->ssl.MBEDTLS_PRIVATE(state) == MBEDTLS_SSL_CLIENT_CERTIFICATE;

		if (cert_step && !s->deferred) {
			mbedtls_ssl_set_hs_authmode(&s->ssl, MBEDTLS_SSL_VERIFY_OPTIONAL);
			s->deferred = true;
		}
		tls_chain_enter(s);
		ret = mbedtls_ssl_handshake_step(&s->ssl);
		tls_chain_leave(s);
		if (ret != 0)
			break;
		/* Mid-handshake the certificate is not the session's yet (no peer certificate to
		 * ask for), but mbedTLS flags a missing one BADCERT_MISSING. */
		if (cert_step && s->ssl.MBEDTLS_PRIVATE(state) != MBEDTLS_SSL_CLIENT_CERTIFICATE &&
		    mbedtls_ssl_get_version_number(&s->ssl) == MBEDTLS_SSL_VERSION_TLS1_2 &&
		    tls_sess_decide(s, mbedtls_ssl_get_verify_result(&s->ssl)) < 0)
			return -MGW_ETLS;
	}
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return -MGW_EWANTREAD;
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return -MGW_EWANTWRITE;
	if (ret != 0) {
		tls_sess_refused(s, ret, s->vrfy_flags | tls_sess_verdict(s));
		return -MGW_ETLS;
	}
	if (s->conf->client_auth) {
		flags = mbedtls_ssl_get_verify_result(&s->ssl);
		if (mbedtls_ssl_get_peer_cert(&s->ssl) == NULL)
			flags |= MBEDTLS_X509_BADCERT_MISSING;
		if (tls_sess_decide(s, flags) < 0)
			return -MGW_ETLS;
	}
	s->handshake_done = true;
	log_info("tls %s: %s %s%s%s%s%s", s->peer, mbedtls_ssl_get_version(&s->ssl),
		 mbedtls_ssl_get_ciphersuite(&s->ssl), s->conf->client_auth ? ", client " : "",
		 s->conf->client_auth ? s->subject : "", s->conf->client_auth ? ", serial " : "",
		 s->conf->client_auth ? s->serial : "");
	return 0;
}

static ssize_t tls_read(void *ctx, void *buf, size_t len)
{
	struct tls_sess *s = ctx;
	int ret = mbedtls_ssl_read(&s->ssl, buf, len);

	if (ret > 0)
		return ret;
	switch (ret) {
	case 0:
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
	case MBEDTLS_ERR_SSL_CONN_EOF:
		return 0;
	case MBEDTLS_ERR_SSL_WANT_READ:
		return -MGW_EWANTREAD;
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return -MGW_EWANTWRITE;
	default:
		log_info("tls %s: read failed (-0x%04x)", s->peer, (unsigned)-ret);
		return -MGW_ETLS;
	}
}

static ssize_t tls_write(void *ctx, const void *buf, size_t len)
{
	struct tls_sess *s = ctx;
	int ret;

	/* mbedtls_ssl_write() that returned WANT_* has already taken a record: it must be
	 * called again with the same length (the conn's output only grows meanwhile). */
	if (s->wr_pending) {
		if (len < s->wr_pending)
			return -MGW_EIO;
		len = s->wr_pending;
	}
	/* mbedtls_ssl_write() sends one record of at most this much (16383 octets in TLS
	 * 1.3: the inner content type takes one of the 16384), and returns: the conn then
	 * writes the rest. */
	s->wr_more = (ssize_t)len > mbedtls_ssl_get_max_out_record_payload(&s->ssl);
	ret = mbedtls_ssl_write(&s->ssl, buf, len);
	s->wr_more = false;
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == MBEDTLS_ERR_SSL_WANT_READ) {
		s->wr_pending = len;
		return ret == MBEDTLS_ERR_SSL_WANT_WRITE ? -MGW_EWANTWRITE : -MGW_EWANTREAD;
	}
	s->wr_pending = 0;
	if (ret >= 0)
		return ret;
	if (ret == MBEDTLS_ERR_SSL_CONN_EOF)
		return -MGW_ECLOSED;
	log_info("tls %s: write failed (-0x%04x)", s->peer, (unsigned)-ret);
	return -MGW_ETLS;
}

static bool tls_pending(void *ctx)
{
	struct tls_sess *s = ctx;

	return mbedtls_ssl_get_bytes_avail(&s->ssl) > 0 || mbedtls_ssl_check_pending(&s->ssl);
}

static void tls_shutdown(void *ctx)
{
	struct tls_sess *s = ctx;

	if (s->handshake_done)
		(void)mbedtls_ssl_close_notify(&s->ssl);
}

static void tls_destroy(void *ctx)
{
	struct tls_sess *s = ctx;

	if (s == NULL)
		return;
	/* mbedtls_ssl_free still reads the configuration (its debug hooks): the session's
	 * reference keeps it alive until then, even if its generation is gone. */
	mbedtls_ssl_free(&s->ssl);
	tls_conf_put(s->conf);
	free(s);
}

const struct transport_ops tls_transport_ops = {
    .name = "tls",
    .read = tls_read,
    .write = tls_write,
    .handshake = tls_hs,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .destroy = tls_destroy,
};

const char *tls_sess_version(const struct tls_sess *s)
{
	return mbedtls_ssl_get_version(&s->ssl);
}

const char *tls_sess_cipher(const struct tls_sess *s)
{
	const char *c = mbedtls_ssl_get_ciphersuite(&s->ssl);

	return c ? c : "-";
}

bool tls_sess_has_peer(const struct tls_sess *s)
{
	return s->handshake_done && s->conf->client_auth &&
	       mbedtls_ssl_get_peer_cert(&s->ssl) != NULL;
}

void tls_sess_peer_subject(const struct tls_sess *s, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s", s->subject);
}

void tls_sess_peer_serial(const struct tls_sess *s, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s", s->serial);
}

void tls_sess_peer_id(const struct tls_sess *s, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s", s->cert_id);
}

/* Copies an identity field if every byte may be part of a user name's text. */
static int tls_identity_copy(const unsigned char *p, size_t len, char *out, size_t outsz)
{
	if (len == 0 || len >= outsz)
		return -MGW_EINVAL;
	for (size_t i = 0; i < len; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return -MGW_EINVAL;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

static const mbedtls_x509_name *tls_name_find(const mbedtls_x509_name *n, const char *oid,
					      size_t oidlen)
{
	for (; n; n = n->next)
		if (n->oid.p && n->oid.len == oidlen && memcmp(n->oid.p, oid, oidlen) == 0)
			return n;
	return NULL;
}

int tls_sess_peer_identity(const struct tls_sess *s, enum tls_identity how, char *out, size_t outsz)
{
	const mbedtls_x509_crt *crt;
	const mbedtls_x509_name *n;

	if (how == TLS_IDENTITY_NONE)
		return -MGW_EPERM;
	if (!tls_sess_has_peer(s))
		return -MGW_ENOENT;
	crt = mbedtls_ssl_get_peer_cert(&s->ssl);
	if (how == TLS_IDENTITY_EMAIL) {
		for (const mbedtls_x509_sequence *cur = &crt->subject_alt_names; cur && cur->buf.p;
		     cur = cur->next) {
			mbedtls_x509_subject_alternative_name san;
			int rc;

			if (mbedtls_x509_parse_subject_alt_name(&cur->buf, &san) != 0)
				continue;
			if (san.type != MBEDTLS_X509_SAN_RFC822_NAME) {
				mbedtls_x509_free_subject_alt_name(&san);
				continue;
			}
			rc = tls_identity_copy(san.san.unstructured_name.p,
					       san.san.unstructured_name.len, out, outsz);
			mbedtls_x509_free_subject_alt_name(&san);
			return rc;
		}
		n = tls_name_find(&crt->subject, MBEDTLS_OID_PKCS9_EMAIL,
				  MBEDTLS_OID_SIZE(MBEDTLS_OID_PKCS9_EMAIL));
	} else {
		n = tls_name_find(&crt->subject, MBEDTLS_OID_AT_CN,
				  MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN));
	}
	if (n == NULL)
		return -MGW_ENOENT;
	return tls_identity_copy(n->val.p, n->val.len, out, outsz);
}
