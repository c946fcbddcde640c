/*
 * test_flushjob.c - a session's directory flush on the worker pool (store/flushjob.h):
 * it completes on the loop thread with the flush's result and clears the handle; a flush
 * that fails reports it; an abandoned flush (its session gone) completes without calling
 * anything; without a pool it runs inline; the directory list is bounded and unique; a
 * file replaced without a flush (maildir_write_later) is in the table of files not
 * durable until a flush job that covers it completes, and only a failed one leaves it
 * there (its next reader flushes it again).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/file.h"
#include "core/loop.h"
#include "core/work.h"
#include "store/flushjob.h"

static char tmpdir[] = "/tmp/mgw-flushjob-XXXXXX";

struct result {
	unsigned calls;
	int rc;
	pthread_t on;
};

static void flush_done(void *arg, int rc)
{
	struct result *r = arg;

	r->calls++;
	r->rc = rc;
	r->on = pthread_self();
}

/* A job that holds the pool's only worker until a byte arrives on gate. */
struct gate_job {
	struct work_job w;
	int fd;
	bool done;
};

static void gate_run(struct work_job *j)
{
	char c;

	(void)!read(((struct gate_job *)j)->fd, &c, 1);
}

static void gate_done(struct work_job *j)
{
	((struct gate_job *)j)->done = true;
}

