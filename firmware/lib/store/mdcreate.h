/*
 * mdcreate.h - a user's Maildir made durable before anyone builds on it: maildir_create
 * (its contract is in maildir.h) and the process's table of Maildirs not known durable.
 *
 * A Maildir is new directory entries at up to four levels (<domain>/, <user>/, Maildir/
 * and its cur/ new/ tmp/). They are durable once the directories holding them are flushed
 * (store/dirsync.h, shared with the deliveries' flushes). Until then no caller of
 * maildir_create may be told 0, nor may a delivery into the Maildir be acknowledged; so a
 * Maildir stays in the table from just before its first mkdir until a flush that began
 * after every mkdir made so far has succeeded:
 *
 *   - a creator (something was missing) enters it (a new number) before its mkdirs, then
 *     flushes the levels;
 *   - a caller that finds cur/ new/ tmp/ there (three access(2), as ever) looks it up,
 *     and while it is in the table flushes the levels itself: so a second delivery never
 *     acknowledges while the first one's creation flush still runs (the flushes are
 *     shared: it joins that flush when it can), and after a flush that failed the next
 *     user of the Maildir flushes it again and reports its failure;
 *   - a flush that succeeds takes the Maildir out unless it was entered again after the
 *     flush began (a creation whose mkdirs the flush may have missed); one that fails
 *     leaves it in.
 *
 * Which thread may touch what:
 *   - maildir_create() runs on the workers in steady state: a delivery's commit and a
 *     first login's job (maildir_prepare_start). On the loop thread it runs when a login
 *     opens the mailbox and for IMAP CREATE and SUBSCRIBE, after the login found the
 *     Maildir complete and durable (maildir_prepare_needed, which sends one that is not to
 *     the worker first); so there it finds no entry and flushes nothing, except when a
 *     Maildir removed by hand is made again under a logged-in session.
 *   - The table is the module's own: MAILDIR_PENDING_MAX slots under one mutex, held only
 *     to look up, enter or take out a path, never across a flush or any other system call.
 *     A count of the slots in use is read without the mutex (atomic): it is 0 in steady
 *     state (no creation running, no flush failed), and then nobody takes the mutex at
 *     all, the loop thread included. A Maildir is entered before its mkdirs, which come
 *     before any other thread can find its cur/ new/ tmp/, so a caller that finds them
 *     also finds the count above 0.
 *   - Callers own nothing of the table; the paths are copied in.
 *
 * The table is the process's memory: after a restart a Maildir whose flush had failed is
 * taken as durable (its directories are written back with the next flush of the
 * filesystem, if the disk takes them).
 */
#ifndef MGW_MDCREATE_H
#define MGW_MDCREATE_H

#include <stdbool.h>

/* Maildirs being made or whose flush failed at once; one more is not made (-MGW_EIO,
 * logged: a delivery answers 451, a login -ERR [SYS/TEMP] / NO) until one is flushed. */
#define MAILDIR_PENDING_MAX 32

/* Whether the Maildir md (".../Maildir") is in the table: being made, or made but its
 * flush failed. Any thread; no mutex while the table is empty. */
bool maildir_create_pending(const char *md);

#endif
