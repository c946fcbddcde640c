/*
 * imap_sess.h - an IMAP4rev1 session (RFC 3501) behind the certificate gate: a state
 * machine fed only by conn events (net/conn.h), commands parsed by proto/imap_parse.h.
 *
 * States (RFC 3501 section 3): TLS handshake -> not authenticated -> authenticated ->
 * selected -> logout. Login (LOGIN, AUTHENTICATE PLAIN with SASL-IR) is bound to the
 * client certificate and throttled exactly as POP3S (proto/gate_login.h).
 *
 * Mailboxes: INBOX (the Maildir proper) and folders in dovecot's Maildir++ layout
 * (store/folder.h), '.' the hierarchy delimiter; the special-use folders (RFC 6154) are
 * made at a user's first login. ENVELOPE, BODYSTRUCTURE, part numbers and decoded SEARCH
 * text come from proto/imap_fetch.h (a FETCH or SEARCH job holds one mapped, parsed
 * message).
 *
 * Durable changes: the links, unlinks, renames and mkdirs of APPEND, EXPUNGE, CLOSE,
 * COPY, MOVE, CREATE, RENAME and DELETE are made on the loop thread; their flushes run on
 * a worker (APPEND's whole commit through the commit queue, store/commitq.h, the others
 * through store/flushjob.h), while the session waits taking no input; the tagged OK
 * comes only after the flush, NO when it fails. The jobs own copies of what they need;
 * a session that goes away abandons them and their completions touch nothing of it.
 * SELECT and EXAMINE open the box with its uidlist's flush left to them
 * (MAILDIR_OPEN_DEFER): when the scan rewrote the list (new or vanished messages) or an
 * earlier rewrite is not known durable, the list is flushed on a worker
 * (maildir_flush_uidlist) and EXISTS, UIDNEXT and the OK go out only after it; a failed
 * flush answers NO and leaves nothing selected. So do the other scans: NOOP, CHECK and
 * IDLE (their EXISTS, EXPUNGE and FETCH FLAGS wait; a failed flush takes the new
 * messages out of the snapshot again, answers NO, or says nothing in IDLE), STATUS of
 * another mailbox (NO, no counts), the UID lookup after APPEND and COPY (a failed flush:
 * OK without APPENDUID or COPYUID, since the message is stored). The files a command
 * rewrites are replaced on the loop without a flush and flushed on a worker before its
 * OK: dovecot-uidvalidity with a new list, dovecot-keywords (STORE, APPEND or COPY of a
 * new keyword; no message gets the letter before, and a later user of a letter whose
 * file is not durable yet waits for it too), subscriptions (SUBSCRIBE, UNSUBSCRIBE,
 * DELETE) and RENAME INBOX's copy of dovecot-keywords. A first login's Maildir and
 * special-use folders are made and flushed on a worker before the login's OK (when that
 * fails the login stands, without them; the next login tries again). Nothing the loop
 * thread does for a session waits for an fsync.
 *
 * Output back-pressure: FETCH, SEARCH and EXPUNGE responses are produced while the
 * output buffer is below IMAP_OUT_HIGH and resumed on CONN_EV_DRAINED; message bodies
 * stream from their files in CRLF form (store/crlf.h), so a slow reader never makes
 * the session hold a mailbox or a whole message.
 *
 * Ownership: the session borrows its env until it frees itself on CONN_EV_CLOSED, when it
 * calls env.release(env.release_arg). Memory: the session struct, the command being
 * assembled (up to IMAP_CMD_MAX, IMAP_PRELOGIN_CMD_MAX before login), the parsed
 * command while it runs, and the store's snapshot of the selected mailbox.
 */
#ifndef MGW_IMAP_SESS_H
#define MGW_IMAP_SESS_H

#include "net/conn.h"
#include "proto/gate_login.h"

#define IMAP_IN_MAX (16 * 1024)	   /* conn input buffer: a line, literal octets */
#define IMAP_OUT_MAX (64 * 1024)   /* conn output buffer */
#define IMAP_PRELOGIN_CMDS_MAX 20  /* commands before a successful login */
#define IMAP_PRELOGIN_CMD_MAX 4096 /* a whole command (with literals) before login */
#define IMAP_BAD_CMDS_MAX 20	   /* BAD replies per session, then BYE */
/* Logged-in sessions of one user (dovecot's mail_max_userip_connections is 10): one
 * certificate cannot pin the daemon's connections. */
#define IMAP_SESSIONS_PER_USER 10

/*
 * Creates a session for c (whose transport is a TLS session of the gate) and starts the
 * connection with it. Returns 0 once the session owns the connection's events (even if
 * starting failed: it then closes c itself and env->release runs). -MGW_ENOMEM: nothing
 * was started; the caller closes c and calls release itself.
 */
int imap_sess_start(struct conn *c, const struct gate_env *env);

/* Sessions alive (status). */
unsigned imap_sess_count(void);

/*
 * A delivery to domain/user committed (maildir_store.notify): sessions of that user in
 * IDLE report the new messages at once. Borrowed arguments.
 */
void imap_sess_notify(void *arg, const char *domain, const char *user);

#endif
