/*
 * pop3_client.c - a POP3S client (RFC 1939, RFC 8314 implicit TLS) presenting a client
 * certificate through mbedTLS's client side: TLS, greeting, USER/PASS, STAT, then for
 * each message TOP n 0 and RETR n (un-dot-stuffed, checked against what was sent), DELE,
 * QUIT. The connection, the gate's verdict and retries are gate_client.h's. It can hold
 * a zero window (stall_ms) in its first RETR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "core/err.h"
#include "net/conn.h"
#include "gate_client.h"

struct pop3_client {
	struct gate_client g; /* the connection, the verdict, retries */
	unsigned step, cur, nstat;
	/* the message being read (RETR or TOP), un-dot-stuffed */
	uint8_t *msg;
	size_t msg_len;
};

static void pop3_client_event(struct conn *c, enum conn_event ev, void *arg);

/* Steps of the transaction after the greeting: 0 USER, 1 PASS, 2 STAT, then per message
 * TOP, RETR, DELE; then QUIT. */
static void pop3_client_send(struct pop3_client *pc)
{
	unsigned s = pc->step;

	if (s == 0)
		conn_printf(pc->g.c, "USER %s\r\n", pc->g.p.user);
	else if (s == 1)
		conn_printf(pc->g.c, "PASS %s\r\n", pc->g.p.pass);
	else if (s == 2)
		conn_printf(pc->g.c, "STAT\r\n");
	else if (s - 3 < 3 * pc->nstat) {
		unsigned n = (s - 3) / 3 + 1;
		static const char *const cmd[] = {"TOP", "RETR", "DELE"};

		conn_printf(pc->g.c, "%s %u%s\r\n", cmd[(s - 3) % 3], n,
			    (s - 3) % 3 == 0 ? " 0" : "");
		if ((s - 3) % 3 == 1) /* zero window in RETR: the daemon must stop at its limits */
			gate_client_stall(&pc->g);
	} else
		conn_printf(pc->g.c, "QUIT\r\n");
}

static bool pop3_client_multiline(unsigned step, unsigned nstat)
{
	return step >= 3 && step - 3 < 3 * nstat && (step - 3) % 3 != 2;
}

/* Matches a retrieved message with what was sent: the daemon prepends its trace headers,
 * so the sent bytes must be the message's tail, exactly. */
static void pop3_client_check(struct pop3_client *pc, bool top)
{
	for (unsigned i = 0; i < pc->g.p.nmsgs; i++) {
		struct client_msg *m = &pc->g.p.msgs[i];

		if (memmem(pc->msg, pc->msg_len, m->id, strlen(m->id)) == NULL)
			continue;
		if (top) {
			/* TOP n 0: the header and the blank line, no body line. */
			if (pc->msg_len < 4 ||
			    memcmp(pc->msg + pc->msg_len - 4, "\r\n\r\n", 4) != 0)
				gate_client_fail(&pc->g, "TOP n 0 is not a header: ", m->id);
			return;
		}
		if (pc->msg_len < m->len ||
		    memcmp(pc->msg + pc->msg_len - m->len, m->data, m->len) != 0)
			gate_client_fail(&pc->g, "message not byte-exact: ", m->id);
		else
			m->seen[CLIENT_BOX_POP3]++;
		return;
	}
	gate_client_fail(&pc->g, "a message that was never sent arrived", "");
}

/* Consumes complete lines; returns when more input is needed. */
static void pop3_client_input(struct pop3_client *pc)
{
	struct buf *in = conn_in(pc->g.c);

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
					return gate_client_fail(&pc->g, "answer too long", "");
				memcpy(pc->msg + pc->msg_len, p + skip, ll - skip);
				pc->msg_len += ll - skip;
			}
			buf_consume(in, ll);
			if (pc->g.state != CLIENT_RUNNING)
				return;
			continue;
		}
		if (ll < 3 || memcmp(p, "+OK", 3) != 0) {
			char line[80];

			snprintf(line, sizeof(line), "%.*s", (int)(ll > 60 ? 60 : ll - 1), p);
			return gate_client_fail(&pc->g, "-ERR: ", line);
		}
		if (!pc->g.greeted) {
			pc->g.greeted = true;
			pc->step = 0;
		} else if (pc->step == 2) {
			if (sscanf((const char *)p, "+OK %u", &pc->nstat) != 1)
				return gate_client_fail(&pc->g, "STAT unreadable", "");
			pc->step++;
		} else if (pop3_client_multiline(pc->step, pc->nstat)) {
			pc->msg = malloc(CLIENT_MSG_MAX);
			if (pc->msg == NULL)
				return gate_client_fail(&pc->g, "no memory", "");
			pc->msg_len = 0;
			buf_consume(in, ll);
			continue;
		} else if (pc->step >= 3 + 3 * pc->nstat) {
			buf_consume(in, ll); /* +OK to QUIT: done */
			pc->g.state = CLIENT_DONE;
			conn_close(pc->g.c, "done");
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

	switch (ev) {
	case CONN_EV_DATA:
		pop3_client_input(pc);
		if (pc->g.state == CLIENT_FAILED)
			conn_close(c, "protocol error");
		break;
	case CONN_EV_TIMEOUT:
		gate_client_timeout(&pc->g, c);
		break;
	case CONN_EV_CLOSED:
		free(pc->msg);
		pc->msg = NULL;
		gate_client_closed(&pc->g, c, pc->g.greeted && pc->step >= 2);
		break;
	default:
		break;
	}
}

int pop3_client_start(struct loop *loop, const struct client_params *p, struct pop3_client **out)
{
	struct pop3_client *pc = calloc(1, sizeof(*pc));

	if (pc == NULL)
		return -MGW_ENOMEM;
	gate_client_start(&pc->g, loop, p, 995, 256 * 1024, pop3_client_event, pc);
	*out = pc;
	return 0;
}

enum client_state pop3_client_state(const struct pop3_client *pc)
{
	return pc->g.state;
}

const char *pop3_client_error(const struct pop3_client *pc)
{
	return pc->g.err;
}

bool pop3_client_stalled(const struct pop3_client *pc)
{
	return pc->g.stalled;
}

void pop3_client_close(struct pop3_client *pc)
{
	if (pc == NULL)
		return;
	gate_client_close(&pc->g);
}

void pop3_client_free(struct pop3_client *pc)
{
	if (pc == NULL)
		return;
	gate_client_free(&pc->g);
	free(pc->msg);
	free(pc);
}
