/*
 * tls_int.h - the insides of the tls module, shared by its .c files only (it includes
 * mbedTLS, which nothing outside firmware/lib/tls may do).
 */
#ifndef MGW_TLS_INT_H
#define MGW_TLS_INT_H

/* mbedTLS's headers test some of their own macros with #if while undefined: keep our
 * -Wundef for our code only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wundef"
#include <mbedtls/aes.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>
#pragma GCC diagnostic pop

#include <pthread.h>

#include "tls/tls.h"

#define TLS_PEER_MAX 64

struct tls_key {
	mbedtls_pk_context pk;
};

/* TLS 1.3 suites we offer; TLS 1.2 suites (ECDHE-ECDSA and ECDHE-RSA of each AEAD). */
#define TLS_SUITES13 3
#define TLS_SUITES12 6

/*
 * Good verdicts of the gate's chain check (chain.c): SHA-256 of a client certificate's
 * DER, for certificates found signed by a CA of the conf. A ring of fixed size, per conf
 * (one generation of CA set and CRL). The conf's handshakes run on worker threads, several
 * at a time (net/conn.h): key, next and used are read and written under mu only (held
 * for a lookup or an insertion, never during a signature check).
 */
#define TLS_CHAIN_CACHE_SLOTS 128
struct tls_chain_cache {
	pthread_mutex_t mu;
	uint8_t key[TLS_CHAIN_CACHE_SLOTS][32];
	size_t next, used;
};

/*
 * The server's cipher preference (conf.c): mbedTLS 3.6 honours the server's order of
 * TLS 1.2 suites but takes TLS 1.3 suites in the client's order, only filtered by the
 * configuration's list. So besides ssl (every suite, in our order), a conf holds one
 * configuration per TLS 1.3 suite whose TLS 1.3 list is that suite alone; the session
 * peeks at the ClientHello and sets itself up on ssl13[i] for the first suite of our
 * order the client offers (sess.c, hello.h).
 */
struct tls_conf {
	mbedtls_ssl_config ssl;				  /* every suite, in our order */
	mbedtls_ssl_config ssl13[TLS_SUITES13];		  /* TLS 1.3 narrowed to order13[i] */
	int order13[TLS_SUITES13];			  /* our TLS 1.3 order */
	int suites[TLS_SUITES13 + TLS_SUITES12 + 1];	  /* ssl's list, 0-terminated */
	int suites13[TLS_SUITES13][1 + TLS_SUITES12 + 1]; /* ssl13[i]'s lists */
	mbedtls_x509_crt cert;				  /* server chain */
	mbedtls_x509_crt ca;				  /* client CAs (gate only) */
	mbedtls_x509_crl crl;				  /* one per CA (gate only) */
	struct tls_chain_cache chain;			  /* gate only (chain.c) */
	unsigned refs; /* the builder's, plus one per tls_sess (tls.h) */
	bool client_auth;
	enum tls_crl_policy crl_policy;
	uint32_t crl_grace_s;
};

struct tls_sess {
	mbedtls_ssl_context ssl;
	struct tls_conf *conf; /* a reference of its own: ssl reads it up to mbedtls_ssl_free */
	int fd;
	struct transport lower; /* ops NULL: fd; else the stream under TLS (borrowed) */
	size_t wr_pending;	/* length of a record mbedtls_ssl_write() has taken but not sent */
	bool wr_more;		/* the record being sent is not the last of this write (MSG_MORE) */
	bool tcp_corked;	/* the last send had MSG_MORE: the kernel may hold its bytes */
	bool refused_logged;
	bool handshake_done;
	bool deferred;	 /* certificate verdict taken by the gate, not mbedTLS (sess.c, tls_hs) */
	bool suite_set;	 /* the cipher preference is applied (sess.c, tls_sess_prefer) */
	bool chain_seen; /* tls_chain_no_ca() has seen the client's certificate (chain.c) */
	mbedtls_x509_crt *chain_tail; /* our CA's copy, off the peer's list during verify */
	/* What the verify callback saw of the client certificate (depth 0). */
	uint32_t vrfy_flags;
	bool other_empty; /* BADCERT_OTHER for an empty subject */
	bool other_ca;	  /* BADCERT_OTHER for basicConstraints CA:TRUE */
	char subject[TLS_SUBJECT_MAX];
	char serial[TLS_SERIAL_MAX];
	char cert_id[TLS_CERT_ID_MAX];
	char peer[TLS_PEER_MAX];
};

