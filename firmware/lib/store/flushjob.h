/*
 * flushjob.h - a mail session's directory flushes on the worker pool (core/work.h), so
 * that the event loop never waits for them: the flushes that make an IMAP EXPUNGE, CLOSE,
 * COPY or MOVE and a POP3 QUIT durable. The renames, links and unlinks themselves stay on
 * the loop (they are quick, and the session's snapshot follows them at once); only the
 * flush, 5-50 ms on an SD card, moves. A flush here is store/dirsync's, so it shares the
 * fsync of a directory (or the data filesystem's syncfs) with the deliveries' batch
 * commits (store/commitq.h) and with other sessions' flushes of the moment.
 *
 * Which thread may touch what:
 *   - maildir_flush_start() and maildir_flush_abandon() run on the loop thread, and so
 *     does the done callback (from the pool's completion), once, unless the session
 *     abandoned the flush first.
 *   - On the worker the job touches only itself: its own copies of the directory paths
 *     and its result (store/dirsync.c's table is thread-safe). It never reads the
 *     session, the connection or the box.
 *   - The job belongs to the pool from a successful start until its completion, which
 *     frees it. The session keeps only the handle, to abandon the flush when it goes
 *     away: the completion then frees the job and calls nothing (no use of the freed
 *     session).
 */
#ifndef MGW_FLUSHJOB_H
#define MGW_FLUSHJOB_H

#include <stddef.h>
#include <stdint.h>

#include "core/work.h"

#include "store/maildir.h"

#define MAILDIR_FLUSH_DIRS 8 /* directories in one flush job */

struct maildir_flush;

/* Directories a change left for the caller to flush (the store functions that take one
 * add to it instead of flushing on the calling thread). */
struct maildir_dirs {
	size_t n;
	char d[MAILDIR_FLUSH_DIRS][MAILDIR_PATH_MAX];
};

/* Adds dir (once). 0, or -MGW_ELIMIT (full, or dir too long). */
int maildir_dirs_add(struct maildir_dirs *l, const char *dir);

/* Flushes l's directories on the calling thread (store/dirsync.h): for a caller that is
 * not the event loop, or that has no pool. 0, -MGW_EIO, -MGW_ENOSPC. */
int maildir_dirs_flush(const struct maildir_dirs *l);

/* rc: 0 when every directory is flushed (the renames, links and unlinks made in them
 * before the start are durable); -MGW_EIO, -MGW_ENOSPC when a flush failed (logged with
 * the path); -MGW_ECLOSED when the daemon stopped before it ran. */
typedef void (*maildir_flush_done_fn)(void *arg, int rc);

/*
 * Flushes the directories of dirs (at least one; copied) on a worker. 0: done(arg,
 * rc) is called later on the loop thread, and *out is the handle until then (cleared just
 * before done runs); without a pool (pool NULL: the fuzzers, the unit tests) the flush
 * runs inline and done has been called when this returns. Negative (-MGW_EINVAL,
 * -MGW_ELIMIT: a path too long or the pool's queue full, -MGW_ENOMEM, -MGW_ECLOSED):
 * nothing was started, done is never called, *out is NULL.
 */
int maildir_flush_start(struct work_pool *pool, const struct maildir_dirs *dirs,
			maildir_flush_done_fn done, void *arg, struct maildir_flush **out);

/* The same for the new/ and cur/ of the Maildir (or folder) md. */
int maildir_flush_box(struct work_pool *pool, const char *md, maildir_flush_done_fn done, void *arg,
		      struct maildir_flush **out);

/* The uidlist of the Maildir (or folder) md, as renamed into place by the deferred write
 * gen (maildir_box.uidlist_gen) or a later one: the file at that path when the job runs
 * (a later rewrite renames a superset over it, and that one must be durable), then md
 * itself (the rename). Its success is noted for md's later openers (store: loop thread)
 * even when the session abandoned the flush. */
int maildir_flush_uidlist(struct work_pool *pool, const char *md, uint64_t gen,
			  maildir_flush_done_fn done, void *arg, struct maildir_flush **out);

/* The session is going away: the flush finishes, its result is dropped, done is not
 * called. f may be NULL. Loop thread. */
void maildir_flush_abandon(struct maildir_flush *f);

#endif
