/*
 * tls.h - TLS for mailgwd on mbedTLS 3.6: the server key, server configurations (with or
 * without mandatory client certificates), and per-connection sessions that plug into a
 * conn as a transport (net/transport.h). Only firmware/lib/tls/ includes mbedTLS.
 *
 * Objects and ownership:
 *   struct tls_key   the server's private key, read once (as root, before the privilege
 *                    drop) and kept for the life of the process; configurations borrow it.
 *   struct tls_conf  immutable once built: server certificate chain, and for the
 *                    certificate gate the CA set and its CRLs, plus the mbedTLS
 *                    configuration. Built per generation (mbedTLS forbids changing a
 *                    configuration under live sessions). Reference-counted: its builder
 *                    holds one reference and every session one more, so it is freed
 *                    after the last mbedtls_ssl_free() that reads it, whenever the
 *                    generation that built it goes.
 *   struct tls_sess  one per connection; owned by the conn once handed to
 *                    conn_start_tls() (destroy op frees it, then drops its reference to
 *                    the conf). Borrows the fd.
 *
 * Policy (the certificate gate, ports 993/995): TLS 1.2 and 1.3 only; ECDHE key exchange
 * with AES-GCM or ChaCha20-Poly1305 only; no session resumption (no tickets, no session
 * cache: a resumed session would skip the CRL, see README "TLS"); the client certificate
 * is required and verified against the CA set and the CRL in the handshake; the client
 * certificate must be issued directly by a configured CA (whose CRL we hold); that CA's
 * signature on it is checked by the gate, not by mbedTLS, and remembered per conf for
 * that exact certificate (chain.c; dates, revocation and usages are checked on every
 * handshake). A CA
 * without a CRL is a configuration error. An expired CRL refuses every client, or, under
 * TLS_CRL_GRACE, is accepted for at most crl_grace_s after its nextUpdate with a warning
 * logged on every connection. Every refusal is logged once with the reason in words,
 * the peer address and, when known, the certificate's subject and serial.
 * The server-only configuration (STARTTLS on port 25) asks for no certificate.
 */
#ifndef MGW_TLS_H
#define MGW_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/transport.h"

#define TLS_SUBJECT_MAX 256	/* subject DN as text, for logs */
#define TLS_SERIAL_MAX 96	/* serial as hex "01:A2:...", for logs */
#define TLS_CERT_ID_MAX 65	/* a certificate's identity as hex (tls_sess_peer_id) */
#define TLS_IDENTITY_MAX 320	/* user@domain from a certificate */
#define TLS_ERR_MAX 512		/* error texts filled by the loaders */
#define TLS_FILE_MAX (1u << 20) /* a PEM file larger than this is refused */

enum tls_crl_policy {
	TLS_CRL_REFUSE = 0, /* expired CRL: refuse every client (default) */
	TLS_CRL_GRACE,	    /* accept for crl_grace_s after nextUpdate, warning each time */
};

enum tls_identity {
	TLS_IDENTITY_EMAIL = 0, /* subjectAltName rfc822Name, then subject emailAddress */
	TLS_IDENTITY_CN,	/* subject commonName */
	TLS_IDENTITY_NONE,	/* no binding (explicit opt-out) */
};

/* Initialises the crypto layer once (psa_crypto_init, the random generator). Idempotent;
 * every loader calls it. 0 or -MGW_ETLS. */
int tls_init(void);
/* After tls_init: true when this CPU runs mbedTLS's AES-GCM in hardware (x86 AES-NI +
 * PCLMULQDQ from cpuid, aarch64 HWCAP_AES + HWCAP_PMULL; never on 32-bit Arm). The
 * server's first choice is then AES-GCM, otherwise ChaCha20-Poly1305 (conf.c). The test
 * switch MAILGWD_TEST_TLS_NO_AES=1 in the environment makes it false on any CPU. */
bool tls_cpu_has_aes(void);
/* Frees what tls_init set up (at exit, after every conf is gone). */
void tls_deinit(void);

struct tls_key;
/*
 * Reads a PEM/DER private key (unencrypted): ECDSA P-256/P-384 or RSA >= 2048 bits.
 * 0, or -MGW_ENOENT/-MGW_ECONFIG with the reason in err. *out owned by the caller.
 */
int tls_key_load(const char *path, struct tls_key **out, char *err, size_t errsz);
void tls_key_free(struct tls_key *key);

