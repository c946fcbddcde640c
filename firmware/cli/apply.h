/*
 * apply.h - changing the data directory from the console: layout, snapshot, reload,
 * rollback (apply.c).
 */
#ifndef MGW_APPLY_H
#define MGW_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "admin/layout.h"
#include "console.h"

/* The content of one file before a change (rel is borrowed). */
struct apply_snap {
	const char *rel;
	bool existed;
	char *data;
	size_t len;
};

/* Opens c->data_dir's layout; CONS_OK, or the reason shown and CONS_REFUSED/CONS_ERROR. */
int apply_open(struct cons *c, struct layout *l);

/* A 0 / -MGW_E* result of an admin_* or pki_* call as enum cons_status. */
int apply_status(int rc);

/* Keeps rel's current content (or that it does not exist). */
void apply_snap(const struct layout *l, struct apply_snap *s, const char *rel);
void apply_snap_free(struct apply_snap *s, size_t n);

/*
 * After a change: reloads mailgwd. Accepted: prints done, CONS_OK. Refused: writes the n
 * snapshots back (or removes the files that did not exist), reloads again, shows the
 * reason, CONS_REFUSED. mailgwd not reachable: the change stays (it is read at the next
 * start), a warning is shown, CONS_OK.
 */
int apply_reload(struct cons *c, const struct layout *l, struct apply_snap *s, size_t n,
		 const char *done);

/* The end of every change: rc < 0 (the admin/pki call failed) shows msg and maps rc; else
 * apply_reload(..., msg). Then frees the snapshots and closes the layout. */
int apply_finish(struct cons *c, struct layout *l, int rc, const char *msg, struct apply_snap *s,
		 size_t n);

/* Lists with an admin_*_list function taking a domain filter (NULL: all): one line per
 * item, "name" or "name -> value". */
typedef int (*apply_list_fn)(const struct layout *l, const char *domain,
			     int (*fn)(void *, const char *, const char *), void *arg, char *msg,
			     size_t msgsz);
int apply_list(struct cons *c, apply_list_fn list, const char *domain);

/* A change of etc/mailgw.conf: edit(l, arg, msg, msgsz) (an admin_* call, 0 or -MGW_E*)
 * with the file kept for the rollback, then apply_finish. */
typedef int (*apply_conf_fn)(const struct layout *l, const void *arg, char *msg, size_t msgsz);
int apply_conf(struct cons *c, apply_conf_fn edit, const void *arg);

#endif
