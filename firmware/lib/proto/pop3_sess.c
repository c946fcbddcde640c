/*
 * pop3_sess.c - the POP3 state machine. One table says which command runs in which
 * state; pop3_enter() is the only way to change state; pop3_close() is the one way out,
 * with one log line. A session never frees itself inside a call that may still use it:
 * CONN_EV_CLOSED only marks it closed, and the outermost event handler frees it.
 */
#include "proto/pop3_sess.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "core/err.h"
#include "core/log.h"
#include "proto/pop3_parse.h"
#include "store/flushjob.h"

#define POP3_CHUNK (8 * 1024)	  /* bytes read from a message file at a time */
#define POP3_OUT_HIGH (32 * 1024) /* stop streaming while this much output waits */
#define POP3_SASL_MAX GATE_SASL_MAX(POP3_LINE_MAX)

enum pop3_state {
	POP3_ST_TLS = 0, /* handshake in progress */
	POP3_ST_AUTH,	 /* AUTHORIZATION */
	POP3_ST_SASL,	 /* AUTHORIZATION, waiting for the AUTH PLAIN response line */
	POP3_ST_DELAY,	 /* AUTHORIZATION, a failed login waits out its delay */
	POP3_ST_VERIFY,	 /* AUTHORIZATION, the password is being checked on a worker */
	POP3_ST_OPEN,	 /* AUTHORIZATION, the mailbox's new uidlist is being flushed, or at a
			    first login the Maildir made on a worker */
	POP3_ST_TRANS,	 /* TRANSACTION */
	POP3_ST_STREAM,	 /* TRANSACTION, RETR/TOP output in progress */
	POP3_ST_UPDATE,	 /* UPDATE: the deletions wait for their flush on a worker */
	POP3_ST_DONE,	 /* closing: nothing more is read */
};

struct pop3_stream {
	int fd;		 /* message file, -1 when not streaming */
	bool top;	 /* TOP: stop after top_left body lines */
	bool in_body;	 /* past the blank line after the header */
	bool bol;	 /* at the beginning of a line */
	bool line_empty; /* the current line has had nothing but CR so far */
	bool after_cr;	 /* the last byte read was CR */
	uint32_t top_left;
	bool listing; /* LIST/UIDL without argument: one line per message, no file */
	bool uidl;
	size_t next; /* listing: index of the next message to list */
};

struct pop3_sess {
	struct conn *c;
	struct gate_env env;
	struct gate_login gl;
	enum pop3_state state;
	struct buf_lr lr;
	struct loop_timer delay;
	unsigned depth; /* nesting of event handlers: free only at depth 0 */
	bool in_input;	/* pop3_input() is running */
	bool closed;	/* CONN_EV_CLOSED seen */
	unsigned cmds, bad;
	char user[POP3_ARG_MAX + 1]; /* USER name, waiting for PASS */
	bool have_user;
	char login[PASSWD_ADDR_MAX + 1]; /* user@domain once logged in */
	const char *delayed_reply;	 /* sent when the delay ends */
	bool close_after_delay;
	struct passwd_addr who; /* the login's user, while its Maildir is made */
	struct maildir_box box;
	bool box_open;
	bool *deleted; /* per message of the box, TRANSACTION only */
	/* UPDATE: the flush in flight (owned by the pool, store/flushjob.h), and the
	 * number of messages deleted */
	struct maildir_flush *flush;
	size_t update_n;
	struct pop3_stream st;
};

static unsigned pop3_live;

typedef void (*pop3_handler)(struct pop3_sess *s, const struct pop3_cmd *cmd);

/* ---- helpers ----------------------------------------------------------------------- */

static void pop3_enter(struct pop3_sess *s, enum pop3_state st)
{
	s->state = st;
}

static void pop3_reply(struct pop3_sess *s, const char *text)
{
	if (!s->closed)
		conn_printf(s->c, "%s\r\n", text);
}

/* The single way out: a reason for the log, an optional last reply. */
static void pop3_close(struct pop3_sess *s, const char *last_reply, const char *reason)
{
	if (s->closed || s->state == POP3_ST_DONE)
		return;
	if (last_reply)
		pop3_reply(s, last_reply);
	pop3_enter(s, POP3_ST_DONE);
	conn_close_after_flush(s->c, reason);
}

static void pop3_stream_stop(struct pop3_sess *s)
{
	if (s->st.fd >= 0)
		close(s->st.fd);
	s->st.fd = -1;
}

