/*
 * smtp_client.c - an SMTP sender (RFC 5321) with PIPELINING (RFC 2920): after EHLO it
 * sends MAIL, every RCPT and DATA in one go and then reads their replies; the body is
 * dot-stuffed (RFC 5321 4.5.2). A broken connection is retried with what was not
 * acknowledged, as a real MTA's queue would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "core/err.h"
#include "net/conn.h"
#include "net/lwip/lwip_tcp.h"

enum smtp_cst {
	SC_GREETING,
	SC_EHLO,
	SC_MAIL, /* replies to MAIL, RCPT, DATA pipelined */
	SC_RCPT,
	SC_DATA,
	SC_DOT,
	SC_QUIT,
	SC_CLOSING,
};

struct smtp_client {
	struct loop *loop;
	struct conn *c;
	struct client_msg *msgs;
	unsigned n, cur, tries;
	char rcpt[CLIENT_RCPTS_MAX][128];
	unsigned nrcpt, rcpt_ok; /* RCPT replies read in this transaction */
	bool half_close, pipelining, dot_sent;
	enum smtp_cst st;
	enum client_state state;
	struct loop_timer retry;
	char err[256];
	unsigned retried_421;
	char last[80];	 /* the last reply line, for the error text */
	size_t body_off; /* streaming the current body */
};

static void smtp_client_event(struct conn *c, enum conn_event ev, void *arg);

static void smtp_client_fail(struct smtp_client *s, const char *what, const char *detail)
{
	if (s->state == CLIENT_RUNNING) {
		snprintf(s->err, sizeof(s->err), "%s%s%s%s", what, detail,
			 s->last[0] ? "; last reply: " : "", s->last);
		s->state = CLIENT_FAILED;
	}
}

static void smtp_client_connect(struct smtp_client *s)
{
	struct transport tr;

	s->st = SC_GREETING;
	s->dot_sent = false;
	if (lwip_tcp_connect(CLIENT_ADDR_SMTP, CLIENT_ADDR_SERVER, 25, &tr) < 0 ||
	    conn_new_transport(s->loop, &tr, "10.0.0.1:25", 64 * 1024, 512 * 1024, &s->c) < 0 ||
	    conn_start(s->c, smtp_client_event, s) < 0) {
		smtp_client_fail(s, "cannot connect", "");
		return;
	}
	/* A sender gives up on a silent server: RFC 5321 4.5.3.2 (shortened). */
	conn_set_idle(s->c, 120000);
}

static void smtp_client_retry_cb(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	smtp_client_connect(t->arg);
}

/* One complete reply (possibly multi-line) from the input, or 0 if not complete yet.
 * Returns its code; *caps collects whether EHLO offered PIPELINING. */
static int smtp_client_reply(struct smtp_client *s, bool *pipelining)
{
	struct buf *in = conn_in(s->c);
	const uint8_t *p = buf_data(in);
	size_t len = buf_len(in), pos = 0;

	while (pos < len) {
		const uint8_t *nl = memchr(p + pos, '\n', len - pos);
		size_t ll;

		if (nl == NULL)
			return 0;
		ll = (size_t)(nl - (p + pos)) + 1;
		if (ll < 5) {
			smtp_client_fail(s, "malformed reply", "");
			return -1;
		}
		if (pipelining && ll >= 14 && memcmp(p + pos + 4, "PIPELINING", 10) == 0)
			*pipelining = true;
		snprintf(s->last, sizeof(s->last), "%.*s", (int)(ll > 70 ? 70 : ll - 1), p + pos);
		if (p[pos + 3] == ' ' || p[pos + 3] == '\r') {
			int code =
			    (p[pos] - '0') * 100 + (p[pos + 1] - '0') * 10 + (p[pos + 2] - '0');

			buf_consume(in, pos + ll);
			return code;
		}
		pos += ll;
	}
	return 0;
}

/* Writes the body of the current message, dot-stuffed, then the final dot. */
static void smtp_client_body(struct smtp_client *s)
{
	const struct client_msg *m = &s->msgs[s->cur];
	size_t i = 0;

	while (i < m->len) {
		const uint8_t *nl = memchr(m->data + i, '\n', m->len - i);
		size_t ll = nl ? (size_t)(nl - (m->data + i)) + 1 : m->len - i;

		if (m->data[i] == '.')
			conn_write(s->c, ".", 1);
		conn_write(s->c, m->data + i, ll);
		i += ll;
	}
	conn_write(s->c, ".\r\n", 3);
	s->dot_sent = true;
}

static void smtp_client_next(struct smtp_client *s)
{
	while (s->cur < s->n && s->msgs[s->cur].acked)
		s->cur++;
	if (s->cur == s->n) {
		conn_printf(s->c, "QUIT\r\n");
		s->st = SC_QUIT;
		return;
	}
	/* RFC 2920 3.1: MAIL, RCPT and DATA may go together when PIPELINING is offered. */
	conn_printf(s->c, "MAIL FROM:<sender@netsim.test>\r\n");
	for (unsigned i = 0; i < s->nrcpt; i++)
		conn_printf(s->c, "RCPT TO:<%s>\r\n", s->rcpt[i]);
	conn_printf(s->c, "DATA\r\n");
	s->rcpt_ok = 0;
	s->st = SC_MAIL;
}

