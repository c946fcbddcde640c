/*
 * maildir.h - the mail store: one Maildir per user, in dovecot's layout, with dovecot's
 * own UID list (dovecot-uidlist) in each mailbox. Shared by SMTP (delivery), POP3 and
 * IMAP (mailbox access). Folders (Maildir++ ".<name>/" directories) are store/folder.h.
 *
 * Layout (all under the configured data_dir, created on demand with mode 0700):
 *
 *   <data_dir>/mail/<domain>/<user>/Maildir/{cur,new,tmp}/   the Maildir proper (INBOX)
 *   <data_dir>/mail/<domain>/<user>/Maildir/dovecot-uidlist  UIDVALIDITY, next UID, UIDs
 *   <data_dir>/mail/<domain>/<user>/Maildir/dovecot-uidvalidity   the last UIDVALIDITY given
 *   <data_dir>/mail/<domain>/<user>/Maildir/mailgw-uidlist.lock   flock: uidlist writers
 *   <data_dir>/mail/<domain>/<user>/Maildir/mailgw-session.lock   flock: POP3 exclusivity
 *   <data_dir>/mail/<domain>/<user>/Maildir/.<folder>/       a folder: the same inside
 *   <data_dir>/spool/                                        delivery spool (same fs)
 *
 * File names follow the Maildir specification (cr.yp.to/proto/maildir.html) as dovecot
 * writes them: "<sec>.M<usec>P<pid>Q<counter>.<host>,S=<size>" in new/, and the same base
 * name plus ":2,<flags>" (flags sorted, from "DFPRST") in cur/. Files written by others
 * (dovecot, procmail) are accepted whatever their base name, as long as it is a plain
 * file name without '/' and does not start with '.'.
 *
 * Line ends: our SMTP stores messages as received after dot-unstuffing, with CRLF (SMTP
 * refuses bare LF/CR). Maildirs copied from elsewhere (dovecot, procmail) hold LF, or a
 * mix. Readers always send the CRLF form (store/crlf.h), converting while they stream,
 * so a message has two sizes: size, the bytes of the file (disk use, quota), and vsize,
 * the octets of the CRLF form (POP3 LIST/STAT/RETR, IMAP RFC822.SIZE). vsize comes,
 * cheapest first, from the uidlist; from ",W=<vsize>" in the file name (dovecot writes
 * it, and so does our delivery: "<unique>,S=<size>,W=<vsize>"); or, for a file with
 * neither, from reading the file once at the scan that finds it, after which the
 * uidlist keeps it. Maildir files never change content, so the value never goes stale.
 * One scan reads at most 32 MiB of message files for this (MAILDIR_VSIZE_BUDGET), so a
 * large copied Maildir cannot hold the event loop, and the hardware watchdog, for long:
 * messages not sized yet are left out of the snapshot (a POP3 maildrop shows them from a
 * later login on, once sized; their UIDs are assigned already) and recorded without a
 * size in the uidlist.
 *
 * UIDs: "dovecot-uidlist" (dovecot's own file, version 3, so that dovecot takes over a
 * copied Maildir with the same UIDVALIDITY and UIDs) maps each message's base name (the
 * name without ":2,..." so a flag change keeps the UID) to a UID. New names found by a
 * scan get the next UIDs in arrival order (the <sec>.M<usec> prefix, then the name).
 * UIDVALIDITY is chosen once per mailbox, above every one given before in the Maildir
 * (dovecot-uidvalidity), and kept; the next UID never goes down. The file is rewritten
 * atomically (temp file, fsync, rename, fsync of the directory; for a box opened with
 * MAILDIR_OPEN_DEFER the flushes are left to the caller, on a worker) under an exclusive
 * flock on mailgw-uidlist.lock, so concurrent sessions and deliveries never lose an
 * assignment.
 * Format, one record per line:
 *
 *   3 V<uidvalidity> N<next uid>[ G<dovecot's mailbox GUID, kept when present>]
 *   <uid>[ W<vsize>] :<base name>      (W only when the name has no ",W="; a record
 *   ...                                 with neither is a message not sized yet; for a
 *                                       file without a final newline "W<vsize - 2>
 *                                       X<vsize>": W is then dovecot's count, which
 *                                       sends no CRLF there, and X ours)
 *
 * dovecot appends records without rewriting the header, so a list it wrote may have N
 * below the last UID + 1: the next UID is the larger. Other record fields dovecot may
 * write (G, P, O ...) are read over and not kept.
 *
 * Our own list of older firmware, "mailgw-uidlist" (version 2: "mailgw-uidlist 2",
 * "uidvalidity <u32>", "uidnext <u32>", then "<uid> <vsize|-> <base name>"; version 1
 * without the vsize column), is converted at the first sync of a mailbox that has no
 * dovecot-uidlist, keeping UIDVALIDITY, UIDs and sizes (so POP3 UIDLs stay), and then
 * removed.
 *
 * A missing, malformed or oversized uidlist is recreated with a new UIDVALIDITY (clients
 * then re-sync, as IMAP requires), and this is logged. A uidlist that exists but cannot
 * be read now (EIO, EMFILE, out of memory) is left alone and the operation fails with
 * -MGW_EIO / -MGW_ENOMEM (POP3: "-ERR [SYS/TEMP]"), so a passing error never changes
 * the UIDs clients have seen.
 *
 * Concurrency: a delivery becomes visible by one rename() into new/, which is atomic, so
 * a reader sees a message either complete or not at all. Scans (open, rescan, expunge)
 * and flag renames take the uidlist lock, so a scan never misses a message that a
 * session of ours is moving; a scan lists new/ before cur/, so a move by an outside
 * agent (which does not know our lock) makes a message appear twice (resolved: cur/
 * wins), never vanish. Opening a message whose name changed meanwhile looks for its base
 * name in cur/ and new/ again.
 *
 * Blocking: every call here does local file I/O synchronously (open, write, fsync, rename).
 * The flushes of a delivery (maildir_dlv_commit_run, _batch) run on a worker thread
 * (mailgwd's SMTP sessions do so, in batches: store/commitq.h), everything else from the
 * event loop, where the mailbox calls flush nothing when the box is opened with
 * MAILDIR_OPEN_DEFER (the caller flushes on a worker: store/flushjob.h) and the Maildir
 * exists and is durable (a first login makes it on a worker, or flushes it again there
 * when its first flush failed: maildir_prepare_start, store/mdcreate.h). Flushes are
 * shared between callers (store/dirsync.h).
 *
 * Names: every domain and user passed in is validated with passwd_domain_valid() /
 * passwd_user_valid() (auth/passwd.h) before it touches a path; an invalid name gives
 * -MGW_EINVAL and nothing is created.
 */
