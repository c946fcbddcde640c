/*
 * main.c - crlwatch, the CRL watchdog beside mailgwd (README "crlwatch").
 *
 *   crlwatch [-c CONF] [-v] check          the countdown once: announce a state change
 *   crlwatch [-c CONF] [-v] install FILE   offer FILE (PEM or DER) as the new CRL
 *   crlwatch [-c CONF] [-v] refresh        fetch / re-sign now
 *   crlwatch [-c CONF] [-v] usb DEV|DIR    read a USB key (device or directory) now
 *   crlwatch [-c CONF] [-v] status         what crlwatch knows
 *   crlwatch [-c CONF] [-v] run            the watchdog (started by init)
 *
 * Exit status: 0 done (installed, or nothing to do); 1 the candidate was refused or the
 * refresh failed (the reason on stderr and in the log); 2 usage or configuration error.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "crlwatch.h"
#include "mgw_config.h"
#include "pki/crlcheck.h"
#include "pki/pki.h"

#define CW_DEFAULT_CONF CONFIG_DATA_DIR "/etc/mailgw.conf"
#define CW_IDLE_S 5 /* `run` without a usable configuration looks again this often */

static volatile sig_atomic_t cw_stop, cw_hup, cw_usr1;

/* Loads the configuration and checks there is a CRL to watch; why is "" on success. */
static int cw_setup(struct cw *cw, const char *conf, char *why, size_t whysz)
{
	why[0] = '\0';
	if (cw_config(cw, conf, why, whysz) < 0)
		return -MGW_ECONFIG;
	if (cw->cfg.tls_ca[0] == '\0' || cw->cfg.tls_crl[0] == '\0') {
		snprintf(why, whysz, "%s: [tls] ca and crl are not set: no CRL to watch", conf);
		return -MGW_ENOENT;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: crlwatch [-c CONF] [-v] COMMAND\n"
		   "  check          look at the installed CRL now; announce a state change\n"
		   "  install FILE   validate FILE (PEM or DER) and install it as the CRL\n"
		   "  refresh        fetch the CRL (url) or re-sign it (built-in CA) now\n"
		   "  usb DEV|DIR    read the CRLs on a USB key (mounted read-only) now\n"
		   "  status         the CRL state, last refresh, next attempt, last error\n"
		   "  run            the watchdog (as started by init)\n"
		   "  -c CONF        configuration (default " CW_DEFAULT_CONF ")\n");
}

int cw_config(struct cw *cw, const char *path, char *why, size_t whysz)
{
	return cfg_load(path, &cw->cfg, why, whysz);
}

void cw_status_load(struct cw *cw)
{
	(void)cw_status_read(cw->cfg.crlwatch_state, &cw->st);
}

bool cw_clock_ok(const struct cw *cw, time_t now, char *why, size_t whysz)
{
	const char *etc = getenv("MAILGW_ETC");
	char path[CFG_STR_MAX], *data = NULL;
	long long build = 0;
	size_t len;

	snprintf(path, sizeof(path), "%s/build-time", etc && etc[0] ? etc : "/etc/mailgw");
	if (file_read_all(path, 64, &data, &len) == 0)
		build = strtoll(data, NULL, 10);
	free(data);
	if (build > 0 && (long long)now < build) {
		snprintf(why, whysz,
			 "the clock (%lld) is before the image's build time (%lld): not trusted, "
			 "nothing installed",
			 (long long)now, build);
		return false;
	}
	if (cw->st.last_seen != 0 && now + CW_CLOCK_BACK_S < cw->st.last_seen) {
		snprintf(why, whysz,
			 "the clock went back %lld s since crlwatch last looked: not trusted, "
			 "nothing installed",
			 (long long)(cw->st.last_seen - now));
		return false;
	}
	return true;
}

int cw_status_save(struct cw *cw)
{
	return cw_status_write(cw->cfg.crlwatch_state, &cw->st);
}

/* The state file's directory (/run/mailgw on the board), for it and its lock. */
static void cw_state_dir(const struct cw *cw)
{
	char dir[CFG_STR_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", cw->cfg.crlwatch_state);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		(void)file_mkdirs(dir, 0755);
	}
}

