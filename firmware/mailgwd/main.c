/*
 * main.c - mailgwd: start-up, privilege drop, signals, reload, graceful stop.
 *
 * Order at start: load and validate the configuration (never start half-configured),
 * bind every socket and read every secret as root, drop privileges, then run the loop.
 * SIGHUP (or "reload" on the control socket) builds a new generation; a bad file keeps
 * the running one and logs why. SIGTERM/SIGINT stop accepting, give sessions
 * shutdown_grace seconds, close the rest and exit 0.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin/migrate.h"
#include "cfg/cfg.h"
#include "control.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/work.h"
#include "cw/state.h"
#include "gen.h"
#include "mgw_config.h"
#include "net/conn.h"
#include "net/listen.h"
#include "watchdog/wdt.h"
#include "imapd.h"
#include "pop3d.h"
#include "proto/imap_sess.h"
#include "proto/pop3_sess.h"
#include "smtpd.h"
#include "store/commitq.h"
#include "store/dirsync.h"
#include "store/quota.h"

#define MAILGWD_VERSION "0.1.0"
#define MAILGWD_EXIT_DATA_FORMAT 3 /* /data needs a newer firmware (mailgwd-run waits) */
/* The worker pool (core/work.h): fsyncs, SMTP spool files' creation and password
 * checks. Four threads: the boards have four cores, and a slow SD card fsync should not
 * hold the only worker. */
#define MAILGWD_WORKERS 4
/* The TLS handshake steps' own pool (net/conn.h, README "TLS cost"): two threads, so a
 * login storm uses at most two cores for handshakes and never waits in the queue of the
 * fsyncs and password checks above (nor they in its); at most 64 steps waiting, beyond
 * which new handshakes are refused. */
#define MAILGWD_HS_WORKERS 2
#define MAILGWD_HS_QUEUE 64
/* ... and at a lower priority than the loop, which then gets a core first: logged-in
 * users' commands before the storm's handshakes (README "TLS cost"). */
#define MAILGWD_HS_NICE 10

static struct {
	struct loop loop;
	struct mgw_gen *gen; /* current generation; sessions hold their own references */
	const char *conf_path;
	struct listener control;
	struct loop_io sig_io;
	struct loop_timer stop_timer;
	struct wdt wdt;		     /* hardware watchdog, petted from the loop */
	struct loop_timer wdt_timer; /* wakes an idle loop in time to pet */
	struct loop_timer log_timer; /* wakes an idle loop when a log summary is due */
	struct work_pool work;	     /* workers for the calls that may block */
	struct maildir_cq cq;	     /* commit queue: SMTP deliveries, IMAP APPENDs */
	struct work_pool hs_work;    /* workers for TLS handshake steps */
	bool work_started;
	bool work_stuck_logged;
	int sig_fd;
	bool stopping;
	time_t started;
	uid_t start_uid;
} d;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mailgwd [-c FILE] [-t] [-V]\n"
		"  -c FILE  configuration file (default %s/etc/mailgw.conf)\n"
		"  -t       check the configuration and exit\n"
		"  -V       print the version and exit\n"
		"exit status 3: the data directory is in a format this mailgwd must not run on\n",
		CONFIG_DATA_DIR);
}

/*
 * Listeners are bound once, as root, and a reload does not change them: a reloaded
 * configuration is checked against the listeners that run, not against its own listen
 * keys (a POP3S or IMAPS listener without [tls] ca would hand TLS no gate at all).
 */
static int mailgwd_reload_check(struct mgw_cfg *cfg, char *why, size_t whysz)
{
	const struct gate_svc *gated[] = {&pop3d_svc, &imapd_svc};

	for (size_t i = 0; i < MGW_ARRAY_LEN(gated); i++) {
		const char *bound = gate_svc_bound(gated[i]);

		if (bound && (cfg->tls_cert[0] == '\0' || cfg->tls_ca[0] == '\0')) {
			snprintf(why, whysz,
				 "%s: [%s] is listening on %s until a restart (a reload does not "
				 "change listeners): it needs [tls] cert, key, ca and crl",
				 cfg->path, gated[i]->name, bound);
			return -MGW_ECONFIG;
		}
	}
	snprintf(cfg->pop3s_listen, sizeof(cfg->pop3s_listen), "%s", d.gen->cfg.pop3s_listen);
	snprintf(cfg->imaps_listen, sizeof(cfg->imaps_listen), "%s", d.gen->cfg.imaps_listen);
	snprintf(cfg->smtp_listen, sizeof(cfg->smtp_listen), "%s", d.gen->cfg.smtp_listen);
	return cfg_check(cfg, why, whysz);
}