struct tls_conf_params {
	const char *cert;	   /* server certificate chain (PEM), leaf first */
	const struct tls_key *key; /* borrowed; must outlive the conf */
	const char *ca;		   /* CA certificate(s) (PEM); NULL or "": server-only */
	const char *crl;	   /* CRL(s) (PEM or DER); required with ca */
	enum tls_crl_policy crl_policy;
	uint32_t crl_grace_s; /* for TLS_CRL_GRACE */
};

struct tls_conf;
/*
 * Builds a configuration from files. Refuses (with the reason in err, -MGW_ECONFIG or
 * -MGW_ENOENT): unreadable files, a certificate that does not match the key, a weak
 * server key, a CA file without a CRL or a CA that has no CRL in the CRL file, a CRL
 * not signed by its CA, two CRLs for one CA (mbedTLS would merge their flags), a CRL
 * whose issuer is not a configured CA. An expired CRL is not an error here (the policy
 * decides per connection) but is logged as a warning.
 */
int tls_conf_new(const struct tls_conf_params *p, char *err, size_t errsz, struct tls_conf **out);
/* Drops the caller's reference; the conf is freed once no session holds it either. */
void tls_conf_put(struct tls_conf *conf);
/* True when the conf requires client certificates (a CA was given). */
bool tls_conf_client_auth(const struct tls_conf *conf);
/* One status line about the CRLs ("crl: next update ... (in N h)"), for status/logs. */
void tls_conf_describe(const struct tls_conf *conf, char *out, size_t outsz);

struct tls_sess;
/* The transport to give conn_start_tls() together with a tls_sess. */
extern const struct transport_ops tls_transport_ops;

/*
 * A server session over fd (borrowed; the conn owns it). peer ("ip:port") is copied for
 * logs. The session takes its own reference to conf, dropped by its destroy after the
 * mbedTLS context is freed. 0, -MGW_ENOMEM, -MGW_ETLS. On success *out belongs to the
 * caller until handed to conn_start_tls() (or freed with tls_transport_ops.destroy).
 */
int tls_sess_new(struct tls_conf *conf, int fd, const char *peer, struct tls_sess **out);
/* The same over another transport (an lwIP connection, net/lwip/): lower is copied and
 * its ctx borrowed; the conn that owns it must outlive the session. */
int tls_sess_new_transport(struct tls_conf *conf, const struct transport *lower, const char *peer,
			   struct tls_sess **out);

/* After the handshake: "TLSv1.3" etc. and the cipher suite name; never NULL. */
const char *tls_sess_version(const struct tls_sess *s);
const char *tls_sess_cipher(const struct tls_sess *s);
/* True when a verified client certificate is present. */
bool tls_sess_has_peer(const struct tls_sess *s);
/* The client certificate's subject DN and serial as text ("-" when none). */
void tls_sess_peer_subject(const struct tls_sess *s, char *out, size_t outsz);
void tls_sess_peer_serial(const struct tls_sess *s, char *out, size_t outsz);
/*
 * The client certificate's identity for per-certificate limits (the login throttle): the
 * SHA-256, in hex, of its issuer's DER name followed by its whole DER serial, so two
 * certificates share it only if they are the same certificate (RFC 5280 4.1.2.2: issuer
 * and serial identify a certificate). "-" when there is none.
 */
void tls_sess_peer_id(const struct tls_sess *s, char *out, size_t outsz);
/*
 * The login identity in the client certificate: under TLS_IDENTITY_EMAIL the first
 * rfc822Name of subjectAltName, else the subject's emailAddress; under TLS_IDENTITY_CN
 * the subject's commonName. 0 and out filled (NUL-terminated, printable ASCII);
 * -MGW_ENOENT when there is no certificate or it lacks the field (the login must then
 * be refused: no fall-back to the typed name, CVE-2019-3814); -MGW_EINVAL when the
 * field holds bytes that cannot be a user name (NUL, control, non-ASCII) or does not
 * fit; -MGW_EPERM for TLS_IDENTITY_NONE (no binding).
 */
int tls_sess_peer_identity(const struct tls_sess *s, enum tls_identity how, char *out,
			   size_t outsz);

/* Names used in the configuration file and logs. */
const char *tls_crl_policy_name(enum tls_crl_policy p);
const char *tls_identity_name(enum tls_identity id);

#endif