static int setup(void **state)
{
	char p[600];

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(p, sizeof(p), "%s/new", tmpdir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/cur", tmpdir);
	mkdir(p, 0700);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_completes_on_loop(void **state)
{
	struct result r = {0};
	struct maildir_flush *h = NULL;
	struct work_pool p;
	struct loop loop;

	(void)state;
	assert_int_equal(loop_init(&loop), 0);
	assert_int_equal(work_pool_init(&p, &loop, 1, 8), 0);
	assert_int_equal(maildir_flush_box(&p, tmpdir, flush_done, &r, &h), 0);
	assert_non_null(h);
	while (r.calls == 0)
		assert_int_equal(loop_run_once(&loop, 1000), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, 0);
	assert_true(pthread_equal(r.on, pthread_self()));
	assert_null(h); /* cleared before done ran */
	work_pool_free(&p);
	loop_free(&loop);
}

static void test_failure_reported(void **state)
{
	struct maildir_dirs l = {0};
	struct result r = {0};
	struct maildir_flush *h = NULL;
	char p[600];

	(void)state;
	snprintf(p, sizeof(p), "%s/gone", tmpdir);
	assert_int_equal(maildir_dirs_add(&l, p), 0);
	assert_int_equal(maildir_flush_start(NULL, &l, flush_done, &r, &h), 0);
	assert_int_equal(r.calls, 1); /* no pool: inline */
	assert_int_equal(r.rc, -MGW_EIO);
	assert_null(h);
}

static void test_abandoned_calls_nothing(void **state)
{
	struct gate_job g = {0};
	struct result r = {0};
	struct maildir_flush *h = NULL;
	struct work_pool p;
	struct loop loop;
	int gate[2];

	(void)state;
	assert_int_equal(pipe(gate), 0);
	assert_int_equal(loop_init(&loop), 0);
	assert_int_equal(work_pool_init(&p, &loop, 1, 8), 0);
	work_job_init(&g.w, gate_run, gate_done, NULL);
	g.fd = gate[0];
	assert_int_equal(work_submit(&p, &g.w), 0);
	/* The flush waits behind the gate: its session goes away first. */
	assert_int_equal(maildir_flush_box(&p, tmpdir, flush_done, &r, &h), 0);
	maildir_flush_abandon(h);
	assert_int_equal(write(gate[1], "x", 1), 1);
	while (!g.done || work_pool_queued(&p) > 0 || work_pool_running(&p) > 0)
		assert_int_equal(loop_run_once(&loop, 1000), 0);
	work_pool_free(&p); /* every completion has run (ASan: none touched freed memory) */
	assert_int_equal(r.calls, 0);
	loop_free(&loop);
	close(gate[0]);
	close(gate[1]);
}

static void test_dirs_bounded_and_unique(void **state)
{
	struct maildir_dirs l = {0};
	struct result r = {0};
	struct maildir_flush *h = (struct maildir_flush *)&l;
	char p[64];

	(void)state;
	assert_int_equal(maildir_flush_start(NULL, &l, flush_done, &r, &h), -MGW_EINVAL);
	assert_null(h);
	for (int i = 0; i < MAILDIR_FLUSH_DIRS; i++) {
		snprintf(p, sizeof(p), "/d%d", i);
		assert_int_equal(maildir_dirs_add(&l, p), 0);
		assert_int_equal(maildir_dirs_add(&l, p), 0); /* once */
	}
	assert_int_equal(l.n, MAILDIR_FLUSH_DIRS);
	assert_int_equal(maildir_dirs_add(&l, "/more"), -MGW_ELIMIT);
	assert_int_equal(r.calls, 0);
}

static void test_write_later_until_flushed(void **state)
{
	struct maildir_dirs l = {0}, again = {0};
	struct result r = {0};
	struct maildir_flush *h = NULL;
	char p[600], *text = NULL;
	size_t len = 0;
	uint64_t gen;

	(void)state;
	snprintf(p, sizeof(p), "%s/subscriptions", tmpdir);
	assert_int_equal(maildir_unflushed_gen(p), 0);
	assert_int_equal(maildir_dirs_add_pending(&again, p), 0);
	assert_int_equal(again.nf, 0); /* nothing pending: nothing to flush */
	/* Replaced at once (readers see it), flushed later. */
	assert_int_equal(maildir_write_later(p, "V\t2\n\nA\n", 7, &l), 0);
	assert_int_equal(file_read_all(p, 64, &text, &len), 0);
	assert_string_equal(text, "V\t2\n\nA\n");
	free(text);
	gen = maildir_unflushed_gen(p);
	assert_true(gen != 0);
	assert_int_equal(l.nf, 1);
	assert_string_equal(l.f[0], p);
	assert_true(l.gen[0] == gen);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.d[0], tmpdir); /* and its directory */
	/* A reader that builds on it flushes it too. */
	assert_int_equal(maildir_dirs_add_pending(&again, p), 0);
	assert_int_equal(again.nf, 1);
	/* A second write is a later one: the first flush does not clear it. */
	assert_int_equal(maildir_write_later(p, "V\t2\n\nB\n", 7, &again), 0);
	assert_true(maildir_unflushed_gen(p) > gen);
	assert_int_equal(maildir_flush_start(NULL, &l, flush_done, &r, &h), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, 0);
	assert_true(maildir_unflushed_gen(p) != 0);
	assert_int_equal(maildir_flush_start(NULL, &again, flush_done, &r, &h), 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(maildir_unflushed_gen(p), 0);
	/* A failed flush leaves it pending. */
	memset(&l, 0, sizeof(l));
	assert_int_equal(maildir_write_later(p, "V\t2\n\nC\n", 7, &l), 0);
	snprintf(l.f[1], sizeof(l.f[1]), "%s/gone", tmpdir);
	l.nf = 2;
	assert_int_equal(maildir_flush_start(NULL, &l, flush_done, &r, &h), 0);
	assert_int_equal(r.rc, -MGW_EIO);
	assert_true(maildir_unflushed_gen(p) != 0);
	/* Without later: flushed here, nothing noted. */
	snprintf(p, sizeof(p), "%s/dovecot-keywords", tmpdir);
	assert_int_equal(maildir_write_later(p, "0 Work\n", 7, NULL), 0);
	assert_int_equal(maildir_unflushed_gen(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_completes_on_loop),
	    cmocka_unit_test(test_failure_reported),
	    cmocka_unit_test(test_abandoned_calls_nothing),
	    cmocka_unit_test(test_dirs_bounded_and_unique),
	    cmocka_unit_test(test_write_later_until_flushed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
