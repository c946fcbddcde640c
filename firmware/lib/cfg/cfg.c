/*
 * cfg.c - table-driven parser of mailgw.conf.
 *
 * Every key is one row of cfg_keys: section, name, type, where it lands in struct
 * mgw_cfg and its bounds. Adding a key is adding a row (and documenting it in README).
 */
#include "cfg/cfg.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "net/addr_net.h"
#include "net/listen.h"
#include "mgw_config.h"

enum cfg_type { CFG_T_STR, CFG_T_PATH, CFG_T_NAME, CFG_T_BOOL, CFG_T_UINT, CFG_T_SIZE,
		CFG_T_DURATION, CFG_T_LOGLEVEL, CFG_T_HOSTNAME, CFG_T_ENUM, CFG_T_ADDRLIST,
		CFG_T_LISTEN, CFG_T_URL, CFG_T_QUOTA };

struct cfg_key {
	const char *section; /* "" = global */
	const char *name;
	enum cfg_type type;
	size_t off;
	size_t size;         /* for strings: the field's size */
	uint64_t min, max;   /* for numbers */
	const char *const *choices; /* for CFG_T_ENUM: NULL-terminated, stored as uint32_t index */
};

#define CFG_S(sec, key, type, field) { sec, key, type, offsetof(struct mgw_cfg, field), \
				       sizeof(((struct mgw_cfg *)0)->field), 0, 0 }
#define CFG_N(sec, key, type, field, lo, hi) { sec, key, type, offsetof(struct mgw_cfg, field), \
					       sizeof(((struct mgw_cfg *)0)->field), lo, hi }

#define CFG_E(sec, key, field, names) { sec, key, CFG_T_ENUM, offsetof(struct mgw_cfg, field), \
					      sizeof(((struct mgw_cfg *)0)->field), 0, 0, names }

/* In enum order (tls/tls.h). */
static const char *const cfg_crl_policies[] = { "refuse", "grace", NULL };
static const char *const cfg_identities[] = { "email", "cn", "none", NULL };
static const char *const cfg_tls_versions[] = { "1.2", "1.3", NULL };