#ifndef MGW_MAILDIR_H
#define MGW_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/crlf.h"

#define MAILDIR_PATH_MAX 512		  /* any path we build; longer is -MGW_ELIMIT */
#define MAILDIR_HOST_MAX 64		  /* host part of unique names (sanitized) */
#define MAILDIR_NAME_MAX 255		  /* a file name in cur/ new/ tmp/ */
#define MAILDIR_RCPT_MAX 100		  /* recipients of one delivery (RFC 5321 4.5.3.1.8) */
#define MAILDIR_MSGS_MAX 1000000	  /* messages in one mailbox; more is -MGW_ELIMIT */
#define MAILDIR_TMP_STALE_SEC (36 * 3600) /* Maildir spec: tmp/ files older than 36 h */

/* Flags as in the ":2," suffix (Maildir spec, "info"); kept in this order in names. */
enum maildir_flag {
	MAILDIR_F_DRAFT = 1u << 0,   /* 'D' */
	MAILDIR_F_FLAGGED = 1u << 1, /* 'F' */
	MAILDIR_F_PASSED = 1u << 2,  /* 'P' */
	MAILDIR_F_REPLIED = 1u << 3, /* 'R' */
	MAILDIR_F_SEEN = 1u << 4,    /* 'S' */
	MAILDIR_F_TRASHED = 1u << 5, /* 'T' */
};

/* IMAP keywords as dovecot keeps them: the letters 'a' to 'z' of the ":2," part, letter
 * i naming line "i <name>" of the folder's dovecot-keywords file (store/keywords.h).
 * They share the flags word: keyword i is bit MAILDIR_F_KW_SHIFT + i. */