static void cw_time(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (t == 0) {
		snprintf(out, outsz, "never");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static int cw_cmd_status(struct cw *cw, time_t now)
{
	char why[CW_WHY_MAX], t1[64], t2[64], t3[64], t4[64];
	time_t next = 0;
	enum cw_state s;

	(void)cw_installed(cw, now, &next, why, sizeof(why));
	s = cw_state_of(&cw->cfg, next, now);
	cw_time(next, t1, sizeof(t1));
	cw_time(cw->st.last_refresh, t2, sizeof(t2));
	cw_time(cw->st.next_attempt, t3, sizeof(t3));
	cw_time(cw->st.last_error_at, t4, sizeof(t4));
	printf("state: %s\n", cw_state_name(s));
	printf("crl: %s\n", cw->cfg.tls_crl);
	printf("next_update: %s\n", t1);
	printf("last_refresh: %s%s%s\n", t2, cw->st.last_source[0] ? " from " : "",
	       cw->st.last_source);
	printf("next_attempt: %s\n", t3);
	printf("last_error: %s%s%s\n", cw->st.last_error[0] ? cw->st.last_error : "none",
	       cw->st.last_error[0] ? " at " : "", cw->st.last_error[0] ? t4 : "");
	return 0;
}

static int cw_cmd_install(struct cw *cw, const char *file, time_t now)
{
	char why[CW_WHY_MAX];
	char *data = NULL;
	size_t len = 0;
	int rc;

	/* one byte more than the cap, so that a too-large file is named as such */
	rc = file_read_all(file, (size_t)cw->cfg.crlwatch_max_size + 1, &data, &len);
	if (rc == -MGW_ELIMIT) {
		snprintf(why, sizeof(why),
			 "%s: larger than the limit of %llu bytes ([crlwatch] "
			 "max_size)",
			 file, (unsigned long long)cw->cfg.crlwatch_max_size);
		log_warn("CRL from %s refused: %s (the installed CRL stays)", file, why);
		fprintf(stderr, "crlwatch: %s\n", why);
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "crlwatch: %s: %s\n", file,
			rc == -MGW_ENOENT ? "no such file" : "cannot read");
		return 1;
	}
	rc = cw_offer(cw, data, len, file, now, why, sizeof(why));
	free(data);
	if (rc < 0) {
		fprintf(stderr, "crlwatch: %s\n", why);
		return 1;
	}
	printf("%s\n", rc == 1 ? "installed" : "already installed");
	return 0;
}

/* The built-in CA (key on the gateway): re-signing is the refresh. Its current CRL is
 * offered too, so that a CRL signed by the console (`mailgw crl sign`, a revocation) is
 * installed even when no re-signing is due. 0 nothing new, 1 installed, negative. */
static int cw_resign(struct cw *cw, time_t now, char *why, size_t whysz)
{
	unsigned min_days = cw->cfg.crlwatch_refresh_due / 86400u;
	char path[CFG_STR_MAX + 16], *pem = NULL;
	size_t len = 0;
	bool resigned = false;
	int rc;

	if (!cw_clock_ok(cw, now, why, whysz)) {
		log_err("built-in CA %s: CRL not re-signed: %s", cw->cfg.crlwatch_ca_dir, why);
		return -MGW_EPERM;
	}
	rc = pki_crl_refresh(cw->cfg.crlwatch_ca_dir, min_days ? min_days : 1,
			     cw->cfg.crlwatch_resign_days, now, &resigned, &pem, &len, why, whysz);
	if (rc < 0) {
		log_err("built-in CA %s: CRL not re-signed: %s", cw->cfg.crlwatch_ca_dir, why);
		return rc;
	}
	if (resigned)
		log_info("built-in CA %s: CRL re-signed for %u days", cw->cfg.crlwatch_ca_dir,
			 cw->cfg.crlwatch_resign_days);
	else {
		snprintf(path, sizeof(path), "%s/crl.pem", cw->cfg.crlwatch_ca_dir);
		rc = file_read_all(path, PKI_CRL_SIZE_MAX, &pem, &len);
		if (rc < 0) {
			snprintf(why, whysz, "%s: cannot read", path);
			return rc;
		}
	}
	rc = cw_offer(cw, pem, len, resigned ? "the built-in CA (re-signed)" : "the built-in CA",
		      now, why, whysz);
	free(pem);
	return rc;
}

/* refresh: re-sign (built-in CA) and/or fetch ([crlwatch] url, or the distribution point
 * of each CA in [tls] ca). */
static int cw_refresh(struct cw *cw, time_t now, char *why, size_t whysz)
{
	char url[CFG_STR_MAX];
	bool any = false, fetched = false, failed = false;
	int rc = 0;

	if (cw->cfg.crlwatch_ca_dir[0]) {
		any = true;
		rc = cw_resign(cw, now, why, whysz);
	}
	/* every URL in turn: a failure of one does not keep the others from being fetched;
	 * the worst outcome is the result, and any failure backs the next attempt off */
	for (unsigned i = 0; cw_fetch_url(cw, i, url, sizeof(url)) == 0; i++) {
		char fwhy[CW_WHY_MAX];
		int frc = cw_fetch(cw, url, i == 0, now, fwhy, sizeof(fwhy));

		any = fetched = true;
		if (frc < 0) {
			if (!failed)
				cw->st.failures++;
			failed = true;
			log_warn("CRL fetch from %s failed (%u in a row): %s", url, cw->st.failures,
				 fwhy);
			snprintf(why, whysz, "%s", fwhy);
		}
		if (rc >= 0 && (frc < 0 || frc > rc))
			rc = frc;
	}
	if (fetched) {
		if (!failed)
			cw->st.failures = 0;
		cw->st.next_attempt = cw_fetch_next(cw, failed, now);
	}
	if (!any) {
		snprintf(why, whysz,
			 "no source to refresh from: set [crlwatch] url or ca_dir (and the CA "
			 "certificate has no CRL distribution point)");
		return -MGW_ENOENT;
	}
	return rc;
}

/* Remembers the latest trustworthy time seen (cw_clock_ok). */
static void cw_seen(struct cw *cw, time_t now)
{
	char why[CW_WHY_MAX];

	if (now > cw->st.last_seen && cw_clock_ok(cw, now, why, sizeof(why)))
		cw->st.last_seen = now;
}

static void cw_on_signal(int sig)
{
	if (sig == SIGHUP)
		cw_hup = 1;
	else if (sig == SIGUSR1)
		cw_usr1 = 1;
	else
		cw_stop = 1;
}

/* The configuration file's identity: every change the tools make is a rename of a new
 * file over it (a new inode), so crlwatch notices a console change (the office CA, ca_dir)
 * without being signalled. */
static void cw_conf_id(const char *conf, struct stat *st)
{
	if (stat(conf, st) < 0)
		memset(st, 0, sizeof(*st));
}

static bool cw_conf_changed(const char *conf, struct stat *seen)
{
	struct stat now;

	cw_conf_id(conf, &now);
	if (now.st_ino == seen->st_ino && now.st_dev == seen->st_dev &&
	    now.st_mtim.tv_sec == seen->st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == seen->st_mtim.tv_nsec)
		return false;
	*seen = now;
	return true;
}

static int cw_run(struct cw *cw, const char *conf)
{
	struct sigaction sa = {.sa_handler = cw_on_signal};
	time_t next_check = 0;
	char why[CW_WHY_MAX];
	struct stat conf_seen;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	log_info("watching %s (check every %u s)", cw->cfg.tls_crl, cw->cfg.crlwatch_interval);
	cw_conf_id(conf, &conf_seen);
	while (!cw_stop) {
		time_t now = time(NULL);

		if (cw_conf_changed(conf, &conf_seen))
			cw_hup = 1;

		if (cw_hup) {
			struct cw fresh = {.verbose = cw->verbose};

			cw_hup = 0;
			if (cw_config(&fresh, conf, why, sizeof(why)) < 0)
				log_err("%s (the previous configuration stays)", why);
			else {
				cw->cfg = fresh.cfg;
				next_check = 0;
				cw->st.next_attempt = 0; /* a new source (ca_dir, url): now */
				log_info("configuration reloaded");
			}
		}
		if (cw_usr1) { /* `crlwatch refresh` of a running watchdog: now */
			cw_usr1 = 0;
			next_check = 0;
			cw->st.next_attempt = 0;
		}
		if (now >= cw->st.next_attempt) {
			if (cw_refresh(cw, now, why, sizeof(why)) == -MGW_ENOENT)
				cw->st.next_attempt = now + (time_t)cw->cfg.crlwatch_poll;
			else if (cw->cfg.crlwatch_ca_dir[0] && cw->st.next_attempt <= now)
				cw->st.next_attempt = now + (time_t)cw->cfg.crlwatch_interval;
			(void)cw_status_save(cw);
		}
		cw_usb_spool(cw, now);
		if (now >= next_check) {
			cw_seen(cw, now);
			cw_countdown(cw, now);
			next_check = now + (time_t)cw->cfg.crlwatch_interval;
			(void)cw_status_save(cw);
		}
		(void)poll(NULL, 0, 1000);
	}
	log_info("stopping");
	return 0;
}

int main(int argc, char **argv)
{
	const char *conf = CW_DEFAULT_CONF, *cmd;
	static struct cw cw;
	char why[CW_WHY_MAX];
	time_t now = time(NULL);
	int opt, rc;

	while ((opt = getopt(argc, argv, "c:vh")) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'v':
			cw.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (cw_setup(&cw, conf, why, sizeof(why)) < 0) {
		char last[CW_WHY_MAX];

		fprintf(stderr, "crlwatch: %s\n", why);
		if (strcmp(cmd, "run") != 0)
			return 2;
		/* started by init on a gateway without a CA yet: wait quietly (a respawn
		 * loop would write this line on the console every few seconds) */
		fprintf(stderr, "crlwatch: looking at the configuration again every %d s\n",
			CW_IDLE_S);
		do {
			snprintf(last, sizeof(last), "%s", why);
			sleep(CW_IDLE_S);
			if (cw_setup(&cw, conf, why, sizeof(why)) < 0 && strcmp(why, last) != 0)
				fprintf(stderr, "crlwatch: %s\n", why);
		} while (why[0] != '\0');
		now = time(NULL);
	}
	log_open("crlwatch", cw.cfg.log_syslog, true);
	log_set_level(cw.verbose ? LOG_LVL_DEBUG : cw.cfg.log_level);
	if (cw.cfg.crlwatch_led[0] && led_open(&cw.led, cw.cfg.crlwatch_led, why, sizeof(why)) < 0)
		log_warn("LED: %s (not used)", why);
	cw_state_dir(&cw);
	cw_status_load(&cw);
	if (strcmp(cmd, "install") == 0 && optind + 2 == argc)
		rc = cw_cmd_install(&cw, argv[optind + 1], now);
	else if (strcmp(cmd, "check") == 0 && optind + 1 == argc) {
		cw_countdown(&cw, now);
		rc = 0;
	} else if (strcmp(cmd, "refresh") == 0 && optind + 1 == argc) {
		rc = cw_refresh(&cw, now, why, sizeof(why));
		if (rc < 0)
			fprintf(stderr, "crlwatch: %s\n", why);
		else
			printf("%s\n", rc == 1 ? "installed" : "nothing new");
		rc = rc < 0 ? 1 : 0;
	} else if (strcmp(cmd, "usb") == 0 && optind + 2 == argc) {
		cw_usb_key(&cw, argv[optind + 1], now);
		rc = 0;
	} else if (strcmp(cmd, "status") == 0 && optind + 1 == argc)
		return cw_cmd_status(&cw, now);
	else if (strcmp(cmd, "run") == 0 && optind + 1 == argc)
		rc = cw_run(&cw, conf);
	else {
		usage(stderr);
		return 2;
	}
	cw_seen(&cw, now);
	if (cw_status_save(&cw) < 0)
		log_warn("%s: cannot save the state", cw.cfg.crlwatch_state);
	return rc;
}
