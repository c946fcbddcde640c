/*
 * run.c - one simulated run: a fresh data directory made by the admin code, the daemon's
 * SMTP, POP3S and IMAPS engines on 10.0.0.1 (the same sessions, conns and TLS gate as
 * mailgwd, over lwIP), the clients, the virtual-time driver, and the properties checked
 * at the end.
 */
#include <dirent.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/layout.h"
#include "arch/sys_arch.h"
#include "auth/passwd.h"
#include "auth/shacrypt.h"
#include "cfg/cfg.h"
#include "client.h"
#include "core/err.h"
#include "core/log.h"
#include "lwip/init.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "net/conn.h"
#include "net/lwip/lwip_tcp.h"
#include "netsim.h"
#include "proto/imap_sess.h"
#include "proto/pop3_sess.h"
#include "proto/smtp_sess.h"
#include "simos.h"
#include "store/maildir.h"
#include "tls/hash.h"
#include "tls/tls.h"
#include "wire.h"

#define NETSIM_VTIME_MAX_MS (4u * 3600u * 1000u) /* a run that is not over by then stalled */
/* The virtual clock of the process: each run starts where the last one ended (lwIP's
 * timers, which outlive a run inside the fuzzer, must never see time go back). */
static uint64_t netsim_clock;

#define NETSIM_SPINS_MAX 200000 /* steps at one virtual instant */
#define NETSIM_DOMAIN "example.test"
#define NETSIM_PASS "netsim-secret-1"

/* The daemon side: what mailgwd's smtpd.c and pop3d.c set up, on lwIP listeners. */
struct engine {
	struct loop *loop;
	struct mgw_cfg cfg;
	struct maildir_store store;
	struct throttle throttle;
	struct tls_key *key;
	struct tls_conf *gate;
	struct lwip_tcp_listener *smtp_l, *pop3_l, *imap_l;
	unsigned live;
};

static void engine_release(void *arg)
{
	struct engine *e = arg;

	e->live--;
}

/* gate_env's release(arg, ref): the simulator holds no generation. */
static void engine_gate_release(void *arg, void *ref)
{
	(void)ref;
	engine_release(arg);
}

static void engine_smtp_accept(void *arg, const struct transport *tr, const char *peer)
{
	struct engine *e = arg;
	struct smtp_sess_params p;
	struct conn *c;

	if (conn_new_transport(e->loop, tr, peer, SMTP_IN_MAX, SMTP_OUT_MAX, &c) < 0)
		return;
	memset(&p, 0, sizeof(p));
	p.cfg = &e->cfg;
	p.store = &e->store;
	p.on_close = engine_release;
	p.arg = e;
	e->live++;
	smtp_sess_start(c, &p);
}

/* A connection to the certificate gate: TLS, then the session start (pop3d.c, imapd.c). */
static void engine_gate_accept(struct engine *e, const struct transport *tr, const char *peer,
			       size_t in_max, size_t out_max,
			       int (*start)(struct conn *c, const struct gate_env *env))
{
	struct tls_sess *tls = NULL;
	struct gate_env env;
	struct conn *c;

	if (conn_new_transport(e->loop, tr, peer, in_max, out_max, &c) < 0)
		return;
	conn_set_handshake_timeout(c, e->cfg.tls_handshake_timeout * 1000u);
	if (tls_sess_new_transport(e->gate, &c->plain, c->peer, &tls) < 0 ||
	    conn_start_tls(c, &tls_transport_ops, tls) < 0) {
		if (tls)
			tls_transport_ops.destroy(tls);
		conn_close(c, "cannot start TLS");
		return;
	}
	memset(&env, 0, sizeof(env));
	env.hostname = e->cfg.hostname;
	env.data_dir = e->cfg.data_dir;
	env.identity = (enum tls_identity)e->cfg.tls_identity;
	env.passwd_flags = 0;
	env.login_timeout_ms = e->cfg.pop3s_login_timeout * 1000u;
	env.idle_timeout_ms = e->cfg.pop3s_idle_timeout * 1000u;
	env.fail_close = e->cfg.auth_fail_close;
	env.store = &e->store;
	env.throttle = &e->throttle;
	env.release = engine_gate_release;
	env.release_arg = e;
	e->live++;
	if (start(c, &env) < 0) {
		e->live--;
		conn_close(c, "out of memory");
	}
}