static int mailgwd_reload(char *why, size_t whysz)
{
	struct mgw_cfg cfg;
	struct mgw_gen *g;
	int rc;

	rc = cfg_load(d.conf_path, &cfg, why, whysz);
	if (rc < 0) {
		log_err("reload refused, keeping generation %llu: %s",
			(unsigned long long)d.gen->serial, why);
		return rc;
	}
	if (strcmp(cfg.control_socket, d.gen->cfg.control_socket) != 0 ||
	    strcmp(cfg.user, d.gen->cfg.user) != 0 ||
	    strcmp(cfg.data_dir, d.gen->cfg.data_dir) != 0 ||
	    strcmp(cfg.pop3s_listen, d.gen->cfg.pop3s_listen) != 0 ||
	    strcmp(cfg.imaps_listen, d.gen->cfg.imaps_listen) != 0 ||
	    strcmp(cfg.smtp_listen, d.gen->cfg.smtp_listen) != 0)
		log_warn(
		    "reload: control socket, user, data_dir and listen address changes take effect "
		    "at the next start");
	rc = mailgwd_reload_check(&cfg, why, whysz);
	if (rc == 0)
		rc = gen_new(&cfg, why, whysz, &g);
	if (rc < 0) {
		log_err("reload refused, keeping generation %llu: %s",
			(unsigned long long)d.gen->serial, why);
		return rc;
	}
	log_set_level(cfg.log_level);
	conn_set_v6_prefix(cfg.ipv6_prefix);
	log_info("reloaded %s: generation %llu replaces %llu", d.conf_path,
		 (unsigned long long)g->serial, (unsigned long long)d.gen->serial);
	gen_put(d.gen);
	d.gen = g;
	return 0;
}

