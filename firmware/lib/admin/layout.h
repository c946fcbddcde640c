/*
 * layout.h - the ownership and permission layout of the data directory, as code.
 *
 * README "The /data layout" is the table this module holds (one row per path pattern,
 * relative to the data directory, '*' standing for one name): owner, group, mode and
 * whether it is a directory. DU/DG are the daemon's user and its primary group: the
 * `user` key of <data_dir>/etc/mailgw.conf, default Kconfig DAEMON_USER. Root writes
 * everything under etc/, ca/ and state/; the daemon only reads etc/ and writes only
 * mail/ and spool/ (which this module creates but never descends into).
 *
 * Every write goes through here so that nothing an admin tool writes can leave the
 * unprivileged daemon unable to read it:
 *   - paths are walked from a directory fd opened once on the data directory, each
 *     component with openat(O_NOFOLLOW | O_DIRECTORY): a symlink anywhere below the
 *     data directory is refused, never followed;
 *   - a missing directory is created with the table's owner, group and mode; an
 *     existing one with the wrong owner or mode is corrected and the correction logged;
 *   - a file is replaced atomically: a temporary name in the same directory created with
 *     O_CREAT | O_EXCL | O_NOFOLLOW, fchown + fchmod to the table's owner, group and mode
 *     on the temporary fd, write, fsync, renameat over the target, fsync the directory.
 *
 * The data directory itself may be reached through a symlink (it is given by root); no
 * component below it is.
 *
 * Every function taking msg/msgsz writes one line of text (no LF) into it: on failure a
 * reason naming the path and the error, on success what was done (possibly empty).
 */
#ifndef MGW_LAYOUT_H
#define MGW_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define LAYOUT_PATH_MAX 512 /* a path relative to the data directory */
#define LAYOUT_MSG_MAX 512  /* a msg buffer of this size never truncates our messages */
#define LAYOUT_USER_MAX 64

/* Who owns a path of the table. */
enum layout_who {
	LAYOUT_ROOT = 0, /* uid 0 / gid 0 */
	LAYOUT_DAEMON,	 /* DU / DG */
};

/* One row of the table. */
struct layout_entry {
	const char *pattern; /* relative to the data directory; "" is the directory itself */
	bool dir;
	enum layout_who owner, group;
	mode_t mode;
	const char *writer; /* "root tools", "daemon", ... (README's "written by") */
};

/* An opened data directory: the ids the table resolves to and a directory fd. */
struct layout {
	char data_dir[LAYOUT_PATH_MAX];
	char user[LAYOUT_USER_MAX]; /* DU's name */
	uid_t du;
	gid_t dg;
	int dirfd; /* the data directory, O_DIRECTORY; -1 when closed */
};

/* The whole table, terminated by an entry with pattern NULL. */
const struct layout_entry *layout_table(void);

/* The row whose pattern matches rel (a path relative to the data directory, no leading
 * or trailing '/', no "." or ".." component), or NULL when the layout does not name it. */
const struct layout_entry *layout_find(const char *rel);

/*
 * Opens data_dir (which must exist) and resolves DU/DG: user when non-NULL and non-empty,
 * else the `user` key of <data_dir>/etc/mailgw.conf when that file exists, else Kconfig
 * DAEMON_USER; DG is that user's primary group. 0; -MGW_ENOENT (no data directory, no such
 * user), -MGW_ECONFIG (mailgw.conf does not load: its file:line in msg), -MGW_EIO.
 */
int layout_open(struct layout *l, const char *data_dir, const char *user, char *msg, size_t msgsz);
void layout_close(struct layout *l);

/* The uid/gid/mode the table names for an entry. */
uid_t layout_uid(const struct layout *l, const struct layout_entry *e);
gid_t layout_gid(const struct layout *l, const struct layout_entry *e);

/*
 * Makes sure directory rel (and each missing parent, per the table) exists with the
 * table's owner, group and mode; a wrong owner or mode is corrected and logged. -MGW_EINVAL
 * (rel not a directory of the table, or a symlink / non-directory in the way: not
 * followed, not removed), -MGW_EPERM (not root and a change is needed), -MGW_EIO.
 */
int layout_ensure_dir(const struct layout *l, const char *rel, char *msg, size_t msgsz);

/*
 * Replaces file rel with len bytes of data atomically, with the table's owner, group and
 * mode set on the temporary file before the rename (see the top of this file); missing
 * parent directories are created per the table. rel must name a file of the table.
 * -MGW_EINVAL, -MGW_EPERM, -MGW_ENOSPC, -MGW_EIO; on failure rel is unchanged and no
 * temporary file is left.
 */
int layout_write(const struct layout *l, const char *rel, const void *data, size_t len, char *msg,
		 size_t msgsz);

/*
 * Reads file rel (at most max bytes) without following a symlink into a new heap buffer
 * (caller frees; NUL appended). 0, -MGW_ENOENT, -MGW_ELIMIT, -MGW_ENOMEM, -MGW_EIO.
 */
int layout_read(const struct layout *l, const char *rel, size_t max, char **data, size_t *len,
		char *msg, size_t msgsz);

/* lstat() of rel without following a symlink anywhere below the data directory. 0,
 * -MGW_ENOENT, -MGW_EINVAL (a symlink in the way), -MGW_EPERM, -MGW_EIO. */
int layout_stat(const struct layout *l, const char *rel, struct stat *sb);

/* Removes file rel (not following a symlink; the directory is fsync'd). -MGW_ENOENT when
 * absent. */
int layout_unlink(const struct layout *l, const char *rel, char *msg, size_t msgsz);

/* Removes directory rel and the regular files directly in it (a domain directory).
 * -MGW_ENOENT when absent, -MGW_EINVAL when it holds a subdirectory or a symlink. */
int layout_remove_dir(const struct layout *l, const char *rel, char *msg, size_t msgsz);

/* Calls fn with each entry name of directory rel (no "." / ".."), sorted. Stops at the
 * first non-zero return of fn and returns it. -MGW_ENOENT when rel is absent. */
typedef int (*layout_name_fn)(void *arg, const char *name);
int layout_list(const struct layout *l, const char *rel, layout_name_fn fn, void *arg, char *msg,
		size_t msgsz);

/*
 * Checks every existing path of the table below the data directory (names matching '*'
 * found by listing their directory; mail/ and spool/ are checked but not descended
 * into). Each difference from the table (owner, group, mode, a symlink or a wrong file
 * type where the table names a file or directory) is reported through fn as one line
 * "path: what is wrong [-> what was done]". With LAYOUT_FIX the owner and mode are
 * corrected and a symlink at a table path is removed (never followed); with
 * LAYOUT_CREATE the directories etc, etc/domains, etc/tls, mail, spool, state are
 * created when missing. Returns the number of differences found (>= 0) or -MGW_E*.
 */
enum layout_check_flag {
	LAYOUT_FIX = 1u << 0,
	LAYOUT_CREATE = 1u << 1,
};
typedef void (*layout_report_fn)(void *arg, const char *line);
int layout_check(const struct layout *l, unsigned flags, layout_report_fn fn, void *arg);

#endif