static void smtp_client_input(struct smtp_client *s)
{
	for (;;) {
		int code = smtp_client_reply(s, s->st == SC_EHLO ? &s->pipelining : NULL);

		if (code <= 0)
			return;
		/* 421: the server is closing (RFC 5321 3.8); an MTA retries later. */
		if (code == 421 && s->st != SC_CLOSING) {
			s->retried_421++;
			conn_close(s->c, "421 from the server");
			return;
		}
		switch (s->st) {
		case SC_GREETING:
			if (code != 220)
				return smtp_client_fail(s, "greeting not 220", "");
			conn_printf(s->c, "EHLO client.netsim.test\r\n");
			s->st = SC_EHLO;
			break;
		case SC_EHLO:
			if (code != 250)
				return smtp_client_fail(s, "EHLO refused", "");
			if (!s->pipelining)
				return smtp_client_fail(s, "PIPELINING not offered", "");
			smtp_client_next(s);
			break;
		case SC_MAIL:
			if (code != 250)
				return smtp_client_fail(s, "MAIL refused", "");
			s->st = SC_RCPT;
			break;
		case SC_RCPT:
			if (code != 250)
				return smtp_client_fail(s, "RCPT refused", "");
			if (++s->rcpt_ok == s->nrcpt)
				s->st = SC_DATA;
			break;
		case SC_DATA:
			if (code != 354)
				return smtp_client_fail(s, "DATA refused", "");
			smtp_client_body(s);
			s->st = SC_DOT;
			break;
		case SC_DOT:
			if (code != 250)
				return smtp_client_fail(s, "message refused", "");
			s->msgs[s->cur].acked = true;
			s->dot_sent = false;
			smtp_client_next(s);
			break;
		case SC_QUIT:
			if (code != 221)
				return smtp_client_fail(s, "QUIT not 221", "");
			s->st = SC_CLOSING;
			conn_close(s->c, "done");
			return;
		case SC_CLOSING:
			return;
		}
	}
}

static void smtp_client_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct smtp_client *s = arg;

	switch (ev) {
	case CONN_EV_DATA:
		smtp_client_input(s);
		if (s->state == CLIENT_FAILED)
			conn_close(c, "protocol error");
		break;
	case CONN_EV_DRAINED:
		/* Half-close: our FIN right behind QUIT; the 221 still comes (RFC 9293 3.6). */
		if (s->st == SC_QUIT && s->half_close)
			c->plain.ops->shutdown(c->plain.ctx);
		break;
	case CONN_EV_TIMEOUT:
		conn_close(c, "server silent");
		break;
	case CONN_EV_CLOSED:
		s->c = NULL;
		if (s->dot_sent)
			s->msgs[s->cur].uncertain++;
		if (s->state != CLIENT_RUNNING)
			break;
		if (s->st == SC_CLOSING) {
			s->state = CLIENT_DONE;
			break;
		}
		if (--s->tries == 0) {
			smtp_client_fail(s,
					 "connection lost, no tries left: ", conn_close_reason(c));
			break;
		}
		loop_timer_set(s->loop, &s->retry, 5000);
		break;
	default:
		break;
	}
}

int smtp_client_start(struct loop *loop, struct client_msg *msgs, unsigned n,
		      const char *const *rcpts, unsigned nrcpt, bool half_close, unsigned tries,
		      struct smtp_client **out)
{
	struct smtp_client *s;

	if (nrcpt == 0 || nrcpt > CLIENT_RCPTS_MAX)
		return -MGW_EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -MGW_ENOMEM;
	s->loop = loop;
	s->msgs = msgs;
	s->n = n;
	s->tries = tries;
	s->half_close = half_close;
	for (unsigned i = 0; i < nrcpt; i++)
		snprintf(s->rcpt[i], sizeof(s->rcpt[i]), "%s", rcpts[i]);
	s->nrcpt = nrcpt;
	loop_timer_init(&s->retry, smtp_client_retry_cb, s);
	s->state = CLIENT_RUNNING;
	smtp_client_connect(s);
	*out = s;
	return 0;
}

enum client_state smtp_client_state(const struct smtp_client *s)
{
	return s->state;
}

const char *smtp_client_error(const struct smtp_client *s)
{
	return s->err;
}

void *smtp_client_transport(struct smtp_client *s)
{
	return s->c ? s->c->plain.ctx : NULL;
}

void smtp_client_free(struct smtp_client *s)
{
	if (s == NULL)
		return;
	loop_timer_cancel(s->loop, &s->retry);
	if (s->c) {
		s->c->cb = NULL;
		conn_close(s->c, "simulation over");
	}
	free(s);
}