static const struct cfg_key cfg_keys[] = {
	CFG_S("", "hostname", CFG_T_HOSTNAME, hostname),
	CFG_S("", "data_dir", CFG_T_PATH, data_dir),
	CFG_S("", "user", CFG_T_NAME, user),
	CFG_S("", "log_level", CFG_T_LOGLEVEL, log_level),
	CFG_S("", "log_syslog", CFG_T_BOOL, log_syslog),
	CFG_N("", "max_connections", CFG_T_UINT, max_connections, 4, 10000),
	CFG_N("", "ipv6_prefix", CFG_T_UINT, ipv6_prefix, ADDR_NET_V6_PREFIX_MIN, ADDR_NET_V6_PREFIX_MAX),
	CFG_N("", "shutdown_grace", CFG_T_DURATION, shutdown_grace, 0, 300),
	CFG_S("control", "socket", CFG_T_PATH, control_socket),
	CFG_S("", "watchdog", CFG_T_PATH, watchdog),
	CFG_N("", "watchdog_timeout", CFG_T_DURATION, watchdog_timeout, 2, 600),
	CFG_N("", "watchdog_job_limit", CFG_T_DURATION, watchdog_job_limit, 1, 3600),
	CFG_S("smtp", "listen", CFG_T_LISTEN, smtp_listen),
	CFG_N("smtp", "max_message_size", CFG_T_SIZE, smtp_max_message_size, 1024, 1073741824),
	CFG_N("smtp", "max_recipients", CFG_T_UINT, smtp_max_recipients, 1, 100),
	CFG_N("smtp", "max_connections", CFG_T_UINT, smtp_max_connections, 1, 10000),
	CFG_N("smtp", "max_per_address", CFG_T_UINT, smtp_max_per_address, 1, 10000),
	CFG_N("smtp", "rate", CFG_T_UINT, smtp_rate, 1, 1000000),
	CFG_N("smtp", "max_bad_commands", CFG_T_UINT, smtp_max_bad_commands, 1, 1000),
	CFG_N("smtp", "greeting_delay", CFG_T_DURATION, smtp_greeting_delay, 0, 30),
	CFG_N("smtp", "helo_timeout", CFG_T_DURATION, smtp_helo_timeout, 1, 3600),
	CFG_N("smtp", "command_timeout", CFG_T_DURATION, smtp_command_timeout, 1, 3600),
	CFG_N("smtp", "data_timeout", CFG_T_DURATION, smtp_data_timeout, 1, 3600),
	CFG_N("smtp", "min_free_space", CFG_T_SIZE, smtp_min_free_space, 0, UINT64_MAX),
	CFG_N("smtp", "quota", CFG_T_QUOTA, smtp_quota, 0, UINT64_MAX),
	CFG_S("smtp", "postmaster", CFG_T_ADDRLIST, smtp_postmaster),
	CFG_S("tls", "cert", CFG_T_PATH, tls_cert),
	CFG_S("tls", "key", CFG_T_PATH, tls_key),
	CFG_S("tls", "ca", CFG_T_PATH, tls_ca),
	CFG_S("tls", "crl", CFG_T_PATH, tls_crl),
	CFG_E("tls", "crl_expired", tls_crl_expired, cfg_crl_policies),
	CFG_N("tls", "crl_grace", CFG_T_DURATION, tls_crl_grace, 0, 720 * 3600),
	CFG_E("tls", "identity", tls_identity, cfg_identities),
	CFG_N("tls", "handshake_timeout", CFG_T_DURATION, tls_handshake_timeout, 1, 60),
	CFG_S("pop3s", "listen", CFG_T_STR, pop3s_listen),
	CFG_N("pop3s", "idle_timeout", CFG_T_DURATION, pop3s_idle_timeout, 600, 86400),
	CFG_N("pop3s", "login_timeout", CFG_T_DURATION, pop3s_login_timeout, 5, 3600),
	CFG_N("pop3s", "max_connections", CFG_T_UINT, pop3s_max_connections, 1, 10000),
	CFG_N("pop3s", "max_per_address", CFG_T_UINT, pop3s_max_per_address, 1, 10000),
	CFG_N("pop3s", "rate", CFG_T_UINT, pop3s_rate, 1, 1000000),
	CFG_S("imaps", "listen", CFG_T_STR, imaps_listen),
	CFG_N("imaps", "idle_timeout", CFG_T_DURATION, imaps_idle_timeout, 1800, 86400),
	CFG_N("imaps", "login_timeout", CFG_T_DURATION, imaps_login_timeout, 5, 3600),
	CFG_N("imaps", "max_connections", CFG_T_UINT, imaps_max_connections, 1, 10000),
	CFG_N("imaps", "max_per_address", CFG_T_UINT, imaps_max_per_address, 1, 10000),
	CFG_N("imaps", "rate", CFG_T_UINT, imaps_rate, 1, 1000000),
	CFG_S("auth", "allow_plain", CFG_T_BOOL, auth_allow_plain),
	CFG_N("auth", "fail_close", CFG_T_UINT, auth_fail_close, 1, 10),
	CFG_N("auth", "fail_limit", CFG_T_UINT, auth_fail_limit, 1, 1000),
	CFG_N("auth", "fail_window", CFG_T_DURATION, auth_fail_window, 60, 86400),
	CFG_N("auth", "fail_delay", CFG_T_DURATION, auth_fail_delay, 1, 60),
	CFG_N("crlwatch", "interval", CFG_T_DURATION, crlwatch_interval, 1, 86400),
	CFG_N("crlwatch", "refresh_due", CFG_T_DURATION, crlwatch_refresh_due, 0, 365 * 86400),
	CFG_N("crlwatch", "warning", CFG_T_DURATION, crlwatch_warning, 0, 365 * 86400),
	CFG_N("crlwatch", "critical", CFG_T_DURATION, crlwatch_critical, 0, 365 * 86400),
	CFG_N("crlwatch", "repeat", CFG_T_DURATION, crlwatch_repeat, 60, 7 * 86400),
	CFG_S("crlwatch", "console", CFG_T_STR, crlwatch_console),
	CFG_S("crlwatch", "led", CFG_T_STR, crlwatch_led),
	CFG_S("crlwatch", "mail", CFG_T_BOOL, crlwatch_mail),
	CFG_N("crlwatch", "max_size", CFG_T_SIZE, crlwatch_max_size, 1024, 1048576),
	CFG_N("crlwatch", "skew", CFG_T_DURATION, crlwatch_skew, 0, 86400),
	CFG_S("crlwatch", "url", CFG_T_URL, crlwatch_url),
	CFG_S("crlwatch", "trust", CFG_T_PATH, crlwatch_trust),
	CFG_E("crlwatch", "tls_version", crlwatch_tls_version, cfg_tls_versions),
	CFG_N("crlwatch", "connect_timeout", CFG_T_DURATION, crlwatch_connect_timeout, 1, 300),
	CFG_N("crlwatch", "timeout", CFG_T_DURATION, crlwatch_timeout, 1, 3600),
	CFG_N("crlwatch", "poll", CFG_T_DURATION, crlwatch_poll, 10, 7 * 86400),
	CFG_S("crlwatch", "usb", CFG_T_BOOL, crlwatch_usb),
	CFG_S("crlwatch", "usb_spool", CFG_T_PATH, crlwatch_usb_spool),
	CFG_S("crlwatch", "ca_dir", CFG_T_STR, crlwatch_ca_dir),
	CFG_N("crlwatch", "resign_days", CFG_T_UINT, crlwatch_resign_days, 2, 3650),
	CFG_S("crlwatch", "state", CFG_T_PATH, crlwatch_state),
};

