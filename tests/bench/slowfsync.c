/*
 * slowfsync.c - an LD_PRELOAD shim for the benchmarks: makes every flush cost what a
 * flush costs on an SD card, for every process that loads it (mailgwd and every Postfix
 * daemon alike).
 *
 * A flush is a call that waits until data is on the medium and makes the device write
 * out its cache: fsync, fdatasync, syncfs and sync. Each runs for real, then holds the
 * "device" for BENCH_FSYNC_DELAY_MS: an exclusive flock on BENCH_FSYNC_LOCK taken around a
 * sleep, so the flushes of all processes and threads queue one after the other as on one
 * card's command queue (a card does not flush two things at once). sync_file_range is
 * not charged: it starts or waits for page write-back but commits no journal and sends
 * no cache flush (mailgwd calls it only after a syncfs, when there is nothing left to
 * write, to read the file's error state).
 *
 * What it models: the fixed cost of one flush (journal commit plus the card's cache
 * flush and its internal garbage collection), 5-50 ms on SD cards and USB sticks, the
 * same for both servers, whatever the call. What it does not model: the time the
 * written blocks themselves take (writes stay in the page cache and cost the same to
 * both servers; one syncfs after k messages writes the same k x 4 KiB as k fsyncs, in
 * one go); and the real ext4 behaviour that concurrent fsyncs of different files may be
 * merged by jbd2 into one journal commit (a flush here is never shared between calls).
 * That last point is what makes a syncfs per batch pay off on a real card too, and it
 * is also what Postfix would get for free on real ext4: its concurrent queue-file fsyncs
 * from several smtpd/cleanup processes could share a commit. The shim charges every
 * one of them, so it is somewhat unfair to Postfix under many senders, and neutral for
 * a single sender. Not part of the firmware; built by tests/bench/smtp_bench and
 * bench_latency.py.
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

/* fsync, fdatasync, syncfs: the real call, then the device's time. */
#define SLOW_FLUSH(name)                                                                           \
	int name(int fd)                                                                           \
	{                                                                                          \
		static int (*real)(int);                                                           \
		int rc;                                                                            \
                                                                                                   \
		if (real == NULL)                                                                  \
			real = (int (*)(int))dlsym(RTLD_NEXT, #name);                              \
		rc = real(fd);                                                                     \
		slow_device();                                                                     \
		return rc;                                                                         \
	}

SLOW_FLUSH(fsync)
SLOW_FLUSH(fdatasync)
SLOW_FLUSH(syncfs)

void sync(void)
{
	static void (*real)(void);

	if (real == NULL)
		real = (void (*)(void))dlsym(RTLD_NEXT, "sync");
	real();
	slow_device();
}
