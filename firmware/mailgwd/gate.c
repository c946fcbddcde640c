/* gate.c - accept-time limits, the TLS gate and the shared throttle of POP3S and IMAPS. */
#include "gate.h"

#include <string.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "auth/throttle.h"
#include "core/err.h"
#include "core/log.h"

#define GATE_RATE_WINDOW_MS 60000 /* [section] rate is per minute */

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

static void gate_release(void *arg, void *ref)
{
	struct gate_svc *v = arg;

	v->live--;
	gen_put(ref);
}

/* Fills env for a session of v from g (holding a reference on g and counting the session
 * in v->live until env->release runs). */
static void gate_env_fill(struct gate_env *env, struct gate_svc *v, struct mgw_gen *g,
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
	env->quota_default = cfg_smtp_quota(&g->cfg);
	env->store = &v->store;
	env->throttle = gate_throttle(g);
	env->work = v->work;
	env->cq = v->cq;
	env->release = gate_release;
	env->release_arg = v;
	env->release_ref = gen_get(g);
	v->live++;
}

int gate_svc_open(struct gate_svc *v, const struct mgw_cfg *cfg)
{
	struct gate_svc_cfg sc;

	v->settings(cfg, &sc);
	if (strcmp(sc.listen, "off") == 0)
		return 0;
	if (listen_open_tcp(&v->l, v->name, sc.listen) < 0) {
		log_err("%s: [%s] listen = %s: cannot bind", cfg->path, v->name, sc.listen);
		return -MGW_EIO;
	}
	v->open = true;
	return 0;
}

/* The accept-time limits (gate.h), then the TLS session of g's gate. NULL when refused
 * (logged, closed). */
static struct conn *gate_accept(struct gate_svc *v, const struct mgw_gen *g,
				const struct gate_svc_cfg *sc, int fd, const struct sockaddr *sa,
				socklen_t salen)
{
	struct tls_sess *tls = NULL;
	struct conn *c = NULL;
	int rc;

	/* Listeners outlive reloads, which must keep the gate (main.c); never hand TLS a
	 * missing configuration. */
	if (g->tls_gate == NULL) {
		log_err("%s: connection refused: generation %llu has no certificate gate", v->name,
			(unsigned long long)g->serial);
		close(fd);
		return NULL;
	}
	if (v->live >= sc->max_connections || conn_count() >= g->cfg.max_connections) {
		log_warn("%s: connection refused: %u connections ([%s] max_connections %u), %zu in "
			 "all (max_connections %u)",
			 v->name, v->live, v->name, sc->max_connections, conn_count(),
			 g->cfg.max_connections);
		close(fd);
		return NULL;
	}
	if (conn_new(v->loop, fd, sa, salen, v->in_max, v->out_max, &c) < 0) {
		close(fd);
		return NULL;
	}
	if (conn_count_peer(c->peer_net) > sc->max_per_address) {
		log_warn("%s %s: refused, more than %u connections from this address", v->name,
			 c->peer, sc->max_per_address);
		conn_close(c, "too many connections from this address");
		return NULL;
	}
	if (!addr_rate_allow(&v->rate, c->peer_net, loop_now_ms(v->loop), sc->rate)) {
		log_warn("%s %s: refused, more than %u connections per minute", v->name, c->peer,
			 sc->rate);
		conn_close(c, "connection rate limit");
		return NULL;
	}
	conn_set_handshake_timeout(c, g->cfg.tls_handshake_timeout * 1000u);
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

static void gate_svc_accept(struct listener *l, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct gate_svc *v = l->arg;
	struct mgw_gen *g = *v->genp;
	struct gate_svc_cfg sc;
	struct gate_env env;
	struct conn *c;

	v->settings(&g->cfg, &sc);
	c = gate_accept(v, g, &sc, fd, sa, salen);
	if (c == NULL)
		return;
	gate_env_fill(&env, v, g, sc.login_s * 1000u, sc.idle_s * 1000u);
	if (v->start_sess(c, &env) < 0) {
		v->live--;
		gen_put(g);
		conn_close(c, "out of memory");
	}
}

int gate_svc_start(struct gate_svc *v, struct loop *loop, struct mgw_gen *const *genp,
		   struct work_pool *work, struct maildir_cq *cq)
{
	int rc;

	if (!v->open)
		return 0;
	v->genp = genp;
	v->loop = loop;
	v->work = work;
	v->cq = cq;
	rc = maildir_store_init(&v->store, (*genp)->cfg.data_dir, (*genp)->cfg.hostname, 0);
	if (rc < 0)
		return rc;
	gate_throttle(*genp);
	addr_rate_init(&v->rate, GATE_RATE_WINDOW_MS);
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

unsigned gate_svc_connections(const struct gate_svc *v)
{
	return v->live;
}
