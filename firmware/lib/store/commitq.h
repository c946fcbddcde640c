/*
 * commitq.h - group commit of deliveries on the worker pool: deliveries whose message is
 * complete wait in a queue on the loop thread, and one worker job commits everything
 * that waited as one batch (maildir_dlv_commit_batch: two shared flushes for the whole
 * batch on a data filesystem of its own).
 *
 * No artificial delay: a delivery that finds fewer than CQ_JOBS batches running starts
 * one at once (a lone sender waits for its own two flushes, as before); the others wait
 * only while batches are running, and the next batch takes all of them. Two batches may
 * run at once, so that one's data flush can share the syncfs of the other's directories.
 * With per-file fsyncs (data on the root filesystem: dirsync.h) batching gains nothing
 * and every delivery is a batch of one, on any free worker, as before.
 *
 * Threads: every function here and every done() runs on the loop thread; the batch runs
 * on a worker and touches only its items' deliveries and recipients.
 * Ownership: an item (and its delivery, moved in, and recipients) belongs to the queue
 * from a successful maildir_cq_submit until its done(), which gets it back; done() is
 * called exactly once per submitted item, never inside maildir_cq_submit unless there
 * is no pool (then the commit runs inline, for the fuzzers and unit tests).
 */
#ifndef MGW_COMMITQ_H
#define MGW_COMMITQ_H

#include <stddef.h>

#include "core/work.h"
#include "store/maildir.h"

#define CQ_JOBS 2	 /* batches running at once (filesystem mode) */
#define CQ_BATCH_MAX 256 /* deliveries in one batch */

struct maildir_cq_item {
	struct maildir_dlv dlv;		  /* the delivery (moved in by the submitter) */
	const struct maildir_rcpt *rcpts; /* borrowed until done() */
	size_t n;
	int rc; /* in done(): as maildir_dlv_commit_run's result (-MGW_ECLOSED: shut down) */
	void (*done)(struct maildir_cq_item *it); /* loop thread, exactly once */
	struct maildir_cq_item *next;		  /* queue-owned */
};

struct maildir_cq {
	struct work_pool *pool; /* borrowed; NULL: inline */
	struct maildir_cq_item *head, *tail;
	size_t waiting;
	unsigned jobs; /* batches submitted, not done yet */
};

void maildir_cq_init(struct maildir_cq *q, struct work_pool *pool);

/*
 * Queues it for a commit. 0: it->done will run (later, on the loop thread; q NULL:
 * inline, before this returns, as with a queue without a pool). Negative
 * (-MGW_ENOMEM, -MGW_ELIMIT: the pool's queue is full, -MGW_ECLOSED): nothing was
 * queued, it is still the caller's and its delivery still active.
 */
int maildir_cq_submit(struct maildir_cq *q, struct maildir_cq_item *it);

#endif
