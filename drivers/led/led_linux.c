/*
 * led_linux.c - the Linux LED class (Documentation/leds/leds-class.rst): writes trigger,
 * brightness and the timer trigger's delay_on/delay_off under /sys/class/leds/NAME.
 */
#include "led/led.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

static int led_linux_put(struct led *l, const char *attr, const char *val, char *why, size_t whysz)
{
	char path[LED_PATH_MAX + 32];
	size_t n = strlen(val);
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", l->path, attr);
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || write(fd, val, n) != (ssize_t)n) {
		snprintf(why, whysz, "%s: %s", path, strerror(errno));
		rc = -MGW_EIO;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

int led_linux_set(struct led *l, enum led_pattern p, char *why, size_t whysz)
{
	const char *ms = p == LED_BLINK_FAST ? "100" : "1000";
	int rc;

	if (p == LED_OFF || p == LED_ON) {
		rc = led_linux_put(l, "trigger", "none", why, whysz);
		if (rc == 0)
			rc = led_linux_put(l, "brightness", p == LED_ON ? "255" : "0", why, whysz);
		return rc;
	}
	/* the timer trigger creates delay_on/delay_off when it is selected */
	rc = led_linux_put(l, "trigger", "timer", why, whysz);
	if (rc == 0)
		rc = led_linux_put(l, "delay_on", ms, why, whysz);
	if (rc == 0)
		rc = led_linux_put(l, "delay_off", ms, why, whysz);
	return rc;
}
