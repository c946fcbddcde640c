/*
 * hshold.c - an LD_PRELOAD shim for the tests: holds TLS handshake steps of mailgwd in
 * their middle, while the test says so, through files in the folder HSHOLD_DIR (created
 * and removed by the test):
 *
 *   hold     while it exists, a handshake step that reads the client's first flight
 *            (mailgwd peeks at the ClientHello with recv(MSG_PEEK), tls/sess.c, the
 *            only MSG_PEEK of the daemon) creates "held.N" (N = 1, 2, ...: one file
 *            per held step) and waits until "hold" is removed (at most 60 s), then
 *            reads as usual.
 *
 * A held step stands for a slow one (a handshake's public-key work on a board's CPU):
 * whichever thread runs the step waits, and the test sees what else mailgwd still does
 * meanwhile. Only the process that loads it (mailgwd) is affected. Built by
 * tests/integration/test_tls_workers.py; not part of the firmware.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HOLD_MAX_MS 60000

static int held_count;

static int ctl_path(const char *name, char *out, size_t outsz)
{
	const char *dir = getenv("HSHOLD_DIR");
	int n;

	if (dir == NULL)
		return -1;
	n = snprintf(out, outsz, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static int ctl_exists(const char *name)
{
	char p[4096];

	return ctl_path(name, p, sizeof(p)) == 0 && access(p, F_OK) == 0;
}

static void hold(void)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	char name[32], p[4096];

	if (!ctl_exists("hold"))
		return;
	snprintf(name, sizeof(name), "held.%d",
		 __atomic_add_fetch(&held_count, 1, __ATOMIC_SEQ_CST));
	if (ctl_path(name, p, sizeof(p)) == 0)
		close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0666));
	for (int ms = 0; ms < HOLD_MAX_MS && ctl_exists("hold"); ms += 10)
		nanosleep(&ts, NULL);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	if (flags & MSG_PEEK)
		hold();
	return ((ssize_t(*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv"))(fd, buf, len,
										flags);
}

/* What recv() into a buffer of known size becomes under _FORTIFY_SOURCE (our build). */
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (flags & MSG_PEEK)
		hold();
	return ((ssize_t(*)(int, void *, size_t, size_t, int))dlsym(RTLD_NEXT, "__recv_chk"))(
	    fd, buf, len, buflen, flags);
}
