/*
 * notify.c - the countdown (OK -> REFRESH DUE -> WARNING -> CRITICAL -> EXPIRED) and the
 * four channels that tell the admin: the console, syslog, the status LED and one mail to
 * postmaster per state change, delivered through mailgwd's own SMTP listener (the same
 * store path as any mail, so it lands in the postmaster's Maildir).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "crlwatch.h"
#include "net/listen.h"

#define CW_SMTP_TIMEOUT_S 30
#define CW_SMTP_LINE_MAX 1024

/* What the LED shows in each state. */
static const enum led_pattern cw_state_led[CW_STATE_MAX] = {
    LED_ON, LED_ON, LED_BLINK_SLOW, LED_BLINK_FAST, LED_BLINK_FAST, LED_BLINK_FAST,
};

enum cw_state cw_state_of(const struct mgw_cfg *cfg, time_t next_update, time_t now)
{
	long long left = (long long)next_update - (long long)now;

	if (next_update == 0)
		return CW_NO_CRL;
	if (left <= 0)
		return CW_EXPIRED;
	if (left <= (long long)cfg->crlwatch_critical)
		return CW_CRITICAL;
	if (left <= (long long)cfg->crlwatch_warning)
		return CW_WARNING;
	if (left <= (long long)cfg->crlwatch_refresh_due)
		return CW_REFRESH_DUE;
	return CW_OK;
}

void cw_say(struct cw *cw, int lvl, const char *fmt, ...)
{
	char raw[1024], line[1024];
	va_list ap;
	int fd;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* names from a USB key or a server end up here: one line, no control characters */
	log_safe(line, sizeof(line), raw, strlen(raw));
	log_msg((enum log_level)lvl, "%s", line);
	if (cw->cfg.crlwatch_console[0] == '\0')
		return;
	/* the console may be a tty nobody reads: never block on it, never make it ours */
	fd = open(cw->cfg.crlwatch_console,
		  O_WRONLY | O_APPEND | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_CREAT, 0640);
	if (fd < 0) {
		log_debug("console %s: %s", cw->cfg.crlwatch_console, strerror(errno));
		return;
	}
	dprintf(fd, "\r\n*** crlwatch: %s\r\n", line);
	close(fd);
}

/* Reads one SMTP reply (possibly multi-line); its code, or -1. */
static int cw_smtp_reply(FILE *f, char *last, size_t lastsz)
{
	char line[CW_SMTP_LINE_MAX];

	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		snprintf(last, lastsz, "%s", line);
		if (n < 3)
			return -1;
		if (n == 3 || line[3] == ' ')
			return atoi(line);
	}
	snprintf(last, lastsz, "connection closed");
	return -1;
}

/* Sends cmd (NULL: nothing) and expects a reply code in [want, want + 99]. */
static int cw_smtp_step(FILE *f, const char *cmd, int want, char *why, size_t whysz)
{
	char last[CW_SMTP_LINE_MAX];
	int code;

	if (cmd != NULL && (fprintf(f, "%s\r\n", cmd) < 0 || fflush(f) != 0)) {
		snprintf(why, whysz, "SMTP: write failed: %s", strerror(errno));
		return -MGW_EIO;
	}
	code = cw_smtp_reply(f, last, sizeof(last));
	if (code < want || code > want + 99) {
		snprintf(why, whysz, "SMTP: %s -> %s", cmd ? cmd : "greeting", last);
		return -MGW_EIO;
	}
	return 0;
}

