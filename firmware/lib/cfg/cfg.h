/*
 * cfg.h - the configuration file: one documented format, typed and validated at load.
 *
 * Format (README "Configuration reference"): UTF-8 text, one `key = value` per line,
 * `[section]` headers, `#` starts a comment line, blank lines ignored. Values run to the
 * end of the line (no inline comments), surrounding blanks trimmed. Unknown sections,
 * unknown keys, duplicate keys and bad values are errors; each error names the file,
 * the line and the problem. Defaults come from Kconfig (mgw_config.h).
 *
 * struct mgw_cfg is a plain value (no pointers): it is copied into an immutable
 * generation and never changed afterwards.
 */
#ifndef MGW_CFG_H
#define MGW_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "tls/tls.h"

#define CFG_STR_MAX 256
#define CFG_NAME_MAX 64
#define CFG_LINE_MAX 1024
#define CFG_ERR_MAX 512

struct mgw_cfg {
	char path[CFG_STR_MAX]; /* the file this came from */

	/* global section */
	char hostname[CFG_STR_MAX];
	char data_dir[CFG_STR_MAX];
	char user[CFG_NAME_MAX];
	enum log_level log_level;
	bool log_syslog;
	uint32_t max_connections; /* all services; each has its own share of it, below */
	uint32_t ipv6_prefix;     /* per-address limits count IPv6 clients per /N (addr_net.h) */
	uint32_t shutdown_grace; /* seconds */

	/* [control] */
	char control_socket[CFG_STR_MAX];

	/* hardware watchdog: device (or simulated file); empty = not used */
	char watchdog[CFG_STR_MAX];
	uint32_t watchdog_timeout; /* seconds */
	uint32_t watchdog_job_limit; /* seconds a worker job may run before pets stop */
	/* [smtp] (README "SMTP") */
	char smtp_listen[CFG_STR_MAX];    /* "off": no SMTP listener */
	uint64_t smtp_max_message_size;   /* bytes, as received (before our headers) */
	uint32_t smtp_max_recipients;     /* per message, RFC 5321 4.5.3.1.8 */
	uint32_t smtp_max_connections;    /* concurrent SMTP sessions */
	uint32_t smtp_max_per_address;    /* concurrent sessions per client address */
	uint32_t smtp_rate;               /* new connections per address per minute */
	uint32_t smtp_max_bad_commands;   /* then 421 and disconnect */
	uint32_t smtp_greeting_delay;     /* seconds; early talkers are dropped */
	uint32_t smtp_helo_timeout;       /* seconds, greeting until EHLO/HELO */
	uint32_t smtp_command_timeout;    /* seconds, RFC 5321 4.5.3.2.7 */
	uint32_t smtp_data_timeout;       /* seconds, between DATA blocks */
	uint64_t smtp_min_free_space;     /* bytes kept free: 452 4.3.1 below */
	uint64_t smtp_quota;              /* default per-user quota in bytes, 0: none */
	uint32_t smtp_quota_pct;          /* or a percentage of data_dir's filesystem (1-100) */
	char smtp_postmaster[CFG_STR_MAX]; /* admin mailboxes "user@domain, ..." */
	/* [tls]: server certificate and key; CA and CRL of the certificate gate */
	char tls_cert[CFG_STR_MAX];
	char tls_key[CFG_STR_MAX];
	char tls_ca[CFG_STR_MAX];
	char tls_crl[CFG_STR_MAX];
	uint32_t tls_crl_expired; /* enum tls_crl_policy */
	uint32_t tls_crl_grace;   /* seconds after nextUpdate, under TLS_CRL_GRACE */
	uint32_t tls_identity;    /* enum tls_identity */
	uint32_t tls_handshake_timeout; /* seconds to finish a TLS handshake (993, 995, STARTTLS) */

	/* [pop3s] */
	char pop3s_listen[CFG_STR_MAX]; /* "off": not opened */
	uint32_t pop3s_idle_timeout;    /* seconds, after login (RFC 1939: >= 600) */
	uint32_t pop3s_login_timeout;   /* seconds, before login */
	uint32_t pop3s_max_connections; /* concurrent POP3S connections: its share */
	uint32_t pop3s_max_per_address; /* concurrent connections per client network */
	uint32_t pop3s_rate;            /* new connections per client network per minute */