static void mailgwd_time(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(out, outsz, "never");
	else
		strftime(out, outsz, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* What crlwatch last wrote in its state file (README "crlwatch"), when it runs. */
static void mailgwd_status_crlwatch(void (*emit)(void *ctx, const char *line), void *ctx)
{
	char line[CW_WHY_MAX + CW_SOURCE_MAX + 64], t[40];
	struct cw_status st;

	if (cw_status_read(d.gen->cfg.crlwatch_state, &st) < 0) {
		emit(ctx, "crlwatch: not running (no state file)");
		return;
	}
	mailgwd_time(st.state_since, t, sizeof(t));
	snprintf(line, sizeof(line), "crlwatch: CRL %s since %s", cw_state_name(st.state), t);
	emit(ctx, line);
	mailgwd_time(st.last_refresh, t, sizeof(t));
	snprintf(line, sizeof(line), "crlwatch_last_refresh: %s%s%s", t,
		 st.last_source[0] ? " from " : "", st.last_source);
	emit(ctx, line);
	mailgwd_time(st.next_attempt, t, sizeof(t));
	snprintf(line, sizeof(line), "crlwatch_next_attempt: %s", t);
	emit(ctx, line);
	mailgwd_time(st.last_error_at, t, sizeof(t));
	snprintf(line, sizeof(line), "crlwatch_last_error: %s%s%s",
		 st.last_error[0] ? st.last_error : "none", st.last_error[0] ? " at " : "",
		 st.last_error[0] ? t : "");
	emit(ctx, line);
}

static void mailgwd_status(void (*emit)(void *ctx, const char *line), void *ctx)
{
	char line[256];

	snprintf(line, sizeof(line), "version: %s", MAILGWD_VERSION);
	emit(ctx, line);
	snprintf(line, sizeof(line), "uptime: %lld", (long long)(time(NULL) - d.started));
	emit(ctx, line);
	snprintf(line, sizeof(line), "generation: %llu", (unsigned long long)d.gen->serial);
	emit(ctx, line);
	snprintf(line, sizeof(line), "generations_alive: %u", gen_alive());
	emit(ctx, line);
	snprintf(line, sizeof(line), "connections: %zu", conn_count());
	emit(ctx, line);
	snprintf(line, sizeof(line), "pop3s_connections: %u", gate_svc_connections(&pop3d_svc));
	emit(ctx, line);
	snprintf(line, sizeof(line), "imaps_connections: %u", gate_svc_connections(&imapd_svc));
	emit(ctx, line);
	snprintf(line, sizeof(line), "log_dropped: %llu", (unsigned long long)log_dropped());
	emit(ctx, line);
	snprintf(line, sizeof(line), "config: %s", d.conf_path);
	emit(ctx, line);
	/* The services and where they listen (the console's `status`). */
	snprintf(line, sizeof(line), "service smtp: %s",
		 smtpd_bound() != NULL ? smtpd_bound() : "off");
	emit(ctx, line);
	snprintf(line, sizeof(line), "service pop3s: %s",
		 gate_svc_bound(&pop3d_svc) != NULL ? gate_svc_bound(&pop3d_svc) : "off");
	emit(ctx, line);
	snprintf(line, sizeof(line), "service imaps: %s",
		 gate_svc_bound(&imapd_svc) != NULL ? gate_svc_bound(&imapd_svc) : "off");
	emit(ctx, line);
	snprintf(line, sizeof(line), "user: %s", d.gen->cfg.user);
	emit(ctx, line);
	snprintf(line, sizeof(line), "watchdog: %s", wdt_is_open(&d.wdt) ? "armed" : "off");
	emit(ctx, line);
	snprintf(line, sizeof(line), "pop3_sessions: %u", pop3_sess_count());
	emit(ctx, line);
	snprintf(line, sizeof(line), "imap_sessions: %u", imap_sess_count());
	emit(ctx, line);
	snprintf(line, sizeof(line), "smtp_sessions: %u", smtpd_sessions());
	emit(ctx, line);
	/* Group commit (store/dirsync.h): how many flushes the deliveries really cost. */
	{
		struct dirsync_stats ds;

		dirsync_stats(&ds);
		snprintf(line, sizeof(line), "store_flush: %s", ds.fs ? "syncfs" : "fsync");
		emit(ctx, line);
		snprintf(line, sizeof(line), "store_flushes: %llu for %llu requests, %u waiting",
			 (unsigned long long)ds.flushes, (unsigned long long)ds.calls, ds.waiting);
		emit(ctx, line);
	}
	/* SMTP deliveries and IMAP APPENDs waiting for a commit batch (store/commitq.h). */
	snprintf(line, sizeof(line), "smtp_commits: %zu waiting, %u batches running", d.cq.waiting,
		 d.cq.jobs);
	emit(ctx, line);
	/* Per-user disk use against the quota ([smtp] quota, userdb_quota_rule). */
	{
		struct maildir_store st;

		if (maildir_store_init(&st, d.gen->cfg.data_dir, "status", 0) == 0)
			maildir_quota_report(&st, cfg_smtp_quota(&d.gen->cfg), emit, ctx);
	}
	if (d.gen->tls_gate) {
		char crl[160];

		tls_conf_describe(d.gen->tls_gate, crl, sizeof(crl));
		snprintf(line, sizeof(line), "tls_gate: %s", crl);
		emit(ctx, line);
	}
	mailgwd_status_crlwatch(emit, ctx);
}

static const struct control_ops mailgwd_control_ops = {
    .reload = mailgwd_reload,
    .status = mailgwd_status,
};

static void mailgwd_stop_now(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	if (conn_count() > 0)
		log_info("shutdown: closing %zu remaining connections", conn_count());
	conn_close_all("shutdown");
	loop_stop(loop);
}

static void mailgwd_begin_stop(void)
{
	if (d.stopping)
		return;
	d.stopping = true;
	listen_stop(&d.loop, &d.control);
	gate_svc_stop(&pop3d_svc, &d.loop);
	gate_svc_stop(&imapd_svc, &d.loop);
	smtpd_stop(&d.loop);
	log_info("stopping: no new connections, %zu open, grace %u s", conn_count(),
		 d.gen->cfg.shutdown_grace);
	if (conn_count() == 0)
		loop_stop(&d.loop);
	else
		loop_timer_set(&d.loop, &d.stop_timer, (uint64_t)d.gen->cfg.shutdown_grace * 1000u);
}

static void mailgwd_log_wake(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	(void)t; /* the iteration hook reports the summaries */
}

static void mailgwd_wdt_wake(struct loop *loop, struct loop_timer *t)
{
	loop_timer_set(loop, t, wdt_interval_ms(&d.wdt));
}

/* False while a worker job has run longer than watchdog_job_limit (a hung disk): the
 * loop still turns, but the mail it waits for never comes, so the board must reset
 * rather than hang forever. Logged once per stuck period. */
static bool mailgwd_work_healthy(void)
{
	uint64_t busy, limit_ms = (uint64_t)d.gen->cfg.watchdog_job_limit * 1000u;

	if (!d.work_started)
		return true;
	busy = work_pool_busy_ms(&d.work);
	if (work_pool_busy_ms(&d.hs_work) > busy)
		busy = work_pool_busy_ms(&d.hs_work);
	if (busy <= limit_ms) {
		d.work_stuck_logged = false;
		return true;
	}
	if (!d.work_stuck_logged)
		log_err("watchdog: a worker job has been running for %llu s (watchdog_job_limit "
			"%llu s): no longer petting the watchdog",
			(unsigned long long)(busy / 1000u), (unsigned long long)(limit_ms / 1000u));
	d.work_stuck_logged = true;
	return false;
}

/* Ends the grace period early once the last session has gone; pets the watchdog, so a
 * loop that stops turning (or a worker that never finishes) resets the board. */
static void mailgwd_iteration(struct loop *loop, void *arg)
{
	uint64_t log_due;

	(void)arg;
	log_due = log_tick();
	if (log_due && !loop_timer_pending(&d.log_timer))
		loop_timer_set(loop, &d.log_timer, log_due);
	if (wdt_is_open(&d.wdt) && mailgwd_work_healthy() &&
	    wdt_pet_due(&d.wdt, loop_now_ms(loop)) < 0)
		log_warn("watchdog: pet failed: %s", strerror(errno));
	if (d.stopping && conn_count() == 0)
		loop_stop(loop);
}

static void mailgwd_signal(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct signalfd_siginfo si;
	char why[CFG_ERR_MAX];

	(void)loop;
	(void)events;
	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			log_info("SIGHUP: reloading %s", d.conf_path);
			mailgwd_reload(why, sizeof(why));
			break;
		case SIGTERM:
		case SIGINT:
			mailgwd_begin_stop();
			break;
		default:
			break;
		}
	}
}

