/* test_loop.c - timers fire in order, cancel works, an io deleted mid-batch is not called;
 * a loop on a virtual clock, and ios without fd (a readiness function); a deferred call
 * that keeps queuing itself does not keep a ready fd waiting; ios marked first go first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"

static char order[16];
static size_t order_len;

static void mark(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	order[order_len++] = *(const char *)t->arg;
}

static void test_timer_order(void **state)
{
	struct loop loop;
	struct loop_timer t[4];
	static const char names[] = "abcd";
	static const uint64_t after[] = {30, 10, 20, 5};

	(void)state;
	order_len = 0;
	assert_int_equal(loop_init(&loop), 0);
	for (int i = 0; i < 4; i++) {
		loop_timer_init(&t[i], mark, (void *)&names[i]);
		assert_int_equal(loop_timer_set(&loop, &t[i], after[i]), 0);
	}
	loop_timer_cancel(&loop, &t[2]);
	assert_false(loop_timer_pending(&t[2]));
	while (order_len < 3)
		assert_int_equal(loop_run_once(&loop, 100), 0);
	assert_memory_equal(order, "dba", 3);
	loop_free(&loop);
}

struct two_ios {
	struct loop_io a, b;
	int calls_a, calls_b;
};

static struct two_ios ios;

static void io_a(struct loop *loop, struct loop_io *io, uint32_t ev)
{
	(void)io;
	(void)ev;
	ios.calls_a++;
	loop_io_del(loop, &ios.b); /* b must not be called in this batch */
	loop_io_del(loop, &ios.a);
}

static void io_b(struct loop *loop, struct loop_io *io, uint32_t ev)
{
	(void)io;
	(void)ev;
	ios.calls_b++;
	loop_io_del(loop, &ios.a);
	loop_io_del(loop, &ios.b);
}

static void test_del_in_batch(void **state)
{
	struct loop loop;
	int pa[2], pb[2];

	(void)state;
	memset(&ios, 0, sizeof(ios));
	assert_int_equal(pipe(pa), 0);
	assert_int_equal(pipe(pb), 0);
	assert_int_equal(write(pa[1], "x", 1), 1);
	assert_int_equal(write(pb[1], "x", 1), 1);
	assert_int_equal(loop_init(&loop), 0);
	loop_io_init(&ios.a, pa[0], io_a, NULL);
	loop_io_init(&ios.b, pb[0], io_b, NULL);
	assert_int_equal(loop_io_add(&loop, &ios.a, LOOP_READ), 0);
	assert_int_equal(loop_io_add(&loop, &ios.b, LOOP_READ), 0);
	assert_int_equal(loop_run_once(&loop, 100), 0);
	/* Exactly one of them ran; the other was deleted before its turn. */
	assert_int_equal(ios.calls_a + ios.calls_b, 1);
	loop_free(&loop);
	close(pa[0]);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
}

static uint64_t vclock;

static uint64_t vclock_now(void *arg)
{
	(void)arg;
	return vclock;
}

/* A loop on a virtual clock fires a timer exactly when that clock reaches it. */
static void test_virtual_clock(void **state)
{
	struct loop loop;
	struct loop_timer t;
	static const char name = 'v';
	uint64_t when = 0;

	(void)state;
	order_len = 0;
	vclock = 1000;
	assert_int_equal(loop_init(&loop), 0);
	loop_set_clock(&loop, vclock_now, NULL);
	loop_timer_init(&t, mark, (void *)&name);
	assert_int_equal(loop_timer_set(&loop, &t, 500), 0);
	assert_true(loop_next_timer(&loop, &when));
	assert_int_equal(when, 1500);
	vclock = 1499;
	assert_int_equal(loop_run_once(&loop, 0), 0);
	assert_int_equal(order_len, 0);
	vclock = 1500;
	assert_int_equal(loop_run_once(&loop, 0), 0);
	assert_int_equal(order_len, 1);
	assert_false(loop_next_timer(&loop, &when));
	loop_free(&loop);
}

static uint32_t soft_ready_bits;
static unsigned soft_calls;
static uint32_t soft_last;

static uint32_t soft_ready(struct loop_io *io)
{
	(void)io;
	return soft_ready_bits;
}

static void soft_cb(struct loop *loop, struct loop_io *io, uint32_t events)
{
	(void)loop;
	(void)io;
	soft_calls++;
	soft_last = events;
}