static void pop3_free(struct pop3_sess *s)
{
	gate_login_abandon(&s->gl);	 /* a check in flight drops its result */
	maildir_flush_abandon(s->flush); /* so does a flush (the deletions stay done) */
	loop_timer_cancel(s->c->loop, &s->delay);
	pop3_stream_stop(s);
	if (s->box_open)
		maildir_box_close(&s->box); /* no UPDATE: nothing is deleted (RFC 1939 section 6) */
	free(s->deleted);
	explicit_bzero(s->user, sizeof(s->user));
	if (s->env.release)
		s->env.release(s->env.release_arg, s->env.release_ref);
	pop3_live--;
	free(s);
}

/* Message number n (1-based) as an index of a message that is not deleted, or -1 with
 * the -ERR already sent. */
static long pop3_msg(struct pop3_sess *s, uint32_t n)
{
	char line[96];

	if (n == 0 || n > s->box.count) {
		snprintf(line, sizeof(line), "-ERR no such message, only %zu in the maildrop",
			 s->box.count);
		pop3_reply(s, line);
		return -1;
	}
	if (s->deleted[n - 1]) {
		snprintf(line, sizeof(line), "-ERR message %u already deleted", n);
		pop3_reply(s, line);
		return -1;
	}
	return (long)n - 1;
}

static void pop3_counts(const struct pop3_sess *s, size_t *n, uint64_t *size)
{
	*n = 0;
	*size = 0;
	for (size_t i = 0; i < s->box.count; i++) {
		if (!s->deleted[i]) {
			(*n)++;
			*size += s->box.msgs[i].vsize;
		}
	}
}

/* ---- streaming RETR / TOP ---------------------------------------------------------- */

static void pop3_input(struct pop3_sess *s);

static void pop3_stream_end(struct pop3_sess *s)
{
	/* RFC 1939 section 3: the multi-line response ends with CRLF "." CRLF. */
	if (!s->st.bol)
		conn_write(s->c, "\r\n", 2);
	conn_write(s->c, ".\r\n", 3);
	pop3_stream_stop(s);
	if (!s->closed) {
		pop3_enter(s, POP3_ST_TRANS);
		pop3_input(s); /* pipelined commands that waited (a no-op when nested in it) */
	}
}

static void pop3_listing_line(struct pop3_sess *s, size_t i, char *line, size_t linesz)
{
	/* RFC 1939 section 7: the unique-id is 1 to 70 characters 0x21..0x7E and stays the
	 * same across sessions: UIDVALIDITY.UID from the store. */
	if (s->st.uidl)
		snprintf(line, linesz, "%zu %u.%u", i + 1, s->box.uidvalidity, s->box.msgs[i].uid);
	else
		snprintf(line, linesz, "%zu %llu", i + 1, (unsigned long long)s->box.msgs[i].vsize);
}

/* Sends more of the message while the output has room; called again on DRAINED. */
static void pop3_stream_more(struct pop3_sess *s)
{
	/* Each byte read becomes at most two: ".." (stuffing) or CR LF (a lone LF). */
	uint8_t in[POP3_CHUNK], out[2 * POP3_CHUNK];

	/* A listing may be longer than the output buffer: it streams like a message. */
	while (s->st.listing && !s->closed && s->state == POP3_ST_STREAM &&
	       conn_out_len(s->c) < POP3_OUT_HIGH) {
		char line[96];

		while (s->st.next < s->box.count && s->deleted[s->st.next])
			s->st.next++;
		if (s->st.next == s->box.count) {
			pop3_stream_end(s);
			return;
		}
		pop3_listing_line(s, s->st.next++, line, sizeof(line));
		pop3_reply(s, line);
	}
	if (s->st.listing)
		return;
	while (!s->closed && s->state == POP3_ST_STREAM && conn_out_len(s->c) < POP3_OUT_HIGH) {
		ssize_t n = read(s->st.fd, in, sizeof(in));
		size_t o = 0;
		bool done = false;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* Mid-response there is no way to say -ERR: end the connection. */
			log_err("pop3 %s: reading a message of %s: %s", s->c->peer, s->login,
				strerror(errno));
			pop3_stream_stop(s);
			pop3_close(s, NULL, "message read error");
			return;
		}
		if (n == 0) {
			pop3_stream_end(s);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			uint8_t ch = in[i];

			if (s->st.bol) {
				if (s->st.top && s->st.in_body && s->st.top_left == 0) {
					done = true;
					break;
				}
				/* RFC 1939 section 3: byte-stuff a line that starts with '.'. */
				if (ch == '.')
					out[o++] = '.';
				s->st.line_empty = true;
			}
			/* RFC 1939 section 3 wants CRLF: a Maildir stored with LF line ends
			 * (dovecot's form) is sent with CRLF, as store/crlf.h counts it. */
			if (ch == '\n' && !s->st.after_cr)
				out[o++] = '\r';
			s->st.after_cr = ch == '\r';
			out[o++] = ch;
			if (ch == '\n') {
				if (s->st.top) {
					if (!s->st.in_body && s->st.line_empty)
						s->st.in_body =
						    true; /* the blank line ending the header */
					else if (s->st.in_body)
						s->st.top_left--;
				}
				s->st.bol = true;
			} else {
				s->st.bol = false;
				if (ch != '\r')
					s->st.line_empty = false;
			}
		}
		if (o && conn_write(s->c, out, o) < 0)
			return;
		if (done) {
			pop3_stream_end(s);
			return;
		}
	}
}

