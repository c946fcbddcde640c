/*
 * file.c - whole-file helpers (see file.h).
 */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

#define FILE_PATH_MAX 4096

static int file_errno_code(int e)
{
	return (e == ENOSPC || e == EDQUOT) ? -MGW_ENOSPC : -MGW_EIO;
}

int file_read_all(const char *path, size_t max, char **data, size_t *len)
{
	int fd, rc;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return -MGW_ENOENT;
		/* The file exists but cannot be opened (EACCES: a layout fault): name the
		 * file and the real cause, callers only see -MGW_EIO. */
		log_err("%s: %s", path, strerror(errno));
		return -MGW_EIO;
	}
	rc = file_read_fd(fd, max, data, len);
	close(fd);
	return rc;
}

int file_read_fd(int fd, size_t max, char **data, size_t *len)
{
	struct stat sb;
	char *p = NULL;
	size_t got = 0;
	int rc = -MGW_EIO;

	*data = NULL;
	*len = 0;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		goto out;
	rc = -MGW_ELIMIT;
	if ((uint64_t)sb.st_size > max)
		goto out;
	rc = -MGW_ENOMEM;
	p = malloc((size_t)sb.st_size + 1);
	if (p == NULL)
		goto out;
	/* Read to EOF, not to st_size: the file may change under us; stay within max. */
	rc = -MGW_EIO;
	for (;;) {
		ssize_t n;

		if (got == (size_t)sb.st_size) {
			char c;

			n = read(fd, &c, 1);
			if (n == 0)
				break;
			if (n < 0 && errno == EINTR)
				continue;
			rc = n < 0 ? -MGW_EIO : -MGW_ELIMIT; /* grew while we read it */
			goto out;
		}
		n = read(fd, p + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	p[got] = '\0';
	*data = p;
	*len = got;
	p = NULL;
	rc = 0;
out:
	free(p);
	return rc;
}

int file_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return file_errno_code(errno);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int file_replace(const char *path, const void *data, size_t len, mode_t mode, bool sync)
{
	/* Atomic: a worker (a first login's folders, store/flushjob.c) and the loop may
	 * replace files at the same time. */
	static unsigned file_seq;
	char tmp[FILE_PATH_MAX];
	struct stat old;
	int fd, n, rc = -MGW_ELIMIT;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
		     __atomic_fetch_add(&file_seq, 1, __ATOMIC_RELAXED));
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		rc = file_errno_code(errno);
		log_err("%s: cannot create: %s", tmp, strerror(errno));
		return rc;
	}
	/* open() applied the umask; the caller asked for exactly this mode. */
	if (fchmod(fd, mode) < 0) {
		rc = -MGW_EIO;
		log_err("%s: chmod: %s", tmp, strerror(errno));
		goto fail;
	}
	/* A replaced file keeps its owner and group (root editing a file the daemon reads
	 * must not take it away from the daemon). Only root can do this; others already
	 * own what they replace, so a failure changes nothing that matters. */
	if (stat(path, &old) == 0 && (old.st_uid != geteuid() || old.st_gid != getegid()))
		(void)!fchown(fd, old.st_uid, old.st_gid);
	rc = file_write_all(fd, data, len);
	if (rc < 0) {
		log_err("%s: write: %s", tmp, strerror(errno));
		goto fail;
	}
	if (sync && fsync(fd) < 0) {
		rc = file_errno_code(errno);
		log_err("%s: fsync: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = file_errno_code(errno);
		log_err("%s: close: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = file_errno_code(errno);
		log_err("%s: rename to %s: %s", tmp, path, strerror(errno));
		goto fail;
	}
	return sync ? file_parent_fsync(path) : 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	return file_replace(path, data, len, mode, true);
}

int file_write_cache(const char *path, const void *data, size_t len, mode_t mode)
{
	return file_replace(path, data, len, mode, false);
}

int file_dir_fsync(const char *dir)
{
	int fd, rc = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_err("%s: open directory: %s", dir, strerror(errno));
		return -MGW_EIO;
	}
	if (fsync(fd) < 0) {
		log_err("%s: fsync directory: %s", dir, strerror(errno));
		rc = -MGW_EIO;
	}
	close(fd);
	return rc;
}

int file_parent_fsync(const char *path)
{
	char dir[FILE_PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL)
		return file_dir_fsync(".");
	n = (size_t)(slash - path);
	if (n == 0)
		return file_dir_fsync("/");
	if (n >= sizeof(dir))
		return -MGW_ELIMIT;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return file_dir_fsync(dir);
}

int file_mkdirs(const char *dir, mode_t mode)
{
	char p[FILE_PATH_MAX];
	size_t n = strlen(dir), i;

	if (n == 0 || n >= sizeof(p))
		return -MGW_ELIMIT;
	memcpy(p, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			log_err("%s: mkdir: %s", p, strerror(errno));
			return -MGW_EIO;
		}
		p[i] = dir[i];
	}
	return 0;
}
