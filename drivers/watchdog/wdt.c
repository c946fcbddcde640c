/*
 * wdt.c - watchdog front end: picks the backend by the kind of file and rate-limits pets.
 */
#include "watchdog/wdt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

void wdt_init(struct wdt *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->sim_events = -1;
}

int wdt_open(struct wdt *w, const char *path, unsigned timeout_s, char *why, size_t whysz)
{
	struct stat st;

	wdt_init(w);
	if (timeout_s < WDT_TIMEOUT_MIN || timeout_s > WDT_TIMEOUT_MAX) {
		snprintf(why, whysz, "watchdog timeout %u s out of range (%d to %d)", timeout_s,
			 WDT_TIMEOUT_MIN, WDT_TIMEOUT_MAX);
		return -MGW_EINVAL;
	}
	if (stat(path, &st) < 0) {
		snprintf(why, whysz, "%s: %s", path, strerror(errno));
		return -MGW_ENOENT;
	}
	w->timeout_s = timeout_s;
	if (S_ISCHR(st.st_mode))
		return wdt_linux_open(w, path, why, whysz);
	if (S_ISREG(st.st_mode))
		return wdt_sim_open(w, path, why, whysz);
	snprintf(why, whysz, "%s: neither a watchdog device nor a regular file", path);
	return -MGW_EINVAL;
}

bool wdt_is_open(const struct wdt *w)
{
	return w->fd >= 0;
}

uint64_t wdt_interval_ms(const struct wdt *w)
{
	return (uint64_t)w->timeout_s * 1000u / 3u;
}

int wdt_pet(struct wdt *w, uint64_t now_ms)
{
	int rc;

	if (w->fd < 0)
		return -MGW_EINVAL;
	rc = w->sim ? wdt_sim_pet(w, now_ms) : wdt_linux_pet(w);
	if (rc == 0) {
		w->last_pet_ms = now_ms;
		w->pets++;
	}
	return rc;
}

int wdt_pet_due(struct wdt *w, uint64_t now_ms)
{
	if (w->fd < 0)
		return 0;
	if (w->pets != 0 && now_ms - w->last_pet_ms < wdt_interval_ms(w))
		return 0;
	return wdt_pet(w, now_ms);
}

void wdt_close(struct wdt *w)
{
	if (w->fd < 0)
		return;
	if (w->sim)
		wdt_sim_close(w);
	else
		wdt_linux_close(w);
	w->fd = -1;
}

void wdt_release(struct wdt *w)
{
	if (w->fd < 0)
		return;
	close(w->fd);
	w->fd = -1;
	wdt_sim_release(w);
}