static const char *const cfg_sections[] = { "", "control", "tls", "pop3s", "imaps", "auth", "smtp",
					     "crlwatch" };

void cfg_defaults(struct mgw_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (gethostname(cfg->hostname, sizeof(cfg->hostname) - 1) < 0 || cfg->hostname[0] == '\0')
		snprintf(cfg->hostname, sizeof(cfg->hostname), "mailgw");
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", CONFIG_DATA_DIR);
	snprintf(cfg->user, sizeof(cfg->user), "%s", CONFIG_DAEMON_USER);
	cfg->log_level = LOG_LVL_INFO;
	cfg->log_syslog = true;
	cfg->max_connections = CONFIG_MAX_CONNECTIONS;
	cfg->ipv6_prefix = ADDR_NET_V6_PREFIX_DEFAULT;
	cfg->shutdown_grace = CONFIG_SHUTDOWN_GRACE;
	snprintf(cfg->control_socket, sizeof(cfg->control_socket), "/run/mailgw/control");
	cfg->watchdog_timeout = 15;
	cfg->watchdog_job_limit = 120;
	snprintf(cfg->smtp_listen, sizeof(cfg->smtp_listen), "%s", CONFIG_FEATURE_SMTP ? "0.0.0.0:25" : "off");
	cfg->smtp_max_message_size = CONFIG_SMTP_MAX_MESSAGE_SIZE;
	cfg->smtp_max_recipients = CONFIG_SMTP_MAX_RECIPIENTS;
	cfg->smtp_max_connections = 64;
	cfg->smtp_max_per_address = 8;
	cfg->smtp_rate = 60;
	cfg->smtp_max_bad_commands = 20;
	cfg->smtp_greeting_delay = 1;
	cfg->smtp_helo_timeout = 60;
	cfg->smtp_command_timeout = 300; /* RFC 5321 4.5.3.2.7: at least 5 minutes */
	cfg->smtp_data_timeout = 300;
	cfg->smtp_min_free_space = 64ull * 1024 * 1024;
	cfg->tls_crl_expired = CONFIG_CRL_EXPIRED_GRACE ? TLS_CRL_GRACE : TLS_CRL_REFUSE;
	cfg->tls_crl_grace = CONFIG_CRL_GRACE_HOURS * 3600u;
	cfg->tls_handshake_timeout = 10;
	cfg->tls_identity = CONFIG_IDENTITY_CN ? TLS_IDENTITY_CN
			    : CONFIG_IDENTITY_NONE ? TLS_IDENTITY_NONE : TLS_IDENTITY_EMAIL;
	snprintf(cfg->pop3s_listen, sizeof(cfg->pop3s_listen), "%s",
		 CONFIG_FEATURE_POP3S ? "0.0.0.0:995" : "off");
	cfg->pop3s_idle_timeout = CONFIG_IDLE_TIMEOUT;
	cfg->pop3s_login_timeout = CONFIG_IDLE_TIMEOUT_PRELOGIN;
	cfg->pop3s_max_connections = 64;
	cfg->pop3s_max_per_address = 16;
	cfg->pop3s_rate = 60;
	snprintf(cfg->imaps_listen, sizeof(cfg->imaps_listen), "%s",
		 CONFIG_FEATURE_IMAPS ? "0.0.0.0:993" : "off");
	cfg->imaps_idle_timeout = 1800; /* RFC 3501 section 5.4: at least 30 minutes */
	cfg->imaps_login_timeout = CONFIG_IDLE_TIMEOUT_PRELOGIN;
	cfg->imaps_max_connections = 64;
	cfg->imaps_max_per_address = 16;
	cfg->imaps_rate = 60;
	cfg->auth_allow_plain = false;
	cfg->auth_fail_close = 3;
	cfg->auth_fail_limit = 10;
	cfg->auth_fail_window = 15 * 60;
	cfg->auth_fail_delay = 8;
	cfg->crlwatch_interval = 3600;
	cfg->crlwatch_refresh_due = 14 * 86400;
	cfg->crlwatch_warning = 7 * 86400;
	cfg->crlwatch_critical = 86400;
	cfg->crlwatch_repeat = 6 * 3600;
	snprintf(cfg->crlwatch_console, sizeof(cfg->crlwatch_console), "/dev/console");
	cfg->crlwatch_mail = true;
	cfg->crlwatch_max_size = 1048576;
	cfg->crlwatch_skew = 300;
	cfg->crlwatch_tls_version = 0;
	cfg->crlwatch_connect_timeout = 10;
	cfg->crlwatch_timeout = 60;
	cfg->crlwatch_poll = 6 * 3600;
	cfg->crlwatch_usb = true;
	snprintf(cfg->crlwatch_usb_spool, sizeof(cfg->crlwatch_usb_spool), "/run/mailgw/usb");
	cfg->crlwatch_resign_days = 30;
	snprintf(cfg->crlwatch_state, sizeof(cfg->crlwatch_state), "/run/mailgw/crlwatch.state");
}

