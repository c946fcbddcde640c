/*
 * log.c - syslog and stderr sinks; the level filter is process-wide.
 *
 * In a daemon (log_daemon_mode), logging must never stop the event loop. Command-line
 * tools keep plain blocking, unabridged output: their user waits for it and reads every
 * line. On the board the daemon's stderr is the serial console
 * (115,200 baud, about 11 KB/s), and a client that connects and closes in a loop makes
 * lines faster than that. So:
 *   - stderr is written without ever waiting: a pipe or terminal gets its own
 *     non-blocking open file description (the shared one of init's console keeps its
 *     flags); where that is impossible, a line is written only when poll() says it fits.
 *     A line that does not fit is dropped and counted; the count is reported on stderr as
 *     soon as a line fits again, and by log_dropped() (status).
 *   - repetitive lines are summarised: each call site (format string) may log
 *     LOG_BURST lines per LOG_WINDOW_MS; the rest of that window is counted and reported
 *     once, "... and N more like this in the last 10 s (last: ...)", when the window
 *     ends (log_tick) or at the site's next line. log_record() lines (one per message,
 *     one per login) are never summarised.
 * Single-threaded: the event loop is the only caller.
 */
#include "core/log.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

#define LOG_LINE_MAX 1024
#define LOG_SITES 32
#define LOG_BURST 20
#define LOG_WINDOW_MS 10000u
#define LOG_LAST_MAX 200

struct log_site {
	const char *fmt; /* the call site; NULL = free */
	enum log_level level;
	uint64_t start_ms; /* start of the current window */
	uint32_t count;	   /* lines in the window, logged or not */
	uint32_t suppressed;
	char last[LOG_LAST_MAX]; /* the last suppressed line, for the summary */
};

static bool log_to_syslog;
static bool log_to_stderr = true;
static bool log_daemon; /* non-blocking stderr, repetitive lines summarised */
/* Read by every thread that logs (the workers too), set by the loop at a reload. */
static _Atomic int log_level_cur = LOG_LVL_INFO;
static const char *log_ident = "mailgw";
static int log_fd = STDERR_FILENO;
static bool log_fd_poll;     /* blocking description: write only what poll() allows */
static bool log_cut;	     /* a partial write cut the last line: start a new one */
static uint64_t log_drops;   /* lines stderr could not take, since the start */
static uint64_t log_pending; /* of which not reported on stderr yet */
static struct log_site log_sites[LOG_SITES];
/* Worker threads (core/work.h) log too: the sites, counters and the stderr line state
 * are shared, so every line is emitted under this lock. It is never held across a
 * blocking call (stderr writes do not wait, see log_write). */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_level_names[] = {"error", "warning", "info", "debug"};

/* Our own non-blocking description of a pipe, terminal or socket behind stderr. */
static void log_stderr_open(void)
{
	struct stat st;
	int fd;

	log_fd = STDERR_FILENO;
	log_fd_poll = false;
	if (fstat(STDERR_FILENO, &st) < 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return; /* a file never waits for a reader */
	fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0)
		log_fd = fd;
	else
		log_fd_poll = true;
}

void log_open(const char *ident, bool to_syslog, bool to_stderr)
{
	log_ident = ident;
	log_to_syslog = to_syslog;
	log_to_stderr = to_stderr;
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_daemon_mode(void)
{
	log_daemon = true;
	log_stderr_open();
}

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_level_cur, (int)level, memory_order_relaxed);
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

uint64_t log_dropped(void)
{
	return log_drops;
}

static uint64_t log_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Writes one whole line or nothing (a terminal may take part of it). Never waits. */
static bool log_write(const char *p, size_t len)
{
	ssize_t n;

	if (log_fd_poll) {
		struct pollfd pfd = {.fd = log_fd, .events = POLLOUT};

		if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT))
			return false;
	}
	n = write(log_fd, p, len);
	if (n == (ssize_t)len)
		return true;
	if (n > 0)
		log_cut = true;
	return false;
}

