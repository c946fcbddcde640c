/*
 * flushjob.h - a mail session's flushes on the worker pool (core/work.h), so that the
 * event loop never waits for them: the flushes that make an IMAP EXPUNGE, CLOSE, COPY,
 * MOVE, CREATE, RENAME, DELETE and a POP3 QUIT durable, and those of the small files a
 * session rewrites (dovecot-uidlist at every scan, dovecot-uidvalidity, dovecot-keywords,
 * subscriptions). The renames, links, unlinks and file writes themselves stay on the loop
 * (they are quick, and the session's snapshot follows them at once); only the flush, 5-50
 * ms on an SD card, moves. A flush here is store/dirsync's, so it shares the fsync of a
 * directory (or the data filesystem's syncfs) with the deliveries' batch commits
 * (store/commitq.h) and with other sessions' flushes of the moment. A first login's
 * Maildir and folders are made on a worker altogether (maildir_prepare_start).
 *
 * Which thread may touch what:
 *   - maildir_flush_start() and maildir_flush_abandon() run on the loop thread, and so
 *     does the done callback (from the pool's completion), once, unless the session
 *     abandoned the flush first. So do the table of files not durable yet and every
 *     function that reads or writes it (maildir_write_later with later, _add_pending,
 *     maildir_unflushed_gen).
 *   - On the worker the job touches only itself: its own copies of the file and
 *     directory paths (a first login's: of the store's settings, the domain and the
 *     user) and its result (store/dirsync.c's table is thread-safe). It never reads the
 *     session, the connection, the box or the table.
 *   - The job belongs to the pool from a successful start until its completion, which
 *     frees it. The session keeps only the handle, to abandon the flush when it goes
 *     away: the completion then frees the job and calls nothing (no use of the freed
 *     session); it still marks the files it made durable in the table.
 */
#ifndef MGW_FLUSHJOB_H
#define MGW_FLUSHJOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/work.h"

#include "store/maildir.h"

#define MAILDIR_FLUSH_DIRS 12 /* directories in one flush job (a first login: 9) */
#define MAILDIR_FLUSH_FILES 3 /* files in one flush job (uidlist, dovecot-uidvalidity, ...) */

struct maildir_flush;

/* What a change left for the caller to flush (the store functions that take one add to
 * it instead of flushing on the calling thread): files replaced without a flush
 * (maildir_write_later), flushed first, then directories. */
struct maildir_dirs {
	size_t n, nf;
	char d[MAILDIR_FLUSH_DIRS][MAILDIR_PATH_MAX];
	char f[MAILDIR_FLUSH_FILES][MAILDIR_PATH_MAX]; /* by path: the file there when flushed */
	uint64_t gen[MAILDIR_FLUSH_FILES]; /* the write of f[i] made durable (0: none noted) */
};

/* Adds dir (once). 0, or -MGW_ELIMIT (full, or dir too long). */
int maildir_dirs_add(struct maildir_dirs *l, const char *dir);

/* Adds the file path (once; gen: its write in the table below, or 0) and the directory
 * it is in. 0, or -MGW_ELIMIT. */
int maildir_dirs_add_file(struct maildir_dirs *l, const char *path, uint64_t gen);

/* Flushes l's files, then its directories, on the calling thread (store/dirsync.h): for
 * a caller that is not the event loop, or that has no pool. 0, -MGW_EIO, -MGW_ENOSPC. */
int maildir_dirs_flush(const struct maildir_dirs *l);

/*
 * The files of the store that are replaced on the event loop without a flush and made
 * durable by a flush job afterwards (the uidlist, dovecot-uidvalidity, dovecot-keywords,
 * subscriptions): the process's table of those whose last write is not known durable
 * yet, MAILDIR_UNFLUSHED_MAX of them, each with the number of that write. A reader that
 * builds on such a file (announces a UID of it, uses a keyword letter of it, confirms a
 * subscription) first waits for its flush too (maildir_dirs_add_pending). Loop thread
 * only; the flush job's completion (also on the loop) clears the entries it made durable.
 */
#define MAILDIR_UNFLUSHED_MAX 32

