/*
 * dirsync.h - group commit for the store's flushes: deliveries that finish at about the
 * same time share their fsyncs.
 *
 * Two modes, chosen once per process by dirsync_fs_auto() (maildir_store_init calls it):
 *
 *   - per directory (data_dir on the root filesystem, e.g. a developer's host): the data
 *     of each message is flushed by its own fsync (dirsync_file), and the directory
 *     fsyncs are shared: dirsync_fsync(dir) returns once an fsync of dir has completed
 *     that *started after* the call began, so every entry the caller created or renamed
 *     in dir before the call is durable.
 *   - filesystem (data_dir on a filesystem of its own, as the board's /data): every
 *     flush under data_dir, data (dirsync_file) and directories (dirsync_fsync) alike,
 *     is one syncfs(2) of that filesystem, shared the same way: one syncfs that started
 *     after the call makes every write, creation and rename done before the call durable
 *     (syncfs writes back every dirty inode of the filesystem and commits its journal).
 *     So k deliveries waiting at once cost about two flushes, not 2k. syncfs reports
 *     write-back errors since Linux 5.8 (per filesystem, once per open file); older
 *     kernels keep the per-directory mode. Because a filesystem-wide error cannot say
 *     which file it hit, dirsync_file also asks the file's own error state
 *     (sync_file_range(2) after the syncfs, which then writes nothing and issues no
 *     flush): an error of that file since it was opened fails it even if another batch
 *     already consumed the filesystem's report.
 *
 * Errors: a flush that fails fails every caller it covered (they all get -MGW_EIO): the
 * kernel reports a write-back error to one flush only, so a caller that retried its own
 * flush would be told 0 for data that was never written.
 *
 * Thread-safe (one process-wide mutex, never held across a flush). Blocking: call it
 * from a worker, never from the event loop in steady state.
 */
#ifndef MGW_DIRSYNC_H
#define MGW_DIRSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIRSYNC_SLOTS 32 /* directories synced at once; more fall back to a plain fsync */

/* Filesystem mode for everything under root (copied; NULL: per-directory mode). */
void dirsync_fs_set(const char *root);

/*
 * Picks the mode for data_dir: filesystem mode when data_dir is not on the root
 * filesystem (a dedicated data partition, where syncfs flushes only the store's own
 * writes) and the kernel is 5.8 or later; per-directory mode otherwise (syncfs of a
 * shared root filesystem would also flush every other program's writes). Returns true
 * for filesystem mode.
 */
bool dirsync_fs_auto(const char *data_dir);

/* 0, or -MGW_EIO (logged with the path; -MGW_ENOSPC from a syncfs that met a full
 * disk). */
int dirsync_fsync(const char *dir);

/* The same for n directories: in filesystem mode one shared flush covers them all. */
int dirsync_fsync_n(const char *const *dirs, size_t n);

/* Makes what was written to the open file fd (path: for the log and the mode) durable:
 * its fsync, or in filesystem mode a shared syncfs and the file's own error state.
 * 0, -MGW_ENOSPC (the disk was full when the data was written back), -MGW_EIO (logged). */
int dirsync_file(int fd, const char *path);

/* The same for n open files at once (rcs[i]: file i's result): in filesystem mode one
 * shared syncfs covers them all. */
void dirsync_file_n(const int *fds, const char *const *paths, size_t n, int *rcs);

/* Filesystem mode is on (batches then pay off: maildir_cq). */
bool dirsync_fs_on(void);

struct dirsync_stats {
	uint64_t calls;	  /* requests since the start (a file's data, a directory, a batch) */
	uint64_t flushes; /* fsyncs or syncfs really run for them */
	unsigned waiting; /* callers waiting for a flush now */
	bool fs;	  /* filesystem mode */
};

void dirsync_stats(struct dirsync_stats *out);

#endif
