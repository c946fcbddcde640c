/*
 * gate.h - what the POP3S and IMAPS services of mailgwd share: one login throttle for
 * both (a password guesser gets no second budget on the other port), the accept-time
 * limits (each service with its own keys) and the TLS certificate gate, and the session
 * environment.
 */
#ifndef MGW_GATE_H
#define MGW_GATE_H

#include <sys/socket.h>

#include "core/loop.h"
#include "core/work.h"
#include "gen.h"
#include "net/addr_rate.h"
#include "net/conn.h"
#include "net/listen.h"
#include "proto/gate_login.h"
#include "store/maildir.h"

/* The process-wide throttle, with generation g's [auth] settings (counts are kept
 * across reloads). */
struct throttle *gate_throttle(const struct mgw_gen *g);

/* A service's [section] keys in one configuration. */
struct gate_svc_cfg {
	const char *listen;	  /* "off": not opened */
	uint32_t login_s, idle_s; /* idle limits before and after login */
	uint32_t max_connections; /* its share of max_connections */
	uint32_t max_per_address; /* connections from one client network, all services */
	uint32_t rate;		  /* new connections per client network per minute */
};

/*
 * A service behind the gate (pop3d.c, imapd.c): a listener, its store and the session it
 * starts for each connection. The constant part is filled by the service; the rest is
 * state of gate_svc_*.
 *
 * At accept, limits are checked before any TLS work, in the order a flood hits them: the
 * service's share of the connections ([section] max_connections) and all connections
 * (max_connections), connections from the client's network ([section] max_per_address),
 * new connections from it in the last minute ([section] rate). A refused client is
 * closed without a handshake; the handshake must finish within [tls] handshake_timeout.
 */
struct gate_svc {
	const char *name; /* "pop3s": logs, the listener's name, the config section */
	size_t in_max, out_max;
	int (*start_sess)(struct conn *c, const struct gate_env *env);
	void (*settings)(const struct mgw_cfg *cfg, struct gate_svc_cfg *out);

	struct listener l;
	struct loop *loop;
	bool open;
	struct mgw_gen *const *genp;
	struct maildir_store store;
	struct work_pool *work; /* password checks, flushes (borrowed; outlives every session) */
	struct maildir_cq *cq;	/* IMAP APPEND's commits (borrowed; outlives every session) */
	struct addr_rate rate;
	unsigned live; /* connections (sessions) alive, handshakes included */
};

/* Binds the listener (as root, before the privilege drop); nothing when listen = off. */
int gate_svc_open(struct gate_svc *v, const struct mgw_cfg *cfg);
/* Starts accepting; *genp is read at every accept (the current generation). work: the
 * pool the sessions' password checks and flushes run on; cq: the commit queue of IMAP
 * APPEND (both borrowed; they must outlive every session). */
int gate_svc_start(struct gate_svc *v, struct loop *loop, struct mgw_gen *const *genp,
		   struct work_pool *work, struct maildir_cq *cq);
void gate_svc_stop(struct gate_svc *v, struct loop *loop);
void gate_svc_close(struct gate_svc *v, struct loop *loop);
/* The address bound, or NULL when not listening. */
const char *gate_svc_bound(const struct gate_svc *v);
/* Connections of the service alive, handshakes included (status). */
unsigned gate_svc_connections(const struct gate_svc *v);

#endif
