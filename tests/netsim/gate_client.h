/*
 * gate_client.h - what the simulator's POP3S and IMAPS clients share: the connection to
 * the daemon's certificate gate (TLS with the client certificate, tls_client.h), the
 * verdict on a closed connection and the retries after network failures.
 *
 * A fatal TLS alert before the greeting is the gate's refusal (CLIENT_REFUSED); a
 * connection lost after login fails the client; one lost before is retried 5 s later,
 * at most p.tries times, as a user's client would. The protocol code sets greeted when
 * the server's greeting arrives and resets its own state then. A client can hold a zero
 * window (p.stall_ms) once, at a moment its protocol chooses (gate_client_stall).
 */
#ifndef MGW_NETSIM_GATE_CLIENT_H
#define MGW_NETSIM_GATE_CLIENT_H

#include "client.h"
#include "tls_client.h"

struct gate_client {
	struct loop *loop;
	struct client_params p;
	struct conn *c;		/* NULL between connections */
	struct tls_client *tls; /* the conn's, until its CONN_EV_CLOSED */
	struct tls_client_conf *conf;
	enum client_state state;
	char err[256];
	unsigned tries;
	bool greeted;
	uint16_t port;
	size_t in_max;
	conn_event_cb cb; /* the protocol's, with arg */
	void *arg;
	struct loop_timer retry;
	bool stalled, stall_done; /* the zero window of p.stall_ms, once per client */
	struct loop_timer stall;
};

/* Sets g up (p is copied; its strings and msgs stay borrowed) and connects; a client that
 * cannot start reports CLIENT_FAILED. */
void gate_client_start(struct gate_client *g, struct loop *loop, const struct client_params *p,
		       uint16_t port, size_t in_max, conn_event_cb cb, void *arg);
/* The first failure is the one reported. */
void gate_client_fail(struct gate_client *g, const char *what, const char *detail);
/* The protocol's CONN_EV_CLOSED: the verdict, or a retry. logged_in: past the login. */
void gate_client_closed(struct gate_client *g, struct conn *c, bool logged_in);
/* Stops reading (the client's window closes) for p.stall_ms, the first time only. */
void gate_client_stall(struct gate_client *g);
/* CONN_EV_TIMEOUT: a stalled client waits on, another gives up on the silent server. */
void gate_client_timeout(struct gate_client *g, struct conn *c);
/* Closes the connection (its TLS context goes when the loop reaps it). */
void gate_client_close(struct gate_client *g);
/* Only after gate_client_close and a loop run: frees the TLS configuration. */
void gate_client_free(struct gate_client *g);

#endif