static int cfg_num(const char *s, uint64_t *out, const char **rest)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -MGW_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -MGW_EINVAL;
	*out = v;
	*rest = end;
	return 0;
}

static int cfg_scale(uint64_t v, uint64_t mul, uint64_t *out)
{
	if (mul && v > UINT64_MAX / mul)
		return -MGW_EINVAL;
	*out = v * mul;
	return 0;
}

int cfg_parse_size(const char *s, uint64_t *out)
{
	const char *rest;
	uint64_t v, mul = 1;

	if (cfg_num(s, &v, &rest) < 0)
		return -MGW_EINVAL;
	if (*rest == 'K' || *rest == 'k')
		mul = 1024;
	else if (*rest == 'M' || *rest == 'm')
		mul = 1024 * 1024;
	else if (*rest == 'G' || *rest == 'g')
		mul = 1024ull * 1024 * 1024;
	else if (*rest != '\0')
		return -MGW_EINVAL;
	if (*rest != '\0' && rest[1] != '\0')
		return -MGW_EINVAL;
	return cfg_scale(v, mul, out);
}

int cfg_parse_duration(const char *s, uint64_t *out)
{
	const char *rest;
	uint64_t v, mul = 1;

	if (cfg_num(s, &v, &rest) < 0)
		return -MGW_EINVAL;
	switch (*rest) {
	case '\0': case 's': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return -MGW_EINVAL;
	}
	if (*rest != '\0' && rest[1] != '\0')
		return -MGW_EINVAL;
	return cfg_scale(v, mul, out);
}

int cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < MGW_ARRAY_LEN(yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -MGW_EINVAL;
}

static bool cfg_hostname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

