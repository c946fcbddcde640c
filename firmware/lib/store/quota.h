/*
 * quota.h - how much of the disk a mailbox uses, kept cheaply in dovecot's Maildir++
 * "maildirsize" file, so the per-user quota can be checked at every RCPT and DATA
 * without listing the Maildir.
 *
 * <Maildir>/maildirsize (Maildir++ quota, as dovecot reads and writes it):
 *
 *   <limit>S                 the limit in bytes when the file was last recalculated
 *   <bytes> <messages>       the total found by the last recalculation
 *   <+/-bytes> <+/-messages> one line per change since: a delivery, an expunge
 *
 * A delivery appends "<size> 1", a POP3 expunge "-<sizes> -<n>" (O_APPEND, one small
 * write each: concurrent writers never interleave within a line). Readers sum the lines.
 * The file is recalculated (new/ and cur/ of INBOX and of every Maildir++ folder listed,
 * file sizes summed, written atomically)
 * when it is missing or malformed (a torn last line after a crash), when it grows past
 * MAILDIR_QUOTA_LOG_MAX bytes (so a read stays one small file and a recalculation happens
 * about once per hundred deliveries), and when the sum says the mailbox is full and the
 * file is older than MAILDIR_QUOTA_STALE_SEC (so a count that went stale, e.g. files
 * removed by hand, cannot hold mail back for long). The same rules as dovecot's, so a
 * mailbox moved to dovecot keeps working. The sum is an estimate that a delivery racing
 * a recalculation can put off by one message until the next recalculation.
 *
 * Sizes are file sizes (disk use), not the CRLF size POP3 reports.
 */
#ifndef MGW_QUOTA_H
#define MGW_QUOTA_H

#include <stdint.h>

#include "store/maildir.h"

#define MAILDIR_QUOTA_FILE "maildirsize"
#define MAILDIR_QUOTA_LOG_MAX 5120	  /* bytes; Maildir++ recalculates beyond this */
#define MAILDIR_QUOTA_STALE_SEC (15 * 60) /* a full mailbox's count is re-checked after */

/*
 * Usage of domain/user's Maildir: *bytes (sum of file sizes in new/ and cur/, folders
 * included) and
 * *msgs. limit (0: none) is what a recalculation writes on the first line. A user
 * without a Maildir uses 0 (nothing is created). 0, -MGW_EINVAL (name), -MGW_EIO.
 */
int maildir_quota_get(const struct maildir_store *st, const char *domain, const char *user,
		      uint64_t limit, uint64_t *bytes, uint64_t *msgs);

/*
 * Records a change in the Maildir md ("<data_dir>/mail/<domain>/<user>/Maildir"): bytes
 * and msgs may be negative. Best effort: when maildirsize does not exist it is left so
 * (the next maildir_quota_get recalculates), a failed write is logged.
 */
void maildir_quota_add(const char *md, int64_t bytes, int64_t msgs);

/*
 * For the admin's status: one line per user of every domain's passwd-file,
 * "quota: user@domain <used> of <limit|none> bytes, <n> messages" (the user's rule,
 * else dflt), passed to emit (line borrowed for the call). Unreadable files and
 * malformed lines are skipped (lookups log them).
 */
void maildir_quota_report(const struct maildir_store *st, uint64_t dflt,
			  void (*emit)(void *ctx, const char *line), void *ctx);

#endif