static void pop3_stream_start(struct pop3_sess *s, long i, bool top, uint32_t lines)
{
	char line[96];
	int fd = -1, rc;

	rc = maildir_msg_open(&s->box, (size_t)i, &fd);
	if (rc < 0) {
		log_warn("pop3 %s: %s: message %ld cannot be opened: %s", s->c->peer, s->login,
			 i + 1, mgw_strerror(rc));
		pop3_reply(s, "-ERR [SYS/TEMP] message cannot be read");
		return;
	}
	memset(&s->st, 0, sizeof(s->st));
	s->st.fd = fd;
	s->st.top = top;
	s->st.top_left = lines;
	s->st.bol = true;
	if (top)
		pop3_reply(s, "+OK top of message follows");
	else {
		snprintf(line, sizeof(line), "+OK %llu octets",
			 (unsigned long long)s->box.msgs[i].vsize);
		pop3_reply(s, line);
	}
	pop3_enter(s, POP3_ST_STREAM);
	pop3_stream_more(s);
}

/* ---- AUTHORIZATION ----------------------------------------------------------------- */

static void pop3_delay_cb(struct loop *loop, struct loop_timer *t);

static void pop3_login_failed(struct pop3_sess *s, uint32_t delay, bool close_after)
{
	s->delayed_reply = "-ERR [AUTH] authentication failed";
	s->close_after_delay = close_after;
	pop3_enter(s, POP3_ST_DELAY);
	loop_timer_set(s->c->loop, &s->delay, delay);
}

static void pop3_open_end(struct pop3_sess *s, int rc);

/* The uidlist's flush is done (store/flushjob.h): inside pop3_login_ok without a pool,
 * else later from the pool, outside any event handler of the session. */
static void pop3_open_done(void *arg, int rc)
{
	struct pop3_sess *s = arg;

	s->depth++;
	if (!s->closed && s->state == POP3_ST_OPEN) {
		pop3_open_end(s, rc);
		pop3_input(s); /* the commands pipelined behind the login (no-op when nested) */
	}
	s->depth--;
	if (s->closed && s->depth == 0)
		pop3_free(s);
}

static void pop3_box_open(struct pop3_sess *s, const struct passwd_addr *a);

/* The Maildir of a first login is made (rc 0), or could not be. */
static void pop3_prepare_done(void *arg, int rc)
{
	struct pop3_sess *s = arg;

	s->depth++;
	if (!s->closed && s->state == POP3_ST_OPEN) {
		pop3_enter(s, POP3_ST_AUTH);
		if (rc < 0) {
			log_err("pop3 %s: %s@%s: cannot make the mailbox: %s", s->c->peer,
				s->who.user, s->who.domain, mgw_strerror(rc));
			pop3_reply(s, "-ERR [SYS/TEMP] mailbox unavailable, try later");
		} else {
			pop3_box_open(s, &s->who);
		}
		pop3_input(s); /* the commands pipelined behind the login (no-op when nested) */
	}
	s->depth--;
	if (s->closed && s->depth == 0)
		pop3_free(s);
}

/* At a first login (no Maildir yet) the Maildir is made and flushed on a worker, the
 * session waiting in OPEN; then, or at once, the mailbox is opened. */
static void pop3_login_ok(struct pop3_sess *s, const struct passwd_addr *a)
{
	int rc;

	if (!maildir_prepare_needed(s->env.store, a->domain, a->user, false)) {
		pop3_box_open(s, a);
		return;
	}
	s->who = *a;
	pop3_enter(s, POP3_ST_OPEN);
	rc = maildir_prepare_start(s->env.work, s->env.store, a->domain, a->user, false,
				   pop3_prepare_done, s, &s->flush);
	if (rc < 0)
		pop3_prepare_done(s, rc);
}

