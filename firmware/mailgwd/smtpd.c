/*
 * smtpd.c - accepting SMTP connections: limits first, then a session.
 *
 * Limits are checked in the order a flood would hit them: all connections of the
 * daemon (max_connections), SMTP sessions ([smtp] max_connections, SMTP's own share),
 * sessions from this address (max_per_address; IPv6 per ipv6_prefix network), new
 * connections from it in the last minute (rate). A refused client gets "421 4.7.0" and
 * is closed. A STARTTLS handshake must finish within [tls] handshake_timeout.
 */
#include "smtpd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "mgw_config.h"
#include "net/addr_rate.h"
#include "net/conn.h"
#include "net/listen.h"
#include "proto/imap_sess.h"
#include "proto/smtp_rcpt.h"
#include "proto/smtp_sess.h"
#include "store/maildir.h"
#include "tls/tls.h"

#define SMTPD_RATE_WINDOW_MS 60000

static struct {
	struct listener l;
	bool open;
	struct loop *loop;
	struct mgw_gen **genp;
	struct maildir_store store;
	struct maildir_cq *cq;	/* the process's commit queue (borrowed) */
	struct work_pool *work; /* the process's worker pool (borrowed): spool files */
	struct addr_rate rate;
	unsigned live;
} sd;

int smtpd_open(const struct mgw_cfg *cfg)
{
	if (strcmp(cfg->smtp_listen, "off") == 0)
		return 0;
	if (listen_open_tcp(&sd.l, "smtp", cfg->smtp_listen) < 0)
		return -MGW_EIO;
	sd.open = true;
	return 0;
}

const char *smtpd_bound(void)
{
	return sd.open ? sd.l.bound : NULL;
}

static void smtpd_sess_closed(void *arg)
{
	sd.live--;
	gen_put(arg);
}

/* STARTTLS with the generation's server-only configuration (no client certificate). */
static int smtpd_tls_new(void *arg, struct conn *c, const struct transport_ops **ops, void **ctx)
{
	struct mgw_gen *g = arg;
	struct tls_sess *ts;
	int rc;

	if (g->tls_server == NULL)
		return -MGW_ETLS;
	rc = tls_sess_new(g->tls_server, c->fd, c->peer, &ts);
	if (rc < 0)
		return rc;
	*ops = &tls_transport_ops;
	*ctx = ts;
	return 0;
}

static void smtpd_tls_describe(void *tls_ctx, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s %s", tls_sess_version(tls_ctx), tls_sess_cipher(tls_ctx));
}

static const struct smtp_tls_hooks smtpd_tls_hooks = {
    .server_new = smtpd_tls_new,
    .describe = smtpd_tls_describe,
};

static void smtpd_accept(struct listener *l, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct mgw_gen *g = *sd.genp;
	const struct mgw_cfg *cfg = &g->cfg;
	struct smtp_sess_params p;
	struct conn *c;

	(void)l;
	if (conn_new(sd.loop, fd, sa, salen, SMTP_IN_MAX, SMTP_OUT_MAX, &c) < 0) {
		close(fd);
		return;
	}
	if (conn_count() > cfg->max_connections || sd.live >= cfg->smtp_max_connections) {
		log_warn("smtp %s: refused, too many connections", c->peer);
		smtp_sess_refuse(c, cfg->hostname, "too many connections");
		return;
	}
	if (conn_count_peer(c->peer_net) > cfg->smtp_max_per_address) {
		log_warn("smtp %s: refused, more than %u connections from this address", c->peer,
			 cfg->smtp_max_per_address);
		smtp_sess_refuse(c, cfg->hostname, "too many connections from your address");
		return;
	}
	if (!addr_rate_allow(&sd.rate, c->peer_net, loop_now_ms(sd.loop), cfg->smtp_rate)) {
		log_warn("smtp %s: refused, more than %u connections per minute", c->peer,
			 cfg->smtp_rate);
		smtp_sess_refuse(c, cfg->hostname, "connection rate limit exceeded");
		return;
	}
	conn_set_handshake_timeout(c, cfg->tls_handshake_timeout * 1000u);
	/* The reserve follows reloads; the store is otherwise fixed at start. */
	sd.store.reserve_bytes = cfg->smtp_min_free_space;
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.store = &sd.store;
	p.cq = sd.cq;
	p.work = sd.work;
	p.tls = CONFIG_FEATURE_STARTTLS && g->tls_server ? &smtpd_tls_hooks : NULL;
	p.on_close = smtpd_sess_closed;
	p.arg = gen_get(g);
	sd.live++;
	log_debug("smtp %s: connected", c->peer);
	smtp_sess_start(c, &p);
}

int smtpd_start(struct loop *loop, struct mgw_gen **genp, struct maildir_cq *cq,
		struct work_pool *work)
{
	const struct mgw_cfg *cfg = &(*genp)->cfg;
	unsigned removed = 0;
	char why[256];
	int rc;

	if (!sd.open)
		return 0;
	sd.loop = loop;
	sd.genp = genp;
	sd.cq = cq;
	sd.work = work;
	addr_rate_init(&sd.rate, SMTPD_RATE_WINDOW_MS);
	if (smtp_admins_check(cfg->smtp_postmaster, why, sizeof(why)) < 0) {
		log_err("%s: [smtp] postmaster: %s", cfg->path, why);
		return -MGW_ECONFIG;
	}
	rc = maildir_store_init(&sd.store, cfg->data_dir, cfg->hostname, cfg->smtp_min_free_space);
	if (rc < 0) {
		log_err("smtp: cannot open the mail store under %s: %s", cfg->data_dir,
			mgw_strerror(rc));
		return rc;
	}
	/* IMAP IDLE sessions of the recipients learn of a delivery at once. */
	sd.store.notify = imap_sess_notify;
	/* What a crash left in the spool or tmp/ was never acknowledged: remove it. */
	if (maildir_store_cleanup(&sd.store, time(NULL), &removed) < 0)
		log_warn("smtp: the store cleanup left some files (see above)");
	if (removed)
		log_info("smtp: removed %u unacknowledged partial deliveries", removed);
	if (cfg->smtp_postmaster[0] == '\0')
		log_warn(
		    "%s: [smtp] postmaster is not set: mail to postmaster and abuse is deferred",
		    cfg->path);
	return listen_start(loop, &sd.l, smtpd_accept, NULL);
}

unsigned smtpd_sessions(void)
{
	return sd.live;
}

void smtpd_stop(struct loop *loop)
{
	if (sd.open && sd.l.running)
		listen_stop(loop, &sd.l);
}

void smtpd_close(struct loop *loop)
{
	if (sd.open)
		listen_close(loop, &sd.l);
	sd.open = false;
}