/*
 * Replaces path with len bytes of data: with later, atomically but without a flush
 * (temp file, rename: readers see the old or the new file), noted in the table and
 * added to later with its directory, for the caller to flush before it reports the
 * change; without later (or when the table is full) with the flushes, here. Without
 * later it may run on any thread (it does not touch the table). 0, -MGW_E* as
 * file_write_atomic; -MGW_ELIMIT when later is full (nothing written).
 */
int maildir_write_later(const char *path, const void *data, size_t len, struct maildir_dirs *later);

/* When the last write of path is not known durable, adds it (maildir_dirs_add_file) to
 * l. 0 or -MGW_ELIMIT. */
int maildir_dirs_add_pending(struct maildir_dirs *l, const char *path);

/* The number of path's last write not known durable, 0 when there is none. */
uint64_t maildir_unflushed_gen(const char *path);

/* rc: 0 when every directory is flushed (the renames, links and unlinks made in them
 * before the start are durable); -MGW_EIO, -MGW_ENOSPC when a flush failed (logged with
 * the path); -MGW_ECLOSED when the daemon stopped before it ran. */
typedef void (*maildir_flush_done_fn)(void *arg, int rc);

/*
 * Flushes the files and directories of dirs (at least one directory; copied) on a
 * worker. 0: done(arg, rc) is called later on the loop thread, and *out is the handle
 * until then (cleared just before done runs); without a pool (pool NULL: the fuzzers,
 * the unit tests) the flush runs inline and done has been called when this returns.
 * Negative (-MGW_EINVAL, -MGW_ELIMIT: a path too long or the pool's queue full,
 * -MGW_ENOMEM, -MGW_ECLOSED): nothing was started, done is never called, *out is NULL.
 */
int maildir_flush_start(struct work_pool *pool, const struct maildir_dirs *dirs,
			maildir_flush_done_fn done, void *arg, struct maildir_flush **out);

/* The same for the new/ and cur/ of the Maildir (or folder) md. */
int maildir_flush_box(struct work_pool *pool, const char *md, maildir_flush_done_fn done, void *arg,
		      struct maildir_flush **out);

/* The uidlist of the Maildir (or folder) md, as renamed into place by the deferred write
 * gen (maildir_box.uidlist_gen) or a later one: the file at that path when the job runs
 * (a later rewrite renames a superset over it, and that one must be durable), then md
 * itself (the rename); with them the Maildir's dovecot-uidvalidity when its last write
 * is not durable yet (a new list took a new UIDVALIDITY). Their success is noted in the
 * table for md's later openers even when the session abandoned the flush. */
int maildir_flush_uidlist(struct work_pool *pool, const char *md, uint64_t gen,
			  maildir_flush_done_fn done, void *arg, struct maildir_flush **out);

/* The same files and directories added to l, for a job that flushes more (gen 0: only
 * what the table holds of md's uidlist and dovecot-uidvalidity). 0 or -MGW_ELIMIT. */
int maildir_dirs_add_uidlist(struct maildir_dirs *l, const char *md, uint64_t gen);

/*
 * A user's first login, made on a worker: the Maildir (maildir_create), then with
 * folders also the special-use folders and the subscriptions file
 * (maildir_folder_defaults), all flushed there (a delivery on another worker that finds
 * the Maildir made meanwhile flushes its levels too: maildir_create). rc is negative
 * when the Maildir or the folders could not be made durable; maildir_prepare_needed(...,
 * false) then tells which (true: the Maildir). The job owns copies of st, domain and
 * user. done and the rest as maildir_flush_start.
 */
int maildir_prepare_start(struct work_pool *pool, const struct maildir_store *st,
			  const char *domain, const char *user, bool folders,
			  maildir_flush_done_fn done, void *arg, struct maildir_flush **out);

/* Whether that job has anything to do: the Maildir is incomplete or not known durable
 * (its creation's flush runs, or failed: store/mdcreate.h), or (folders) there is no
 * subscriptions file yet (a few stat calls, on the loop; the table's mutex only while
 * some Maildir is not known durable). */
bool maildir_prepare_needed(const struct maildir_store *st, const char *domain, const char *user,
			    bool folders);

/* The session is going away: the flush finishes, its result is dropped, done is not
 * called. f may be NULL. Loop thread. */
void maildir_flush_abandon(struct maildir_flush *f);

#endif