#define MAILDIR_KW_MAX 26
#define MAILDIR_F_KW_SHIFT 6
#define MAILDIR_F_KW(i) (1u << (MAILDIR_F_KW_SHIFT + (i)))
#define MAILDIR_F_SYSTEM ((1u << MAILDIR_F_KW_SHIFT) - 1)

/* The store: where it is and how it names files. A plain value the caller owns. */
struct maildir_store {
	char data_dir[MAILDIR_PATH_MAX];
	char host[MAILDIR_HOST_MAX]; /* hostname with '/', ':' and '.'-leading made safe */
	uint64_t reserve_bytes;	     /* free space to keep on the filesystem of data_dir */
	uint32_t counter;	     /* Q<counter> of unique names, per process */
	/* Called after every successful commit, once per distinct recipient (IMAP IDLE will
	 * use it). May be NULL. domain and user are borrowed for the call. */
	void (*notify)(void *arg, const char *domain, const char *user);
	void *notify_arg;
};

/*
 * Fills st. data_dir and hostname are copied. Creates <data_dir>/mail and
 * <data_dir>/spool if missing (mode 0700). -MGW_ELIMIT if data_dir is too long,
 * -MGW_EIO if a directory cannot be created (logged with errno).
 */
int maildir_store_init(struct maildir_store *st, const char *data_dir, const char *hostname,
		       uint64_t reserve_bytes);

/*
 * Free-space check for SMTP before it takes data (RFC 5321: 452 4.3.1). need is the
 * expected message size (0 if unknown, e.g. no SIZE= parameter). Returns 0 when, after
 * storing need bytes, at least reserve_bytes stay free for an unprivileged user (statvfs
 * f_bavail) and free inodes remain; -MGW_ENOSPC otherwise; -MGW_EIO if statvfs fails.
 * admin: mail for the admins (postmaster, abuse) may use the lower half of the reserve,
 * so the warnings about a filling disk still reach them.
 */
int maildir_store_space_check(const struct maildir_store *st, uint64_t need, bool admin);

/*
 * Start-up cleanup (call once at daemon start, before accepting connections): removes
 * every file in <data_dir>/spool (a delivery that was not acknowledged), and in every
 * <data_dir>/mail/<domain>/<user>/Maildir/tmp/ and the tmp/ of each of its folders every
 * file last modified more than MAILDIR_TMP_STALE_SEC before now. Never touches new/ or cur/.
 * Returns 0, or -MGW_EIO if something could not be removed (each failure logged; the rest is still
 * cleaned). *removed (may be NULL) gets the number of files removed.
 */
int maildir_store_cleanup(struct maildir_store *st, time_t now, unsigned *removed);

/*
 * Writes "<data_dir>/mail/<domain>/<user>/Maildir" into out. -MGW_EINVAL for an invalid
 * name, -MGW_ELIMIT if it does not fit.
 */
int maildir_path(const struct maildir_store *st, const char *domain, const char *user, char *out,
		 size_t outsz);

/*
 * Creates the user's Maildir with cur/ new/ tmp/ (mode 0700) if missing. Returns 0 only
 * when the Maildir's directory entries at every level are durable: made and flushed
 * here, or found made and not in the table of Maildirs not known durable
 * (store/mdcreate.h: one being made on another thread, or one whose flush failed, is
 * flushed here again). -MGW_EIO (a failed mkdir or flush, logged; the next call tries
 * again), -MGW_ENOSPC, -MGW_EINVAL (names), -MGW_ELIMIT. Any thread; it blocks for the
 * flush only when something was missing or not known durable.
 */
int maildir_create(const struct maildir_store *st, const char *domain, const char *user);

/* ---- delivery (SMTP) ---------------------------------------------------------------
 *
 *   struct maildir_dlv d;
 *   maildir_dlv_begin(st, &d);                 spool file created
 *   maildir_dlv_write(&d, p, n) ...            as DATA streams (after dot-unstuffing)
 *   maildir_dlv_commit(&d, rcpts, nrcpt)       0 -> answer 250; <0 -> answer 451
 * or maildir_dlv_abort(&d)                     client went away, RSET, size exceeded
 *
 * After commit (success or failure) or abort, d is finished and may be begun again.
 * Calling abort on a finished or zeroed d is harmless.
 */
