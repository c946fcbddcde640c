/*
 * folder.h - IMAP folders of a Maildir in dovecot's Maildir++ layout, and the
 * subscriptions file, so that a Maildir moved to dovecot keeps its folders:
 *
 *   <Maildir>/.<name>/{cur,new,tmp}/   the folder "<name>" ('.' separates levels:
 *                                      "Archive.2026" is .Archive.2026/, a child of
 *                                      Archive); it holds a "maildirfolder" file and its
 *                                      own dovecot-uidlist, as dovecot's folders do
 *   <Maildir>/subscriptions            "V\t2\n\n", then one name a line with '\t' for the
 *                                      separator (dovecot 2.3's subscription file)
 *
 * INBOX is the Maildir itself (maildir.h). A folder name is what the client sends
 * (modified UTF-7, RFC 3501 5.1.3), checked by maildir_folder_valid() before it touches a
 * path: so no '/', no empty level (no leading, trailing or doubled '.'), nothing a
 * directory name could misuse. Directories are created with mode 0700, files 0600, as
 * the rest of the store: the daemon owns mail/ (admin/layout.h).
 *
 * Every call does file I/O synchronously on the calling thread.
 */
#ifndef MGW_FOLDER_H
#define MGW_FOLDER_H

#include <stdbool.h>
#include <stddef.h>

#include "store/maildir.h"

#define MAILDIR_FOLDER_MAX 200	 /* octets of a folder name; ".<name>" fits a file name */
#define MAILDIR_FOLDERS_MAX 1000 /* folders of one user; more is -MGW_ELIMIT */
#define MAILDIR_SUBS_FILE "subscriptions"

/* The folders created and subscribed at a user's first login (RFC 6154 names). */
extern const char *const maildir_special_folders[5];

/*
 * Whether name is a folder name we store: 1..MAILDIR_FOLDER_MAX octets of printable
 * US-ASCII, valid modified UTF-7 after each '&', levels separated by '.', none empty,
 * none of '/', '\\', '*', '%', '"'; not INBOX itself (any case). A first level "INBOX" in
 * another case must be given as "INBOX" (maildir_folder_norm).
 */
bool maildir_folder_valid(const char *name);

/* Writes name into out with a first level "inbox" in any case spelled "INBOX" (RFC 3501
 * 5.1: INBOX is case-insensitive). outsz > MAILDIR_FOLDER_MAX. */
void maildir_folder_norm(const char *name, char *out, size_t outsz);

/* The directory of folder in the Maildir root: root itself for NULL (INBOX), else
 * "<root>/.<folder>" (folder must be valid). 0, -MGW_EINVAL, -MGW_ELIMIT. */
int maildir_folder_dir(const char *root, const char *folder, char *out, size_t outsz);

/* 0 if dir is a Maildir (has cur/), -MGW_ENOENT if not, -MGW_EIO. */
int maildir_folder_exists(const char *dir);

/* A list of folder names, owned. */
struct maildir_folders {
	char **names;
	size_t n, cap;
};
void maildir_folders_free(struct maildir_folders *f);
bool maildir_folders_has(const struct maildir_folders *f, const char *name);

/* The folders of domain/user (not INBOX), sorted. 0, -MGW_EIO, -MGW_ENOMEM, -MGW_ELIMIT. */
int maildir_folder_list(const struct maildir_store *st, const char *domain, const char *user,
			struct maildir_folders *out);

/*
 * Folder operations. Each flushes the directories it changed before it returns (an
 * fsync, or a syncfs shared with the deliveries: store/dirsync.h); the _later forms do
 * not: they add those directories to later (store/flushjob.h) and the caller flushes
 * them, on a worker, before it reports success (the event loop's IMAP session), also
 * after an error (what changed before it).
 */

/* Creates folder name (cur/ new/ tmp/ maildirfolder). -MGW_EEXIST, -MGW_EINVAL. */
int maildir_folder_create(const struct maildir_store *st, const char *domain, const char *user,
			  const char *name);

/* Deletes folder name with its messages (their sizes leave maildirsize); its children
 * stay. -MGW_ENOENT, -MGW_EINVAL, -MGW_EIO (something unexpected in it: left). */
int maildir_folder_delete(const struct maildir_store *st, const char *domain, const char *user,
			  const char *name);

/* Renames folder from (and its children) to to. from NULL: INBOX, whose messages move to
 * the new folder to (RFC 3501 6.3.5), INBOX staying, empty. -MGW_ENOENT (no from),
 * -MGW_EEXIST (to or a child name exists), -MGW_EINVAL, -MGW_EIO. */
int maildir_folder_rename(const struct maildir_store *st, const char *domain, const char *user,
			  const char *from, const char *to);

struct maildir_dirs;
int maildir_folder_create_later(const struct maildir_store *st, const char *domain,
				const char *user, const char *name, struct maildir_dirs *later);
int maildir_folder_delete_later(const struct maildir_store *st, const char *domain,
				const char *user, const char *name, struct maildir_dirs *later);
int maildir_folder_rename_later(const struct maildir_store *st, const char *domain,
				const char *user, const char *from, const char *to,
				struct maildir_dirs *later);

/* The subscribed names (any, also of folders that do not exist). 0 (none: empty list),
 * -MGW_EIO, -MGW_ENOMEM. */
int maildir_subs_list(const struct maildir_store *st, const char *domain, const char *user,
		      struct maildir_folders *out);

/* Adds (on) or removes name from the subscriptions (rewritten atomically; with later
 * without a flush, the file added to later, also when nothing changes but an earlier
 * rewrite is not durable yet: store/flushjob.h, maildir_write_later). 0, -MGW_E*. */
int maildir_subs_set(const struct maildir_store *st, const char *domain, const char *user,
		     const char *name, bool on, struct maildir_dirs *later);

/* At login: when the Maildir has no subscriptions file yet, or an empty one (a first
 * login), creates the special-use folders (maildir_special_folders), flushes them, and
 * then subscribes them. Blocking: mailgwd runs it on a worker (store/flushjob.h,
 * maildir_prepare_start). 0 or -MGW_E*. */
int maildir_folder_defaults(const struct maildir_store *st, const char *domain, const char *user);

#endif
