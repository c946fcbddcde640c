/*
 * gate_client.c - the connection of the simulator's POP3S and IMAPS clients to the
 * certificate gate: connect, the verdict on close, retries (gate_client.h).
 */
#include "gate_client.h"

#include <stdio.h>

static void gate_client_connect(struct gate_client *g)
{
	g->greeted = false;
	if (tls_client_connect(g->loop, g->conf, CLIENT_ADDR_POP3, g->port, g->in_max, g->cb,
			       g->arg, &g->c, &g->tls) < 0) {
		gate_client_fail(g, "cannot connect", "");
		return;
	}
	conn_set_idle(g->c, 60000);
}

static void gate_client_retry_cb(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	gate_client_connect(t->arg);
}

static void gate_client_stall_cb(struct loop *loop, struct loop_timer *t)
{
	struct gate_client *g = t->arg;

	(void)loop;
	g->stalled = false;
	g->stall_done = true;
	if (g->c)
		conn_pause(g->c, false);
}

void gate_client_stall(struct gate_client *g)
{
	if (g->p.stall_ms == 0 || g->stall_done || g->stalled || g->c == NULL)
		return;
	g->stalled = true;
	conn_pause(g->c, true);
	loop_timer_set(g->loop, &g->stall, g->p.stall_ms);
}

void gate_client_timeout(struct gate_client *g, struct conn *c)
{
	if (g->stalled)
		loop_timer_set(g->loop, &c->idle, 60000);
	else
		conn_close(c, "server silent");
}

void gate_client_start(struct gate_client *g, struct loop *loop, const struct client_params *p,
		       uint16_t port, size_t in_max, conn_event_cb cb, void *arg)
{
	g->loop = loop;
	g->p = *p;
	g->tries = p->tries;
	g->port = port;
	g->in_max = in_max;
	g->cb = cb;
	g->arg = arg;
	g->state = CLIENT_RUNNING;
	loop_timer_init(&g->retry, gate_client_retry_cb, g);
	loop_timer_init(&g->stall, gate_client_stall_cb, g);
	if (tls_client_conf_new(p->pki_dir, p->cert, &g->conf) < 0) {
		gate_client_fail(g, "client TLS configuration", "");
		return;
	}
	gate_client_connect(g);
}

void gate_client_fail(struct gate_client *g, const char *what, const char *detail)
{
	if (g->state == CLIENT_RUNNING) {
		snprintf(g->err, sizeof(g->err), "%s%s", what, detail);
		g->state = CLIENT_FAILED;
	}
}

void gate_client_closed(struct gate_client *g, struct conn *c, bool logged_in)
{
	bool alert = tls_client_alerted(g->tls);

	g->c = NULL;
	g->tls = NULL; /* freed by the conn right after this event */
	if (g->state != CLIENT_RUNNING)
		return;
	if (!g->greeted && alert) {
		g->state = CLIENT_REFUSED; /* the gate's verdict */
		snprintf(g->err, sizeof(g->err), "refused in the TLS handshake");
		return;
	}
	if (logged_in) {
		gate_client_fail(g, "connection lost after login: ", conn_close_reason(c));
		return;
	}
	if (--g->tries == 0) {
		gate_client_fail(g, "connection lost, no tries left: ", conn_close_reason(c));
		return;
	}
	loop_timer_set(g->loop, &g->retry, 5000);
}

void gate_client_close(struct gate_client *g)
{
	loop_timer_cancel(g->loop, &g->retry);
	loop_timer_cancel(g->loop, &g->stall);
	if (g->c) {
		g->c->cb = NULL;
		conn_close(g->c, "simulation over");
		g->c = NULL;
	}
}

void gate_client_free(struct gate_client *g)
{
	gate_client_close(g);
	tls_client_conf_free(g->conf);
	g->conf = NULL;
}
