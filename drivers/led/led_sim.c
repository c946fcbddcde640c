/*
 * led_sim.c - simulated LED for host tests: a regular file holding "PATTERN COUNT\n".
 */
#include "led/led.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

int led_sim_set(struct led *l, enum led_pattern p, char *why, size_t whysz)
{
	char line[64];
	int n, fd, rc = 0;

	n = snprintf(line, sizeof(line), "%s %lu\n", led_pattern_name(p), l->changes + 1);
	fd = open(l->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)n, 0) != n) {
		snprintf(why, whysz, "%s: %s", l->path, strerror(errno));
		rc = -MGW_EIO;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}
