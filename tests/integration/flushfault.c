/*
 * flushfault.c - an LD_PRELOAD shim for the tests: I/O errors and stalls in the flushes
 * that make mail durable, at the moments a test chooses, through files in the folder
 * FLUSHFAULT_DIR (created and removed by the test):
 *
 *   hold       a batch flush (syncfs, or fsync/fdatasync of a directory) that starts
 *              while it exists creates "held" and, after the real flush, waits until
 *              "hold" is removed; such a flush then succeeds.
 *   fail       the next batch flush (not held) runs, then returns EIO, and "fail" is
 *              removed: one flush fails, as the kernel reports a write-back error to one
 *              flush only (errseq: whoever asks next is told 0).
 *   fail_file  the same for the next check of one file: fsync/fdatasync of a regular
 *              file or sync_file_range.
 *   pass       holds a number n: the next n batch flushes are neither held nor failed
 *              (each takes one off; the file goes at 0), so that a test can hold the
 *              flush that follows a known number of others (a commit's, then its UID's).
 *
 * Only the calls of the process that loads it (mailgwd) are affected. Built by
 * tests/integration/test_smtp_load.py; not part of the firmware.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int ctl_path(const char *name, char *out, size_t outsz)
{
	const char *dir = getenv("FLUSHFAULT_DIR");
	int n;

	if (dir == NULL)
		return -1;
	n = snprintf(out, outsz, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* Removes the control file name; true if this call removed it (one caller wins). */
static int ctl_take(const char *name)
{
	char p[4096];

	return ctl_path(name, p, sizeof(p)) == 0 && unlink(p) == 0;
}

static int ctl_exists(const char *name)
{
	char p[4096];

	return ctl_path(name, p, sizeof(p)) == 0 && access(p, F_OK) == 0;
}

/* Takes one off the number in "pass"; true if it was above 0. */
static int ctl_pass(void)
{
	char p[4096], buf[24] = "";
	int fd, n;

	if (ctl_path("pass", p, sizeof(p)) < 0 || (fd = open(p, O_RDWR | O_CLOEXEC)) < 0)
		return 0;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	n = n > 0 ? atoi(buf) : 0;
	if (n > 1) {
		int len = snprintf(buf, sizeof(buf), "%d", n - 1);

		if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len)
			n = 0;
	} else {
		unlink(p);
	}
	close(fd);
	return n > 0;
}

/* After the real flush of a batch (rc, errno as it left them). */
static int batch_after(int rc)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	char p[4096];
	int saved = errno;

	if (ctl_pass()) {
		errno = saved;
		return rc;
	}
	if (ctl_exists("hold")) {
		if (ctl_path("held", p, sizeof(p)) == 0)
			close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0666));
		while (ctl_exists("hold"))
			nanosleep(&ts, NULL);
	} else if (ctl_take("fail")) {
		errno = EIO;
		return -1;
	}
	errno = saved;
	return rc;
}

static int file_after(int rc)
{
	if (ctl_take("fail_file")) {
		errno = EIO;
		return -1;
	}
	return rc;
}

static int is_dir(int fd)
{
	struct stat sb;

	return fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode);
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

int fsync(int fd)
{
	int rc = REAL("fsync", int (*)(int))(fd);

	return is_dir(fd) ? batch_after(rc) : file_after(rc);
}

int fdatasync(int fd)
{
	int rc = REAL("fdatasync", int (*)(int))(fd);

	return is_dir(fd) ? batch_after(rc) : file_after(rc);
}

int syncfs(int fd)
{
	return batch_after(REAL("syncfs", int (*)(int))(fd));
}

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
	return file_after(
	    REAL("sync_file_range", int (*)(int, off_t, off_t, unsigned))(fd, off, n, flags));
}
