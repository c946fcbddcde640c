/*
 * migrate.h - versioned migrations of the data directory (README "Updating the firmware",
 * "Migrations").
 *
 * The format of the data directory is recorded in state/data-format (root:root 0644, a
 * file of the layout, written with layout_write: atomic and fsync'd):
 *     format=N    the last migration applied to this data directory
 *     needs=M     the oldest format a firmware must know to run on it (0: any)
 * A missing file is format 0: a data directory from before migrations existed, or a new
 * one (migrations find nothing to do there).
 *
 * The firmware carries an ordered list of migrations numbered 1, 2, ... (migrate.c);
 * migration N takes the data from format N-1 to N. Each one is idempotent: it looks at
 * what is there and completes what is missing, every write is atomic and fsync'd, so a
 * run cut short (power loss) is finished by the next run. The format is raised only after
 * the migration's last write is on disk, one migration at a time. A migration that
 * older firmware can still run on (old_ok) leaves needs as it was; one that it cannot
 * raises needs to its own number, and such firmware then refuses to start mailgwd.
 *
 * Who runs them: `mailgw firmware migrate` (rcS, before firstboot) when the running slot
 * is not on trial, and `mailgw firmware confirm` right after a slot on trial confirmed;
 * never while a slot is on trial, so the previous slot can still boot on the data as it
 * was.
 *
 * MAILGW_TEST_MIGRATE_KILL=K (tests only) makes migrate_run kill its own process with
 * SIGKILL just before its K-th write (1-based, the format file counted), as a power cut
 * between two writes would leave things.
 */
#ifndef MGW_MIGRATE_H
#define MGW_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "admin/layout.h"

#define MIGRATE_FORMAT_REL "state/data-format"
#define MIGRATE_FORMAT_MAX 256 /* bytes of a valid format file */
#define MIGRATE_LINE_MAX 640   /* a reported line */

struct migrate_format {
	unsigned format; /* the last migration applied */
	unsigned needs;	 /* the oldest format a firmware must know */
};

struct migrate_step {
	unsigned number;
	const char *what; /* one line for the console */
	bool old_ok;	  /* firmware that does not know this step still runs on the result */
	/* Brings the data to this step's format; reports what it did through the callback
	 * of migrate_run; 0 or -MGW_E* with the reason in msg. */
	int (*run)(const struct layout *l, void *ctx, char *msg, size_t msgsz);
};

/* The migrations this firmware knows, terminated by an entry with run NULL. */
const struct migrate_step *migrate_steps(void);

/* The highest format this firmware knows (the number of its last migration). */
unsigned migrate_latest(void);

/*
 * Reads <data_dir>/state/data-format (never following a symlink). 0 (a missing file is
 * format 0, needs 0); -MGW_EINVAL when the file is malformed (msg names FILE:LINE),
 * -MGW_EIO.
 */
int migrate_format_load(const char *data_dir, struct migrate_format *f, char *msg, size_t msgsz);

/*
 * Parses the text of a format file (NUL-terminated; path only names it in msg): lines
 * "format=N" and "needs=M" (N, M decimal, at most 1000000), '#' comments and empty lines.
 * 0, or -MGW_EINVAL with "PATH:LINE: ..." in msg for any other line, a missing format=
 * line, or needs= above format=.
 */
int migrate_format_parse(const char *path, const char *text, struct migrate_format *f, char *msg,
			 size_t msgsz);

/* True when this firmware must not run on data in format f (f->needs > migrate_latest()). */
bool migrate_too_new(const struct migrate_format *f);

/*
 * Runs every migration above the data's format, in order, raising the format after each.
 * Each step and its outcome is one or more lines through fn ("data: migration 1 (...):
 * ..."). Returns the number of migrations run (>= 0), or -MGW_E* (the reason reported
 * through fn): -MGW_EPERM when the data is in a format newer than this firmware knows
 * (nothing runs, nothing is written), or the failing step's error (the format stays
 * below it; the next run retries it).
 */
typedef void (*migrate_report_fn)(void *arg, const char *line);
int migrate_run(const struct layout *l, migrate_report_fn fn, void *arg);

/* The line that explains a format newer than this firmware (for the console, the daemon). */
void migrate_newer_text(const struct migrate_format *f, char *out, size_t outsz);

#endif