static bool cfg_name_ok(const char *s)
{
	if (*s == '\0' || *s == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

/* "user@domain, user@domain": a light syntax check; names are validated again at use. */
static bool cfg_addrlist_ok(const char *s)
{
	bool at = false, any = false;

	for (;; s++) {
		if (*s == ',' || *s == '\0') {
			if (any && !at)
				return false;
			if (*s == '\0')
				return true;
			at = any = false;
			continue;
		}
		if (*s == ' ' || *s == '\t')
			continue;
		if (*s == '@') {
			if (at || !any)
				return false;
			at = true;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-' || *s == '.' || *s == '+'))
			return false;
		any = true;
	}
}

static void cfg_err(char *err, size_t errsz, const char *name, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void cfg_err(char *err, size_t errsz, const char *name, unsigned line, const char *fmt, ...)
{
	char msg[CFG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line)
		snprintf(err, errsz, "%s:%u: %s", name, line, msg);
	else
		snprintf(err, errsz, "%s: %s", name, msg);
}

/* [smtp] quota = N% (1 to 100): a share of the data filesystem, sized at each use. */
static int cfg_set_pct(struct mgw_cfg *cfg, void *field, const char *value, char *why, size_t whysz)
{
	size_t n = strlen(value) - 1;
	const char *rest = "";
	char num[8];
	uint64_t v = 0;

	if (n < sizeof(num)) {
		memcpy(num, value, n);
		num[n] = '\0';
		if (cfg_num(num, &v, &rest) == 0 && *rest == '\0' && v >= 1 && v <= 100) {
			cfg->smtp_quota_pct = (uint32_t)v;
			*(uint64_t *)field = 0;
			return 0;
		}
	}
	snprintf(why, whysz, "expected a size such as 500M or 1G, or 1%% to 100%%");
	return -MGW_EINVAL;
}

/* Stores value into the field described by k; on error fills why. */
static int cfg_set(struct mgw_cfg *cfg, const struct cfg_key *k, const char *value, char *why,
		   size_t whysz)
{
	void *field = (char *)cfg + k->off;
	uint64_t v = 0;
	int rc = -MGW_EINVAL;

	switch (k->type) {
	case CFG_T_PATH:
		if (value[0] != '/') {
			snprintf(why, whysz, "must be an absolute path");
			return rc;
		}
		/* fall through */
	case CFG_T_STR:
	case CFG_T_NAME:
	case CFG_T_HOSTNAME:
	case CFG_T_ADDRLIST:
	case CFG_T_LISTEN:
	case CFG_T_URL:
		if (strlen(value) >= k->size) {
			snprintf(why, whysz, "too long (at most %zu characters)", k->size - 1);
			return rc;
		}
		if (k->type == CFG_T_NAME && !cfg_name_ok(value)) {
			snprintf(why, whysz, "not a valid name (letters, digits, '_', '-', '.')");
			return rc;
		}
		if (k->type == CFG_T_HOSTNAME && !cfg_hostname_ok(value)) {
			snprintf(why, whysz, "not a valid host name");
			return rc;
		}
		if (k->type == CFG_T_ADDRLIST && !cfg_addrlist_ok(value)) {
			snprintf(why, whysz, "expected user@domain[, user@domain...]");
			return rc;
		}
		if (k->type == CFG_T_URL && value[0] &&
		    ((strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) ||
		     strpbrk(value, " \t\"<>\\^`{|}") != NULL)) {
			snprintf(why, whysz, "expected an http:// or https:// URL");
			return rc;
		}
		if (k->type == CFG_T_LISTEN && strcmp(value, "off") != 0) {
			struct sockaddr_storage ss;
			socklen_t sl;

			if (listen_parse_addr(value, &ss, &sl) < 0) {
				snprintf(why, whysz, "expected HOST:PORT, [V6]:PORT, *:PORT or off");
				return rc;
			}
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case CFG_T_BOOL:
		if (cfg_parse_bool(value, (bool *)field) < 0) {
			snprintf(why, whysz, "expected yes or no");
			return rc;
		}
		return 0;
	case CFG_T_ENUM:
		for (uint32_t i = 0; k->choices[i]; i++) {
			if (strcmp(value, k->choices[i]) == 0) {
				*(uint32_t *)field = i;
				return 0;
			}
		}
		snprintf(why, whysz, "expected one of:");
		for (uint32_t i = 0; k->choices[i]; i++)
			snprintf(why + strlen(why), whysz - strlen(why), " %s", k->choices[i]);
		return rc;
	case CFG_T_LOGLEVEL:
		if (log_level_parse(value, (enum log_level *)field) < 0) {
			snprintf(why, whysz, "expected error, warning, info or debug");
			return rc;
		}
		return 0;
	case CFG_T_QUOTA:
		cfg->smtp_quota_pct = 0;
		if (strlen(value) > 1 && value[strlen(value) - 1] == '%')
			return cfg_set_pct(cfg, field, value, why, whysz);
		/* fall through */
	case CFG_T_UINT:
	case CFG_T_SIZE:
	case CFG_T_DURATION: {
		const char *rest = "";

		if (k->type == CFG_T_UINT)
			rc = cfg_num(value, &v, &rest) == 0 && *rest == '\0' ? 0 : -MGW_EINVAL;
		else if (k->type == CFG_T_SIZE || k->type == CFG_T_QUOTA)
			rc = cfg_parse_size(value, &v);
		else
			rc = cfg_parse_duration(value, &v);
		if (rc < 0) {
			snprintf(why, whysz, "%s",
				 k->type == CFG_T_UINT ? "expected a whole number"
				 : k->type == CFG_T_SIZE ? "expected a size such as 512K, 25M or 1G"
				 : k->type == CFG_T_QUOTA ? "expected a size such as 500M or 1G, or 1% to 100%"
							 : "expected a duration such as 30s, 10m, 2h or 7d");
			return -MGW_EINVAL;
		}
		if (v < k->min || v > k->max) {
			snprintf(why, whysz, "out of range (%llu to %llu)", (unsigned long long)k->min,
				 (unsigned long long)k->max);
			return -MGW_EINVAL;
		}
		if (k->size == sizeof(uint32_t))
			*(uint32_t *)field = (uint32_t)v;
		else
			*(uint64_t *)field = v;
		return 0;
	}
	}
	return rc;
}

/* Checks between keys, once the whole file is read. */
static int cfg_check_named(const char *name, const struct mgw_cfg *cfg, char *err, size_t errsz)
{
	/* Each listening service has its own share, so that a flood on one port cannot
	 * take the connections another port needs. */
	uint32_t smtp = strcmp(cfg->smtp_listen, "off") != 0 ? cfg->smtp_max_connections : 0;
	uint32_t pop3s = strcmp(cfg->pop3s_listen, "off") != 0 ? cfg->pop3s_max_connections : 0;
	uint32_t imaps = strcmp(cfg->imaps_listen, "off") != 0 ? cfg->imaps_max_connections : 0;

	if ((uint64_t)smtp + pop3s + imaps > cfg->max_connections) {
		cfg_err(err, errsz, name, 0,
			"the services' shares ([smtp] max_connections %u + [pop3s] max_connections "
			"%u + [imaps] max_connections %u) exceed max_connections %u",
			smtp, pop3s, imaps, cfg->max_connections);
		return -MGW_ECONFIG;
	}
	return 0;
}

static char *cfg_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int cfg_parse(const char *name, const char *text, size_t len, struct mgw_cfg *cfg, char *err,
	      size_t errsz)
{
	bool seen[MGW_ARRAY_LEN(cfg_keys)] = { false };
	const char *section = "";
	char secbuf[CFG_NAME_MAX] = "";
	unsigned lineno = 0;
	size_t pos = 0;

	while (pos < len) {
		char line[CFG_LINE_MAX + 1], why[CFG_ERR_MAX];
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s, *eq, *key, *value;
		const struct cfg_key *k = NULL;
		size_t ki = 0;

		lineno++;
		if (l > CFG_LINE_MAX) {
			cfg_err(err, errsz, name, lineno, "line too long (at most %d bytes)", CFG_LINE_MAX);
			return -MGW_ECONFIG;
		}
		if (memchr(text + pos, '\0', l)) {
			cfg_err(err, errsz, name, lineno, "NUL byte in line");
			return -MGW_ECONFIG;
		}
		memcpy(line, text + pos, l);
		line[l] = '\0';
		pos += l + (nl ? 1 : 0);
		s = cfg_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			bool known = false;

			if (close == NULL || cfg_trim(close + 1)[0] != '\0') {
				cfg_err(err, errsz, name, lineno, "malformed section header");
				return -MGW_ECONFIG;
			}
			*close = '\0';
			s = cfg_trim(s + 1);
			for (size_t i = 0; i < MGW_ARRAY_LEN(cfg_sections); i++)
				if (cfg_sections[i][0] && strcmp(s, cfg_sections[i]) == 0)
					known = true;
			if (!known) {
				cfg_err(err, errsz, name, lineno, "unknown section [%.64s]", s);
				return -MGW_ECONFIG;
			}
			snprintf(secbuf, sizeof(secbuf), "%s", s);
			section = secbuf;
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			cfg_err(err, errsz, name, lineno, "expected 'key = value'");
			return -MGW_ECONFIG;
		}
		*eq = '\0';
		key = cfg_trim(s);
		value = cfg_trim(eq + 1);
		for (ki = 0; ki < MGW_ARRAY_LEN(cfg_keys); ki++) {
			if (strcmp(cfg_keys[ki].section, section) == 0 && strcmp(cfg_keys[ki].name, key) == 0) {
				k = &cfg_keys[ki];
				break;
			}
		}
		if (k == NULL) {
			if (section[0])
				cfg_err(err, errsz, name, lineno, "unknown key '%.64s' in [%s]", key, section);
			else
				cfg_err(err, errsz, name, lineno, "unknown key '%.64s'", key);
			return -MGW_ECONFIG;
		}
		if (seen[ki]) {
			cfg_err(err, errsz, name, lineno, "'%s' given twice", key);
			return -MGW_ECONFIG;
		}
		seen[ki] = true;
		if (cfg_set(cfg, k, value, why, sizeof(why)) < 0) {
			cfg_err(err, errsz, name, lineno, "%s: %s", key, why);
			return -MGW_ECONFIG;
		}
	}
	return cfg_check_named(name, cfg, err, errsz);
}

uint64_t cfg_smtp_quota(const struct mgw_cfg *cfg)
{
	struct statvfs sv;

	if (cfg->smtp_quota_pct == 0)
		return cfg->smtp_quota;
	/* Sized at each use, so a data partition grown later (resize2fs) counts at once. */
	if (statvfs(cfg->data_dir, &sv) < 0) {
		log_warn("%s: statvfs: %s: quota of %u%% not applied", cfg->data_dir, strerror(errno),
			 cfg->smtp_quota_pct);
		return 0;
	}
	return (uint64_t)sv.f_blocks * sv.f_frsize / 100 * cfg->smtp_quota_pct;
}

int cfg_check(const struct mgw_cfg *cfg, char *err, size_t errsz)
{
	return cfg_check_named(cfg->path, cfg, err, errsz);
}

int cfg_load(const char *path, struct mgw_cfg *cfg, char *err, size_t errsz)
{
	FILE *f;
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc = -MGW_ECONFIG;

	cfg_defaults(cfg);
	if (strlen(path) >= sizeof(cfg->path)) {
		cfg_err(err, errsz, path, 0, "path too long");
		return -MGW_ECONFIG;
	}
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	f = fopen(path, "r");
	if (f == NULL) {
		cfg_err(err, errsz, path, 0, "cannot open: %s", strerror(errno));
		return -MGW_ENOENT;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *p;

			if (cap >= 1024 * 1024) {
				cfg_err(err, errsz, path, 0, "file too large");
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			p = realloc(text, cap);
			if (p == NULL) {
				cfg_err(err, errsz, path, 0, "out of memory");
				goto out;
			}
			text = p;
		}
		n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		cfg_err(err, errsz, path, 0, "read error: %s", strerror(errno));
		goto out;
	}
	rc = cfg_parse(path, text ? text : "", len, cfg, err, errsz);
out:
	fclose(f);
	free(text);
	return rc;
}