static void pop3_box_open(struct pop3_sess *s, const struct passwd_addr *a)
{
	int rc;

	rc = maildir_box_open(&s->box, s->env.store, a->domain, a->user,
			      MAILDIR_OPEN_EXCL | MAILDIR_OPEN_DEFER);
	if (rc == -MGW_EEXIST) {
		log_info("pop3 %s: %s@%s: mailbox in use by another session", s->c->peer, a->user,
			 a->domain);
		/* RFC 2449 section 8.1.2 */
		pop3_reply(s, "-ERR [IN-USE] mailbox in use by another session");
		return;
	}
	if (rc == 0) {
		s->deleted = calloc(s->box.count ? s->box.count : 1, sizeof(*s->deleted));
		if (s->deleted == NULL) {
			maildir_box_close(&s->box);
			rc = -MGW_ENOMEM;
		}
	}
	if (rc < 0) {
		log_err("pop3 %s: %s@%s: cannot open the mailbox: %s", s->c->peer, a->user,
			a->domain, mgw_strerror(rc));
		pop3_reply(s, "-ERR [SYS/TEMP] mailbox unavailable, try later");
		return;
	}
	s->box_open = true;
	snprintf(s->login, sizeof(s->login), "%s@%s", a->user, a->domain);
	if (s->box.uidlist_gen == 0) {
		pop3_open_end(s, 0);
		return;
	}
	/* The scan gave new UIDs or dropped some (or an earlier rewrite of the list is not
	 * known durable): none is announced (UIDL) before the list is durable. Its flush runs on a
	 * worker; the session waits in OPEN, taking no input. */
	pop3_enter(s, POP3_ST_OPEN);
	rc = maildir_flush_uidlist(s->env.work, s->box.path, s->box.uidlist_gen, pop3_open_done, s,
				   &s->flush);
	if (rc < 0)
		pop3_open_end(s, rc);
}

/* The login's mailbox is open with durable UIDs (rc 0), or its uidlist's flush failed. */
static void pop3_open_end(struct pop3_sess *s, int rc)
{
	char line[128];
	size_t n;
	uint64_t size;

	pop3_enter(s, POP3_ST_AUTH);
	if (rc < 0) {
		log_err("pop3 %s: %s: the mailbox's uidlist is not confirmed on disk: %s",
			s->c->peer, s->login, mgw_strerror(rc));
		maildir_box_close(&s->box);
		s->box_open = false;
		free(s->deleted);
		s->deleted = NULL;
		s->login[0] = '\0';
		pop3_reply(s, "-ERR [SYS/TEMP] mailbox unavailable, try later");
		return;
	}
	pop3_counts(s, &n, &size);
	log_record("pop3 %s: login %s (subject %s, serial %s): %zu messages, %llu octets",
		   s->c->peer, s->login, s->gl.subject, s->gl.serial, n, (unsigned long long)size);
	snprintf(line, sizeof(line), "+OK logged in, %zu messages (%llu octets)", n,
		 (unsigned long long)size);
	pop3_reply(s, line);
	conn_set_idle(s->c, s->env.idle_timeout_ms);
	conn_set_interactive(s->c, true); /* its commands before SMTP's bulk data */
	pop3_enter(s, POP3_ST_TRANS);
}

/*
 * The gate's second half (proto/gate_login.h): the session waits in VERIFY, where no
 * input is taken, until pop3_login_done. Commands pipelined behind the login stay
 * buffered and are answered, in order, afterwards.
 */
static void pop3_login(struct pop3_sess *s, const uint8_t *name, size_t namelen, const uint8_t *pw,
		       size_t pwlen)
{
	pop3_enter(s, POP3_ST_VERIFY);
	gate_login_start(&s->gl, name, namelen, pw, pwlen);
}

/* The login's result: inside pop3_login, or later from the worker pool's completion. */
static void pop3_login_done(void *arg, enum gate_login_result r, const struct passwd_addr *a,
			    uint32_t delay, bool close_after)
{
	struct pop3_sess *s = arg;

	s->depth++;
	if (!s->closed && s->state == POP3_ST_VERIFY) {
		pop3_enter(s, POP3_ST_AUTH);
		switch (r) {
		case GATE_LOGIN_OK:
			pop3_login_ok(s, a);
			break;
		case GATE_LOGIN_FAILED:
			pop3_login_failed(s, delay, close_after);
			break;
		case GATE_LOGIN_LIMIT:
			pop3_close(s, "-ERR [AUTH] too many failed logins, try again later",
				   "login limit");
			break;
		case GATE_LOGIN_TEMP:
			/* RFC 3206: a fault of the server, not of the user's credentials. */
			pop3_reply(s, "-ERR [SYS/TEMP] cannot check the password now, try later");
			break;
		}
		pop3_input(s); /* the commands pipelined behind the login (no-op when nested) */
	}
	s->depth--;
	if (s->closed && s->depth == 0)
		pop3_free(s);
}