static int mailgwd_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -MGW_EIO;
	d.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d.sig_fd < 0)
		return -MGW_EIO;
	loop_io_init(&d.sig_io, d.sig_fd, mailgwd_signal, NULL);
	return loop_io_add(&d.loop, &d.sig_io, LOOP_READ);
}

/* Drops root for the configured user; refuses to go on as root. */
static int mailgwd_drop_privileges(const struct mgw_cfg *cfg)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		log_info("not started as root: running as uid %d, 'user = %s' not applied",
			 (int)geteuid(), cfg->user);
		return 0;
	}
	pw = getpwnam(cfg->user);
	if (pw == NULL) {
		log_err("%s: user '%s' does not exist; refusing to run as root", cfg->path,
			cfg->user);
		return -MGW_EPERM;
	}
	if (pw->pw_uid == 0) {
		log_err("%s: user '%s' is root; refusing to run as root", cfg->path, cfg->user);
		return -MGW_EPERM;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_err("cannot drop privileges to '%s': %s", cfg->user, strerror(errno));
		return -MGW_EPERM;
	}
	/* Paranoia: a drop that can be undone did not happen. */
	if (setuid(0) == 0 || geteuid() == 0) {
		log_err("privilege drop to '%s' did not stick; refusing to run", cfg->user);
		return -MGW_EPERM;
	}
	log_info("running as %s (uid %d, gid %d)", cfg->user, (int)pw->pw_uid, (int)pw->pw_gid);
	return 0;
}

