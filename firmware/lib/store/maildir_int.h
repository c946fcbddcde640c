/*
 * maildir_int.h - what the files of the store share inside lib/store (maildir.c:
 * store, delivery, mailbox; uidlist.c: the UID list and the sync). Not for other
 * modules: their contract is maildir.h.
 */
#ifndef MGW_MAILDIR_INT_H
#define MGW_MAILDIR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/maildir.h"

#define MAILDIR_UIDLIST "dovecot-uidlist" /* dovecot's own, version 3 */
#define MAILDIR_UIDLIST_MAGIC "3"
#define MAILDIR_UIDLIST_V2 "mailgw-uidlist" /* ours before: converted, then removed */
#define MAILDIR_UIDLIST_MAGIC_V2 "mailgw-uidlist 2"
#define MAILDIR_UIDLIST_MAGIC_V1 "mailgw-uidlist 1"
#define MAILDIR_UIDLIST_LOCK "mailgw-uidlist.lock"
#define MAILDIR_SESSION_LOCK "mailgw-session.lock"
#define MAILDIR_UIDVALIDITY_FILE "dovecot-uidvalidity" /* the last UIDVALIDITY given, hex */
#define MAILDIR_UIDVALIDITY_LOCK "mailgw-uidvalidity.lock"
#define MAILDIR_UIDLIST_MAX (256u << 20) /* bytes; ~MAILDIR_MSGS_MAX lines */
#define MAILDIR_COPY_CHUNK 65536
/* Bytes of message files one sync may read to size them (see maildir_sync). */
#define MAILDIR_VSIZE_BUDGET (32ull << 20)

/* One message found by a directory scan. */
struct maildir_ent {
	char *name; /* owned */
	size_t base_len;
	uint32_t uid; /* 0: none yet */
	uint64_t size;
	uint64_t vsize; /* size in the CRLF form (store/crlf.h), when vsize_ok */
	bool vsize_ok;
	bool w_skip; /* vsize is not dovecot's W (no final newline): kept as X */
	bool in_new;
};

struct maildir_scan {
	struct maildir_ent *e;
	size_t n, cap;
	uint32_t uidvalidity, uidnext;
	char guid[33]; /* dovecot's mailbox GUID (hex) when its list had one, else "" */
};

/* errno of a failed write/link/rename as -MGW_ENOSPC (disk full) or -MGW_EIO. */
int maildir_errno_code(int e);

/* snprintf into out; -MGW_ELIMIT when it does not fit. */
int maildir_fmt(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Length of the base name: up to the ':' that starts the info part (Maildir spec). */
size_t maildir_base_len(const char *name);

/* A name we accept in new/ and cur/: no dot files (., .., dovecot's own), no '/'. */
bool maildir_name_ok(const char *name);

void maildir_scan_free(struct maildir_scan *sc);
/* Appends a copy of name (uid 0, vsize unknown). -MGW_ENOMEM, -MGW_ELIMIT. */
int maildir_scan_add(struct maildir_scan *sc, const char *name, uint64_t size, bool in_new);

int maildir_base_cmp(const char *a, size_t alen, const char *b, size_t blen);
/* qsort comparators: by base name (cur/ first), by UID, by arrival. */
int maildir_ent_base_cmp(const void *pa, const void *pb);
int maildir_ent_uid_cmp(const void *pa, const void *pb);
int maildir_ent_arrival_cmp(const void *pa, const void *pb);
/* qsort that accepts an empty (NULL) array. */
void maildir_sort(struct maildir_ent *e, size_t n, int (*cmp)(const void *, const void *));

/* flock LOCK_EX on md/lockname (nonblock: -MGW_EEXIST when held); *fd owned by the
 * caller, closing it releases the lock. 0, -MGW_EIO, -MGW_ELIMIT. */
int maildir_lock(const char *md, const char *lockname, bool nonblock, int *fd);

/* The Maildir root of md: md itself, or for a Maildir++ folder "<root>/.<name>" the
 * root. 0 or -MGW_ELIMIT. */
int maildir_root_of(const char *md, char *out, size_t outsz);

/* A UIDVALIDITY for a new list in md, above every one given before in its Maildir
 * (kept in <root>/dovecot-uidvalidity, as dovecot; with defer replaced without a flush
 * and noted in the table of files not durable yet, flushed with the list: store/
 * flushjob.h). 0, -MGW_EIO, -MGW_ELIMIT. */
int maildir_uidvalidity_next(const char *md, bool defer, uint32_t *out);

/*
 * Under the uidlist lock: reads the uidlist, lists new/ and cur/, gives each message its
 * recorded UID or a new one (arrival order) and its vsize, drops records of vanished
 * files, writes the uidlist back if anything changed. On success out holds every
 * message found, sorted by UID (owned by the caller: maildir_scan_free).
 */
int maildir_sync(const char *md, struct maildir_scan *out);

/*
 * The same, for a caller that flushes the uidlist itself before it announces any UID
 * (defer true: IMAP SELECT/EXAMINE, the POP3 login, through maildir_flush_uidlist on a
 * worker): a changed list is renamed into place without a flush, and *gen is then
 * nonzero, as it is when an earlier deferred write of md's list is not known durable
 * yet; 0 when the list on disk is durable. With defer false (maildir_sync) the list is
 * flushed here, on the calling thread, whenever it is not known durable.
 *
 * The lists not known durable are in the process's table of files not durable yet
 * (store/flushjob.h), touched on the loop thread only (maildir_sync runs there; a flush
 * job's completion clears them). When it is full, a deferred write is flushed at once
 * instead.
 */
int maildir_sync_ex(const char *md, struct maildir_scan *out, bool defer, uint64_t *gen);

/* The table of files not known durable yet (flushjob.c; loop thread only): path's slot
 * (its last write's number, 0 when durable), or with add a free one named path, or
 * NULL; and the number for a new write. */
uint64_t *maildir_unflushed_slot(const char *path, bool add);
uint64_t maildir_unflushed_next(void);

#endif