static void pop3_delay_cb(struct loop *loop, struct loop_timer *t)
{
	struct pop3_sess *s = t->arg;

	(void)loop;
	s->depth++;
	if (!s->closed && s->state == POP3_ST_DELAY) {
		if (s->close_after_delay)
			pop3_close(s, s->delayed_reply, "too many failed logins");
		else {
			pop3_reply(s, s->delayed_reply);
			pop3_enter(s, POP3_ST_AUTH);
			pop3_input(s);
		}
	}
	s->depth--;
	if (s->closed && s->depth == 0)
		pop3_free(s);
}

static void pop3_do_user(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	memcpy(s->user, cmd->arg[0], cmd->arglen[0]);
	s->user[cmd->arglen[0]] = '\0';
	s->have_user = true;
	pop3_reply(s, "+OK send PASS");
}

static void pop3_do_pass(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	if (!s->have_user) {
		pop3_reply(s, "-ERR USER first");
		return;
	}
	s->have_user = false;
	pop3_login(s, (const uint8_t *)s->user, strlen(s->user), cmd->pass, cmd->passlen);
}

static void pop3_sasl_plain(struct pop3_sess *s, const uint8_t *b64, size_t len)
{
	uint8_t msg[POP3_SASL_MAX];
	const uint8_t *user, *pw;
	size_t ulen, pwlen;

	switch (gate_sasl_plain(b64, len, msg, sizeof(msg), &user, &ulen, &pw, &pwlen)) {
	case GATE_SASL_OK:
		pop3_login(s, user, ulen, pw, pwlen);
		break;
	case GATE_SASL_BASE64:
		pop3_reply(s, "-ERR invalid base64 in the AUTH response");
		break;
	case GATE_SASL_MALFORMED:
		pop3_reply(s, "-ERR malformed PLAIN response");
		break;
	case GATE_SASL_AUTHZID:
		pop3_reply(s,
			   "-ERR [AUTH] authorization identity must be empty or the user itself");
		break;
	}
	explicit_bzero(msg, sizeof(msg));
}

static void pop3_do_auth(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	if (cmd->nargs == 0) {
		/* Not in RFC 5034, but clients probe with a bare AUTH: list the mechanisms. */
		pop3_reply(s, "+OK\r\nPLAIN\r\n.");
		return;
	}
	if (cmd->arglen[0] != 5 || strncasecmp((const char *)cmd->arg[0], "PLAIN", 5) != 0) {
		pop3_reply(s, "-ERR unsupported mechanism (PLAIN only)");
		return;
	}
	if (cmd->nargs == 2) {
		/* RFC 5034 section 4: "=" is an empty initial response. */
		if (cmd->arglen[1] == 1 && cmd->arg[1][0] == '=')
			pop3_sasl_plain(s, cmd->arg[1], 0);
		else
			pop3_sasl_plain(s, cmd->arg[1], cmd->arglen[1]);
		return;
	}
	pop3_reply(s, "+ ");
	pop3_enter(s, POP3_ST_SASL);
}

/* The line after "+ ": the base64 response, or "*" to cancel (RFC 5034 section 4). */
static void pop3_sasl_line(struct pop3_sess *s, const uint8_t *text, size_t len)
{
	pop3_enter(s, POP3_ST_AUTH);
	if (len == 1 && text[0] == '*') {
		pop3_reply(s, "-ERR authentication cancelled");
		return;
	}
	pop3_sasl_plain(s, text, len);
}

/* ---- both states ------------------------------------------------------------------- */

static void pop3_do_capa(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	(void)cmd;
	/* RFC 2449 section 5; USER and SASL only while they can be used. */
	pop3_reply(s, "+OK capability list follows");
	pop3_reply(s,
		   "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\n"
		   "IMPLEMENTATION mailgw");
	if (s->state == POP3_ST_AUTH)
		pop3_reply(s, "USER\r\nSASL PLAIN");
	pop3_reply(s, ".");
}

/* UPDATE's end: +OK only once the deletions are durable (rc 0), -ERR when their flush
 * failed or could not be queued; the session closes either way. */
