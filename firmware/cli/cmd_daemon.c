/*
 * cmd_daemon.c - the commands about mailgwd itself: status, reload, help.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <libcli.h>

#include "admin/admin.h"
#include "apply.h"
#include "console.h"
#include "core/err.h"
#include "pki/pki.h"
#include "tls/keygen.h"

#define STATUS_ERRORS 5

static void status_line(void *arg, const char *text)
{
	cons_out(arg, "%s", text);
}

/* What the console sees itself: the clock and the data partition. */
static void status_local(struct cons *c)
{
	struct statvfs sv;
	struct stat st;
	char when[64], ntp[256];
	time_t now = time(NULL);

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	cons_out(c, "clock: %s", when);
	net_ntp_servers(c, ntp, sizeof(ntp));
	if (ntp[0] != '\0')
		cons_out(c, "clock source: NTP (%s)", ntp);
	else
		cons_out(c, "clock source: %s",
			 stat("/dev/rtc0", &st) == 0
			     ? "the RTC"
			     : "no RTC, no NTP: the saved time ('time set')");
	if (statvfs(c->data_dir, &sv) == 0) {
		unsigned long long total = (unsigned long long)sv.f_blocks * sv.f_frsize;
		unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;

		cons_out(c, "data: %s, %llu MiB free of %llu MiB (%llu%% used)", c->data_dir,
			 avail >> 20, total >> 20,
			 total > 0 ? (total - avail) * 100 / total : 0ULL);
	} else {
		cons_out(c, "data: %s not mounted or not readable", c->data_dir);
	}
}

/* Messages and bytes in a Maildir's new/ and cur/. */
static void status_maildir(const char *dir, unsigned *msgs, unsigned long long *bytes)
{
	static const char *const subs[] = {"new", "cur"};

	for (size_t i = 0; i < 2; i++) {
		char path[1024];
		struct dirent *de;
		DIR *dp;

		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		dp = opendir(path);
		while (dp != NULL && (de = readdir(dp)) != NULL) {
			char file[1280];
			struct stat st;

			if (de->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
			if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
				(*msgs)++;
				*bytes += (unsigned long long)st.st_size;
			}
		}
		if (dp != NULL)
			closedir(dp);
	}
}

static int status_user(void *arg, const char *addr, const char *value)
{
	struct cons *c = arg;
	const char *at = strrchr(addr, '@');
	char dir[768];
	unsigned msgs = 0;
	unsigned long long bytes = 0;

	(void)value;
	if (at == NULL)
		return 0;
	snprintf(dir, sizeof(dir), "%s/mail/%s/%.*s/Maildir", c->data_dir, at + 1, (int)(at - addr),
		 addr);
	status_maildir(dir, &msgs, &bytes);
	cons_out(c, "mail %s: %u messages, %llu KiB", addr, msgs, (bytes + 1023) / 1024);
	return 0;
}

/* The TLS files: server certificate, CA and CRL with its countdown. */
static void status_tls(struct cons *c)
{
	char crt[512], ca[512], crl[512], fp[TLS_KEYGEN_FP_MAX], why[PKI_WHY_MAX], when[40];
	struct pki_ca_info in;
	struct pki_crl_info ci;
	int rc;

	snprintf(crt, sizeof(crt), "%s/etc/tls/server.crt", c->data_dir);
	snprintf(ca, sizeof(ca), "%s/etc/tls/ca.crt", c->data_dir);
	snprintf(crl, sizeof(crl), "%s/etc/tls/crl.pem", c->data_dir);
	if (tls_keygen_fingerprint(crt, fp, why, sizeof(why)) == 0)
		cons_out_fp(c, "server certificate, SHA256 fingerprint", fp);
	/* [tls] ca may hold several CAs: one line each */
	for (unsigned i = 0; (rc = pki_ca_show_nth(ca, i, &in, why, sizeof(why))) == 0; i++) {
		strftime(when, sizeof(when), "%Y-%m-%d", gmtime(&in.not_after));
		cons_out(c, "office CA: %s, valid until %s", in.subject, when);
	}
	if (rc == -MGW_ENOENT && access(ca, F_OK) != 0)
		cons_out(c, "office CA: none installed");
	else if (rc != -MGW_ENOENT)
		cons_out(c, "office CA: %s", why);
	/* one CRL per CA of ca.crt, each named by its CA */
	for (unsigned i = 0; pki_crl_show_nth(crl, ca, i, time(NULL), &ci, why, sizeof(why)) == 0;
	     i++) {
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&ci.next_update));
		cons_out(c, "CRL of %s", ci.issuer);
		if (ci.seconds_left >= 0)
			cons_out(c, "  next update %s, in %lld days %lld hours", when,
				 ci.seconds_left / 86400, ci.seconds_left % 86400 / 3600);
		else
			cons_out(c, "  EXPIRED since %s", when);
		pki_crl_info_free(&ci);
	}
}

