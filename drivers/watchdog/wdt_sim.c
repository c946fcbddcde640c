/*
 * wdt_sim.c - simulated watchdog for host tests: a regular file that shows the last pet.
 *
 * The file always holds one line: "armed TIMEOUT" after open, "pet COUNT MONOTONIC_MS"
 * after each pet, "closed COUNT" after a clean stop. A test freezes the daemon and sees
 * the line stop changing, which is what the hardware would have acted on.
 */
#include "watchdog/wdt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

static int wdt_sim_put(struct wdt *w, const char *line)
{
	size_t n = strlen(line);

	if (ftruncate(w->fd, 0) < 0 || pwrite(w->fd, line, n, 0) != (ssize_t)n)
		return -MGW_EIO;
	return 0;
}

int wdt_sim_open(struct wdt *w, const char *path, char *why, size_t whysz)
{
	char line[64];

	w->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (w->fd < 0) {
		snprintf(why, whysz, "%s: %s", path, strerror(errno));
		return -MGW_EIO;
	}
	w->sim = true;
	snprintf(line, sizeof(line), "armed %u\n", w->timeout_s);
	if (wdt_sim_put(w, line) < 0) {
		snprintf(why, whysz, "%s: %s", path, strerror(errno));
		close(w->fd);
		w->fd = -1;
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
}
