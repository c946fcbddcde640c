/*
 * slowfsync.c - an LD_PRELOAD shim for the benchmarks: makes fsync/fdatasync cost what
 * they cost on an SD card, for every process that loads it (mailgwd and every Postfix
 * daemon alike).
 *
 * Each call runs the real fsync, then holds the "device" for BENCH_FSYNC_DELAY_MS: an
 * exclusive flock on BENCH_FSYNC_LOCK taken around a sleep, so flushes of all processes
 * and threads queue one after the other as on one card's command queue (a card does not
 * flush two files at once). Not part of the firmware; built by tests/bench/smtp_bench.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static void slow_device(void)
{
	const char *ms = getenv("BENCH_FSYNC_DELAY_MS"), *lock = getenv("BENCH_FSYNC_LOCK");
	struct timespec ts;
	long d = ms ? atol(ms) : 0;
	int fd = -1;

	if (d <= 0)
		return;
	if (lock)
		fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd >= 0)
		flock(fd, LOCK_EX);
	ts.tv_sec = d / 1000;
	ts.tv_nsec = (d % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
	if (fd >= 0)
		close(fd); /* releases the lock */
}

int fsync(int fd)
{
	static int (*real)(int);
	int rc;

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	rc = real(fd);
	slow_device();
	return rc;
}

int fdatasync(int fd)
{
	static int (*real)(int);
	int rc;

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	rc = real(fd);
	slow_device();
	return rc;
}
