/*
 * pop3_client.c - a POP3S client (RFC 1939, RFC 8314 implicit TLS) presenting a client
 * certificate through mbedTLS's client side: TLS, greeting, USER/PASS, STAT, then for
 * each message TOP n 0 and RETR n (un-dot-stuffed, checked against what was sent), DELE,
 * QUIT. A fatal alert from the server before the greeting is the gate's refusal; a
 * connection lost otherwise is retried (a network failure, not a verdict).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "core/err.h"
#include "net/conn.h"
#include "tls_client.h"

struct pop3_client {
	struct loop *loop;
	struct pop3_client_params p;
	struct conn *c;
	struct tls_client *tls; /* the conn's, until its CONN_EV_CLOSED */
	struct tls_client_conf *conf;
	enum client_state state;
	char err[256];
	unsigned tries, step, cur, nstat;
	bool greeted, stalled, stall_done;
	struct loop_timer retry, stall;
	/* the message being read (RETR or TOP), un-dot-stuffed */
	uint8_t *msg;
	size_t msg_len;
};

/* ---- POP3 ---- */

static void pop3_client_event(struct conn *c, enum conn_event ev, void *arg);

static void pop3_client_fail(struct pop3_client *pc, const char *what, const char *detail)
{
	if (pc->state == CLIENT_RUNNING) {
		snprintf(pc->err, sizeof(pc->err), "%s%s", what, detail);
		pc->state = CLIENT_FAILED;
	}
}

static void pop3_client_connect(struct pop3_client *pc)
{
	pc->greeted = false;
	pc->step = 0;
	if (tls_client_connect(pc->loop, pc->conf, CLIENT_ADDR_POP3, 995, 256 * 1024,
			       pop3_client_event, pc, &pc->c, &pc->tls) < 0) {
		pop3_client_fail(pc, "cannot connect", "");
		return;
	}
	conn_set_idle(pc->c, 60000);
}

static void pop3_client_retry_cb(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	pop3_client_connect(t->arg);
}

static void pop3_client_stall_cb(struct loop *loop, struct loop_timer *t)
{
	struct pop3_client *pc = t->arg;

	(void)loop;
	pc->stalled = false;
	pc->stall_done = true;
	if (pc->c)
		conn_pause(pc->c, false);
}

/* Steps of the transaction after the greeting: 0 USER, 1 PASS, 2 STAT, then per message
 * TOP, RETR, DELE; then QUIT. */
static void pop3_client_send(struct pop3_client *pc)
{
	unsigned s = pc->step;

	if (s == 0)
		conn_printf(pc->c, "USER %s\r\n", pc->p.user);
	else if (s == 1)
		conn_printf(pc->c, "PASS %s\r\n", pc->p.pass);
	else if (s == 2)
		conn_printf(pc->c, "STAT\r\n");
	else if (s - 3 < 3 * pc->nstat) {
		unsigned n = (s - 3) / 3 + 1;
		static const char *const cmd[] = {"TOP", "RETR", "DELE"};

		conn_printf(pc->c, "%s %u%s\r\n", cmd[(s - 3) % 3], n,
			    (s - 3) % 3 == 0 ? " 0" : "");
		if ((s - 3) % 3 == 1 && pc->p.stall_ms && !pc->stall_done && !pc->stalled) {
			/* Zero window: we stop reading, the daemon must stop at its limits. */
			pc->stalled = true;
			conn_pause(pc->c, true);
			loop_timer_set(pc->loop, &pc->stall, pc->p.stall_ms);
		}
	} else
		conn_printf(pc->c, "QUIT\r\n");
}

static bool pop3_client_multiline(unsigned step, unsigned nstat)
{
	return step >= 3 && step - 3 < 3 * nstat && (step - 3) % 3 != 2;
}

/* Matches a retrieved message with what was sent: the daemon prepends its trace headers,
 * so the sent bytes must be the message's tail, exactly. */
static void pop3_client_check(struct pop3_client *pc, bool top)
{
	for (unsigned i = 0; i < pc->p.nmsgs; i++) {
		struct client_msg *m = &pc->p.msgs[i];

		if (memmem(pc->msg, pc->msg_len, m->id, strlen(m->id)) == NULL)
			continue;
		if (top) {
			/* TOP n 0: the header and the blank line, no body line. */
			if (pc->msg_len < 4 ||
			    memcmp(pc->msg + pc->msg_len - 4, "\r\n\r\n", 4) != 0)
				pop3_client_fail(pc, "TOP n 0 is not a header: ", m->id);
			return;
		}
		if (pc->msg_len < m->len ||
		    memcmp(pc->msg + pc->msg_len - m->len, m->data, m->len) != 0)
			pop3_client_fail(pc, "message not byte-exact: ", m->id);
		else
			m->seen++;
		return;
	}
	pop3_client_fail(pc, "a message that was never sent arrived", "");
}