static int mailgwd_mkdir_parent(const char *path)
{
	char dir[CFG_STR_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -MGW_EIO;
	return 0;
}

/*
 * The data directory's format (admin/migrate.h): after a manual downgrade it can be newer
 * than this firmware knows. A format whose newer migrations allow older firmware is
 * served with a warning; one that needs a newer firmware is not touched at all: mailgwd
 * does not start (it could misread the store or write it in the old way).
 */
static bool mailgwd_data_format_ok(const struct mgw_cfg *cfg)
{
	char msg[LAYOUT_MSG_MAX] = "", text[MIGRATE_LINE_MAX];
	struct migrate_format f;

	if (migrate_format_load(cfg->data_dir, &f, msg, sizeof(msg)) < 0) {
		log_err("%s (no migration runs on it; serving anyway)", msg);
		return true;
	}
	if (f.format <= migrate_latest())
		return true;
	migrate_newer_text(&f, text, sizeof(text));
	if (migrate_too_new(&f)) {
		log_err("%s/%s: %s", cfg->data_dir, MIGRATE_FORMAT_REL, text);
		return false;
	}
	log_warn("%s/%s: %s", cfg->data_dir, MIGRATE_FORMAT_REL, text);
	return true;
}

int main(int argc, char **argv)
{
	char err[CFG_ERR_MAX];
	struct mgw_cfg cfg;
	char default_conf[CFG_STR_MAX];
	bool check_only = false;
	int opt, rc;
	pid_t keeper = 0;

	snprintf(default_conf, sizeof(default_conf), "%s/etc/mailgw.conf", CONFIG_DATA_DIR);
	d.conf_path = default_conf;
	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c':
			d.conf_path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'V':
			printf("mailgwd %s (%s)\n", MAILGWD_VERSION, CONFIG_BOARD_NAME);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	rc = cfg_load(d.conf_path, &cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "mailgwd: %s\n", err);
		return 1;
	}
	log_open("mailgwd", check_only ? false : cfg.log_syslog, true);
	if (!check_only)
		log_daemon_mode();
	log_set_level(check_only ? LOG_LVL_WARN : cfg.log_level);
	if (!check_only && !mailgwd_data_format_ok(&cfg))
		return MAILGWD_EXIT_DATA_FORMAT;
	/* The private key is read here, as root; reloads keep it (gen.h). */
	if (gen_key_load(&cfg, err, sizeof(err)) < 0 ||
	    gen_new(&cfg, err, sizeof(err), &d.gen) < 0) {
		fprintf(stderr, "mailgwd: %s\n", err);
		gen_shutdown();
		return 1;
	}
	if (check_only) {
		gen_put(d.gen);
		gen_shutdown();
		printf("mailgwd: %s: configuration ok\n", d.conf_path);
		return 0;
	}
	d.started = time(NULL);
	d.start_uid = geteuid();
	if (loop_init(&d.loop) < 0) {
		log_err("out of memory at start");
		return 1;
	}
	loop_timer_init(&d.stop_timer, mailgwd_stop_now, NULL);
	loop_timer_init(&d.log_timer, mailgwd_log_wake, NULL);
	conn_set_v6_prefix(cfg.ipv6_prefix);
	d.loop.on_iteration = mailgwd_iteration;

	/* Everything that needs root happens here, before the drop. */
	wdt_init(&d.wdt);
	if (CONFIG_FEATURE_WATCHDOG && cfg.watchdog[0] &&
	    wdt_open_takeover(&d.wdt, cfg.watchdog, cfg.watchdog_timeout, &keeper, err,
			      sizeof(err)) < 0) {
		log_err("%s: watchdog: %s%s", cfg.path, err,
			keeper > 0 ? " (the boot guard's keeper did not hand it over)" : "");
		return 1;
	}
	if (wdt_is_open(&d.wdt) && keeper > 0)
		log_info("watchdog %s: taken over from the boot guard's keeper (pid %ld)",
			 cfg.watchdog, (long)keeper);
	if (!CONFIG_FEATURE_WATCHDOG && cfg.watchdog[0])
		log_warn("watchdog = %s ignored: built without FEATURE_WATCHDOG", cfg.watchdog);
	if (wdt_is_open(&d.wdt)) {
		log_info("watchdog %s armed: timeout %u s, pet every %llu ms", cfg.watchdog,
			 d.wdt.timeout_s, (unsigned long long)wdt_interval_ms(&d.wdt));
		loop_timer_init(&d.wdt_timer, mailgwd_wdt_wake, NULL);
		loop_timer_set(&d.loop, &d.wdt_timer, wdt_interval_ms(&d.wdt));
	}
	if (mailgwd_mkdir_parent(cfg.control_socket) < 0 ||
	    control_open(&d.control, cfg.control_socket) < 0) {
		log_err("%s: [control] socket %s: %s", cfg.path, cfg.control_socket,
			strerror(errno));
		return 1;
	}
	if (gate_svc_open(&pop3d_svc, &cfg) < 0 || gate_svc_open(&imapd_svc, &cfg) < 0)
		return 1;
	if (smtpd_open(&cfg) < 0) {
		log_err("%s: [smtp] listen %s: %s", cfg.path, cfg.smtp_listen, strerror(errno));
		return 1;
	}
	if (mailgwd_drop_privileges(&cfg) < 0)
		return 1;
	if (mailgwd_signals() < 0) {
		log_err("cannot set up signal handling: %s", strerror(errno));
		return 1;
	}
	if (control_start(&d.loop, &d.control, d.start_uid, &mailgwd_control_ops) < 0) {
		log_err("cannot start the control socket");
		return 1;
	}
	log_info("listening control on %s", d.control.bound);
	if (work_pool_init(&d.work, &d.loop, MAILGWD_WORKERS, WORK_QUEUE_DEFAULT) < 0 ||
	    work_pool_init_nice(&d.hs_work, &d.loop, MAILGWD_HS_WORKERS, MAILGWD_HS_QUEUE,
				MAILGWD_HS_NICE) < 0) {
		log_err("cannot start the worker threads");
		return 1;
	}
	d.work_started = true;
	conn_set_handshake_pool(&d.hs_work);
	maildir_cq_init(&d.cq, &d.work);
	if (gate_svc_start(&pop3d_svc, &d.loop, &d.gen, &d.work, &d.cq) < 0 ||
	    gate_svc_start(&imapd_svc, &d.loop, &d.gen, &d.work, &d.cq) < 0) {
		log_err("cannot start the pop3s or imaps service");
		return 1;
	}
	if (smtpd_start(&d.loop, &d.gen, &d.cq, &d.work) < 0)
		return 1;
	if (smtpd_bound())
		log_info("listening smtp on %s", smtpd_bound());
	if (d.gen->tls_gate != NULL)
		log_info("tls: %s",
			 tls_cpu_has_aes()
			     ? "AES instructions in use: AES-GCM preferred"
			     : "no AES instructions in use: ChaCha20-Poly1305 preferred");
	log_info("mailgwd %s ready (generation %llu, config %s)", MAILGWD_VERSION,
		 (unsigned long long)d.gen->serial, d.conf_path);

	rc = loop_run(&d.loop);
	listen_close(&d.loop, &d.control);
	gate_svc_close(&pop3d_svc, &d.loop);
	gate_svc_close(&imapd_svc, &d.loop);
	smtpd_close(&d.loop);
	/* Let the reaps of the connections closed above run. */
	loop_run_once(&d.loop, 0);
	/* Handshake steps still running finish; the reaps of their connections follow. */
	conn_set_handshake_pool(NULL);
	work_pool_free(&d.hs_work);
	loop_run_once(&d.loop, 0);
	/* Jobs still running finish (a delivery's fsync), their sessions are gone. */
	work_pool_free(&d.work);
	d.work_started = false;
	gen_put(d.gen);
	if (wdt_is_open(&d.wdt))
		loop_timer_cancel(&d.loop, &d.wdt_timer);
	loop_timer_cancel(&d.loop, &d.log_timer);
	gen_shutdown();
	loop_free(&d.loop);
	wdt_close(&d.wdt);
	log_info("stopped");
	return rc < 0 ? 1 : 0;
}