static void pop3_update_end(struct pop3_sess *s, int rc)
{
	char line[128];

	if (rc < 0) {
		log_err("pop3 %s: %s: UPDATE: the deletions of %zu messages are not confirmed "
			"on disk: %s",
			s->c->peer, s->login, s->update_n, mgw_strerror(rc));
		pop3_close(s, "-ERR [SYS/TEMP] the deletions are not confirmed on disk",
			   "QUIT (flush failed)");
		return;
	}
	log_info("pop3 %s: %s: logout, %zu messages deleted", s->c->peer, s->login, s->update_n);
	snprintf(line, sizeof(line), "+OK bye, %zu messages deleted", s->update_n);
	pop3_close(s, line, "QUIT");
}

/* The flush's completion: inside pop3_do_quit without a pool, else later from the pool,
 * outside any event handler of the session. */
static void pop3_update_done(void *arg, int rc)
{
	struct pop3_sess *s = arg;

	s->depth++;
	if (!s->closed && s->state == POP3_ST_UPDATE)
		pop3_update_end(s, rc);
	s->depth--;
	if (s->closed && s->depth == 0)
		pop3_free(s);
}

static void pop3_do_quit(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	size_t *idx = NULL, n = 0, failed = 0;
	char line[128];
	int rc;

	(void)cmd;
	if (s->state == POP3_ST_AUTH) {
		pop3_close(s, "+OK bye", "QUIT");
		return;
	}
	/* UPDATE (RFC 1939 section 6): remove the messages marked as deleted. */
	for (size_t i = 0; i < s->box.count; i++)
		n += s->deleted[i];
	if (n) {
		idx = calloc(n, sizeof(*idx));
		if (idx == NULL) {
			pop3_close(s, "-ERR [SYS/TEMP] out of memory, nothing deleted",
				   "QUIT (no memory)");
			return;
		}
		n = 0;
		for (size_t i = 0; i < s->box.count; i++)
			if (s->deleted[i])
				idx[n++] = i;
	}
	rc = n ? maildir_box_expunge(&s->box, idx, n, &failed) : 0;
	free(idx);
	if (rc < 0) {
		log_err("pop3 %s: %s: UPDATE: %zu of %zu deletions failed", s->c->peer, s->login,
			failed, n);
		snprintf(line, sizeof(line),
			 "-ERR [SYS/TEMP] %zu of %zu messages could not be deleted", failed, n);
		pop3_close(s, line, "QUIT (deletions failed)");
		return;
	}
	s->update_n = n;
	if (n == 0) {
		pop3_update_end(s, 0);
		return;
	}
	/* The unlinks are durable once new/ and cur/ are flushed, on a worker (shared with
	 * the deliveries' flushes); the session waits in UPDATE, taking no input. */
	pop3_enter(s, POP3_ST_UPDATE);
	rc = maildir_flush_box(s->env.work, s->box.path, pop3_update_done, s, &s->flush);
	if (rc < 0)
		pop3_update_end(s, rc);
}

static void pop3_do_noop(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	(void)cmd;
	pop3_reply(s, "+OK");
}

static void pop3_do_refuse(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	switch (cmd->id) {
	case POP3_CMD_APOP:
		pop3_reply(s, "-ERR APOP not supported, use USER/PASS or AUTH PLAIN");
		break;
	case POP3_CMD_STLS:
		pop3_reply(s, "-ERR already under TLS");
		break;
	default:
		/* LAST was in RFC 1725 and is gone from RFC 1939; fetchmail copes with -ERR. */
		pop3_reply(s, "-ERR LAST is not supported (RFC 1939), use UIDL");
		break;
	}
}

/* ---- TRANSACTION ------------------------------------------------------------------- */

static void pop3_do_stat(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	char line[96];
	uint64_t size;
	size_t n;

	(void)cmd;
	pop3_counts(s, &n, &size);
	snprintf(line, sizeof(line), "+OK %zu %llu", n, (unsigned long long)size);
	pop3_reply(s, line);
}

/* LIST and UIDL: one line per message, or the one asked for. */
static void pop3_listing(struct pop3_sess *s, const struct pop3_cmd *cmd, bool uidl)
{
	char line[96];

	if (cmd->nargs == 1) {
		long i = pop3_msg(s, cmd->num[0]);

		if (i < 0)
			return;
		if (uidl)
			snprintf(line, sizeof(line), "+OK %u %u.%u", cmd->num[0],
				 s->box.uidvalidity, s->box.msgs[i].uid);
		else
			snprintf(line, sizeof(line), "+OK %u %llu", cmd->num[0],
				 (unsigned long long)s->box.msgs[i].vsize);
		pop3_reply(s, line);
		return;
	}
	pop3_reply(s, uidl ? "+OK unique-id listing follows" : "+OK scan listing follows");
	memset(&s->st, 0, sizeof(s->st));
	s->st.fd = -1;
	s->st.bol = true;
	s->st.listing = true;
	s->st.uidl = uidl;
	pop3_enter(s, POP3_ST_STREAM);
	pop3_stream_more(s);
}

