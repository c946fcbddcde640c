/* log.c - syslog and stderr sinks; the level filter is process-wide. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "core/err.h"

static bool log_to_syslog;
static bool log_to_stderr = true;
static enum log_level log_level_cur = LOG_LVL_INFO;
static const char *log_ident = "mailgw";

static const char *const log_level_names[] = { "error", "warning", "info", "debug" };

void log_open(const char *ident, bool to_syslog, bool to_stderr)
{
	log_ident = ident;
	log_to_syslog = to_syslog;
	log_to_stderr = to_stderr;
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_level(enum log_level level)
{
	log_level_cur = level;
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < MGW_ARRAY_LEN(log_level_names); i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -MGW_EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[1024];
	va_list ap;

	if (level > log_level_cur)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_to_syslog)
		syslog(prio[level], "%s", line);
	if (log_to_stderr) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s %s: %s\n", stamp, ts.tv_nsec / 1000000L, log_ident,
			log_level_names[level], line);
	}
}

char *log_safe(char *out, size_t outsz, const void *text, size_t len)
{
	const unsigned char *p = text;
	size_t o = 0;

	if (outsz == 0)
		return out;
	for (size_t i = 0; i < len; i++) {
		if (o + 1 >= outsz) {
			if (outsz >= 4)
				memcpy(out + outsz - 4, "...", 3);
			o = outsz - 1;
			break;
		}
		out[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	}
	out[o] = '\0';
	return out;
}
