/*
 * crlwatch.h - what the files of crlwatch share: the loaded configuration, the countdown
 * state, the one install path and the notifications.
 *
 * Every CRL that reaches the gate comes through cw_offer(): validated by lib/pki
 * (pki/crlcheck.h), written atomically by lib/admin (admin/layout.h, root:DG 0640), then
 * mailgwd is told to `reload` over its control socket; a refused reload puts the previous
 * CRL back. Sources (a file, a USB key, HTTP, re-signing) only produce candidate bytes.
 */
#ifndef MGW_CRLWATCH_H
#define MGW_CRLWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cfg/cfg.h"
#include "cw/state.h"
#include "led/led.h"

struct cw {
	struct mgw_cfg cfg;
	struct cw_status st;
	struct led led;
	bool verbose;
};

/* The state for a CRL with nextUpdate next_update at now (thresholds of cfg). */
enum cw_state cw_state_of(const struct mgw_cfg *cfg, time_t next_update, time_t now);

/* Loads cfg from path (file:line in why on error). */
int cw_config(struct cw *cw, const char *path, char *why, size_t whysz);
/* The state file ([crlwatch] state): load (missing is fine) and save. */
void cw_status_load(struct cw *cw);
int cw_status_save(struct cw *cw);

/* Time safety: false (why says why) when now is before the image's build time
 * ($MAILGW_ETC/build-time, default /etc/mailgw) or more than CW_CLOCK_BACK_S before a time
 * crlwatch has already seen; nothing is installed or signed then. */
#define CW_CLOCK_BACK_S 600
bool cw_clock_ok(const struct cw *cw, time_t now, char *why, size_t whysz);

/* Reads the installed CRL ([tls] crl) and its nextUpdate; -MGW_ENOENT when there is none
 * valid. */
int cw_installed(const struct cw *cw, time_t now, time_t *next_update, char *why, size_t whysz);

/*
 * The one install path: validates len bytes (named source in logs) and, when newer than
 * the installed CRL, replaces it and reloads mailgwd. Returns 1 when installed, 0 when it
 * was the installed CRL already, negative when refused or failed (why says why; the
 * installed CRL is then the one from before).
 */
int cw_offer(struct cw *cw, const void *data, size_t len, const char *source, time_t now, char *why,
	     size_t whysz);
/* The same for an open regular file (a file of a USB key, opened by root without
 * following a symlink): only the unprivileged child reads it (at most max_size bytes). */
int cw_offer_fd(struct cw *cw, int fd, const char *source, time_t now, char *why, size_t whysz);

/* Sends one command to mailgwd's control socket; 0 on OK, -MGW_EINVAL on ERR (the
 * reason in why), -MGW_EIO when mailgwd cannot be reached. */
int cw_control(const char *socket_path, const char *cmd, char *why, size_t whysz);

/* The network source (fetch.c). cw_fetch_url: URL number i (from 0): [crlwatch] url, else
 * the CRL distribution points of the CA certificates in [tls] ca, each URL once
 * (-MGW_ENOENT: no URL i). cw_fetch: one GET of url, conditional (the ETag and date of
 * the last CRL that passed) when cond, which only the first URL is; offered to cw_offer;
 * 0 not modified or already installed, 1 installed, negative on failure (why).
 * cw_fetch_next: when to fetch next after a success or a failure (poll period, earlier as
 * nextUpdate approaches, backoff with jitter). */
#define CW_URLS_MAX 8 /* CA certificates whose distribution points are fetched */
int cw_fetch_url(struct cw *cw, unsigned i, char *url, size_t urlsz);
int cw_fetch(struct cw *cw, const char *url, bool cond, time_t now, char *why, size_t whysz);
time_t cw_fetch_next(const struct cw *cw, bool failed, time_t now);

/*
 * Unprivileged work (jail.c): cw_jail_run forks a child that keeps only stdio, the pipe
 * and keep_fd, drops to CW_JAIL_USER (cw_drop: no supplementary groups, no way back),
 * gets resource limits and runs fn(arg, res, &data, &len): fn fills res (ressz bytes)
 * and may hand back len bytes (malloc'd, the child's). The parent reads the result and at
 * most max bytes within timeout_s. 0 when the child answered: *job_rc is fn's return,
 * res its result (untrusted: a string in it must be terminated and made safe before
 * use), *data (owned by the caller, NUL after *len) its bytes; negative when it did not
 * (why says how it ended: a signal, a status, a timeout), res then zeroed.
 * CRLWATCH_TEST_HOLD=NAME in the environment makes the child of job NAME stop itself
 * (SIGSTOP) after the drop, before it touches any input: the tests look at it in /proc.
 */
#define CW_JAIL_USER "nobody"
struct cw_jail {
	const char *name; /* "check", "installed", "fetch" */
	const char *what; /* for messages: "the CRL check of SOURCE" */
	int keep_fd;	  /* passed to the child, -1: none */
	unsigned timeout_s;
};
typedef int (*cw_jail_fn)(void *arg, void *res, char **data, size_t *len);
int cw_jail_run(const struct cw_jail *j, cw_jail_fn fn, void *arg, void *res, size_t ressz,
		size_t max, char **data, size_t *len, int *job_rc, char *why, size_t whysz);
int cw_drop(const char *user, char *why, size_t whysz);
/* Reads exactly len bytes from fd before deadline_ms (tls_client_now_ms). */
int cw_read_full(int fd, void *p, size_t len, uint64_t deadline_ms);

/* The USB source (usb.c). cw_usb_key: reads one key (a block device, mounted read-only
 * here, or a directory) and offers its CRLs; cw_usb_spool: handles and removes every
 * event the mdev hook spooled. */
void cw_usb_key(struct cw *cw, const char *path, time_t now);
void cw_usb_spool(struct cw *cw, time_t now);

/* Countdown: computes the state now and announces a change (and repeats) on every
 * channel. */
void cw_countdown(struct cw *cw, time_t now);
/* One line on the console (if configured) and in the log at level lvl. */
void cw_say(struct cw *cw, int lvl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Delivers a mail to postmaster through mailgwd's SMTP listener. */
int cw_mail_postmaster(const struct cw *cw, const char *subject, const char *body, char *why,
		       size_t whysz);

#endif