/* An io without fd is dispatched, level-triggered, for what it is ready for and wanted. */
static void test_soft_io(void **state)
{
	struct loop loop;
	struct loop_io io;

	(void)state;
	assert_int_equal(loop_init(&loop), 0);
	loop_io_init_soft(&io, soft_ready, soft_cb, NULL);
	assert_int_equal(loop_io_add(&loop, &io, LOOP_READ), 0);
	soft_ready_bits = LOOP_WRITE; /* not wanted: no call, not busy */
	soft_calls = 0;
	assert_false(loop_busy(&loop));
	assert_int_equal(loop_run_once(&loop, 0), 0);
	assert_int_equal(soft_calls, 0);
	soft_ready_bits = LOOP_READ | LOOP_WRITE;
	assert_true(loop_busy(&loop));
	assert_int_equal(loop_run_once(&loop, 0), 0);
	assert_int_equal(loop_run_once(&loop, 0), 0); /* level-triggered: again */
	assert_int_equal(soft_calls, 2);
	assert_int_equal(soft_last, LOOP_READ);
	assert_int_equal(loop_io_mod(&loop, &io, LOOP_WRITE), 0);
	assert_int_equal(loop_run_once(&loop, 0), 0);
	assert_int_equal(soft_last, LOOP_WRITE);
	soft_ready_bits = LOOP_HUP; /* hang-up is reported whatever the interest */
	assert_int_equal(loop_run_once(&loop, 0), 0);
	assert_int_equal(soft_last, LOOP_HUP | LOOP_READ);
	loop_io_del(&loop, &io);
	assert_int_equal(loop_run_once(&loop, 0), 0);
	assert_int_equal(soft_calls, 4);
	loop_free(&loop);
}

/* A deferred call that queues itself again (a connection that keeps replying) runs once
 * per iteration: a readable fd is served in the same iteration, not after the chain. */
static struct loop_defer chain;
static unsigned chain_runs, chain_max, fd_calls;

static void chain_cb(struct loop *loop, void *arg)
{
	(void)arg;
	if (++chain_runs < chain_max)
		loop_defer(loop, &chain);
}

static void fd_cb(struct loop *loop, struct loop_io *io, uint32_t ev)
{
	char c;

	(void)loop;
	(void)ev;
	fd_calls++;
	assert_int_equal(read(io->fd, &c, 1), 1);
}

static void test_defer_chain_bounded(void **state)
{
	struct loop loop;
	struct loop_io io;
	int p[2];

	(void)state;
	chain_runs = fd_calls = 0;
	chain_max = 1000;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(loop_init(&loop), 0);
	loop_io_init(&io, p[0], fd_cb, NULL);
	assert_int_equal(loop_io_add(&loop, &io, LOOP_READ), 0);
	loop_defer_init(&chain, chain_cb, NULL);
	loop_defer(&loop, &chain);
	assert_int_equal(loop_run_once(&loop, 0), 0);
	assert_int_equal(chain_runs, 1);
	assert_true(loop_busy(&loop)); /* the next run is queued: no waiting for it */
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(loop_run_once(&loop, 100), 0);
	assert_int_equal(fd_calls, 1);
	assert_int_equal(chain_runs, 2);
	while (chain_runs < chain_max)
		assert_int_equal(loop_run_once(&loop, 0), 0);
	assert_false(loop_busy(&loop));
	loop_free(&loop);
	close(p[0]);
	close(p[1]);
}

/* Of the ios ready together, those marked first are dispatched first, each group in
 * epoll's order, and an io deleted by one dispatched before it is still not called. */
static char seen[8];
static size_t seen_len;
static struct loop_io rio[4];

static void rio_cb(struct loop *loop, struct loop_io *io, uint32_t ev)
{
	char c;

	(void)ev;
	seen[seen_len++] = *(const char *)io->arg;
	assert_int_equal(read(io->fd, &c, 1), 1);
	if (io == &rio[3])
		loop_io_del(loop, &rio[0]); /* marked first: d runs before a */
}

static void test_first_in_batch(void **state)
{
	static const char names[] = "abcd";
	struct loop loop;
	int p[4][2];

	(void)state;
	seen_len = 0;
	assert_int_equal(loop_init(&loop), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pipe(p[i]), 0);
		assert_int_equal(write(p[i][1], "x", 1), 1);
		loop_io_init(&rio[i], p[i][0], rio_cb, (void *)&names[i]);
		assert_int_equal(loop_io_add(&loop, &rio[i], LOOP_READ), 0);
	}
	loop_io_set_first(&rio[1], true);
	loop_io_set_first(&rio[3], true);
	assert_int_equal(loop_run_once(&loop, 100), 0);
	assert_int_equal(seen_len, 3);
	/* b and d first; a was deleted by d; c last. */
	assert_true(seen[0] == 'b' || seen[0] == 'd');
	assert_true(seen[1] == 'b' || seen[1] == 'd');
	assert_int_equal(seen[2], 'c');
	loop_free(&loop);
	for (int i = 0; i < 4; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timer_order),
	    cmocka_unit_test(test_del_in_batch),
	    cmocka_unit_test(test_virtual_clock),
	    cmocka_unit_test(test_soft_io),
	    cmocka_unit_test(test_defer_chain_bounded),
	    cmocka_unit_test(test_first_in_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