struct maildir_rcpt {
	const char *domain; /* borrowed for the call */
	const char *user;
	const char *folder; /* NULL: INBOX; else an existing folder (store/folder.h): IMAP APPEND */
};

struct maildir_dlv {
	struct maildir_store *st; /* borrowed; must outlive the delivery */
	int fd;			  /* spool file, -1 when not active */
	int err;		  /* first write error, reported by commit */
	uint64_t size;		  /* bytes written so far */
	struct crlf_count crlf;	  /* their size as readers send them (W=) */
	time_t t_sec;		  /* arrival time, part of the unique name */
	time_t when;		  /* > 0: the internal date asked for (IMAP APPEND) */
	long t_usec;
	uint32_t q;		      /* counter value taken at begin */
	char spool[MAILDIR_PATH_MAX]; /* path of the spool file */
};

/*
 * Creates the spool file <data_dir>/spool/<unique>. 0, -MGW_EIO (logged), -MGW_ELIMIT.
 * May run on a worker thread, several at once on one st (it only takes a counter value
 * atomically and reads st); the delivery then belongs to the loop thread again.
 */
int maildir_dlv_begin(struct maildir_store *st, struct maildir_dlv *d);

/* The same with an internal date (IMAP APPEND's date-time; 0: now): it becomes the
 * <sec> of the unique name and the file's mtime (what dovecot takes as received date). */
int maildir_dlv_begin_at(struct maildir_store *st, struct maildir_dlv *d, time_t when);

/*
 * Appends len bytes (written through to the file; no buffering here). On failure the
 * error is returned and also remembered, so a commit after a failed write fails too.
 * -MGW_ENOSPC when the disk is full (ENOSPC/EDQUOT), -MGW_EIO otherwise.
 */
int maildir_dlv_write(struct maildir_dlv *d, const void *p, size_t len);

/*
 * Delivers the message to every recipient, all or nothing:
 *   1. flush the spool file (its fsync, or a shared syncfs: store/dirsync.h);
 *   2. for each distinct recipient: create the Maildir if missing, hard-link the spool
 *      file into its tmp/ under the unique name (or copy when the filesystem refuses
 *      hard links);
 *   3. rename each into new/ (same name, ",S=<size>" included);
 *   4. flush the new/ directories (shared fsyncs, or a shared syncfs);
 *   5. record the size in each maildirsize (store/quota.h);
 *   6. remove the spool file.
 * Returns 0 only when every step succeeded for every recipient: then the message is
 * durable in every Maildir and the caller may answer 250. On any failure every file this
 * call created (tmp/ links, new/ entries) is removed again, the failure is logged with
 * the recipient and errno, and -MGW_EIO (-MGW_ENOSPC when the disk was full,
 * -MGW_EINVAL for an invalid name, -MGW_ELIMIT for too many recipients) is returned:
 * answer 451 4.3.0 (452 for ENOSPC); nothing is visible in any mailbox. Duplicate
 * recipients (same domain and user) get the message once. n must be 1..MAILDIR_RCPT_MAX.
 * The delivery is finished afterwards either way. notify is called on success.
 */
int maildir_dlv_commit(struct maildir_dlv *d, const struct maildir_rcpt *rcpts, size_t n);

/*
 * maildir_dlv_commit in two halves, for a commit on a worker thread (core/work.h):
 * _run does steps 1-6 and may run on any thread (it touches d, the files, and
 * store/dirsync's table; it reads only the store's fixed fields, and rcpts must stay
 * valid until it returns); maildir_dlv_notify then calls st->notify for each distinct
 * recipient, on the loop thread, when _run returned 0.
 */
int maildir_dlv_commit_run(struct maildir_dlv *d, const struct maildir_rcpt *rcpts, size_t n);
void maildir_dlv_notify(const struct maildir_store *st, const struct maildir_rcpt *rcpts, size_t n);

/* One delivery of a batch commit. */
struct maildir_commit {
	struct maildir_dlv *d;		  /* an active delivery; finished afterwards */
	const struct maildir_rcpt *rcpts; /* borrowed for the call */
	size_t n;
	int rc; /* out: what maildir_dlv_commit_run would have returned for it alone */
};

