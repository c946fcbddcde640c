/*
 * gate_login.h - the second half of the certificate gate, shared by the POP3S and IMAPS
 * sessions: the login name must be the client certificate's identity (tls/tls.h,
 * configurable), the password must verify against the domain's passwd-file
 * (auth/passwd.h), and failures go through the process-wide throttle (auth/throttle.h):
 * a growing delay before the refusal, limits per certificate and per address, and the
 * connection closed after fail_close failures. Also the SASL PLAIN decoding both use.
 *
 * The protocols differ only in their words: the session sends its own replies from the
 * results here. Ownership: a gate_login borrows the conn, the peer ops and the throttle
 * for the life of the session that embeds it.
 *
 * The password check (SHA-crypt: milliseconds on the build host, tens of them on the
 * board) runs on the worker pool (core/work.h), never on the loop: gate_login_start()
 * hands it to a worker and the session waits, taking no input, until the done callback
 * it gave gate_login_init() brings the result back on the loop thread. The job owns
 * copies of all it reads (data_dir, the address, the password, wiped after the check);
 * the throttle and the logs are touched on the loop thread only. A session that goes
 * away while its check runs calls gate_login_abandon(): the result is then dropped
 * (logged at debug level) and the callback is not called.
 */
#ifndef MGW_GATE_LOGIN_H
#define MGW_GATE_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/passwd.h"
#include "auth/throttle.h"
#include "core/work.h"
#include "net/conn.h"
#include "store/commitq.h"
#include "store/maildir.h"
#include "tls/tls.h"

/* Where a session learns about the client certificate; ctx is conn_tls_ctx(c). The
 * daemon leaves env.peer NULL: the TLS session (tls/tls.h) answers. The session fuzzers
 * plug in a fixed certificate. */
struct gate_peer_ops {
	bool (*has_peer)(const void *ctx);
	void (*subject)(const void *ctx, char *out, size_t outsz);
	void (*serial)(const void *ctx, char *out, size_t outsz);
	void (*cert_id)(const void *ctx, char *out, size_t outsz); /* tls_sess_peer_id */
	int (*identity)(const void *ctx, enum tls_identity how, char *out, size_t outsz);
};

extern const struct gate_peer_ops gate_peer_tls;

/* What a mail session behind the gate gets from its daemon (pop3d.c, imapd.c). */
struct gate_env {
	const char *hostname;		  /* borrowed: greeting */
	const char *data_dir;		  /* borrowed: passwd-files */
	enum tls_identity identity;	  /* certificate-user binding */
	unsigned passwd_flags;		  /* PASSWD_ALLOW_PLAIN or 0 */
	uint32_t login_timeout_ms;	  /* idle limit before login */
	uint32_t idle_timeout_ms;	  /* idle limit after login */
	uint32_t fail_close;		  /* failed logins before the connection is closed */
	uint64_t max_message_size;	  /* IMAP APPEND: [smtp] max_message_size */
	uint64_t quota_default;		  /* IMAP APPEND: [smtp] quota (0: none) */
	struct maildir_store *store;	  /* borrowed, process-wide */
	struct throttle *throttle;	  /* borrowed, process-wide */
	struct work_pool *work;		  /* borrowed, process-wide; NULL: checked inline */
	struct maildir_cq *cq;		  /* IMAP APPEND's commits (store/commitq.h), borrowed,
					   * process-wide; NULL: committed inline */
	const struct gate_peer_ops *peer; /* NULL: the TLS session */
	/* called once when the session is freed, as release(release_arg, release_ref):
	 * the daemon's service (its connection count) and the generation it holds */
	void (*release)(void *arg, void *ref);
	void *release_arg, *release_ref;
};

enum gate_login_result {
	GATE_LOGIN_OK = 0, /* *a filled; the throttle forgot this certificate and address */
	GATE_LOGIN_FAILED, /* refuse after *delay_ms; close afterwards when *close */
	GATE_LOGIN_LIMIT,  /* too many failures for this certificate or address: close now */
	GATE_LOGIN_TEMP,   /* the passwd-file cannot be read (logged): a temporary refusal,
			    * not the user's mistake, nothing counted in the throttle; also
			    * when the worker queue is full or the daemon is stopping */
};

