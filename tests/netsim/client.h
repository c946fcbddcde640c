/*
 * client.h - the simulator's protocol clients, on lib/net conns over lwIP connections:
 * an SMTP sender (EHLO, PIPELINING of MAIL/RCPT/DATA, dot-stuffing, QUIT), a POP3S client
 * (TLS with a client certificate on mbedTLS's client side, USER/PASS, STAT, RETR, TOP,
 * DELE, QUIT) and an IMAPS client (the same TLS, LOGIN, SELECT INBOX, UID FETCH, UID STORE
 * +FLAGS (\Deleted), EXPUNGE, LOGOUT). Replies are parsed as a real client would, never
 * matched as fixed byte scripts.
 */
#ifndef MGW_NETSIM_CLIENT_H
#define MGW_NETSIM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "netsim.h"

#define CLIENT_ADDR_SERVER 0x0a000001u /* 10.0.0.1: the daemon */
#define CLIENT_ADDR_SMTP 0x0a000002u   /* 10.0.0.2 */
#define CLIENT_ADDR_POP3 0x0a000003u   /* 10.0.0.3: POP3S and IMAPS clients */
#define CLIENT_MSG_MAX (256 * 1024)
#define CLIENT_RCPTS_MAX 2

/* Every message goes to two mailboxes: joe's, read over POP3S, and ann's, over IMAPS. */
enum client_box { CLIENT_BOX_POP3, CLIENT_BOX_IMAP, CLIENT_BOXES };

struct client_msg {
	char id[64]; /* the Message-ID, unique per run */
	uint8_t *data;
	size_t len;
	bool acked;		     /* the server answered 250 to its final dot */
	unsigned uncertain;	     /* attempts whose final dot was sent without a reply */
	unsigned seen[CLIENT_BOXES]; /* copies fetched from each mailbox, byte-exact */
};

enum client_state { CLIENT_RUNNING, CLIENT_DONE, CLIENT_FAILED, CLIENT_REFUSED };

struct smtp_client;
struct pop3_client;

/* Sends msgs (borrowed) to the nrcpt recipients rcpts (one transaction per message, every
 * RCPT pipelined); reconnects after a broken connection, at most tries times, re-sending
 * what was not acknowledged. */
int smtp_client_start(struct loop *loop, struct client_msg *msgs, unsigned n,
		      const char *const *rcpts, unsigned nrcpt, bool half_close, unsigned tries,
		      struct smtp_client **out);
enum client_state smtp_client_state(const struct smtp_client *s);
const char *smtp_client_error(const struct smtp_client *s);
/* The transport of the live connection (for a reset at a chosen moment), or NULL. */
void *smtp_client_transport(struct smtp_client *s);
void smtp_client_free(struct smtp_client *s);

struct client_params {
	const char *pki_dir, *cert; /* cert: "joe", "ann", "rev", "foreign" or NULL (none) */
	const char *user, *pass;
	struct client_msg *msgs; /* what must arrive (borrowed) */
	unsigned nmsgs;
	uint32_t stall_ms; /* stop reading for this long in the first RETR or UID FETCH */
	unsigned tries;	   /* connection attempts on network failures */
};

int pop3_client_start(struct loop *loop, const struct client_params *p, struct pop3_client **out);
enum client_state pop3_client_state(const struct pop3_client *c);
const char *pop3_client_error(const struct pop3_client *c);
/* True while the client holds its zero window (the stall). */
bool pop3_client_stalled(const struct pop3_client *c);
/* Closes the connection; its TLS context goes when the loop reaps it (run the loop once),
 * and it borrows the client's TLS configuration: only then pop3_client_free. */
void pop3_client_close(struct pop3_client *c);
void pop3_client_free(struct pop3_client *c);

/* The IMAPS client: a fatal alert before the greeting is the gate's refusal, as for POP3S;
 * after LOGOUT the messages fetched must be every one sent (msgs), byte-exact, and all
 * of them expunged. Same lifecycle as the POP3S client. */
struct imap_client;
int imap_client_start(struct loop *loop, const struct client_params *p, struct imap_client **out);
enum client_state imap_client_state(const struct imap_client *c);
const char *imap_client_error(const struct imap_client *c);
bool imap_client_stalled(const struct imap_client *c);
void imap_client_close(struct imap_client *c);
void imap_client_free(struct imap_client *c);

#endif
