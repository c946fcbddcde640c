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
	uint32_t max_connections;
	uint32_t shutdown_grace; /* seconds */

	/* [control] */
	char control_socket[CFG_STR_MAX];

	/* hardware watchdog: device (or simulated file); empty = not used */
	char watchdog[CFG_STR_MAX];
	uint32_t watchdog_timeout; /* seconds */
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

/* Value parsers, exposed for tests and for other modules' files. */
int cfg_parse_size(const char *s, uint64_t *out);     /* 10, 10K, 25M, 1G */
int cfg_parse_duration(const char *s, uint64_t *out); /* seconds: 30, 30s, 10m, 2h, 7d */
int cfg_parse_bool(const char *s, bool *out);         /* yes/no, true/false, on/off, 1/0 */

#endif
