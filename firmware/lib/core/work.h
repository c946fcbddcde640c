/*
 * work.h - a small fixed pool of worker threads for the calls that may block for
 * milliseconds (fsync, password hashing), so that the event loop never does.
 *
 * This is the only module that creates threads. The protocol engines stay
 * single-threaded: they submit a job from the loop and get its completion back on the
 * loop, from an eventfd registered in it.
 *
 * Which thread may touch what:
 *   - struct work_pool: its fields are private; the loop thread calls every function
 *     here (submit, stuck, free). The workers share only the queues and the per-worker
 *     start times, all under the pool's mutex.
 *   - struct work_job: from work_submit() until its done callback the job belongs to the
 *     pool: run() runs on one worker thread and may touch only the job's own fields and
 *     what the job owns (copies of its inputs, its outputs). It must not touch sessions,
 *     connections, the loop, or any other object of the loop thread. done() runs on the
 *     loop thread, once per submitted job, and gets the job back (the caller frees it
 *     there). A session that goes away while its job runs must not free the job: it
 *     tells the job it is gone (a pointer in the job the loop thread clears), and done()
 *     then only frees it.
 *   - log_* calls from run() are allowed (log.c serialises its output).
 * The jobs there are (each file says what its job owns): delivery batches, SMTP's and
 * IMAP APPEND's (store/commitq.c); a session's flushes of the directories and files it
 * changed on the loop (IMAP EXPUNGE, CLOSE, COPY, MOVE, CREATE, RENAME, DELETE, STORE
 * of a keyword, SUBSCRIBE, the uidlists of every scan, POP3 QUIT) and a first login's
 * Maildir and folders (store/flushjob.c); password checks (proto/gate_login.c).
 *
 * Bounds: WORK_THREADS workers and at most queue_max jobs waiting; work_submit() refuses
 * more (-MGW_ELIMIT) and the caller answers with a temporary failure.
 */
#ifndef MGW_WORK_H
#define MGW_WORK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

#define WORK_THREADS_MAX 8
#define WORK_QUEUE_DEFAULT 256

struct work_job;
typedef void (*work_run_fn)(struct work_job *j);
typedef void (*work_done_fn)(struct work_job *j);

struct work_job {
	work_run_fn run;   /* on a worker thread */
	work_done_fn done; /* on the loop thread, exactly once per submitted job */
	/* 0 when run() ran; -MGW_ECLOSED when the pool shut down before it could. */
	int status;
	void *arg;	       /* the submitter's, never touched by the pool */
	struct work_job *next; /* pool-owned while submitted */
};

struct work_pool;

struct work_worker {
	struct work_pool *p;
	pthread_t tid;
	bool busy;	     /* running a job; under the mutex */
	uint64_t busy_since; /* monotonic ms the job started; under the mutex */
};

struct work_pool {
	struct loop *loop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct work_worker w[WORK_THREADS_MAX];
	unsigned nthreads;
	size_t queue_max, queued;
	struct work_job *q_head, *q_tail; /* waiting for a worker */
	struct work_job *d_head, *d_tail; /* finished, waiting for the loop */
	bool stop;
	int nice; /* added to each worker thread's nice value at its start (0: none) */
	int efd;
	struct loop_io io;
	uint64_t submitted, completed; /* statistics, loop thread */
};

void work_job_init(struct work_job *j, work_run_fn run, work_done_fn done, void *arg);

/*
 * Starts nthreads (1..WORK_THREADS_MAX) workers and registers the completion eventfd in
 * loop. Workers block every signal (signals stay with the loop thread's signalfd).
 * 0, -MGW_EINVAL, -MGW_EIO, -MGW_ENOMEM (nothing left running on failure).
 */
int work_pool_init(struct work_pool *p, struct loop *loop, unsigned nthreads, size_t queue_max);
/*
 * The same with workers that run at a lower priority than the loop: each worker thread
 * raises its own nice value by nice (1..19, Linux's per-thread nice; no privilege needed)
 * before its first job, so that on a board with few cores the loop thread gets a core
 * first whenever it has work (the TLS handshake pool, mailgwd/main.c).
 */
int work_pool_init_nice(struct work_pool *p, struct loop *loop, unsigned nthreads, size_t queue_max,
			int nice);

/*
 * Queues j. 0: j->done will run on the loop thread later (never inside this call).
 * -MGW_ELIMIT: queue_max jobs are waiting; -MGW_ECLOSED: the pool is shutting down;
 * nothing was queued and j is still the caller's.
 * p == NULL runs j synchronously: run() then done() before returning 0 (for the fuzzers
 * and unit tests that drive sessions without a loop).
 */
int work_submit(struct work_pool *p, struct work_job *j);

/*
 * How long the oldest job still running has been running, in ms (0: none). The watchdog
 * uses it: a worker stuck longer than a bound must not keep the board alive.
 */
uint64_t work_pool_busy_ms(struct work_pool *p);

/* Jobs running now / waiting for a worker now (status, tests). */
unsigned work_pool_running(struct work_pool *p);
size_t work_pool_queued(struct work_pool *p);

/*
 * Shuts down: jobs already running finish, jobs still queued are not run; every
 * submitted job's done() is called here (status -MGW_ECLOSED for those not run), on
 * the calling (loop) thread, then the threads are joined and the eventfd closed.
 */
void work_pool_free(struct work_pool *p);

#endif