/*
 * The end of a login, on the loop thread, exactly once per gate_login_start() unless
 * the session abandoned it first. a: the address typed (user@domain; for
 * GATE_LOGIN_OK the one logged in), borrowed for the call; delay_ms and close: for
 * GATE_LOGIN_FAILED, refuse after delay_ms and close afterwards when close. Called
 * either inside gate_login_start() (refused before the password, or no pool) or later
 * from the pool's completion, outside any event handler of the session: the callback
 * must then guard against its session being freed under it (its depth count).
 */
typedef void (*gate_login_done_fn)(void *arg, enum gate_login_result r, const struct passwd_addr *a,
				   uint32_t delay_ms, bool close);

struct gate_verify; /* a password check on a worker (gate_login.c) */

struct gate_login {
	const char *proto; /* "pop3", "imap": the log prefix */
	struct conn *c;
	const struct gate_env *env; /* borrowed: the session's copy */
	gate_login_done_fn done;
	void *done_arg;
	unsigned fails; /* failed logins on this connection */
	char subject[TLS_SUBJECT_MAX], serial[TLS_SERIAL_MAX];
	char cert_id[TLS_CERT_ID_MAX]; /* issuer + serial: the per-certificate throttle key */
	struct gate_verify *verify;    /* the check in flight, or NULL; owned by the pool */
};

/* Sets up g for a session on c; env->peer must be set (the session fills in the
 * default). done(done_arg, ...) receives every login's result. */
void gate_login_init(struct gate_login *g, const char *proto, struct conn *c,
		     const struct gate_env *env, gate_login_done_fn done, void *done_arg);

/* At CONN_EV_TLS_READY: false when there is no client certificate (close the session);
 * otherwise records its subject and serial for the logs and its issuer + serial
 * (tls_sess_peer_id) for the throttle. */
bool gate_login_peer(struct gate_login *g);

/*
 * Starts checking a login: throttle first, then name syntax, certificate binding
 * (CVE-2019-3814: no identity in the certificate is a refusal), on the loop; then the
 * password, on a worker. The throttle keys are the certificate (issuer and whole serial)
 * and the client's network (c->peer_net: its address; for IPv6 its ipv6_prefix
 * network). Every failure is logged with the certificate's subject and serial. name and
 * pw are borrowed for the call (the job keeps a copy of pw, wiped when done). The result
 * comes through g's done callback (see gate_login_done_fn). At most one check at a time
 * per session: the session takes no input until the callback.
 */
void gate_login_start(struct gate_login *g, const uint8_t *name, size_t namelen, const uint8_t *pw,
		      size_t pwlen);

/* True while a password check of g runs on a worker. */
bool gate_login_pending(const struct gate_login *g);

/* The session is going away: a check in flight drops its result, done is not called. */
void gate_login_abandon(struct gate_login *g);

enum gate_sasl_result {
	GATE_SASL_OK = 0,
	GATE_SASL_BASE64,    /* not canonical base64 */
	GATE_SASL_MALFORMED, /* not authzid NUL authcid NUL passwd */
	GATE_SASL_AUTHZID,   /* an authorization identity other than the user */
};

/* Room for the decoded response of a base64 text of len octets. */
#define GATE_SASL_MAX(len) (((len) / 4) * 3)

/*
 * RFC 4616 PLAIN: decodes b64[0..len) into msg (msgsz bytes; the caller wipes it) and
 * points *user and *pw into it. An empty response ("=" in SASL-IR) is len 0.
 */
enum gate_sasl_result gate_sasl_plain(const uint8_t *b64, size_t len, uint8_t *msg, size_t msgsz,
				      const uint8_t **user, size_t *ulen, const uint8_t **pw,
				      size_t *pwlen);

#endif