/*
 * maildir_dlv_commit_run for n deliveries at once, each all or nothing on its own, with
 * the flushes shared (store/dirsync.h): the data of all of them is flushed together (one
 * syncfs on a data filesystem of its own), then each is linked and renamed into its
 * recipients' new/, then the directories are flushed together. A delivery that fails on
 * its own (a write error, its own write-back error, a refused link) fails alone; a failed
 * flush of the directories fails every delivery of the batch (nothing of them stays
 * visible). Any thread, as _run.
 */
void maildir_dlv_commit_batch(struct maildir_commit *c, size_t n);

/* Removes the spool file and finishes the delivery. */
void maildir_dlv_abort(struct maildir_dlv *d);

/* ---- mailbox (POP3, IMAP) ------------------------------------------------------------ */

struct maildir_msg {
	uint32_t uid;
	uint64_t size;	 /* exact byte size of the file (disk use, quota) */
	uint64_t vsize;	 /* size as sent, CRLF line ends (store/crlf.h): POP3 LIST, STAT */
	unsigned flags;	 /* MAILDIR_F_* and keyword bits MAILDIR_F_KW(i) */
	bool in_new;	 /* lives in new/ (not yet moved to cur/) */
	bool gone;	 /* vanished (expunged elsewhere) since it was listed; see rescan */
	char *name;	 /* current file name in new/ or cur/, owned by the box */
	size_t base_len; /* length of the base name (name up to ":2," or the end) */
	/* The holder's own mark, never read by the store (0 when appended): a flag change
	 * it has not reported yet (IMAP: seen by a rescan whose report did not go out). */
	bool flags_unsaid;
};

enum maildir_open_flag {
	MAILDIR_OPEN_EXCL = 1u << 0, /* take the session lock (POP3); -MGW_EEXIST if held */
	/* Leave the uidlist's flush to the caller (box->uidlist_gen): it announces no UID
	 * of the box before maildir_flush_uidlist has completed (store/flushjob.h). */
	MAILDIR_OPEN_DEFER = 1u << 1,
};

/*
 * An open mailbox: a snapshot of its messages sorted by UID (ascending), held by one
 * session. msgs[i] for i < count; an index is stable for the life of the box except
 * across maildir_box_expunge(), which removes entries and shifts the rest down.
 */
struct maildir_box {
	char path[MAILDIR_PATH_MAX]; /* .../Maildir, or .../Maildir/.<folder> */
	char root[MAILDIR_PATH_MAX]; /* .../Maildir (maildirsize, the quota) */
	int lock_fd;		     /* session lock, -1 when not held */
	int dir_fd; /* path as an O_PATH directory: messages open below it; <= 0 when none */
	uint32_t uidvalidity;
	uint32_t uidnext;
	/* MAILDIR_OPEN_DEFER: nonzero when the uidlist that gave these UIDs is not known
	 * durable yet (the write to wait for: maildir_flush_uidlist); 0 when it is. */
	uint64_t uidlist_gen;
	bool defer;		  /* opened with MAILDIR_OPEN_DEFER: so are its rescans */
	struct maildir_msg *msgs; /* owned */
	size_t count;
	size_t cap;
};

/*
 * Opens domain/user's mailbox: creates the Maildir if missing, scans new/ and cur/,
 * assigns UIDs to names not yet in the uidlist (arrival order) and persists the uidlist.
 * Entries of the uidlist whose file is gone are dropped from it. With MAILDIR_OPEN_EXCL
 * the session lock is taken first (flock LOCK_EX|LOCK_NB on mailgw-session.lock, held
 * until maildir_box_close): a second exclusive opener gets -MGW_EEXIST (POP3 answers
 * "-ERR [IN-USE]", RFC 2449). Other errors: -MGW_EINVAL (name), -MGW_EIO, -MGW_ENOMEM,
 * -MGW_ELIMIT. On error box is left closed (safe to close again).
 */
int maildir_box_open(struct maildir_box *box, const struct maildir_store *st, const char *domain,
		     const char *user, unsigned flags);

/* The same for a folder (store/folder.h; NULL: INBOX), which must exist: -MGW_ENOENT. */
int maildir_folder_open(struct maildir_box *box, const struct maildir_store *st, const char *domain,
			const char *user, const char *folder, unsigned flags);

/* Frees the snapshot and releases the session lock. Safe on a zeroed or closed box. */
void maildir_box_close(struct maildir_box *box);