static int cmd_status(struct cons *c)
{
	char why[512], msg[LAYOUT_MSG_MAX];
	int rc = ctl_call(c->sock_path, "status", status_line, c, why, sizeof(why));
	struct layout l;

	status_local(c);
	fw_status(c);
	status_tls(c);
	if (layout_open(&l, c->data_dir, NULL, msg, sizeof(msg)) == 0) {
		admin_user_list(&l, NULL, status_user, c, msg, sizeof(msg));
		layout_close(&l);
	}
	cons_out(c, "last errors in the log:");
	cons_log_lines(c, " error", STATUS_ERRORS);
	if (rc != CONS_OK)
		cons_err(c, "mailgwd: %s", why);
	return rc;
}

static int cmd_reload(struct cons *c)
{
	return ctl_reload(c);
}

static int cmd_help(struct cons *c)
{
	cli_help(c->cli, "help", NULL, 0);
	cons_out(c, "%s", "");
	cons_out(c, "Type '?' after a command or part of one for what may follow; TAB completes "
		    "commands");
	cons_out(c, "and names; a unique prefix is enough (st = status).");
	return CONS_OK;
}

/* [pop3s] / [imaps] listen: opening or closing a port needs mailgwd to start again (it
 * binds its ports as root, before the privilege drop), so the admin is offered the
 * reboot. */
struct service_set {
	const char *section, *listen;
};

static int service_edit(const struct layout *l, const void *arg, char *msg, size_t msgsz)
{
	const struct service_set *set = arg;

	return admin_conf_set(l, set->section, "listen", set->listen, msg, msgsz);
}

static int service_set(struct cons *c, const char *section, const char *listen)
{
	struct service_set set = {section, listen};
	int rc = apply_conf(c, service_edit, &set);

	if (rc != CONS_OK)
		return rc;
	cons_out(c, "mailgwd opens or closes the port when it starts again");
	if (cons_confirm(c, "Reboot now?"))
		return cons_reboot(c);
	return CONS_OK;
}

static int service_on(struct cons *c, const char *section, const char *dflt)
{
	const char *port = cons_arg(c, "port");
	char listen[32];

	if (port != NULL && (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
			     atoi(port) < 1 || atoi(port) > 65535)) {
		cons_err(c, "port: 1 to 65535");
		return CONS_REFUSED;
	}
	snprintf(listen, sizeof(listen), "0.0.0.0:%s", port != NULL ? port : dflt);
	return service_set(c, section, listen);
}

static int cmd_service_pop3s_on(struct cons *c)
{
	return service_on(c, "pop3s", "995");
}

static int cmd_service_pop3s_off(struct cons *c)
{
	return service_set(c, "pop3s", "off");
}

static int cmd_service_imaps_on(struct cons *c)
{
	return service_on(c, "imaps", "993");
}

static int cmd_service_imaps_off(struct cons *c)
{
	return service_set(c, "imaps", "off");
}

const struct cons_cmd cons_cmds_daemon[] = {
    {"service pop3s on",
     "serve POP3S (needs the office CA and its CRL installed; reboot)",
     cmd_service_pop3s_on,
     {{"port", CONS_ARG_VALUE, "the port (default 995)"}, {NULL}}},
    {"service pop3s off", "stop serving POP3S (reboot)", cmd_service_pop3s_off, {{NULL}}},
    {"service imaps on",
     "serve IMAPS (needs the office CA and its CRL installed; reboot)",
     cmd_service_imaps_on,
     {{"port", CONS_ARG_VALUE, "the port (default 993)"}, {NULL}}},
    {"service imaps off", "stop serving IMAPS (reboot)", cmd_service_imaps_off, {{NULL}}},
    {"status",
     "what the gateway is doing: services, sessions, certificates, disk, clock",
     cmd_status,
     {{NULL}}},
    {"reload",
     "re-read the configuration and the TLS files (sessions go on)",
     cmd_reload,
     {{NULL}}},
    {"help", "list the commands", cmd_help, {{NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
