/*
 * smtp_sess.h - one SMTP server session (RFC 5321) on a connection, fed only by conn
 * events (OpenSMTPD style): it reads conn_in(), writes replies with conn_write() and
 * changes state only through smtp_enter(), from a table of which command is allowed in
 * which state.
 *
 * The session delivers into the Maildir store and nowhere else: there is no code path
 * that sends mail. Ownership: the session is allocated by smtp_sess_start() and freed on
 * CONN_EV_CLOSED, after calling params->on_close(params->arg) once (the caller drops its
 * generation reference there). cfg and store are borrowed until then.
 * Memory: one struct smtp_sess (about 40 KiB: the recipient set) plus the connection's
 * bounded buffers; the message itself streams to disk in 16 KiB steps.
 */
#ifndef MGW_SMTP_SESS_H
#define MGW_SMTP_SESS_H

#include <stddef.h>

#include "cfg/cfg.h"
#include "store/commitq.h"
#include "net/conn.h"
#include "net/transport.h"
#include "store/maildir.h"

#define SMTP_IN_MAX (64 * 1024)	 /* connection input buffer */
#define SMTP_OUT_MAX (16 * 1024) /* connection output buffer */
#define SMTP_OUT_HIGH (8 * 1024) /* stop reading commands until replies drain */
/* NOOP, RSET, VRFY, EXPN and HELP between two messages; each one beyond counts as a bad
 * command, so a client cannot hold a session forever with harmless commands (the same
 * idea and default as Postfix's smtpd_junk_command_limit). */
#define SMTP_JUNK_MAX 100
#define SMTP_TLS_DESC_MAX 96

/* STARTTLS, provided by the program (the session never sees TLS internals). */
struct smtp_tls_hooks {
	/* A server TLS transport for c (no client certificate): 0 and *ops, *ctx for
	 * conn_start_tls(), or a negative code (the client gets 454 4.7.0). arg is the
	 * session's smtp_sess_params.arg. */
	int (*server_new)(void *arg, struct conn *c, const struct transport_ops **ops, void **ctx);
	/* "TLSv1.3 TLS_AES_256_GCM_SHA384"-like text for the Received: header and the log. */
	void (*describe)(void *tls_ctx, char *out, size_t outsz);
};

struct smtp_sess_params {
	const struct mgw_cfg *cfg;	  /* borrowed until on_close */
	struct maildir_store *store;	  /* borrowed; outlives every session */
	struct maildir_cq *cq;		  /* borrowed; NULL: deliveries commit inline */
	struct work_pool *work;		  /* borrowed; NULL: spool files are created inline */
	const struct smtp_tls_hooks *tls; /* NULL: STARTTLS is not offered */
	void (*on_close)(void *arg);	  /* called once, when the connection closes */
	void *arg;			  /* for on_close and tls->server_new */
};

/*
 * Starts a session on a fresh connection (conn_new done, conn_start not yet): sets the
 * handler, the greeting delay and starts the connection. On failure the connection is
 * closed (on_close is still called once) and a negative code returned.
 */
int smtp_sess_start(struct conn *c, const struct smtp_sess_params *p);

/* Refuses a connection politely (421 4.7.0 + close), e.g. over a connection limit. */
void smtp_sess_refuse(struct conn *c, const char *hostname, const char *why);

#endif