static bool log_stderr_emit(enum log_level level, const char *text)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32], out[LOG_LINE_MAX + 128];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(out, sizeof(out), "%s%s.%03ldZ %s %s: %s\n", log_cut ? "\n" : "", stamp,
		     ts.tv_nsec / 1000000L, log_ident, log_level_names[level], text);
	if (n < 0)
		return false;
	if ((size_t)n >= sizeof(out)) {
		n = (int)sizeof(out) - 1;
		out[n - 1] = '\n';
	}
	if (!log_write(out, (size_t)n))
		return false;
	log_cut = false;
	return true;
}

static void log_stderr_line(enum log_level level, const char *text)
{
	if (log_pending) {
		char note[128];

		snprintf(note, sizeof(note),
			 "%llu log lines dropped: stderr (the console) could not take them in time",
			 (unsigned long long)log_pending);
		if (!log_stderr_emit(LOG_LVL_WARN, note)) {
			log_drops++;
			log_pending++;
			return;
		}
		log_pending = 0;
	}
	if (!log_stderr_emit(level, text)) {
		log_drops++;
		log_pending++;
	}
}

static void log_emit(enum log_level level, const char *text)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

	if (log_to_syslog)
		syslog(prio[level], "%s", text);
	if (log_to_stderr)
		log_stderr_line(level, text);
}

/* Reports a site's suppressed lines and frees the site. */
static void log_site_flush(struct log_site *s)
{
	if (s->suppressed) {
		char line[LOG_LAST_MAX + 96];

		snprintf(line, sizeof(line),
			 "... and %u more like this in the last %u s (last: %s)", s->suppressed,
			 LOG_WINDOW_MS / 1000u, s->last);
		log_emit(s->level, line);
	}
	memset(s, 0, sizeof(*s));
}

/* The site of fmt with a window running at now (a new window if the last has passed). */
static struct log_site *log_site_get(const char *fmt, enum log_level level, uint64_t now)
{
	struct log_site *s = NULL, *oldest = &log_sites[0];

	for (size_t i = 0; i < LOG_SITES; i++) {
		struct log_site *c = &log_sites[i];

		if (c->fmt == fmt) {
			s = c;
			break;
		}
		if (c->fmt == NULL || (oldest->fmt && c->start_ms < oldest->start_ms))
			oldest = c;
	}
	if (s && now - s->start_ms < LOG_WINDOW_MS)
		return s;
	/* The site's window has passed (it starts a new one in its slot), or a new site
	 * takes a free slot or the oldest window's. */
	if (s == NULL)
		s = oldest;
	if (s->fmt)
		log_site_flush(s);
	s->fmt = fmt;
	s->level = level;
	s->start_ms = now;
	return s;
}

static void log_vmsg(enum log_level level, bool limited, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void log_vmsg(enum log_level level, bool limited, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	struct log_site *s = NULL;

	if ((int)level > atomic_load_explicit(&log_level_cur, memory_order_relaxed))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	pthread_mutex_lock(&log_mu);
	if (limited && log_daemon) {
		s = log_site_get(fmt, level, log_now_ms());
		if (s->count < UINT32_MAX)
			s->count++;
	}
	if (s && s->count > LOG_BURST) {
		size_t n = strnlen(line, sizeof(s->last) - 1);

		s->suppressed++;
		memcpy(s->last, line, n);
		s->last[n] = '\0';
	} else {
		log_emit(level, line);
	}
	pthread_mutex_unlock(&log_mu);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, true, fmt, ap);
	va_end(ap);
}

void log_msg_record(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, false, fmt, ap);
	va_end(ap);
}

uint64_t log_tick(void)
{
	uint64_t now = log_now_ms(), next = 0;

	pthread_mutex_lock(&log_mu);
	for (size_t i = 0; i < LOG_SITES; i++) {
		struct log_site *s = &log_sites[i];
		uint64_t left;

		if (s->fmt == NULL)
			continue;
		if (now - s->start_ms >= LOG_WINDOW_MS) {
			log_site_flush(s);
			continue;
		}
		left = LOG_WINDOW_MS - (now - s->start_ms);
		if (s->suppressed && (next == 0 || left < next))
			next = left;
	}
	pthread_mutex_unlock(&log_mu);
	return next;
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