static void engine_pop3_accept(void *arg, const struct transport *tr, const char *peer)
{
	engine_gate_accept(arg, tr, peer, POP3_IN_MAX, POP3_OUT_MAX, pop3_sess_start);
}

static void engine_imap_accept(void *arg, const struct transport *tr, const char *peer)
{
	engine_gate_accept(arg, tr, peer, IMAP_IN_MAX, IMAP_OUT_MAX, imap_sess_start);
}

/* The data directory as an admin makes it: the admin code (lib/admin) that the mailgw
 * CLI runs writes the domain and its users. */
static int engine_data_dir(const char *dir, char *err, size_t errsz)
{
	struct passwd *pw = getpwuid(getuid());
	char msg[LAYOUT_MSG_MAX];
	struct layout l;
	static const char *const users[] = {"joe", "ann", "rev", "foreign"};
	int rc;

	rc = layout_open(&l, dir, pw ? pw->pw_name : "root", msg, sizeof(msg));
	if (rc == 0)
		rc = admin_domain_add(&l, NETSIM_DOMAIN, msg, sizeof(msg));
	for (unsigned i = 0; rc == 0 && i < sizeof(users) / sizeof(users[0]); i++) {
		char addr[64];

		snprintf(addr, sizeof(addr), "%s@%s", users[i], NETSIM_DOMAIN);
		rc = admin_user_add(&l, addr, NETSIM_PASS, strlen(NETSIM_PASS), SHACRYPT_ROUNDS_MIN,
				    msg, sizeof(msg));
	}
	if (rc < 0)
		snprintf(err, errsz, "data directory: %.400s", msg);
	layout_close(&l);
	return rc;
}

static int engine_start(struct engine *e, struct loop *loop, const struct netsim_env *env,
			const char *dir, char *err, size_t errsz)
{
	struct tls_conf_params tp;
	struct throttle_params thp;
	char cert[512], key[512], ca[512], crl[512];
	int rc;

	memset(e, 0, sizeof(*e));
	e->loop = loop;
	cfg_defaults(&e->cfg);
	snprintf(e->cfg.hostname, sizeof(e->cfg.hostname), "mx.netsim.test");
	snprintf(e->cfg.data_dir, sizeof(e->cfg.data_dir), "%s", dir);
	rc = engine_data_dir(dir, err, errsz);
	if (rc < 0)
		return rc;
	rc = maildir_store_init(&e->store, dir, e->cfg.hostname, 0);
	if (rc < 0) {
		snprintf(err, errsz, "maildir_store_init: %d", rc);
		return rc;
	}
	throttle_params_default(&thp);
	throttle_init(&e->throttle, &thp);
	snprintf(cert, sizeof(cert), "%s/server.crt", env->pki_dir);
	snprintf(key, sizeof(key), "%s/server.key", env->pki_dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", env->pki_dir);
	snprintf(crl, sizeof(crl), "%s/crl.pem", env->pki_dir);
	rc = tls_key_load(key, &e->key, err, errsz);
	if (rc < 0)
		return rc;
	memset(&tp, 0, sizeof(tp));
	tp.cert = cert;
	tp.key = e->key;
	tp.ca = ca;
	tp.crl = crl;
	rc = tls_conf_new(&tp, err, errsz, &e->gate);
	if (rc < 0)
		return rc;
	rc = lwip_tcp_listen(CLIENT_ADDR_SERVER, 25, engine_smtp_accept, e, &e->smtp_l);
	if (rc == 0)
		rc = lwip_tcp_listen(CLIENT_ADDR_SERVER, 995, engine_pop3_accept, e, &e->pop3_l);
	if (rc == 0)
		rc = lwip_tcp_listen(CLIENT_ADDR_SERVER, 993, engine_imap_accept, e, &e->imap_l);
	if (rc < 0)
		snprintf(err, errsz, "lwIP listen: %d", rc);
	return rc;
}

static void engine_stop(struct engine *e)
{
	lwip_tcp_listener_close(e->smtp_l);
	lwip_tcp_listener_close(e->pop3_l);
	lwip_tcp_listener_close(e->imap_l);
	e->smtp_l = e->pop3_l = e->imap_l = NULL;
	if (e->gate)
		tls_conf_put(e->gate);
	if (e->key)
		tls_key_free(e->key);
	e->gate = NULL;
	e->key = NULL;
}

/* ---- the messages ---- */

static uint32_t msg_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 32);
}