/*
 * Picks up deliveries that arrived since the last scan: new names get new, higher UIDs
 * and are appended (existing indices do not move). Messages whose file disappeared
 * (expunged by another session) are kept in the snapshot with gone = true; names changed
 * by another session's flag change are updated. *added (may be NULL) = messages
 * appended. POP3 does not call this within a session (RFC 1939 fixes the maildrop at
 * login); IMAP does on NOOP/IDLE/CHECK. -MGW_EAGAIN if the uidlist was recreated
 * meanwhile (UIDVALIDITY changed): the snapshot is unchanged and the session must close
 * and reopen the box (IMAP: the client has to resynchronise). A box opened with
 * MAILDIR_OPEN_DEFER leaves the uidlist's flush to the caller here too
 * (box->uidlist_gen, as at the open): no new UID is announced before it is durable, and
 * when that flush fails the caller takes the new messages out again (truncate).
 */
int maildir_box_rescan(struct maildir_box *box, size_t *added);

/* Takes the messages from index count on out of the snapshot again and sets uidnext
 * back (a rescan whose uidlist could not be made durable: the next rescan finds them
 * again, with the same UIDs). */
void maildir_box_truncate(struct maildir_box *box, size_t count, uint32_t uidnext);

/*
 * Opens message i for reading: returns an fd (O_RDONLY|O_CLOEXEC, owned by the caller,
 * positioned at 0) in *fd. If the file was renamed meanwhile (another session changed
 * flags) it is found again by its base name. -MGW_ENOENT if it no longer exists (the
 * message is then marked gone), -MGW_EINVAL for a bad index.
 */
int maildir_msg_open(struct maildir_box *box, size_t i, int *fd);

/*
 * Sets message i's flags to flags (MAILDIR_F_* and keyword bits): renames it to
 * cur/<base>:2,<flags> (system letters, then keyword letters, then letters of the old
 * name that are neither). A message in new/ moves to cur/ even if flags stay 0. The UID is
 * kept (same base name). 0, -MGW_ENOENT (gone), -MGW_EIO.
 */
int maildir_msg_flags_set(struct maildir_box *box, size_t i, unsigned flags);

/*
 * Copies message i into the Maildir (or folder directory) dst: a hard link (a copy where
 * the filesystem refuses one) under a new unique name in dst/cur/ (the whole name,
 * ":2,<flags>" included, written into base) with the flags given (the caller remaps
 * keywords into dst's dovecot-keywords) and the same internal date. Not flushed and not
 * counted in maildirsize: the caller does both once for all the copies of a command (a
 * flush of dst/cur on a worker, store/flushjob.h; maildir_quota_add). 0, -MGW_ENOENT
 * (gone), -MGW_ENOSPC, -MGW_EIO, -MGW_ELIMIT (the name does not fit basesz).
 */
int maildir_msg_copy(struct maildir_box *box, size_t i, struct maildir_store *st, const char *dst,
		     unsigned flags, char *base, size_t basesz);

/*
 * Expunges the messages with the n indices in idx (any order, duplicates ignored): each
 * file is unlinked, and removed entries leave the snapshot (remaining entries keep their
 * order; indices shift down). A message already gone counts as removed. Returns 0 if all
 * were removed; -MGW_EIO if any unlink failed: those messages stay in the snapshot and
 * on disk, each failure is logged, and *failed (may be NULL) = their number. POP3's
 * UPDATE state answers -ERR when this fails (RFC 1939 section 6). Nothing is flushed and
 * the uidlist is not rewritten (no fsync here: the event loop calls this): the caller
 * flushes the box's new/ and cur/ on a worker (store/flushjob.h) before it reports the
 * removal; the next scan drops the removed files' records (UIDs are never reused).
 */
int maildir_box_expunge(struct maildir_box *box, const size_t *idx, size_t n, size_t *failed);

/* Total size as sent (vsize) of messages not gone. */
uint64_t maildir_box_size(const struct maildir_box *box);

/* Index of the message with this UID, or -MGW_ENOENT. Binary search. */
long maildir_box_find_uid(const struct maildir_box *box, uint32_t uid);

/* Flags and keyword bits parsed from a file name's ":2," part (0 if none); other letters
 * ignored. */
unsigned maildir_name_flags(const char *name);

#endif
