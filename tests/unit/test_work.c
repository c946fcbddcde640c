/*
 * test_work.c - the worker pool: jobs run off the loop thread and complete on it, the
 * queue is bounded, a stuck job shows in work_pool_busy_ms, shutdown with jobs running
 * and waiting calls every done() exactly once, and a pool's workers can run below the
 * loop's priority.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/loop.h"
#include "core/work.h"

#define JOBS 64

struct tjob {
	struct work_job w;
	int in, out;
	pthread_t ran_on, done_on;
	unsigned done_calls;
	bool ran;
	int gate; /* read end of a pipe to block on, or -1 */
};

static unsigned done_total;

static void tjob_run(struct work_job *j)
{
	struct tjob *t = (struct tjob *)j;
	char c;

	t->ran_on = pthread_self();
	t->ran = true;
	/* No cmocka asserts here: cmocka is not thread-safe. */
	t->out = t->gate >= 0 && read(t->gate, &c, 1) != 1 ? -1 : t->in * 2;
}

static void tjob_done(struct work_job *j)
{
	struct tjob *t = (struct tjob *)j;

	t->done_on = pthread_self();
	t->done_calls++;
	done_total++;
}

static void tjob_init(struct tjob *t, int in, int gate)
{
	memset(t, 0, sizeof(*t));
	work_job_init(&t->w, tjob_run, tjob_done, NULL);
	t->in = in;
	t->gate = gate;
}

static void run_until(struct loop *loop, unsigned want)
{
	while (done_total < want)
		assert_int_equal(loop_run_once(loop, 1000), 0);
}

static void test_jobs_complete_on_loop(void **state)
{
	static struct tjob t[JOBS];
	struct loop loop;
	struct work_pool p;

	(void)state;
	done_total = 0;
	assert_int_equal(loop_init(&loop), 0);
	assert_int_equal(work_pool_init(&p, &loop, 3, JOBS), 0);
	for (int i = 0; i < JOBS; i++) {
		tjob_init(&t[i], i, -1);
		assert_int_equal(work_submit(&p, &t[i].w), 0);
	}
	run_until(&loop, JOBS);
	for (int i = 0; i < JOBS; i++) {
		assert_int_equal(t[i].done_calls, 1);
		assert_int_equal(t[i].w.status, 0);
		assert_int_equal(t[i].out, 2 * i);
		assert_false(pthread_equal(t[i].ran_on, pthread_self()));
		assert_true(pthread_equal(t[i].done_on, pthread_self()));
	}
	assert_int_equal(work_pool_busy_ms(&p), 0);
	work_pool_free(&p);
	assert_int_equal(done_total, JOBS); /* nothing completed twice */
	loop_free(&loop);
}

static void test_queue_bounded_and_busy(void **state)
{
	struct tjob t[4];
	struct loop loop;
	struct work_pool p;
	int gate[2];

	(void)state;
	done_total = 0;
	assert_int_equal(pipe(gate), 0);
	assert_int_equal(loop_init(&loop), 0);
	assert_int_equal(work_pool_init(&p, &loop, 1, 2), 0);
	for (int i = 0; i < 4; i++)
		tjob_init(&t[i], i, gate[0]);
	assert_int_equal(work_submit(&p, &t[0].w), 0);
	/* Wait until the one worker holds job 0: then two more fit in the queue. */
	while (work_pool_running(&p) != 1 || work_pool_queued(&p) != 0)
		usleep(1000);
	assert_int_equal(work_submit(&p, &t[1].w), 0);
	assert_int_equal(work_submit(&p, &t[2].w), 0);
	assert_int_equal(work_submit(&p, &t[3].w), -MGW_ELIMIT);
	/* The stuck job shows as busy for at least as long as it has been stuck. */
	usleep(20000);
	assert_true(work_pool_busy_ms(&p) >= 20);
	assert_int_equal(done_total, 0);
	assert_int_equal(write(gate[1], "xxx", 3), 3);
	run_until(&loop, 3);
	assert_int_equal(t[3].done_calls, 0);
	assert_false(t[3].ran);
	work_pool_free(&p);
	loop_free(&loop);
	close(gate[0]);
	close(gate[1]);
}

/* Closes the gate from another thread once the pool is shutting down. */
static void *opener(void *arg)
{
	int *gate = arg;

	usleep(20000);
	assert_int_equal(write(gate[1], "xx", 2), 2);
	return NULL;
}