static int msgs_make(const struct netsim_params *p, struct client_msg *m)
{
	uint64_t rs = p->seed * 0xd1342543de82ef95ull + 7;

	for (unsigned i = 0; i < p->nmsgs; i++) {
		size_t want = p->msg_max ? msg_rand(&rs) % p->msg_max : 0, n;

		snprintf(m[i].id, sizeof(m[i].id), "<%llu.%u@netsim.test>",
			 (unsigned long long)p->seed, i);
		m[i].data = malloc(want + 512);
		if (m[i].data == NULL)
			return -MGW_ENOMEM;
		n = (size_t)snprintf((char *)m[i].data, 512,
				     "From: <sender@netsim.test>\r\nTo: <joe@" NETSIM_DOMAIN
				     ">\r\nSubject: netsim %u\r\nMessage-ID: %s\r\n\r\n",
				     i, m[i].id);
		/* Body lines of random printable text, some starting with '.' (dot-stuffing). */
		while (n < want) {
			size_t ll = msg_rand(&rs) % 90;

			if (msg_rand(&rs) % 8 == 0)
				m[i].data[n++] = '.';
			for (size_t k = 0; k < ll && n < want; k++)
				m[i].data[n++] = (uint8_t)(' ' + msg_rand(&rs) % 95);
			m[i].data[n++] = '\r';
			m[i].data[n++] = '\n';
		}
		m[i].len = n;
	}
	return 0;
}

/* ---- the driver ---- */

struct run {
	const struct netsim_params *p;
	struct netsim_result *r;
	struct wire w;
	struct loop loop;
	struct engine e;
	struct smtp_client *smtp;
	struct pop3_client *joe, *refused[3];
	struct imap_client *ann, *irefused[3]; /* the gate's refusals: over POP3S or IMAPS */
	bool rst_due;
};

static uint64_t run_clock(void *arg)
{
	return ((struct run *)arg)->w.now_ms;
}

static void run_on_packet(void *arg, unsigned n)
{
	struct run *u = arg;

	if (u->p->rst_at_pkt && n == u->p->rst_at_pkt)
		u->rst_due = true; /* acted on outside lwIP's output path */
}