	/* [imaps] */
	char imaps_listen[CFG_STR_MAX]; /* "off": not opened */
	uint32_t imaps_idle_timeout;    /* seconds, after login (RFC 3501 5.4: >= 1800) */
	uint32_t imaps_login_timeout;   /* seconds, before login */
	uint32_t imaps_max_connections; /* concurrent IMAPS connections: its share */
	uint32_t imaps_max_per_address; /* concurrent connections per client network */
	uint32_t imaps_rate;            /* new connections per client network per minute */

	/* [auth]: logins (POP3, IMAP) */
	bool auth_allow_plain;     /* {PLAIN} passwords in passwd-files may verify */
	uint32_t auth_fail_close;  /* failed logins on one connection before it is closed */
	uint32_t auth_fail_limit;  /* failures per certificate / address per window */
	uint32_t auth_fail_window; /* seconds */
	uint32_t auth_fail_delay;  /* seconds: cap of the growing delay after a failure */

	/* [crlwatch]: the CRL watchdog (README "crlwatch"); mailgwd only validates these */
	uint32_t crlwatch_interval;	     /* seconds between checks of the installed CRL */
	uint32_t crlwatch_refresh_due;	     /* seconds before nextUpdate: REFRESH DUE */
	uint32_t crlwatch_warning;	     /* seconds before nextUpdate: WARNING */
	uint32_t crlwatch_critical;	     /* seconds before nextUpdate: CRITICAL */
	uint32_t crlwatch_repeat;	     /* seconds: WARNING and worse repeated this often */
	char crlwatch_console[CFG_STR_MAX];  /* console device or file; "" = none */
	char crlwatch_led[CFG_STR_MAX];	     /* LED class directory or simulated file; "" = none */
	bool crlwatch_mail;		     /* a mail to postmaster per state change */
	uint64_t crlwatch_max_size;	     /* bytes: size cap of a candidate CRL */
	uint32_t crlwatch_skew;		     /* seconds thisUpdate may be ahead of our clock */
	char crlwatch_url[CFG_STR_MAX];	     /* http:// or https:// URL of the CRL; "" = none */
	char crlwatch_trust[CFG_STR_MAX];    /* HTTPS trust anchor (PEM); "" = [tls] ca */
	uint32_t crlwatch_tls_version;	     /* 0: TLS 1.2 only, 1: TLS 1.3 only */
	uint32_t crlwatch_connect_timeout;   /* seconds */
	uint32_t crlwatch_timeout;	     /* seconds for a whole fetch */
	uint32_t crlwatch_poll;		     /* seconds between fetches of url */
	bool crlwatch_usb;		     /* read CRLs from USB keys */
	char crlwatch_usb_spool[CFG_STR_MAX]; /* where the mdev hook spools USB events */
	char crlwatch_ca_dir[CFG_STR_MAX];   /* built-in CA; "" = none (no re-signing) */
	uint32_t crlwatch_resign_days;	     /* validity of a re-signed CRL */
	char crlwatch_state[CFG_STR_MAX];    /* crlwatch's status file */
};

/* Fills cfg with the built-in defaults (Kconfig). */
void cfg_defaults(struct mgw_cfg *cfg);
/*
 * Loads path over the defaults. On error returns -MGW_ECONFIG (or -MGW_ENOENT when the
 * file cannot be opened) and writes one line "path:line: problem" into err.
 */
int cfg_load(const char *path, struct mgw_cfg *cfg, char *err, size_t errsz);
/* Parses a text buffer (used by cfg_load and the fuzzer); name is used in messages. */
int cfg_parse(const char *name, const char *text, size_t len, struct mgw_cfg *cfg, char *err,
	      size_t errsz);

/* The default per-user quota in bytes ([smtp] quota): a size, or a percentage of the size
 * of data_dir's filesystem; 0 = none (also when that size cannot be read: logged). */
uint64_t cfg_smtp_quota(const struct mgw_cfg *cfg);

/* The checks between keys that cfg_parse ends with (each listening service's share of
 * max_connections), for a configuration whose listen values the caller changed. */
int cfg_check(const struct mgw_cfg *cfg, char *err, size_t errsz);

/* Value parsers, exposed for tests and for other modules' files. */
int cfg_parse_size(const char *s, uint64_t *out);     /* 10, 10K, 25M, 1G */
int cfg_parse_duration(const char *s, uint64_t *out); /* seconds: 30, 30s, 10m, 2h, 7d */
int cfg_parse_bool(const char *s, bool *out);         /* yes/no, true/false, on/off, 1/0 */

#endif
