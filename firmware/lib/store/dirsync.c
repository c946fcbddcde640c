/*
 * dirsync.c - tickets per directory (or per filesystem in filesystem mode): each call
 * takes the next ticket of its slot and waits on the slot's list; a flush that starts
 * when the last ticket handed out is T covers every ticket up to T (those writes and
 * renames had completed before their tickets were taken). When it ends, the flushing
 * caller hands its result to every waiter it covered and takes them off the list; a
 * waiter not covered yet either waits for the running flush or, when none runs, starts
 * one covering every ticket handed out so far.
 */
#include "store/dirsync.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "store/maildir.h"

/* A caller waiting for a flush; lives on its stack, on its slot's list while waiting. */
struct dirsync_wait {
	uint64_t ticket;
	int rc;
	bool done;
	struct dirsync_wait *next;
};

struct dirsync_slot {
	char path[MAILDIR_PATH_MAX];
	bool fs;		      /* syncfs of path's filesystem, not fsync of path */
	unsigned users;		      /* callers using the slot; 0: free */
	uint64_t seq;		      /* last ticket handed out */
	bool busy;		      /* a flush is running */
	struct dirsync_wait *waiters; /* not covered by a finished flush yet */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct dirsync_slot slot[DIRSYNC_SLOTS];
	char fs_root[MAILDIR_PATH_MAX]; /* filesystem mode when not "" */
	dev_t fs_dev;			/* its filesystem */
	bool decided;			/* dirsync_fs_auto ran (it logs the changes) */
	uint64_t calls, flushes;
	unsigned waiting;
} ds = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void dirsync_fs_set(const char *root)
{
	struct stat sb;

	if (root != NULL && stat(root, &sb) < 0)
		root = NULL; /* cannot tell its filesystem: per directory */
	pthread_mutex_lock(&ds.mu);
	snprintf(ds.fs_root, sizeof(ds.fs_root), "%s", root ? root : "");
	ds.fs_dev = root ? sb.st_dev : 0;
	pthread_mutex_unlock(&ds.mu);
}

/* Linux 5.8 made syncfs report write-back errors (before, it returned 0 regardless). */
static bool dirsync_kernel_ok(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 5 || (major == 5 && minor >= 8);
}

bool dirsync_fs_auto(const char *data_dir)
{
	struct stat d, r;
	bool fs = stat(data_dir, &d) == 0 && stat("/", &r) == 0 && d.st_dev != r.st_dev &&
		  dirsync_kernel_ok();
	bool changed;

	pthread_mutex_lock(&ds.mu);
	changed = !ds.decided || strcmp(ds.fs_root, fs ? data_dir : "") != 0;
	ds.decided = true;
	pthread_mutex_unlock(&ds.mu);
	dirsync_fs_set(fs ? data_dir : NULL);
	if (changed)
		log_info("store: %s %s", data_dir,
			 fs ? "is a filesystem of its own: deliveries share one syncfs per batch"
			    : "shares the root filesystem (or the kernel is older than 5.8): one "
			      "fsync per message, directory fsyncs shared");
	return fs;
}

/* Under the mutex: does filesystem mode cover path (fd >= 0: its open file)? Under the
 * root and on the same filesystem: something mounted below data_dir is not flushed by
 * a syncfs of data_dir's filesystem. */
static bool dirsync_fs_covers(const char *path, int fd)
{
	size_t n = strlen(ds.fs_root);
	struct stat sb;

	if (n == 0 || strncmp(path, ds.fs_root, n) != 0 || (path[n] != '/' && path[n] != '\0'))
		return false;
	if ((fd >= 0 ? fstat(fd, &sb) : stat(path, &sb)) < 0)
		return false; /* the plain flush then reports the error */
	return sb.st_dev == ds.fs_dev;
}

/* A failed flush: -MGW_ENOSPC when the disk was full (SMTP answers 452), else -MGW_EIO. */
static int dirsync_errno(int e)
{
	return e == ENOSPC || e == EDQUOT ? -MGW_ENOSPC : -MGW_EIO;
}

static int dirsync_syncfs(const char *root)
{
	int fd, rc = 0;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_err("%s: open directory: %s", root, strerror(errno));
		return -MGW_EIO;
	}
	if (syncfs(fd) < 0) {
		rc = dirsync_errno(errno);
		log_err("%s: syncfs: %s", root, strerror(errno));
	}
	close(fd);
	return rc;
}

static int dirsync_flush(const char *path, bool fs)
{
	return fs ? dirsync_syncfs(path) : file_dir_fsync(path);
}

static struct dirsync_slot *dirsync_slot_get(const char *path, bool fs)
{
	struct dirsync_slot *free_slot = NULL;

	for (size_t i = 0; i < DIRSYNC_SLOTS; i++) {
		struct dirsync_slot *s = &ds.slot[i];

		if (s->users > 0 && s->fs == fs && strcmp(s->path, path) == 0)
			return s;
		if (s->users == 0 && free_slot == NULL)
			free_slot = s;
	}
	if (free_slot == NULL || strlen(path) >= sizeof(free_slot->path))
		return NULL;
	snprintf(free_slot->path, sizeof(free_slot->path), "%s", path);
	free_slot->fs = fs;
	free_slot->seq = 0;
	free_slot->busy = false;
	free_slot->waiters = NULL;
	return free_slot;
}