/* The process-wide random generator (tls.c), valid after tls_init(). */
mbedtls_ctr_drbg_context *tls_rng(void);

/* x509 time as seconds since the epoch (UTC). */
int64_t tls_x509_time(const mbedtls_x509_time *t);
/* "2026-11-29 07:00:00 UTC" */
void tls_time_format(int64_t t, char *out, size_t outsz);
/* Subject DN / serial of crt as text (printable ASCII; "-" if none). */
void tls_crt_subject(const mbedtls_x509_crt *crt, char *out, size_t outsz);
void tls_crt_serial(const mbedtls_x509_crt *crt, char *out, size_t outsz);
/* SHA-256 (hex) of the issuer's DER name and the DER serial: see tls_sess_peer_id(). */
void tls_crt_id(const mbedtls_x509_crt *crt, char *out, size_t outsz);
/* Verify flags in words, joined by "; ". */
void tls_flags_text(uint32_t flags, char *out, size_t outsz);

/* The profile client certificates, their CAs and CRLs are checked against (conf.c). */
extern const mbedtls_x509_crt_profile tls_crt_profile;

/* The signature sig over tbs (algorithms md, pk with opts) verifies with key (chain.c). */
bool tls_signed_by(const mbedtls_x509_buf *tbs, mbedtls_md_type_t md, mbedtls_pk_type_t pk,
		   const void *opts, const mbedtls_x509_buf *sig, mbedtls_pk_context *key);
/* The CA callback of the gate's configuration: names no trusted CA, so that mbedTLS
 * leaves the chain's signature to tls_chain_verify(), and takes a copy of our CA sent
 * after the client's certificate off the list until tls_chain_relink() (chain.c).
 * Always 0. */
int tls_chain_no_ca(void *ctx, mbedtls_x509_crt const *child, mbedtls_x509_crt **candidates);
/* Around every mbedtls_ssl_handshake_step() of s, on the thread that runs it: tells
 * tls_chain_no_ca() which session it serves; leave frees a list tail not put back. */
void tls_chain_enter(struct tls_sess *s);
void tls_chain_leave(struct tls_sess *s);
/* From the verify callback at depth 0: puts back what tls_chain_no_ca() took off crt. */
void tls_chain_relink(struct tls_sess *s, mbedtls_x509_crt *crt);
/*
 * What mbedTLS's chain building would flag for the client certificate crt with conf's
 * CAs as trust anchors: 0 when a CA of conf (issuer name, cA, keyCertSign) signed it,
 * plus BAD_KEY / EXPIRED / FUTURE for that CA's key and dates; NOT_TRUSTED when none
 * did. A good signature is remembered in conf->chain and not verified again (chain.c).
 * Any thread (the cache has its lock). Revocation, crt's own dates and usages are the
 * caller's.
 */
uint32_t tls_chain_verify(struct tls_conf *conf, const mbedtls_x509_crt *crt);

/* The CRL of conf whose issuer is the issuer of crt, or NULL (conf.c). */
const mbedtls_x509_crl *tls_conf_crl_for(const struct tls_conf *conf, const mbedtls_x509_crt *crt);
/* The CRL flags mbedTLS would set for crt against crl (its issuer's, from
 * tls_conf_crl_for), the signature aside: checked once per conf (conf.c). */
uint32_t tls_conf_crl_flags(const struct tls_conf *conf, const mbedtls_x509_crt *crt,
			    const mbedtls_x509_crl *crl);
/* True when some configured CA is the issuer of crt (conf.c). */
bool tls_conf_issuer_known(const struct tls_conf *conf, const mbedtls_x509_crt *crt);
/* True if crt is, byte for byte, one of the configured CA certificates. */
bool tls_conf_is_ca(const struct tls_conf *conf, const mbedtls_x509_crt *crt);

#endif