static void run_fail(struct run *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run_fail(struct run *u, const char *fmt, ...)
{
	va_list ap;

	if (!u->r->ok)
		return; /* the first violation is the one reported */
	u->r->ok = false;
	va_start(ap, fmt);
	vsnprintf(u->r->err, sizeof(u->r->err), fmt, ap);
	va_end(ap);
}

/* One step: lwIP timers, packets due, the event loop. */
static void run_step(struct run *u)
{
	lwip_port_set_time((uint32_t)u->w.now_ms);
	sys_check_timeouts();
	wire_deliver(&u->w);
	if (u->rst_due) {
		void *t = u->smtp ? smtp_client_transport(u->smtp) : NULL;

		u->rst_due = false;
		if (t)
			lwip_tcp_abort(t);
	}
	loop_run_once(&u->loop, 0);
}

/* Moves the virtual clock to the next thing that will happen. */
static void run_advance(struct run *u)
{
	uint64_t now = u->w.now_ms, next = now + 1000, t;
	u32_t sleep = sys_timeouts_sleeptime();

	if (loop_busy(&u->loop))
		return;
	if (wire_next(&u->w, &t) && t < next)
		next = t;
	if (loop_next_timer(&u->loop, &t) && t < next)
		next = t;
	if (sleep != SYS_TIMEOUTS_SLEEPTIME_INFINITE && now + sleep < next)
		next = now + sleep;
	u->w.now_ms = next > now ? next : now + 1;
}

/* The state of the gate's client i (POP3S or IMAPS); CLIENT_DONE if it never started. */
static enum client_state run_refused_state(const struct run *u, unsigned i)
{
	if (u->refused[i])
		return pop3_client_state(u->refused[i]);
	return u->irefused[i] ? imap_client_state(u->irefused[i]) : CLIENT_DONE;
}

static const char *run_refused_error(const struct run *u, unsigned i)
{
	if (u->refused[i])
		return pop3_client_error(u->refused[i]);
	return u->irefused[i] ? imap_client_error(u->irefused[i]) : "never started";
}

static bool run_pop3_over(struct run *u)
{
	return u->joe == NULL || pop3_client_state(u->joe) != CLIENT_RUNNING;
}

static bool run_clients_over(struct run *u)
{
	if (smtp_client_state(u->smtp) == CLIENT_RUNNING || !run_pop3_over(u))
		return false;
	if (u->ann && imap_client_state(u->ann) == CLIENT_RUNNING)
		return false;
	for (unsigned i = 0; i < 3; i++)
		if (run_refused_state(u, i) == CLIENT_RUNNING)
			return false;
	return true;
}

static size_t run_server_buffered(uint16_t port)
{
	/* Daemon side of the stalled connection: conn output plus lwIP's send queue of every
	 * connection (the clients' sides hold nothing while they do not write). */
	return conn_out_total() + lwip_tcp_unsent(port);
}

static void run_drive(struct run *u, bool (*until)(struct run *))
{
	uint64_t last = u->w.now_ms;
	unsigned spins = 0;

	while (!until(u) && u->w.now_ms - u->w.t0_ms < NETSIM_VTIME_MAX_MS) {
		/* Virtual time must move: a loop that is always busy at one instant is a livelock.
		 */
		if (u->w.now_ms == last && ++spins > NETSIM_SPINS_MAX) {
			run_fail(u, "livelock: %u steps without virtual time passing at %llu ms",
				 spins, (unsigned long long)last);
			return;
		}
		if (u->w.now_ms != last) {
			last = u->w.now_ms;
			spins = 0;
		}
		run_step(u);
		if (u->joe && pop3_client_stalled(u->joe)) {
			size_t b = run_server_buffered(995);

			if (b > u->r->max_server_buffered)
				u->r->max_server_buffered = b;
		}
		if (u->ann && imap_client_stalled(u->ann)) {
			size_t b = run_server_buffered(993);

			if (b > u->r->max_server_buffered_imap)
				u->r->max_server_buffered_imap = b;
		}
		run_advance(u);
	}
}

static bool run_smtp_over(struct run *u)
{
	bool over = smtp_client_state(u->smtp) != CLIENT_RUNNING;

	for (unsigned i = 0; i < 3; i++)
		over = over && run_refused_state(u, i) != CLIENT_RUNNING;
	return over;
}

static bool run_all_over(struct run *u)
{
	return run_clients_over(u) && conn_count() == 0;
}

static bool run_quiet(struct run *u)
{
	(void)u;
	return lwip_stats.memp[MEMP_TCP_PCB]->used == 0 && conn_count() == 0;
}

static unsigned run_count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int run_no_dot(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

/* The delivered mail of user, names and bytes in name order, into h: what two runs of one
 * seed must store identically. */
static void run_maildir_digest(struct run *u, const char *user, struct hash_ctx *h)
{
	static const char *const subs[] = {"new", "cur", "tmp"};
	static uint8_t data[CLIENT_MSG_MAX + 4096];
	char path[1024], sub[1100], f[1400];

	if (maildir_path(&u->e.store, NETSIM_DOMAIN, user, path, sizeof(path)) < 0)
		return;
	for (unsigned k = 0; k < 3; k++) {
		struct dirent **de = NULL;
		int n;

		snprintf(sub, sizeof(sub), "%s/%s", path, subs[k]);
		n = scandir(sub, &de, run_no_dot, alphasort);
		for (int i = 0; i < n; i++) {
			FILE *fp;
			uint64_t len = 0;

			snprintf(f, sizeof(f), "%s/%s", sub, de[i]->d_name);
			fp = fopen(f, "rb");
			if (fp) {
				len = fread(data, 1, sizeof(data), fp);
				fclose(fp);
			}
			hash_update(h, f + strlen(path), strlen(f + strlen(path)) + 1);
			hash_update(h, &len, sizeof(len));
			hash_update(h, data, (size_t)len);
			free(de[i]);
		}
		free(de);
	}
}

/* The mailbox read over each protocol. */
static const char *const run_box_user[CLIENT_BOXES] = {"joe", "ann"};

/* Each stored file (new/, cur/) of box's user that ends with a sent message, byte-exact,
 * counts as one copy of it; a file that matches no sent message is a violation. */
static void run_count_stored(struct run *u, struct client_msg *m, enum client_box box)
{
	static const char *const subs[] = {"new", "cur"};
	char path[1024], sub[1100], f[1400];
	unsigned fetched[NETSIM_MSGS_MAX];

	if (maildir_path(&u->e.store, NETSIM_DOMAIN, run_box_user[box], path, sizeof(path)) < 0)
		return;
	/* What was fetched before the connection was lost may still be stored (QUIT or
	 * EXPUNGE not processed) or not (their answer was lost): a message counts
	 * max(fetched, stored). */
	for (unsigned i = 0; i < u->p->nmsgs; i++) {
		fetched[i] = m[i].seen[box];
		m[i].seen[box] = 0;
	}
	for (unsigned k = 0; k < 2; k++) {
		DIR *d;
		struct dirent *de;

		snprintf(sub, sizeof(sub), "%s/%s", path, subs[k]);
		d = opendir(sub);
		while (d && (de = readdir(d)) != NULL) {
			FILE *fp;
			static uint8_t data[CLIENT_MSG_MAX + 4096];
			size_t n;
			bool known = false;

			if (de->d_name[0] == '.')
				continue;
			snprintf(f, sizeof(f), "%s/%s", sub, de->d_name);
			fp = fopen(f, "rb");
			n = fp ? fread(data, 1, sizeof(data), fp) : 0;
			if (fp)
				fclose(fp);
			for (unsigned i = 0; i < u->p->nmsgs && !known; i++)
				if (n >= m[i].len &&
				    memcmp(data + n - m[i].len, m[i].data, m[i].len) == 0) {
					m[i].seen[box]++;
					known = true;
				}
			if (!known)
				run_fail(
				    u, "stored file %s is no message that was sent, byte for byte",
				    f);
		}
		if (d)
			closedir(d);
	}
	for (unsigned i = 0; i < u->p->nmsgs; i++)
		if (fetched[i] > m[i].seen[box])
			m[i].seen[box] = fetched[i];
}

/* A client that gave up because the network failed it (lenient runs only). */
static bool run_gave_up(const struct netsim_params *p, const char *err)
{
	return p->lenient && strncmp(err, "connection lost", 15) == 0;
}

/* One mailbox after its client (POP3S joe or IMAPS ann): every message acknowledged with
 * 250 fetched byte-exact, exactly once, and nothing left after DELE+QUIT or EXPUNGE. */
static void run_check_box(struct run *u, struct client_msg *m, enum client_box box, bool started,
			  enum client_state st, const char *err)
{
	static const char *const what[CLIENT_BOXES] = {"POP3S client joe", "IMAPS client ann"};
	static const char *const subs[] = {"new", "cur", "tmp"};
	const struct netsim_params *p = u->p;
	char path[1024], sub[1100];

	if (started && st != CLIENT_DONE && !run_gave_up(p, err))
		run_fail(u, "%s: %s", what[box], err);
	if (!started && !p->lenient)
		run_fail(u, "%s never started", what[box]);
	/* The client did not finish (a lenient run whose network beat it): count what the
	 * store holds instead, as the client would have fetched it. */
	if (st != CLIENT_DONE)
		run_count_stored(u, m, box);
	for (unsigned i = 0; i < p->nmsgs; i++) {
		u->r->retrieved += m[i].seen[box];
		/* 250 means stored exactly once; a copy more only when an attempt's final dot
		 * went unanswered (the sender could not know, RFC 5321 6.1). */
		if (m[i].acked && m[i].seen[box] == 0)
			run_fail(u, "message %s acknowledged with 250 but never delivered to %s",
				 m[i].id, run_box_user[box]);
		if (m[i].seen[box] > (m[i].acked ? 1 : 0) + m[i].uncertain)
			run_fail(u,
				 "message %s delivered %u times to %s (acked %d, unanswered dots "
				 "%u)",
				 m[i].id, m[i].seen[box], run_box_user[box], m[i].acked,
				 m[i].uncertain);
	}
	/* After DELE+QUIT or EXPUNGE: nothing left in the mailbox, no partial file anywhere. */
	if (st != CLIENT_DONE ||
	    maildir_path(&u->e.store, NETSIM_DOMAIN, run_box_user[box], path, sizeof(path)) < 0)
		return;
	for (unsigned i = 0; i < 3; i++) {
		unsigned n;

		snprintf(sub, sizeof(sub), "%s/%s", path, subs[i]);
		n = run_count_files(sub);
		if (n)
			run_fail(u, "%u files left in %s after %s", n, sub,
				 box == CLIENT_BOX_POP3 ? "DELE+QUIT" : "EXPUNGE+LOGOUT");
	}
}

static void run_check(struct run *u, struct client_msg *m)
{
	const struct netsim_params *p = u->p;
	/* Zero window: the daemon holds at most its output buffer, lwIP's send buffer and two
	 * TLS records (one being encrypted, one partly sent). */
	size_t limit = POP3_OUT_MAX + TCP_SND_BUF + 2 * 17 * 1024,
	       ilimit = IMAP_OUT_MAX + TCP_SND_BUF + 2 * 17 * 1024;

	if (!run_clients_over(u) || conn_count() != 0)
		run_fail(
		    u, "a session stalled: still running at virtual time %llu ms (%zu connections)",
		    (unsigned long long)u->w.now_ms, conn_count());
	if (smtp_client_state(u->smtp) != CLIENT_DONE &&
	    !run_gave_up(p, smtp_client_error(u->smtp)))
		run_fail(u, "SMTP sender: %s", smtp_client_error(u->smtp));
	for (unsigned i = 0; i < 3; i++) {
		enum client_state st = run_refused_state(u, i);
		const char *e = run_refused_error(u, i);

		if (st == CLIENT_REFUSED)
			u->r->gate_refused++;
		else if (st == CLIENT_DONE || !run_gave_up(p, e))
			run_fail(u, "certificate gate (%s): client %u not refused (%s)",
				 u->refused[i] ? "POP3S" : "IMAPS", i,
				 st == CLIENT_DONE ? "it logged in" : e);
	}
	for (unsigned i = 0; i < p->nmsgs; i++)
		u->r->acked += m[i].acked;
	run_check_box(u, m, CLIENT_BOX_POP3, u->joe != NULL,
		      u->joe ? pop3_client_state(u->joe) : CLIENT_FAILED,
		      u->joe ? pop3_client_error(u->joe) : "");
	run_check_box(u, m, CLIENT_BOX_IMAP, u->ann != NULL,
		      u->ann ? imap_client_state(u->ann) : CLIENT_FAILED,
		      u->ann ? imap_client_error(u->ann) : "");
	if (p->stall_ms && u->r->max_server_buffered > limit)
		run_fail(u, "zero window (POP3S): the daemon buffered %zu bytes (limit %zu)",
			 u->r->max_server_buffered, limit);
	if (p->stall_ms && u->r->max_server_buffered_imap > ilimit)
		run_fail(u, "zero window (IMAPS): the daemon buffered %zu bytes (limit %zu)",
			 u->r->max_server_buffered_imap, ilimit);
}

static void run_check_memory(struct run *u)
{
	static const struct {
		memp_t t;
		const char *name;
	} pools[] = {
	    {MEMP_TCP_PCB, "TCP PCBs"},
	    {MEMP_TCP_SEG, "TCP segments"},
	    {MEMP_PBUF, "pbufs"},
	    {MEMP_PBUF_POOL, "pool pbufs"},
	};

	for (size_t i = 0; i < sizeof(pools) / sizeof(pools[0]); i++)
		if (lwip_stats.memp[pools[i].t]->used)
			run_fail(u, "leak: %u %s still allocated at the end",
				 (unsigned)lwip_stats.memp[pools[i].t]->used, pools[i].name);
	if (lwip_stats.mem.used)
		run_fail(u, "leak: %u bytes of lwIP's heap still allocated at the end",
			 (unsigned)lwip_stats.mem.used);
	if (lwip_tcp_live() || lwip_tcp_queued())
		run_fail(u, "leak: %zu lwIP transports, %zu queued bytes at the end",
			 lwip_tcp_live(), lwip_tcp_queued());
}

int netsim_run(const struct netsim_params *p, const struct netsim_env *env, struct netsim_result *r)
{
	static bool lwip_ready;
	struct client_msg m[NETSIM_MSGS_MAX];
	struct client_params pp;
	char dir[200], err[1024];
	struct run *u = calloc(1, sizeof(*u));
	static const char *const bad[] = {"rev", "foreign", NULL};
	static const char *const rcpts[CLIENT_BOXES] = {"joe@" NETSIM_DOMAIN, "ann@" NETSIM_DOMAIN};
	int64_t epoch = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	memset(m, 0, sizeof(m));
	r->ok = true;
	if (u == NULL)
		return -MGW_ENOMEM;
	u->p = p;
	u->r = r;
	if (!lwip_ready) {
		lwip_init();
		lwip_ready = true;
	}
	log_set_level(env->verbose ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	lwip_port_seed(p->seed + 1);
	snprintf(dir, sizeof(dir), "%s/run.XXXXXX", env->work_dir);
	snprintf(err, sizeof(err), "%s/crl.pem", env->pki_dir);
	rc = simos_epoch_from_crl(err, &epoch);
	if (rc == 0)
		rc = mkdtemp(dir) ? 0 : -MGW_EIO;
	if (rc == 0)
		rc = wire_init(&u->w, p, env->pcap, netsim_clock);
	if (rc == 0)
		rc = loop_init(&u->loop);
	if (rc < 0) {
		free(u);
		return rc;
	}
	/* From here on randomness and time are the simulation's (simos.h). */
	simos_start(p->seed, epoch, env->real_time ? NULL : &u->w.now_ms);
	loop_set_clock(&u->loop, run_clock, u);
	u->w.on_packet = run_on_packet;
	u->w.on_packet_arg = u;
	wire_netif_add(&u->w, CLIENT_ADDR_SERVER, 1460);
	wire_netif_add(&u->w, CLIENT_ADDR_SMTP, p->mss);
	wire_netif_add(&u->w, CLIENT_ADDR_POP3, p->mss);
	err[0] = '\0';
	rc = engine_start(&u->e, &u->loop, env, dir, err, sizeof(err));
	if (rc == 0)
		rc = msgs_make(p, m);
	if (rc < 0) {
		fprintf(stderr, "netsim: cannot set up the run: %s\n", err);
		goto out;
	}
	rc = smtp_client_start(&u->loop, m, p->nmsgs, rcpts, CLIENT_BOXES, p->smtp_half_close, 6,
			       &u->smtp);
	/* The gate under the same network: revoked, foreign-CA and certificate-less clients,
	 * over POP3S or IMAPS. */
	memset(&pp, 0, sizeof(pp));
	pp.pki_dir = env->pki_dir;
	pp.pass = NETSIM_PASS;
	pp.tries = 6;
	for (unsigned i = 0; rc == 0 && i < 3; i++) {
		pp.cert = bad[i];
		pp.user = "rev@" NETSIM_DOMAIN;
		if (p->gate_imap)
			rc = imap_client_start(&u->loop, &pp, &u->irefused[i]);
		else
			rc = pop3_client_start(&u->loop, &pp, &u->refused[i]);
	}
	if (rc < 0)
		goto out;
	run_drive(u, run_smtp_over);
	{
		struct hash_ctx h;

		hash_init(&h, HASH_SHA256);
		for (unsigned i = 0; i < CLIENT_BOXES; i++)
			run_maildir_digest(u, run_box_user[i], &h);
		if (hash_finish(&h, r->maildir_sha256) < 0)
			run_fail(u, "cannot hash the delivered mail%s", "");
	}
	/* Then the users fetch the mail with their client certificates: joe over POP3S
	 * (RETR/TOP/DELE), then ann over IMAPS (UID FETCH, STORE \Deleted, EXPUNGE). */
	pp.cert = "joe";
	pp.user = "joe@" NETSIM_DOMAIN;
	pp.msgs = m;
	pp.nmsgs = p->nmsgs;
	pp.stall_ms = p->stall_ms;
	if (smtp_client_state(u->smtp) == CLIENT_DONE)
		rc = pop3_client_start(&u->loop, &pp, &u->joe);
	run_drive(u, run_pop3_over);
	pp.cert = "ann";
	pp.user = "ann@" NETSIM_DOMAIN;
	if (rc == 0 && smtp_client_state(u->smtp) == CLIENT_DONE)
		rc = imap_client_start(&u->loop, &pp, &u->ann);
	run_drive(u, run_all_over);
	run_check(u, m);
	r->vtime_ms = u->w.now_ms - u->w.t0_ms;
	/* Let lwIP finish (FIN handshakes, TIME_WAIT), then count what is left. */
	smtp_client_free(u->smtp);
	pop3_client_close(u->joe);
	imap_client_close(u->ann);
	for (unsigned i = 0; i < 3; i++) {
		pop3_client_close(u->refused[i]);
		imap_client_close(u->irefused[i]);
	}
	loop_run_once(&u->loop, 0); /* reaps the conns, and their TLS contexts */
	pop3_client_free(u->joe);
	imap_client_free(u->ann);
	for (unsigned i = 0; i < 3; i++) {
		pop3_client_free(u->refused[i]);
		imap_client_free(u->irefused[i]);
	}
	u->smtp = NULL;
	u->joe = NULL;
	u->ann = NULL;
	memset(u->refused, 0, sizeof(u->refused));
	memset(u->irefused, 0, sizeof(u->irefused));
	engine_stop(&u->e);
	loop_run_once(&u->loop, 0);
	run_drive(u, run_quiet);
	run_check_memory(u);
out:
	netsim_clock = u->w.now_ms + 1000;
	r->packets = u->w.packets;
	r->dropped = u->w.dropped;
	r->corrupted = u->w.corrupted;
	r->duplicated = u->w.duplicated;
	if (wire_free(&u->w) < 0 && rc == 0)
		rc = -MGW_EIO;
	memcpy(r->pcap_sha256, u->w.pcap_sha256, sizeof(r->pcap_sha256));
	loop_free(&u->loop);
	for (unsigned i = 0; i < NETSIM_MSGS_MAX; i++)
		free(m[i].data);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			rc = rc ? rc : -MGW_EIO;
	}
	simos_stop();
	free(u);
	return rc;
}
