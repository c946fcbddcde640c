/*
 * gate.h - what the POP3S and IMAPS services of mailgwd share: one login throttle for
 * both (a password guesser gets no second budget on the other port), the accept-time
 * limits and the TLS certificate gate, and the session environment.
 */
#ifndef MGW_GATE_H
#define MGW_GATE_H

#include <sys/socket.h>

#include "core/loop.h"
#include "gen.h"
#include "net/conn.h"
#include "net/listen.h"
#include "proto/gate_login.h"
#include "store/maildir.h"

/* The process-wide throttle, with generation g's [auth] settings (counts are kept
 * across reloads). */
struct throttle *gate_throttle(const struct mgw_gen *g);

/*
 * Takes an accepted fd of service svc ("pop3s"): refuses it (logged, closed) beyond
 * max_connections or per_address connections from its address, otherwise gives it a
 * conn with the given buffer limits and a TLS session of g's gate. NULL when refused.
 */
struct conn *gate_accept(struct loop *loop, const struct mgw_gen *g, const char *svc, int fd,
			 const struct sockaddr *sa, socklen_t salen, size_t in_max, size_t out_max,
			 unsigned per_address);

/* Fills env from g (holding a reference on g until env->release runs). */
void gate_env_fill(struct gate_env *env, struct mgw_gen *g, struct maildir_store *store,
		   uint32_t login_timeout_ms, uint32_t idle_timeout_ms);

/*
 * A service behind the gate (pop3d.c, imapd.c): a listener, its store and the session it
 * starts for each connection. The constant part is filled by the service; the rest is
 * state of gate_svc_*.
 */
struct gate_svc {
	const char *name; /* "pop3s": logs, the listener's name */
	size_t in_max, out_max;
	unsigned per_address;
	int (*start_sess)(struct conn *c, const struct gate_env *env);
	/* its [section] listen, login and idle timeouts (seconds) in a configuration */
	void (*settings)(const struct mgw_cfg *cfg, const char **listen, uint32_t *login_s,
			 uint32_t *idle_s);

	struct listener l;
	struct loop *loop;
	bool open;
	struct mgw_gen *const *genp;
	struct maildir_store store;
};

/* Binds the listener (as root, before the privilege drop); nothing when listen = off. */
int gate_svc_open(struct gate_svc *v, const struct mgw_cfg *cfg);
/* Starts accepting; *genp is read at every accept (the current generation). */
int gate_svc_start(struct gate_svc *v, struct loop *loop, struct mgw_gen *const *genp);
void gate_svc_stop(struct gate_svc *v, struct loop *loop);
void gate_svc_close(struct gate_svc *v, struct loop *loop);
/* The address bound, or NULL when not listening. */
const char *gate_svc_bound(const struct gate_svc *v);

#endif