/* Called and returns with the mutex held. */
static int dirsync_run(const char *path, bool fs)
{
	struct dirsync_wait w = {0}, **pp;
	struct dirsync_slot *s;
	char key[MAILDIR_PATH_MAX];
	int rc;

	ds.calls++;
	s = dirsync_slot_get(path, fs);
	if (s == NULL) {
		ds.flushes++;
		pthread_mutex_unlock(&ds.mu);
		rc = dirsync_flush(path, fs);
		pthread_mutex_lock(&ds.mu);
		return rc;
	}
	s->users++;
	w.ticket = ++s->seq;
	w.next = s->waiters;
	s->waiters = &w;
	ds.waiting++;
	while (!w.done) {
		uint64_t target;

		if (s->busy) {
			pthread_cond_wait(&ds.cv, &ds.mu);
			continue;
		}
		s->busy = true;
		target = s->seq;
		ds.flushes++;
		snprintf(key, sizeof(key), "%s", s->path);
		pthread_mutex_unlock(&ds.mu);
		rc = dirsync_flush(key, fs);
		pthread_mutex_lock(&ds.mu);
		s->busy = false;
		/* Every caller this flush covered gets its result, failure included. */
		for (pp = &s->waiters; *pp != NULL;) {
			struct dirsync_wait *c = *pp;

			if (c->ticket <= target) {
				c->rc = rc;
				c->done = true;
				*pp = c->next;
				ds.waiting--;
			} else {
				pp = &c->next;
			}
		}
		pthread_cond_broadcast(&ds.cv);
	}
	s->users--;
	return w.rc;
}

int dirsync_fsync_n(const char *const *dirs, size_t n)
{
	int rc = 0;

	pthread_mutex_lock(&ds.mu);
	if (n > 0 && dirsync_fs_covers(dirs[0], -1)) {
		size_t i;

		for (i = 1; i < n && dirsync_fs_covers(dirs[i], -1); i++)
			;
		if (i == n) {
			char root[MAILDIR_PATH_MAX];

			snprintf(root, sizeof(root), "%s", ds.fs_root);
			rc = dirsync_run(root, true);
			pthread_mutex_unlock(&ds.mu);
			return rc;
		}
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = dirsync_run(dirs[i], false);
	pthread_mutex_unlock(&ds.mu);
	return rc;
}

int dirsync_fsync(const char *dir)
{
	return dirsync_fsync_n(&dir, 1);
}

static int dirsync_file_fsync(int fd, const char *path)
{
	int rc;

	if (fsync(fd) == 0)
		return 0;
	rc = dirsync_errno(errno);
	log_err("%s: fsync: %s", path, strerror(errno));
	return rc;
}

/* After a syncfs that covered the file: its pages were written back, so this waits for
 * nothing and flushes nothing, but reports an error that hit this file since it was
 * opened (its own error state, which another batch's syncfs cannot have consumed). */
static int dirsync_file_check(int fd, const char *path)
{
	int rc;

	if (sync_file_range(fd, 0, 0,
			    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				SYNC_FILE_RANGE_WAIT_AFTER) == 0)
		return 0;
	rc = dirsync_errno(errno);
	log_err("%s: write-back: %s", path, strerror(errno));
	return rc;
}

void dirsync_file_n(const int *fds, const char *const *paths, size_t n, int *rcs)
{
	char root[MAILDIR_PATH_MAX];
	bool any = false;
	int rc = 0;
	size_t i;

	pthread_mutex_lock(&ds.mu);
	for (i = 0; i < n; i++) {
		rcs[i] = dirsync_fs_covers(paths[i], fds[i]);
		any = any || rcs[i];
		if (!rcs[i]) { /* its own fsync, below: counted as one request, one flush */
			ds.calls++;
			ds.flushes++;
		}
	}
	if (any) {
		snprintf(root, sizeof(root), "%s", ds.fs_root);
		rc = dirsync_run(root, true);
	}
	pthread_mutex_unlock(&ds.mu);
	for (i = 0; i < n; i++) {
		if (!rcs[i])
			rcs[i] = dirsync_file_fsync(fds[i], paths[i]);
		else
			rcs[i] = rc < 0 ? rc : dirsync_file_check(fds[i], paths[i]);
	}
}

int dirsync_file(int fd, const char *path)
{
	int rc;

	dirsync_file_n(&fd, &path, 1, &rc);
	return rc;
}

bool dirsync_fs_on(void)
{
	bool on;

	pthread_mutex_lock(&ds.mu);
	on = ds.fs_root[0] != '\0';
	pthread_mutex_unlock(&ds.mu);
	return on;
}

void dirsync_stats(struct dirsync_stats *out)
{
	pthread_mutex_lock(&ds.mu);
	out->calls = ds.calls;
	out->flushes = ds.flushes;
	out->waiting = ds.waiting;
	out->fs = ds.fs_root[0] != '\0';
	pthread_mutex_unlock(&ds.mu);
}