/* Consumes complete lines; returns when more input is needed. */
static void pop3_client_input(struct pop3_client *pc)
{
	struct buf *in = conn_in(pc->c);

	for (;;) {
		const uint8_t *p = buf_data(in);
		const uint8_t *nl = memchr(p, '\n', buf_len(in));
		size_t ll;

		if (nl == NULL)
			return;
		ll = (size_t)(nl - p) + 1;
		if (pc->msg) { /* inside a multi-line answer */
			if (ll == 3 && p[0] == '.') {
				pop3_client_check(pc, pc->step >= 3 && (pc->step - 3) % 3 == 0);
				free(pc->msg);
				pc->msg = NULL;
				pc->step++;
				pop3_client_send(pc);
			} else {
				size_t skip = p[0] == '.' ? 1 : 0; /* RFC 1939 3: byte-stuffing */

				if (pc->msg_len + ll > CLIENT_MSG_MAX)
					return pop3_client_fail(pc, "answer too long", "");
				memcpy(pc->msg + pc->msg_len, p + skip, ll - skip);
				pc->msg_len += ll - skip;
			}
			buf_consume(in, ll);
			if (pc->state != CLIENT_RUNNING)
				return;
			continue;
		}
		if (ll < 3 || memcmp(p, "+OK", 3) != 0) {
			char line[80];

			snprintf(line, sizeof(line), "%.*s", (int)(ll > 60 ? 60 : ll - 1), p);
			return pop3_client_fail(pc, "-ERR: ", line);
		}
		if (!pc->greeted) {
			pc->greeted = true;
		} else if (pc->step == 2) {
			if (sscanf((const char *)p, "+OK %u", &pc->nstat) != 1)
				return pop3_client_fail(pc, "STAT unreadable", "");
			pc->step++;
		} else if (pop3_client_multiline(pc->step, pc->nstat)) {
			pc->msg = malloc(CLIENT_MSG_MAX);
			if (pc->msg == NULL)
				return pop3_client_fail(pc, "no memory", "");
			pc->msg_len = 0;
			buf_consume(in, ll);
			continue;
		} else if (pc->step >= 3 + 3 * pc->nstat) {
			buf_consume(in, ll); /* +OK to QUIT: done */
			pc->state = CLIENT_DONE;
			conn_close(pc->c, "done");
			return;
		} else
			pc->step++;
		buf_consume(in, ll);
		pop3_client_send(pc);
	}
}

static void pop3_client_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct pop3_client *pc = arg;
	bool alert;

	switch (ev) {
	case CONN_EV_DATA:
		pop3_client_input(pc);
		if (pc->state == CLIENT_FAILED)
			conn_close(c, "protocol error");
		break;
	case CONN_EV_TIMEOUT:
		if (pc->stalled)
			loop_timer_set(pc->loop, &c->idle, 60000);
		else
			conn_close(c, "server silent");
		break;
	case CONN_EV_CLOSED:
		pc->c = NULL;
		alert = tls_client_alerted(pc->tls);
		pc->tls = NULL; /* freed by the conn right after this event */
		free(pc->msg);
		pc->msg = NULL;
		if (pc->state != CLIENT_RUNNING)
			break;
		if (!pc->greeted && alert) {
			pc->state = CLIENT_REFUSED; /* the gate's verdict */
			snprintf(pc->err, sizeof(pc->err), "refused in the TLS handshake");
			break;
		}
		if (pc->greeted && pc->step >= 2) {
			pop3_client_fail(pc, "connection lost after login: ", conn_close_reason(c));
			break;
		}
		if (--pc->tries == 0) {
			pop3_client_fail(pc,
					 "connection lost, no tries left: ", conn_close_reason(c));
			break;
		}
		loop_timer_set(pc->loop, &pc->retry, 5000);
		break;
	default:
		break;
	}
}

int pop3_client_start(struct loop *loop, const struct pop3_client_params *p,
		      struct pop3_client **out)
{
	struct pop3_client *pc = calloc(1, sizeof(*pc));

	if (pc == NULL)
		return -MGW_ENOMEM;
	pc->loop = loop;
	pc->p = *p;
	pc->tries = p->tries;
	pc->state = CLIENT_RUNNING;
	loop_timer_init(&pc->retry, pop3_client_retry_cb, pc);
	loop_timer_init(&pc->stall, pop3_client_stall_cb, pc);
	if (tls_client_conf_new(p->pki_dir, p->cert, &pc->conf) < 0) {
		*out = pc;
		pop3_client_fail(pc, "client TLS configuration", "");
		return 0;
	}
	pop3_client_connect(pc);
	*out = pc;
	return 0;
}

enum client_state pop3_client_state(const struct pop3_client *pc)
{
	return pc->state;
}

const char *pop3_client_error(const struct pop3_client *pc)
{
	return pc->err;
}

bool pop3_client_stalled(const struct pop3_client *pc)
{
	return pc->stalled;
}

void pop3_client_close(struct pop3_client *pc)
{
	if (pc == NULL)
		return;
	loop_timer_cancel(pc->loop, &pc->retry);
	loop_timer_cancel(pc->loop, &pc->stall);
	if (pc->c) {
		pc->c->cb = NULL;
		conn_close(pc->c, "simulation over");
		pc->c = NULL;
	}
}

void pop3_client_free(struct pop3_client *pc)
{
	if (pc == NULL)
		return;
	pop3_client_close(pc);
	free(pc->msg);
	tls_client_conf_free(pc->conf);
	free(pc);
}
