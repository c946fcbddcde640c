/* gate.c - accept-time limits, the TLS gate and the shared throttle of POP3S and IMAPS. */
#include "gate.h"

#include <string.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "auth/throttle.h"
#include "core/err.h"
#include "core/log.h"

static struct {
	struct throttle throttle;
	uint64_t gen; /* generation whose [auth] settings the throttle uses */
} gt;

struct throttle *gate_throttle(const struct mgw_gen *g)
{
	struct throttle_params tp;

	if (gt.gen == g->serial)
		return &gt.throttle;
	throttle_params_default(&tp);
	tp.limit = g->cfg.auth_fail_limit;
	tp.window_ms = g->cfg.auth_fail_window * 1000u;
	tp.max_delay_ms = g->cfg.auth_fail_delay * 1000u;
	if (tp.base_ms > tp.max_delay_ms)
		tp.base_ms = tp.max_delay_ms;
	if (gt.gen == 0)
		throttle_init(&gt.throttle, &tp);
	else
		gt.throttle.p = tp; /* keep the counts across a reload */
	gt.gen = g->serial;
	return &gt.throttle;
}

struct conn *gate_accept(struct loop *loop, const struct mgw_gen *g, const char *svc, int fd,
			 const struct sockaddr *sa, socklen_t salen, size_t in_max, size_t out_max,
			 unsigned per_address)
{
	struct tls_sess *tls = NULL;
	struct conn *c = NULL;
	int rc;

	if (conn_count() >= g->cfg.max_connections) {
		log_warn("%s: connection refused: max_connections (%u) reached", svc,
			 g->cfg.max_connections);
		close(fd);
		return NULL;
	}
	if (conn_new(loop, fd, sa, salen, in_max, out_max, &c) < 0) {
		close(fd);
		return NULL;
	}
	if (conn_count_peer(c->peer_ip) > per_address) {
		log_warn("%s %s: refused, more than %u connections from this address", svc, c->peer,
			 per_address);
		conn_close(c, "too many connections from this address");
		return NULL;
	}
	/* The gate: client certificate required, verified against this generation's CA+CRL. */
	rc = tls_sess_new(g->tls_gate, c->fd, c->peer, &tls);
	if (rc == 0) {
		rc = conn_start_tls(c, &tls_transport_ops, tls);
		if (rc < 0)
			tls_transport_ops.destroy(tls);
	}
	if (rc < 0) {
		conn_close(c, "cannot start TLS");
		return NULL;
	}
	return c;
}

static void gate_release(void *arg)
{
	gen_put(arg);
}

void gate_env_fill(struct gate_env *env, struct mgw_gen *g, struct maildir_store *store,
		   uint32_t login_timeout_ms, uint32_t idle_timeout_ms)
{
	memset(env, 0, sizeof(*env));
	env->hostname = g->cfg.hostname;
	env->data_dir = g->cfg.data_dir;
	env->identity = (enum tls_identity)g->cfg.tls_identity;
	env->passwd_flags = g->cfg.auth_allow_plain ? PASSWD_ALLOW_PLAIN : 0;
	env->login_timeout_ms = login_timeout_ms;
	env->idle_timeout_ms = idle_timeout_ms;
	env->fail_close = g->cfg.auth_fail_close;
	env->max_message_size = g->cfg.smtp_max_message_size;
	env->store = store;
	env->throttle = gate_throttle(g);
	env->release = gate_release;
	env->release_arg = gen_get(g);
}

int gate_svc_open(struct gate_svc *v, const struct mgw_cfg *cfg)
{
	const char *listen;
	uint32_t login_s, idle_s;

	v->settings(cfg, &listen, &login_s, &idle_s);
	if (strcmp(listen, "off") == 0)
		return 0;
	if (listen_open_tcp(&v->l, v->name, listen) < 0) {
		log_err("%s: [%s] listen = %s: cannot bind", cfg->path, v->name, listen);
		return -MGW_EIO;
	}
	v->open = true;
	return 0;
}

static void gate_svc_accept(struct listener *l, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct gate_svc *v = l->arg;
	struct mgw_gen *g = *v->genp;
	struct gate_env env;
	const char *listen;
	uint32_t login_s, idle_s;
	struct conn *c;

	c = gate_accept(v->loop, g, v->name, fd, sa, salen, v->in_max, v->out_max, v->per_address);
	if (c == NULL)
		return;
	v->settings(&g->cfg, &listen, &login_s, &idle_s);
	gate_env_fill(&env, g, &v->store, login_s * 1000u, idle_s * 1000u);
	if (v->start_sess(c, &env) < 0) {
		gen_put(g);
		conn_close(c, "out of memory");
	}
}

int gate_svc_start(struct gate_svc *v, struct loop *loop, struct mgw_gen *const *genp)
{
	int rc;

	if (!v->open)
		return 0;
	v->genp = genp;
	v->loop = loop;
	rc = maildir_store_init(&v->store, (*genp)->cfg.data_dir, (*genp)->cfg.hostname, 0);
	if (rc < 0)
		return rc;
	gate_throttle(*genp);
	rc = listen_start(loop, &v->l, gate_svc_accept, v);
	if (rc == 0)
		log_info("listening %s on %s", v->name, v->l.bound);
	return rc;
}

void gate_svc_stop(struct gate_svc *v, struct loop *loop)
{
	if (v->open)
		listen_stop(loop, &v->l);
}

void gate_svc_close(struct gate_svc *v, struct loop *loop)
{
	if (v->open)
		listen_close(loop, &v->l);
	v->open = false;
}

const char *gate_svc_bound(const struct gate_svc *v)
{
	return v->open ? v->l.bound : NULL;
}
