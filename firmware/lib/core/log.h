/*
 * log.h - one line per event, to syslog and/or stderr.
 *
 * Lines are printf-formatted by the caller; anything that came from a peer must be passed
 * through log_safe() first so that a hostile string cannot forge log lines.
 *
 * In a daemon (log_daemon_mode) logging never blocks (log.c): stderr lines that would wait
 * are dropped and counted, and each call site may log LOG_BURST (20) lines per 10 s, the
 * rest being summarised in one line when the window ends. Tools write every line and wait. log_record() is for the one line per message or login that
 * must never be summarised; its callers are bounded by real work (a message, a login).
 */
#ifndef MGW_LOG_H
#define MGW_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* ident is borrowed for the life of the process. */
void log_open(const char *ident, bool to_syslog, bool to_stderr);
/* For an event-loop daemon, after log_open (while it may still open /proc/self/fd/2):
 * stderr is never waited for, and repetitive lines are summarised (see above). */
void log_daemon_mode(void);
void log_set_level(enum log_level level);
/* Parses "error", "warning", "info", "debug"; -MGW_EINVAL otherwise. */
int log_level_parse(const char *name, enum log_level *out);
/* fmt identifies the call site for the summary of repetitive lines: pass a literal. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, never summarised. */
void log_msg_record(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Reports the summaries whose window has ended; call it from the event loop on every
 * iteration. Returns the milliseconds until the next summary is due (0: none), for a
 * timer that wakes the loop then.
 */
uint64_t log_tick(void);
/* Lines stderr could not take without waiting, since the start (status). */
uint64_t log_dropped(void);

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_record(...) log_msg_record(LOG_LVL_INFO, __VA_ARGS__)

/*
 * Copies at most len bytes of untrusted text into out (size outsz, always terminated),
 * replacing control characters and non-ASCII bytes by '?' and truncating with "...".
 * Returns out.
 */
char *log_safe(char *out, size_t outsz, const void *text, size_t len);

#endif