static void test_shutdown_in_flight(void **state)
{
	static struct tjob t[10];
	struct loop loop;
	struct work_pool p;
	pthread_t th;
	int gate[2], ran = 0, cancelled = 0;

	(void)state;
	done_total = 0;
	assert_int_equal(pipe(gate), 0);
	assert_int_equal(loop_init(&loop), 0);
	assert_int_equal(work_pool_init(&p, &loop, 2, 16), 0);
	for (int i = 0; i < 10; i++) {
		tjob_init(&t[i], i, gate[0]);
		assert_int_equal(work_submit(&p, &t[i].w), 0);
	}
	while (work_pool_running(&p) != 2 || work_pool_queued(&p) != 8)
		usleep(1000);
	/* Two jobs running (blocked until opener writes), eight waiting. */
	assert_int_equal(pthread_create(&th, NULL, opener, gate), 0);
	work_pool_free(&p);
	pthread_join(th, NULL);
	assert_int_equal(done_total, 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(t[i].done_calls, 1);
		assert_true(pthread_equal(t[i].done_on, pthread_self()));
		if (t[i].ran) {
			assert_int_equal(t[i].w.status, 0);
			assert_int_equal(t[i].out, 2 * i);
			ran++;
		} else {
			assert_int_equal(t[i].w.status, -MGW_ECLOSED);
			cancelled++;
		}
	}
	assert_int_equal(ran, 2);
	assert_int_equal(cancelled, 8);
	/* A pool that is gone refuses nothing silently: the loop no longer has its fd. */
	assert_int_equal(loop_run_once(&loop, 0), 0);
	loop_free(&loop);
	close(gate[0]);
	close(gate[1]);
}

/* done() may submit the next job (a chain: verify, then open the mailbox). */
static struct work_pool *chain_pool;
static struct tjob chain[2];

static void chain_done(struct work_job *j)
{
	tjob_done(j);
	if (j == &chain[0].w)
		assert_int_equal(work_submit(chain_pool, &chain[1].w), 0);
}

static void test_done_submits(void **state)
{
	struct loop loop;
	struct work_pool p;

	(void)state;
	done_total = 0;
	chain_pool = &p;
	assert_int_equal(loop_init(&loop), 0);
	assert_int_equal(work_pool_init(&p, &loop, 1, 4), 0);
	for (int i = 0; i < 2; i++) {
		tjob_init(&chain[i], 10 + i, -1);
		chain[i].w.done = chain_done;
	}
	assert_int_equal(work_submit(&p, &chain[0].w), 0);
	run_until(&loop, 2);
	assert_int_equal(chain[1].out, 22);
	work_pool_free(&p);
	loop_free(&loop);
}

static void test_no_pool_is_synchronous(void **state)
{
	struct tjob t;

	(void)state;
	done_total = 0;
	tjob_init(&t, 7, -1);
	assert_int_equal(work_submit(NULL, &t.w), 0);
	assert_int_equal(t.done_calls, 1);
	assert_int_equal(t.out, 14);
}

/* The nice value a job's thread runs at (getpriority of the calling thread). */
static int nice_seen;

static void nice_run(struct work_job *j)
{
	(void)j;
	errno = 0;
	nice_seen = getpriority(PRIO_PROCESS, (id_t)gettid());
	if (errno != 0)
		nice_seen = -100;
}

static void nice_done(struct work_job *j)
{
	(void)j;
	done_total++;
}

static void test_nice_workers_run_below_the_loop(void **state)
{
	struct loop loop;
	struct work_pool p;
	struct work_job j;
	int base;

	(void)state;
	done_total = 0;
	errno = 0;
	base = getpriority(PRIO_PROCESS, (id_t)gettid());
	assert_int_equal(errno, 0);
	assert_int_equal(loop_init(&loop), 0);
	assert_int_equal(work_pool_init_nice(&p, &loop, 1, 4, 5), 0);
	work_job_init(&j, nice_run, nice_done, NULL);
	assert_int_equal(work_submit(&p, &j), 0);
	run_until(&loop, 1);
	assert_int_equal(nice_seen, base + 5 > 19 ? 19 : base + 5);
	/* The loop's own thread keeps its priority. */
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)gettid()), base);
	work_pool_free(&p);
	assert_int_equal(work_pool_init_nice(&p, &loop, 1, 4, 20), -MGW_EINVAL);
	assert_int_equal(work_pool_init_nice(&p, &loop, 1, 4, -1), -MGW_EINVAL);
	loop_free(&loop);
}

static void test_bad_args(void **state)
{
	struct loop loop;
	struct work_pool p;

	(void)state;
	assert_int_equal(loop_init(&loop), 0);
	assert_int_equal(work_pool_init(&p, &loop, 0, 4), -MGW_EINVAL);
	assert_int_equal(work_pool_init(&p, &loop, WORK_THREADS_MAX + 1, 4), -MGW_EINVAL);
	assert_int_equal(work_pool_init(&p, &loop, 1, 0), -MGW_EINVAL);
	work_pool_free(&p); /* harmless after a failed init */
	loop_free(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jobs_complete_on_loop),
	    cmocka_unit_test(test_queue_bounded_and_busy),
	    cmocka_unit_test(test_shutdown_in_flight),
	    cmocka_unit_test(test_done_submits),
	    cmocka_unit_test(test_no_pool_is_synchronous),
	    cmocka_unit_test(test_nice_workers_run_below_the_loop),
	    cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
