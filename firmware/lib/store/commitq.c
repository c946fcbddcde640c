/*
 * commitq.c - the queue is a FIFO of items on the loop thread; a batch is a work job that
 * owns the items it took (a list) until its done() hands each back.
 */
#include "store/commitq.h"

#include <stdlib.h>

#include "core/err.h"
#include "store/dirsync.h"

struct maildir_cq_batch {
	struct work_job w;
	struct maildir_cq *q;
	struct maildir_cq_item *items;
	size_t n;
};

void maildir_cq_init(struct maildir_cq *q, struct work_pool *pool)
{
	q->pool = pool;
	q->head = q->tail = NULL;
	q->waiting = 0;
	q->jobs = 0;
}

/* Worker thread: touches only the batch's items. */
static void maildir_cq_run(struct work_job *j)
{
	struct maildir_cq_batch *b = (struct maildir_cq_batch *)j;
	struct maildir_commit *c = calloc(b->n, sizeof(*c));
	struct maildir_cq_item *it;
	size_t i = 0;

	for (it = b->items; it != NULL; it = it->next, i++) {
		it->rc = -MGW_ENOMEM;
		if (c != NULL)
			c[i] =
			    (struct maildir_commit){.d = &it->dlv, .rcpts = it->rcpts, .n = it->n};
		else
			maildir_dlv_abort(&it->dlv);
	}
	if (c == NULL)
		return;
	maildir_dlv_commit_batch(c, b->n);
	for (it = b->items, i = 0; it != NULL; it = it->next, i++)
		it->rc = c[i].rc;
	free(c);
}

static int maildir_cq_kick(struct maildir_cq *q);

/* Hands every item of a list back to its owner. */
static void maildir_cq_finish(struct maildir_cq_item *it, int status)
{
	struct maildir_cq_item *next;

	for (; it != NULL; it = next) {
		next = it->next;
		it->next = NULL;
		if (status < 0) {
			maildir_dlv_abort(&it->dlv); /* never ran (shutdown) */
			it->rc = status;
		}
		it->done(it); /* may free it, may submit again */
	}
}

/* Loop thread. */
static void maildir_cq_done(struct work_job *j)
{
	struct maildir_cq_batch *b = (struct maildir_cq_batch *)j;
	struct maildir_cq *q = b->q;
	struct maildir_cq_item *items = b->items;
	int status = j->status, rc;

	free(b);
	q->jobs--;
	/* The next batch starts before the replies of this one go out: its flush can begin
	 * while the loop writes them. */
	rc = maildir_cq_kick(q);
	maildir_cq_finish(items, status);
	if (rc < 0 && q->jobs == 0) {
		/* Nothing runs that would take the waiting ones later: they fail now. */
		struct maildir_cq_item *left = q->head;

		q->head = q->tail = NULL;
		q->waiting = 0;
		maildir_cq_finish(left, rc);
	}
}

/* Starts batches while fewer than allowed run and deliveries wait. 0, or the error of
 * a batch that could not be submitted (its items are back at the head of the queue). */
static int maildir_cq_kick(struct maildir_cq *q)
{
	bool fs = dirsync_fs_on();
	unsigned jobs_max = fs ? CQ_JOBS : WORK_QUEUE_DEFAULT;
	size_t batch_max = fs ? CQ_BATCH_MAX : 1;

	while (q->head != NULL && q->jobs < jobs_max) {
		struct maildir_cq_batch *b = calloc(1, sizeof(*b));
		struct maildir_cq_item *last = NULL;
		int rc;

		if (b == NULL)
			return -MGW_ENOMEM;
		work_job_init(&b->w, maildir_cq_run, maildir_cq_done, NULL);
		b->q = q;
		b->items = q->head;
		for (b->n = 0; q->head != NULL && b->n < batch_max; b->n++) {
			last = q->head;
			q->head = q->head->next;
		}
		last->next = NULL;
		if (q->head == NULL)
			q->tail = NULL;
		q->waiting -= b->n;
		q->jobs++;
		rc = work_submit(q->pool, &b->w);
		if (rc < 0) {
			q->jobs--;
			last->next = q->head;
			q->head = b->items;
			if (q->tail == NULL)
				q->tail = last;
			q->waiting += b->n;
			free(b);
			return rc;
		}
	}
	return 0;
}

int maildir_cq_submit(struct maildir_cq *q, struct maildir_cq_item *it)
{
	struct maildir_cq inline_q;
	int rc;

	if (q == NULL) {
		maildir_cq_init(&inline_q, NULL); /* lives until the inline commit is done */
		q = &inline_q;
	}

	it->next = NULL;
	if (q->tail != NULL)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->waiting++;
	rc = maildir_cq_kick(q);
	if (rc < 0 && q->jobs == 0) {
		/* Nothing running would take it later: give it back. It is the only one
		 * waiting (a queue with nothing running is always empty). */
		q->head = q->tail = NULL;
		q->waiting = 0;
		return rc;
	}
	return 0;
}