static void pop3_do_list(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	pop3_listing(s, cmd, false);
}

static void pop3_do_uidl(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	pop3_listing(s, cmd, true);
}

static void pop3_do_retr(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	long i = pop3_msg(s, cmd->num[0]);

	if (i >= 0)
		pop3_stream_start(s, i, false, 0);
}

static void pop3_do_top(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	long i = pop3_msg(s, cmd->num[0]);

	if (i >= 0)
		pop3_stream_start(s, i, true, cmd->num[1]);
}

static void pop3_do_dele(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	long i = pop3_msg(s, cmd->num[0]);
	char line[64];

	if (i < 0)
		return;
	s->deleted[i] = true;
	snprintf(line, sizeof(line), "+OK message %u deleted", cmd->num[0]);
	pop3_reply(s, line);
}

static void pop3_do_rset(struct pop3_sess *s, const struct pop3_cmd *cmd)
{
	char line[96];
	uint64_t size;
	size_t n;

	(void)cmd;
	memset(s->deleted, 0, s->box.count * sizeof(*s->deleted));
	pop3_counts(s, &n, &size);
	snprintf(line, sizeof(line), "+OK maildrop has %zu messages (%llu octets)", n,
		 (unsigned long long)size);
	pop3_reply(s, line);
}

/* ---- dispatch ---------------------------------------------------------------------- */

#define POP3_IN_AUTH (1u << POP3_ST_AUTH)
#define POP3_IN_TRANS (1u << POP3_ST_TRANS)

static const struct {
	unsigned states;
	pop3_handler fn;
} pop3_table[POP3_CMD_COUNT] = {
    [POP3_CMD_USER] = {POP3_IN_AUTH, pop3_do_user},
    [POP3_CMD_PASS] = {POP3_IN_AUTH, pop3_do_pass},
    [POP3_CMD_AUTH] = {POP3_IN_AUTH, pop3_do_auth},
    [POP3_CMD_APOP] = {POP3_IN_AUTH, pop3_do_refuse},
    [POP3_CMD_STLS] = {POP3_IN_AUTH, pop3_do_refuse},
    [POP3_CMD_CAPA] = {POP3_IN_AUTH | POP3_IN_TRANS, pop3_do_capa},
    [POP3_CMD_QUIT] = {POP3_IN_AUTH | POP3_IN_TRANS, pop3_do_quit},
    [POP3_CMD_NOOP] = {POP3_IN_TRANS, pop3_do_noop},
    [POP3_CMD_STAT] = {POP3_IN_TRANS, pop3_do_stat},
    [POP3_CMD_LIST] = {POP3_IN_TRANS, pop3_do_list},
    [POP3_CMD_UIDL] = {POP3_IN_TRANS, pop3_do_uidl},
    [POP3_CMD_RETR] = {POP3_IN_TRANS, pop3_do_retr},
    [POP3_CMD_TOP] = {POP3_IN_TRANS, pop3_do_top},
    [POP3_CMD_DELE] = {POP3_IN_TRANS, pop3_do_dele},
    [POP3_CMD_RSET] = {POP3_IN_TRANS, pop3_do_rset},
    [POP3_CMD_LAST] = {POP3_IN_TRANS, pop3_do_refuse},
};

static void pop3_bad(struct pop3_sess *s, const char *reply)
{
	if (++s->bad > POP3_BAD_CMDS_MAX) {
		pop3_close(s, "-ERR too many bad commands, bye", "too many bad commands");
		return;
	}
	pop3_reply(s, reply);
}

static void pop3_command(struct pop3_sess *s, const uint8_t *text, size_t len)
{
	struct pop3_cmd cmd;
	int rc;

	if (s->state == POP3_ST_SASL) {
		pop3_sasl_line(s, text, len);
		return;
	}
	if (s->state == POP3_ST_AUTH && ++s->cmds > POP3_PRELOGIN_CMDS_MAX) {
		pop3_close(s, "-ERR too many commands without login, bye",
			   "pre-login command limit");
		return;
	}
	rc = pop3_cmd_parse(text, len, &cmd);
	if (rc == MGW_PARSE_TOO_LONG) {
		pop3_bad(s, "-ERR argument too long");
		return;
	}
	if (rc != MGW_PARSE_OK) {
		pop3_bad(s,
			 cmd.id == POP3_CMD_UNKNOWN ? "-ERR syntax error" : "-ERR wrong arguments");
		return;
	}
	if (cmd.id == POP3_CMD_UNKNOWN || pop3_table[cmd.id].fn == NULL) {
		pop3_bad(s, "-ERR unknown command");
		return;
	}
	if (!(pop3_table[cmd.id].states & (1u << s->state))) {
		pop3_bad(s, s->state == POP3_ST_AUTH ? "-ERR not logged in"
						     : "-ERR already logged in");
		return;
	}
	pop3_table[cmd.id].fn(s, &cmd);
}

