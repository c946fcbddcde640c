/*
 * wdt_linux.c - Linux watchdog device backend (Documentation/watchdog/watchdog-api.rst).
 *
 * Opening the device arms it. WDIOC_KEEPALIVE pets it. Writing 'V' before close (the
 * "magic close") disarms it, so only a clean stop does not reset the board; a crash or
 * a kill leaves it armed.
 */
#include "watchdog/wdt.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/err.h"

int wdt_linux_open(struct wdt *w, const char *path, char *why, size_t whysz)
{
	int timeout = (int)w->timeout_s;

	w->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (w->fd < 0) {
		int e = errno;

		snprintf(why, whysz, "%s: %s", path, strerror(e));
		return e == EBUSY ? -MGW_EEXIST : -MGW_EIO; /* one opener at a time */
	}
	w->sim = false;
	/* Some devices round or refuse the timeout: run with what they report. */
	if (ioctl(w->fd, WDIOC_SETTIMEOUT, &timeout) < 0 &&
	    ioctl(w->fd, WDIOC_GETTIMEOUT, &timeout) < 0)
		timeout = (int)w->timeout_s;
	if (timeout >= WDT_TIMEOUT_MIN)
		w->timeout_s = (unsigned)timeout;
	return 0;
}

int wdt_linux_pet(struct wdt *w)
{
	int dummy = 0;

	if (ioctl(w->fd, WDIOC_KEEPALIVE, &dummy) < 0 && write(w->fd, "\0", 1) != 1)
		return -MGW_EIO;
	return 0;
}

void wdt_linux_close(struct wdt *w)
{
	if (write(w->fd, "V", 1) != 1) {
		/* without the magic byte the board resets: that is the safe side */
	}
	close(w->fd);
}
