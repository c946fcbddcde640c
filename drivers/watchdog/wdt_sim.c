/*
 * wdt_sim.c - simulated watchdog for host tests: a regular file that shows the last pet.
 *
 * The file always holds one line: "armed TIMEOUT" after open, "pet COUNT MONOTONIC_MS"
 * after each pet, "closed COUNT" after a clean stop. A test freezes the daemon and sees
 * the line stop changing, which is what the hardware would have acted on. Each line is
 * also appended to PATH.events as "PID LINE", so a test sees who opened, petted and
 * disarmed, and that nothing disarmed in between.
 *
 * Like a real /dev/watchdog it takes one opener at a time (a lock on the file: a second
 * open fails as EBUSY does), and MAILGW_TEST_WDT_MAX (test-only, seconds) caps the
 * timeout the way a driver's maximum does (bcm2835_wdt: 15 s).
 */
#include "watchdog/wdt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/err.h"

/* PATH.events, opened with the device (the daemon writes it after dropping root). */
static void wdt_sim_events_open(struct wdt *w, const char *path)
{
	char ev[300];

	snprintf(ev, sizeof(ev), "%s.events", path);
	w->sim_events = open(ev, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static void wdt_sim_event(const struct wdt *w, const char *line)
{
	char ev[96];
	int n;

	if (w->sim_events < 0)
		return;
	n = snprintf(ev, sizeof(ev), "%ld %s", (long)getpid(), line);
	if (write(w->sim_events, ev, (size_t)n) != n) {
		/* the events are for tests only: the state line is what counts */
	}
}

void wdt_sim_release(struct wdt *w)
{
	if (w->sim_events >= 0)
		close(w->sim_events);
	w->sim_events = -1;
}

static int wdt_sim_put(struct wdt *w, const char *line)
{
	size_t n = strlen(line);
	ssize_t put;

	if (ftruncate(w->fd, 0) < 0)
		return -MGW_EIO;
	put = pwrite(w->fd, line, n, 0);
	if (put != (ssize_t)n) {
		if (put >= 0)
			errno = EIO; /* a short write (RLIMIT_FSIZE) is a failed pet too */
		return -MGW_EIO;
	}
	wdt_sim_event(w, line);
	return 0;
}

int wdt_sim_open(struct wdt *w, const char *path, char *why, size_t whysz)
{
	const char *max = getenv("MAILGW_TEST_WDT_MAX");
	char line[64];

	w->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (w->fd < 0) {
		snprintf(why, whysz, "%s: %s", path, strerror(errno));
		return -MGW_EIO;
	}
	if (flock(w->fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(why, whysz, "%s: %s", path, strerror(EBUSY));
		close(w->fd);
		w->fd = -1;
		return -MGW_EEXIST; /* one opener at a time, as the device */
	}
	w->sim = true;
	wdt_sim_events_open(w, path);
	if (max != NULL && strtoul(max, NULL, 10) >= WDT_TIMEOUT_MIN &&
	    w->timeout_s > strtoul(max, NULL, 10))
		w->timeout_s = (unsigned)strtoul(max, NULL, 10);
	snprintf(line, sizeof(line), "armed %u\n", w->timeout_s);
	if (wdt_sim_put(w, line) < 0) {
		snprintf(why, whysz, "%s: %s", path, strerror(errno));
		close(w->fd);
		w->fd = -1;
		wdt_sim_release(w);
		return -MGW_EIO;
	}
	return 0;
}

int wdt_sim_pet(struct wdt *w, uint64_t now_ms)
{
	char line[64];

	snprintf(line, sizeof(line), "pet %llu %llu\n", (unsigned long long)w->pets + 1,
		 (unsigned long long)now_ms);
	return wdt_sim_put(w, line);
}

void wdt_sim_close(struct wdt *w)
{
	char line[64];

	snprintf(line, sizeof(line), "closed %llu\n", (unsigned long long)w->pets);
	wdt_sim_put(w, line);
	close(w->fd);
	wdt_sim_release(w);
}