/*
 * Runs the commands buffered in the conn's input while the state takes commands. In the
 * other states (a password being checked, a delayed failure reply, a RETR/TOP being
 * streamed) input stays buffered (bounded by POP3_IN_MAX; the conn stops reading when it
 * is full) and is taken up here when the state changes back. Reading is never paused, so a client
 * that goes away is noticed at once. Not re-entrant: a nested call returns at once and the outer
 * loop goes on.
 */
static void pop3_input(struct pop3_sess *s)
{
	if (s->in_input)
		return;
	s->in_input = true;
	while (!s->closed && (s->state == POP3_ST_AUTH || s->state == POP3_ST_SASL ||
			      s->state == POP3_ST_TRANS)) {
		struct buf *in = conn_in(s->c);
		struct buf_line line;
		int rc = buf_lr_next(&s->lr, in, &line);

		if (rc == MGW_PARSE_NEED_MORE)
			break;
		if (rc == MGW_PARSE_TOO_LONG) {
			if (s->state == POP3_ST_SASL)
				pop3_enter(s, POP3_ST_AUTH);
			pop3_bad(s, "-ERR line too long");
			continue;
		}
		pop3_command(s, line.text, line.len);
		/* The line may hold a password: wipe it before the buffer forgets it. */
		if (!s->closed) {
			explicit_bzero((void *)line.text, line.len);
			buf_lr_done(&s->lr, in, &line);
		}
	}
	s->in_input = false;
}

static void pop3_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct pop3_sess *s = arg;

	s->depth++;
	switch (ev) {
	case CONN_EV_TLS_READY:
		if (!gate_login_peer(&s->gl)) {
			pop3_close(s, NULL, "no client certificate");
			break;
		}
		pop3_enter(s, POP3_ST_AUTH);
		conn_printf(c, "+OK %s POP3 ready\r\n", s->env.hostname);
		break;
	case CONN_EV_DATA:
		pop3_input(s);
		break;
	case CONN_EV_DRAINED:
		if (s->state == POP3_ST_STREAM)
			pop3_stream_more(s);
		break;
	case CONN_EV_TIMEOUT:
		/* RFC 1939 section 3: an idle session is closed without UPDATE and without a
		 * reply; the conn does that when the timer is not re-armed. */
		log_info("pop3 %s: idle timeout%s%s", c->peer, s->login[0] ? " for " : "",
			 s->login);
		break;
	case CONN_EV_CLOSED:
		/* The one line per session end (a TLS refusal was logged by the tls module). */
		if (s->state != POP3_ST_TLS)
			log_info("pop3 %s: closed (%s)%s%s", c->peer, conn_close_reason(c),
				 s->login[0] ? ", " : "", s->login);
		s->closed = true;
		break;
	}
	s->depth--;
	if (s->closed && s->depth == 0)
		pop3_free(s);
}

int pop3_sess_start(struct conn *c, const struct gate_env *env)
{
	struct pop3_sess *s = calloc(1, sizeof(*s));
	int rc;

	if (s == NULL)
		return -MGW_ENOMEM;
	s->c = c;
	s->env = *env;
	if (s->env.peer == NULL)
		s->env.peer = &gate_peer_tls;
	gate_login_init(&s->gl, "pop3", c, &s->env, pop3_login_done, s);
	s->st.fd = -1;
	s->state = POP3_ST_TLS;
	buf_lr_init(&s->lr, POP3_LINE_MAX);
	loop_timer_init(&s->delay, pop3_delay_cb, s);
	conn_set_idle(c, env->login_timeout_ms);
	pop3_live++;
	rc = conn_start(c, pop3_event, s);
	if (rc < 0) {
		/* The handler is attached: closing delivers CLOSED, which frees s and releases. */
		log_err("pop3 %s: cannot start the connection: %s", c->peer, mgw_strerror(rc));
		conn_close(c, "cannot start");
	}
	return 0;
}

unsigned pop3_sess_count(void)
{
	return pop3_live;
}
