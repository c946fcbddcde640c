/*
 * pop3_sess.h - a POP3 session (RFC 1939, RFC 2449, RFC 5034) behind the certificate
 * gate: a table-driven state machine fed only by conn events (net/conn.h).
 *
 * States (RFC 1939 section 3): TLS handshake -> AUTHORIZATION -> TRANSACTION -> UPDATE
 * (on QUIT only; a dropped connection deletes nothing). Login needs both: the client
 * certificate's identity equal to the login name, and the password (proto/gate_login.h,
 * shared with IMAPS): a growing delay before the -ERR, per certificate and per address
 * limits, and the connection is closed after fail_close failures. A second session of the same user
 * gets "-ERR [IN-USE]" (store session lock). In UPDATE the files are unlinked on the
 * loop and new/ and cur/ flushed on a worker (store/flushjob.h); the +OK comes only
 * after that flush, -ERR when it fails. A connection closed meanwhile abandons the flush
 * (the job owns copies of its paths; its completion then touches nothing of the session).
 * The same for the login: when opening the maildrop rewrote its uidlist (new or vanished
 * messages) or an earlier rewrite is not known durable, the list is flushed on a worker
 * (store/flushjob.h, maildir_flush_uidlist) while the session waits in AUTHORIZATION
 * taking no input; +OK (and so any UIDL) comes only after it, "-ERR [SYS/TEMP]" when it
 * fails (the maildrop is closed again, the client may log in anew). A first login (no
 * Maildir yet) waits the same way for the Maildir, made and flushed on a worker
 * (maildir_prepare_start), and with it the new list's dovecot-uidvalidity.
 *
 * RETR and TOP stream the message from its file in chunks as the output drains
 * (and LIST/UIDL their listing, which may be longer than the output buffer)
 * (CONN_EV_DRAINED), dot-stuffed, never holding the whole message in memory. Pipelined
 * commands (RFC 2449 PIPELINING) wait in the bounded input buffer meanwhile.
 *
 * Ownership: the session borrows everything in its env until it frees itself on
 * CONN_EV_CLOSED, when it calls env.release(env.release_arg) (the caller drops its
 * generation reference there). Memory: the session struct, one bool per
 * message of the maildrop, and the store's snapshot of the mailbox.
 */
#ifndef MGW_POP3_SESS_H
#define MGW_POP3_SESS_H

#include <stdbool.h>
#include <stdint.h>

#include "net/conn.h"
#include "proto/gate_login.h"

#define POP3_IN_MAX (2 * 1024)	  /* conn input buffer: a command line and a bit more */
#define POP3_OUT_MAX (64 * 1024)  /* conn output buffer */
#define POP3_PRELOGIN_CMDS_MAX 20 /* commands before a successful login */
#define POP3_BAD_CMDS_MAX 10	  /* unknown or malformed commands per session */
struct pop3_sess;

/*
 * Creates a session for c (whose transport is a TLS session of the gate) and starts the
 * connection with it. Returns 0 once the session owns the connection's events (even if
 * starting failed: it then closes c itself and env->release runs). -MGW_ENOMEM: nothing
 * was started; the caller closes c and calls release itself.
 */
int pop3_sess_start(struct conn *c, const struct gate_env *env);

/* Sessions alive (status). */
unsigned pop3_sess_count(void);

#endif
