/* pop3d.c - accepting POP3S connections and giving each a TLS session and a POP3 session. */
#include "pop3d.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "auth/throttle.h"
#include "core/err.h"
#include "core/log.h"
#include "net/conn.h"
#include "net/listen.h"
#include "proto/pop3_sess.h"
#include "store/maildir.h"

static struct {
	struct listener l;
	struct loop *loop;
	bool open;
	struct mgw_gen *const *genp;
	struct maildir_store store;
	struct throttle throttle;
	uint64_t throttle_gen; /* generation whose [auth] settings the throttle uses */
} p3;

int pop3d_open(const struct mgw_cfg *cfg)
{
	if (strcmp(cfg->pop3s_listen, "off") == 0)
		return 0;
	if (listen_open_tcp(&p3.l, "pop3s", cfg->pop3s_listen) < 0) {
		log_err("%s: [pop3s] listen = %s: cannot bind", cfg->path, cfg->pop3s_listen);
		return -MGW_EIO;
	}
	p3.open = true;
	return 0;
}

static void pop3d_release(void *arg)
{
	gen_put(arg);
}

static void pop3d_throttle_params(const struct mgw_gen *g)
{
	struct throttle_params tp;

	if (p3.throttle_gen == g->serial)
		return;
	throttle_params_default(&tp);
	tp.limit = g->cfg.auth_fail_limit;
	tp.window_ms = g->cfg.auth_fail_window * 1000u;
	tp.max_delay_ms = g->cfg.auth_fail_delay * 1000u;
	if (tp.base_ms > tp.max_delay_ms)
		tp.base_ms = tp.max_delay_ms;
	if (p3.throttle_gen == 0)
		throttle_init(&p3.throttle, &tp);
	else
		p3.throttle.p = tp; /* keep the counts across a reload */
	p3.throttle_gen = g->serial;
}

static void pop3d_accept(struct listener *l, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct mgw_gen *g = *p3.genp;
	struct gate_env env;
	struct tls_sess *tls = NULL;
	struct conn *c = NULL;
	int rc;

	(void)l;
	if (conn_count() >= g->cfg.max_connections) {
		log_warn("pop3s: connection refused: max_connections (%u) reached",
			 g->cfg.max_connections);
		close(fd);
		return;
	}
	if (conn_new(p3.loop, fd, sa, salen, POP3_IN_MAX, POP3_OUT_MAX, &c) < 0) {
		close(fd);
		return;
	}
	if (conn_count_peer(c->peer_ip) > POP3_MAX_PER_ADDRESS) {
		log_warn("pop3s %s: refused, more than %u connections from this address", c->peer,
			 POP3_MAX_PER_ADDRESS);
		conn_close(c, "too many connections from this address");
		return;
	}
	pop3d_throttle_params(g);
	/* The gate: client certificate required, verified against this generation's CA+CRL. */
	rc = tls_sess_new(g->tls_gate, c->fd, c->peer, &tls);
	if (rc == 0) {
		rc = conn_start_tls(c, &tls_transport_ops, tls);
		if (rc < 0)
			tls_transport_ops.destroy(tls);
	}
	if (rc < 0) {
		conn_close(c, "cannot start TLS");
		return;
	}
	memset(&env, 0, sizeof(env));
	env.hostname = g->cfg.hostname;
	env.data_dir = g->cfg.data_dir;
	env.identity = (enum tls_identity)g->cfg.tls_identity;
	env.passwd_flags = g->cfg.auth_allow_plain ? PASSWD_ALLOW_PLAIN : 0;
	env.login_timeout_ms = g->cfg.pop3s_login_timeout * 1000u;
	env.idle_timeout_ms = g->cfg.pop3s_idle_timeout * 1000u;
	env.fail_close = g->cfg.auth_fail_close;
	env.store = &p3.store;
	env.throttle = &p3.throttle;
	env.release = pop3d_release;
	env.release_arg = gen_get(g);
	if (pop3_sess_start(c, &env) < 0) {
		gen_put(g);
		conn_close(c, "out of memory");
	}
}

int pop3d_start(struct loop *loop, struct mgw_gen *const *genp)
{
	int rc;

	if (!p3.open)
		return 0;
	p3.genp = genp;
	p3.loop = loop;
	rc = maildir_store_init(&p3.store, (*genp)->cfg.data_dir, (*genp)->cfg.hostname, 0);
	if (rc < 0)
		return rc;
	pop3d_throttle_params(*genp);
	rc = listen_start(loop, &p3.l, pop3d_accept, NULL);
	if (rc == 0)
		log_info("listening pop3s on %s", p3.l.bound);
	return rc;
}

void pop3d_stop(struct loop *loop)
{
	if (p3.open)
		listen_stop(loop, &p3.l);
}

void pop3d_close(struct loop *loop)
{
	if (p3.open)
		listen_close(loop, &p3.l);
	p3.open = false;
}

const char *pop3d_bound(void)
{
	return p3.open ? p3.l.bound : NULL;
}
