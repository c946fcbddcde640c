/*
 * file.h - small whole-file helpers: bounded read, atomic replace, directory fsync, mkdir -p.
 *
 * Atomic replace is the one way we rewrite a file others read (passwd-files, uidlists,
 * later the CRL and the configuration): a temporary file in the same directory, written,
 * fsync'd, renamed over the target, then the directory fsync'd. A reader sees the old or
 * the new content, never a mix; a crash leaves one of the two.
 */
#ifndef MGW_FILE_H
#define MGW_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Reads the whole file at path (at most max bytes) into a new heap buffer, owned by the
 * caller (free()), with a NUL appended after the len bytes (the content itself may hold
 * NULs). 0, -MGW_ENOENT, -MGW_ELIMIT (larger than max), -MGW_ENOMEM, -MGW_EIO (when the
 * file exists but cannot be opened, "path: strerror" is logged here).
 */
int file_read_all(const char *path, size_t max, char **data, size_t *len);

/* The same from an open fd (left open), which must be a regular file. */
int file_read_fd(int fd, size_t max, char **data, size_t *len);

/*
 * Replaces path with len bytes of data, atomically (see above), the new file with mode
 * and, when it replaces a file and we are root, that file's owner and group.
 * On failure the temporary file is removed and path is unchanged. 0, -MGW_ENOSPC (disk
 * full), -MGW_ELIMIT (path too long), -MGW_EIO; errno is logged.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* The same without the fsyncs: readers see the old or the new file, but after a crash
 * the old one, or an empty or torn new one, may be there. Only for caches that are
 * recomputed when lost or damaged (maildirsize), and for files the caller flushes
 * later, on a worker, before it reports the change (store/flushjob.h), so that the
 * event loop does not wait for a flush to rewrite them. */
int file_write_cache(const char *path, const void *data, size_t len, mode_t mode);

/* Writes all len bytes to fd (retrying short writes and EINTR). 0, -MGW_ENOSPC (ENOSPC,
 * EDQUOT), -MGW_EIO (errno tells the rest). */
int file_write_all(int fd, const void *data, size_t len);

/* fsync()s a directory so that renames and creations in it are durable. 0 or -MGW_EIO. */
int file_dir_fsync(const char *dir);

/* fsync()s the directory that contains path. 0 or -MGW_EIO (-MGW_ELIMIT: path too long). */
int file_parent_fsync(const char *path);

/* Creates dir and missing parents with mode (existing ones are left alone). 0, -MGW_EIO,
 * -MGW_ELIMIT. */
int file_mkdirs(const char *dir, mode_t mode);

#endif
