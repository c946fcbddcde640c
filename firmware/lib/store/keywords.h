/*
 * keywords.h - IMAP keywords of a Maildir folder (RFC 3501 flags that are not system
 * flags), kept as dovecot keeps them so that a Maildir moved to dovecot keeps them:
 *
 *   <folder>/dovecot-keywords   one line "<i> <name>" for each keyword in use, i from 0
 *                               to 25; letter 'a' + i in a message's ":2," part sets it
 *                               (maildir.h: bit MAILDIR_F_KW(i) of the flags)
 *
 * Names are compared ignoring ASCII case (as dovecot does) and are atoms of at most
 * MAILDIR_KW_NAME_MAX octets. A letter is never reassigned while the file exists.
 */
#ifndef MGW_KEYWORDS_H
#define MGW_KEYWORDS_H

#include <stddef.h>

#include "store/maildir.h"

#define MAILDIR_KW_FILE "dovecot-keywords"
#define MAILDIR_KW_NAME_MAX 128
#define MAILDIR_KW_FILE_MAX (64u * 1024) /* octets of dovecot-keywords read */

/* The keywords of one folder: name[i] is keyword i's name (owned), or NULL. */
struct maildir_kw {
	char *name[MAILDIR_KW_MAX];
};

/* Reads md/dovecot-keywords into kw (freed first; a missing file is no keywords).
 * Malformed lines are skipped. 0, -MGW_EIO, -MGW_ENOMEM. */
int maildir_kw_load(struct maildir_kw *kw, const char *md);

void maildir_kw_free(struct maildir_kw *kw);

/* Index of the keyword name (len octets), or -MGW_ENOENT. */
int maildir_kw_find(const struct maildir_kw *kw, const char *name, size_t len);

struct maildir_dirs;

/* Index of name in md's keywords, adding it (under the uidlist lock, the file rewritten
 * atomically) if it is not there; kw is reloaded from the file first, so it also picks
 * up what other sessions added. With later (the event loop) the file is replaced without
 * a flush and added to later (store/flushjob.h: maildir_write_later), or added there
 * when an earlier write of it is not durable yet: the caller gives no message the letter
 * before later is flushed (after a crash the letter would name no keyword, or a later
 * one). -MGW_ELIMIT when all 26 letters are used or the name is too long (or later is
 * full), -MGW_EIO, -MGW_ENOMEM. */
int maildir_kw_add(struct maildir_kw *kw, const char *md, const char *name, size_t len,
		   struct maildir_dirs *later);

/* Adds md's dovecot-keywords to later when its last write is not durable yet (a
 * session that uses a letter of it waits for that flush too). 0 or -MGW_ELIMIT. */
int maildir_kw_pending(const char *md, struct maildir_dirs *later);

#endif