/* Connects to the SMTP listener: a wildcard address is reached on loopback. */
static int cw_smtp_connect(const char *listen, char *why, size_t whysz)
{
	struct sockaddr_storage ss;
	struct timeval tv = {.tv_sec = CW_SMTP_TIMEOUT_S};
	socklen_t sl;
	int fd;

	if (strcmp(listen, "off") == 0 || listen_parse_addr(listen, &ss, &sl) < 0) {
		snprintf(why, whysz, "[smtp] listen is %s: no local SMTP to deliver through",
			 listen);
		return -MGW_ECONFIG;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = in6addr_loopback;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		snprintf(why, whysz, "SMTP %s: %s", listen, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -MGW_EIO;
	}
	return fd;
}

int cw_mail_postmaster(const struct cw *cw, const char *subject, const char *body, char *why,
		       size_t whysz)
{
	char cmd[CW_SMTP_LINE_MAX], date[64];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	int fd, rc;

	fd = cw_smtp_connect(cw->cfg.smtp_listen, why, whysz);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "r+");
	if (f == NULL) {
		close(fd);
		snprintf(why, whysz, "SMTP: %s", strerror(errno));
		return -MGW_ENOMEM;
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(cmd, sizeof(cmd), "EHLO %s", cw->cfg.hostname);
	rc = cw_smtp_step(f, NULL, 200, why, whysz);
	if (rc == 0)
		rc = cw_smtp_step(f, cmd, 200, why, whysz);
	/* a null reverse-path: an automatic notice must never cause a bounce loop */
	if (rc == 0)
		rc = cw_smtp_step(f, "MAIL FROM:<>", 200, why, whysz);
	if (rc == 0)
		rc = cw_smtp_step(f, "RCPT TO:<postmaster>", 200, why, whysz);
	if (rc == 0)
		rc = cw_smtp_step(f, "DATA", 300, why, whysz);
	if (rc == 0) {
		/* body lines are ours (no line starts with '.'), CRLF as RFC 5321 2.3.8 */
		fprintf(f,
			"From: crlwatch <MAILER-DAEMON@%s>\r\nTo: postmaster\r\nDate: %s\r\n"
			"Subject: %s\r\nAuto-Submitted: auto-generated\r\n"
			"Content-Type: text/plain; charset=us-ascii\r\n\r\n",
			cw->cfg.hostname, date, subject);
		for (const char *p = body; *p; p++) {
			if (*p == '\n')
				fputc('\r', f);
			fputc(*p, f);
		}
		rc = cw_smtp_step(f, ".", 200, why, whysz);
	}
	if (rc == 0)
		(void)cw_smtp_step(f, "QUIT", 200, why, whysz);
	fclose(f);
	return rc;
}

/* The admin's story for each state: what happens and what to do. */
static void cw_advice(const struct cw *cw, enum cw_state s, char *out, size_t outsz)
{
	const char *what =
	    s == CW_EXPIRED  ? "The CRL has EXPIRED: the certificate gate now follows [tls] "
			       "crl_expired (refuse: every POP3S/IMAPS client is refused)."
	    : s == CW_NO_CRL ? "No valid CRL is installed: the certificate gate cannot check "
			       "revocations."
			     : "When the CRL's nextUpdate passes, the certificate gate follows "
			       "[tls] crl_expired and may refuse every client.";

	snprintf(out, outsz,
		 "%s\n\nWhat to do: get a new CRL from the CA and install it, either\n"
		 "  - plug in a USB key with mailgw/crl.pem (or *.crl) on it,\n"
		 "  - or run `crlwatch install FILE` on the console,\n"
		 "  - or make the CRL URL serve the new CRL (%s).\n"
		 "crlwatch checks every candidate (issuer, signature, dates, never older) "
		 "before it replaces the installed CRL.\n",
		 what, cw->cfg.crlwatch_url[0] ? cw->cfg.crlwatch_url : "no [crlwatch] url set");
}

void cw_countdown(struct cw *cw, time_t now)
{
	char why[CW_WHY_MAX], subject[400], body[3072], advice[1024], when[64];
	time_t next = 0;
	enum cw_state s;
	struct tm tm;

	(void)cw_installed(cw, now, &next, why, sizeof(why));
	cw->st.next_update = next;
	s = cw_state_of(&cw->cfg, next, now);
	if (cw->led.open && led_set(&cw->led, cw_state_led[s], why, sizeof(why)) < 0)
		log_warn("LED: %s", why);
	if (next) {
		gmtime_r(&next, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	} else
		snprintf(when, sizeof(when), "never");
	if (s != cw->st.state || cw->st.state_since == 0) {
		/* a change (or the first look): console and syslog, once */
		cw_say(cw, s >= CW_WARNING ? LOG_LVL_WARN : LOG_LVL_INFO,
		       "CRL state %s (was %s): nextUpdate %s (%lld h left)", cw_state_name(s),
		       cw->st.state_since ? cw_state_name(cw->st.state) : "unknown", when,
		       next ? (long long)(next - now) / 3600 : 0LL);
		cw->st.state = s;
		cw->st.state_since = now;
		cw->st.last_announce = now;
	} else if (s >= CW_WARNING &&
		   now - cw->st.last_announce >= (time_t)cw->cfg.crlwatch_repeat) {
		/* no change: WARNING and worse are said again every `repeat` */
		cw_say(cw, LOG_LVL_WARN, "CRL %s: nextUpdate %s (%lld h left)", cw_state_name(s),
		       when, (long long)(next - now) / 3600);
		cw->st.last_announce = now;
	}
	/* one mail per state (good news gets none); a mail that could not be delivered is
	 * tried again at the next check */
	if (s == CW_OK)
		cw->st.mailed = s;
	if (cw->st.mailed == s || !cw->cfg.crlwatch_mail)
		return;
	cw_advice(cw, s, advice, sizeof(advice));
	snprintf(subject, sizeof(subject), "[%.200s] CRL %s: nextUpdate %s", cw->cfg.hostname,
		 cw_state_name(s), when);
	snprintf(body, sizeof(body),
		 "The certificate revocation list of %s (%s) is now in state %s.\n"
		 "Its nextUpdate is %s.\n\n%s",
		 cw->cfg.hostname, cw->cfg.tls_crl, cw_state_name(s), when, advice);
	if (cw_mail_postmaster(cw, subject, body, why, sizeof(why)) < 0) {
		log_warn("mail to postmaster about CRL %s not delivered (tried again at the next "
			 "check): %s",
			 cw_state_name(s), why);
		return;
	}
	cw->st.mailed = s;
	log_info("mail to postmaster: CRL %s", cw_state_name(s));
}
