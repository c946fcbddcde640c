/*
 * led.c - LED front end: picks the backend by the kind of file, skips repeated patterns.
 */
#include "led/led.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"

static const char *const led_names[LED_PATTERN_MAX] = {"off", "on", "blink-slow", "blink-fast"};

const char *led_pattern_name(enum led_pattern p)
{
	return (unsigned)p < LED_PATTERN_MAX ? led_names[p] : "?";
}

int led_open(struct led *l, const char *path, char *why, size_t whysz)
{
	struct stat st;

	memset(l, 0, sizeof(*l));
	l->cur = LED_PATTERN_MAX; /* unknown: the first led_set always writes */
	if (strlen(path) >= sizeof(l->path)) {
		snprintf(why, whysz, "%s: path too long", path);
		return -MGW_ELIMIT;
	}
	if (stat(path, &st) < 0) {
		snprintf(why, whysz, "%s: %s", path, strerror(errno));
		return -MGW_ENOENT;
	}
	if (S_ISDIR(st.st_mode))
		l->sim = false;
	else if (S_ISREG(st.st_mode))
		l->sim = true;
	else {
		snprintf(why, whysz, "%s: neither an LED class directory nor a regular file", path);
		return -MGW_EINVAL;
	}
	snprintf(l->path, sizeof(l->path), "%s", path);
	l->open = true;
	return 0;
}

int led_set(struct led *l, enum led_pattern p, char *why, size_t whysz)
{
	int rc;

	if (!l->open || (unsigned)p >= LED_PATTERN_MAX) {
		snprintf(why, whysz, "LED not open");
		return -MGW_EINVAL;
	}
	if (p == l->cur)
		return 0;
	rc = l->sim ? led_sim_set(l, p, why, whysz) : led_linux_set(l, p, why, whysz);
	if (rc == 0) {
		l->cur = p;
		l->changes++;
	}
	return rc;
}
