/*
 * work.c - the worker pool: one mutex, one condition variable, a FIFO of waiting jobs
 * and a FIFO of finished ones, an eventfd that wakes the loop when the latter fills.
 *
 * Every hand-over of a job between threads goes through the mutex (a worker takes it
 * from the waiting queue under the lock, puts it on the finished queue under the lock;
 * the loop takes the finished queue under the lock), so what run() wrote is visible to
 * done() without further fences.
 */
#include "core/work.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

static uint64_t work_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void work_job_init(struct work_job *j, work_run_fn run, work_done_fn done, void *arg)
{
	memset(j, 0, sizeof(*j));
	j->run = run;
	j->done = done;
	j->arg = arg;
}

static void work_list_push(struct work_job **head, struct work_job **tail, struct work_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void *work_thread(void *arg)
{
	struct work_worker *w = arg;
	struct work_pool *p = w->p;
	struct work_job *j;
	uint64_t one = 1;

	/* Before the first job, so no job ever runs at the loop's priority; relative to the
	 * process's nice value (a lower one would need privilege). p->nice is written once
	 * by work_pool_init_nice before the threads start. */
	if (p->nice > 0) {
		id_t tid = (id_t)gettid();
		int cur;

		errno = 0;
		cur = getpriority(PRIO_PROCESS, tid);
		if (errno != 0 ||
		    setpriority(PRIO_PROCESS, tid, cur + p->nice > 19 ? 19 : cur + p->nice) < 0)
			log_warn("work: cannot lower a worker's priority: %s", strerror(errno));
	}
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->q_head == NULL)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		j = p->q_head;
		p->q_head = j->next;
		if (p->q_head == NULL)
			p->q_tail = NULL;
		p->queued--;
		w->busy = true;
		w->busy_since = work_clock_ms();
		pthread_mutex_unlock(&p->mu);

		j->status = 0;
		j->run(j);

		pthread_mutex_lock(&p->mu);
		w->busy = false;
		work_list_push(&p->d_head, &p->d_tail, j);
		/* Wake the loop. An eventfd counter cannot overflow at our rates; EAGAIN
		 * would mean it is already readable, which is all we need. */
		if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_err("work: cannot wake the loop: %s", strerror(errno));
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Runs done() for every finished job, in the order they finished. Loop thread. */
static void work_reap(struct work_pool *p)
{
	struct work_job *j, *next;

	pthread_mutex_lock(&p->mu);
	j = p->d_head;
	p->d_head = p->d_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		j->next = NULL;
		p->completed++;
		j->done(j); /* may free j, may submit new jobs */
	}
}

static void work_io_cb(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct work_pool *p = io->arg;
	uint64_t n;

	(void)loop;
	(void)events;
	if (read(p->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_err("work: eventfd read: %s", strerror(errno));
	work_reap(p);
}

int work_pool_init(struct work_pool *p, struct loop *loop, unsigned nthreads, size_t queue_max)
{
	return work_pool_init_nice(p, loop, nthreads, queue_max, 0);
}

int work_pool_init_nice(struct work_pool *p, struct loop *loop, unsigned nthreads, size_t queue_max,
			int nice)
{
	sigset_t all, old;
	int rc = -MGW_EINVAL;

	memset(p, 0, sizeof(*p));
	p->efd = -1;
	if (nthreads == 0 || nthreads > WORK_THREADS_MAX || queue_max == 0 || nice < 0 || nice > 19)
		return rc;
	p->nice = nice;
	p->loop = loop;
	p->queue_max = queue_max;
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		return -MGW_ENOMEM;
	if (pthread_cond_init(&p->cv, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		return -MGW_ENOMEM;
	}
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		rc = -MGW_EIO;
		goto fail;
	}
	loop_io_init(&p->io, p->efd, work_io_cb, p);
	if (loop_io_add(loop, &p->io, LOOP_READ) < 0) {
		rc = -MGW_EIO;
		goto fail;
	}
	/* Workers never take a signal: the loop's signalfd must see them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; p->nthreads < nthreads; p->nthreads++) {
		struct work_worker *w = &p->w[p->nthreads];

		w->p = p;
		if (pthread_create(&w->tid, NULL, work_thread, w) != 0) {
			rc = -MGW_ENOMEM;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->nthreads == nthreads)
		return 0;
fail:
	work_pool_free(p);
	return rc;
}

int work_submit(struct work_pool *p, struct work_job *j)
{
	int rc = 0;

	if (p == NULL) {
		j->status = 0;
		j->run(j);
		j->done(j);
		return 0;
	}
	pthread_mutex_lock(&p->mu);
	if (p->stop)
		rc = -MGW_ECLOSED;
	else if (p->queued >= p->queue_max)
		rc = -MGW_ELIMIT;
	else {
		work_list_push(&p->q_head, &p->q_tail, j);
		p->queued++;
		p->submitted++;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

uint64_t work_pool_busy_ms(struct work_pool *p)
{
	uint64_t now = work_clock_ms(), oldest = now;

	pthread_mutex_lock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		if (p->w[i].busy && p->w[i].busy_since < oldest)
			oldest = p->w[i].busy_since;
	pthread_mutex_unlock(&p->mu);
	return now - oldest;
}

unsigned work_pool_running(struct work_pool *p)
{
	unsigned n = 0;

	pthread_mutex_lock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		n += p->w[i].busy;
	pthread_mutex_unlock(&p->mu);
	return n;
}

size_t work_pool_queued(struct work_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->mu);
	n = p->queued;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void work_pool_free(struct work_pool *p)
{
	struct work_job *q, *next;

	if (p->loop == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	q = p->q_head;
	p->q_head = p->q_tail = NULL;
	p->queued = 0;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	/* Running jobs finish first: their inputs stay valid (the job owns them). */
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->w[i].tid, NULL);
	work_reap(p);
	for (; q != NULL; q = next) {
		next = q->next;
		q->next = NULL;
		q->status = -MGW_ECLOSED;
		q->done(q);
	}
	if (p->efd >= 0) {
		loop_io_del(p->loop, &p->io);
		close(p->efd);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	memset(p, 0, sizeof(*p));
	p->efd = -1;
}
