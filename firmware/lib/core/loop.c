/*
 * loop.c - epoll backend, a binary min-heap of timers, a FIFO of deferred calls.
 *
 * The heap owns nothing: it holds pointers to caller-allocated timers, each of which
 * records its own index so that cancel and re-arm are O(log n).
 */
#include "core/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

static uint64_t loop_clock_ms(const struct loop *loop)
{
	struct timespec ts;

	if (loop->clock)
		return loop->clock(loop->clock_arg);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int loop_init(struct loop *loop)
{
	memset(loop, 0, sizeof(*loop));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -MGW_EIO;
	loop->now_ms = loop_clock_ms(loop);
	return 0;
}

void loop_set_clock(struct loop *loop, uint64_t (*clock)(void *arg), void *arg)
{
	loop->clock = clock;
	loop->clock_arg = arg;
	loop->now_ms = loop_clock_ms(loop);
}

void loop_free(struct loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->heap);
	memset(loop, 0, sizeof(*loop));
	loop->epfd = -1;
}

static uint32_t loop_to_epoll(uint32_t interest)
{
	uint32_t ev = 0;

	if (interest & LOOP_READ)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (interest & LOOP_WRITE)
		ev |= EPOLLOUT;
	return ev;
}

void loop_io_init(struct loop_io *io, int fd, loop_io_cb cb, void *arg)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
	io->cb = cb;
	io->arg = arg;
}

void loop_io_init_soft(struct loop_io *io, loop_ready_fn ready, loop_io_cb cb, void *arg)
{
	loop_io_init(io, -1, cb, arg);
	io->ready = ready;
}

int loop_io_add(struct loop *loop, struct loop_io *io, uint32_t interest)
{
	struct epoll_event ev = {.events = loop_to_epoll(interest), .data.ptr = io};

	if (io->ready) {
		io->soft_next = loop->soft_head;
		loop->soft_head = io;
		io->interest = interest;
		io->registered = true;
		return 0;
	}
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return -MGW_EIO;
	io->interest = interest;
	io->registered = true;
	return 0;
}

void loop_io_set_first(struct loop_io *io, bool first)
{
	io->first = first;
}

int loop_io_mod(struct loop *loop, struct loop_io *io, uint32_t interest)
{
	struct epoll_event ev = {.events = loop_to_epoll(interest), .data.ptr = io};

	if (!io->registered)
		return -MGW_EINVAL;
	if (io->interest == interest || io->ready) {
		io->interest = interest;
		return 0;
	}
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -MGW_EIO;
	io->interest = interest;
	return 0;
}

void loop_io_del(struct loop *loop, struct loop_io *io)
{
	if (!io->registered)
		return;
	if (io->ready) {
		struct loop_io **pp = &loop->soft_head;

		while (*pp != io)
			pp = &(*pp)->soft_next;
		*pp = io->soft_next;
	} else
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->registered = false;
	/* The io may be freed after this call: forget it in the batch being dispatched. */
	for (int i = loop->batch_cur + 1; i < loop->batch_len; i++)
		if (loop->batch[i] == io)
			loop->batch[i] = NULL;
}

/* ---- timers: binary min-heap on when_ms ---- */

static void loop_heap_swap(struct loop *loop, size_t a, size_t b)
{
	struct loop_timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_idx = a;
	loop->heap[b]->heap_idx = b;
}

static void loop_heap_up(struct loop *loop, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (loop->heap[parent]->when_ms <= loop->heap[i]->when_ms)
			break;
		loop_heap_swap(loop, i, parent);
		i = parent;
	}
}

static void loop_heap_down(struct loop *loop, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < loop->heap_len && loop->heap[l]->when_ms < loop->heap[m]->when_ms)
			m = l;
		if (r < loop->heap_len && loop->heap[r]->when_ms < loop->heap[m]->when_ms)
			m = r;
		if (m == i)
			return;
		loop_heap_swap(loop, i, m);
		i = m;
	}
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg)
{
	t->when_ms = 0;
	t->heap_idx = SIZE_MAX;
	t->cb = cb;
	t->arg = arg;
}

bool loop_timer_pending(const struct loop_timer *t)
{
	return t->heap_idx != SIZE_MAX;
}

void loop_timer_cancel(struct loop *loop, struct loop_timer *t)
{
	size_t i = t->heap_idx;

	if (i == SIZE_MAX)
		return;
	loop->heap_len--;
	if (i != loop->heap_len) {
		loop->heap[i] = loop->heap[loop->heap_len];
		loop->heap[i]->heap_idx = i;
		loop_heap_down(loop, i);
		loop_heap_up(loop, i);
	}
	t->heap_idx = SIZE_MAX;
}

int loop_timer_set(struct loop *loop, struct loop_timer *t, uint64_t after_ms)
{
	loop_timer_cancel(loop, t);
	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		struct loop_timer **h = realloc(loop->heap, cap * sizeof(*h));

		if (h == NULL)
			return -MGW_ENOMEM;
		loop->heap = h;
		loop->heap_cap = cap;
	}
	t->when_ms = loop_clock_ms(loop) + after_ms;
	t->heap_idx = loop->heap_len;
	loop->heap[loop->heap_len++] = t;
	loop_heap_up(loop, t->heap_idx);
	return 0;
}

/* ---- deferred calls ---- */

void loop_defer_init(struct loop_defer *d, loop_defer_cb cb, void *arg)
{
	memset(d, 0, sizeof(*d));
	d->cb = cb;
	d->arg = arg;
}

void loop_defer(struct loop *loop, struct loop_defer *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->next = NULL;
	if (loop->defer_tail)
		loop->defer_tail->next = d;
	else
		loop->defer_head = d;
	loop->defer_tail = d;
}

/* Runs the calls queued before this run, not those they queue: a call that queues
 * another (a flush whose output makes the session stream more, which queues the next
 * flush) would otherwise keep the loop here, and every fd that became ready meanwhile
 * (a mail reader's next command) would wait for the chain to end. The rest runs in the
 * next iteration, after a non-blocking look at epoll (loop_busy). */
static void loop_run_deferred(struct loop *loop)
{
	struct loop_defer *last = loop->defer_tail;

	while (loop->defer_head && last) {
		struct loop_defer *d = loop->defer_head;

		if (d == last)
			last = NULL; /* d may be freed by its call: compare before */
		loop->defer_head = d->next;
		if (loop->defer_head == NULL)
			loop->defer_tail = NULL;
		d->queued = false;
		d->cb(loop, d->arg); /* may free d */
	}
}

uint64_t loop_now_ms(const struct loop *loop)
{
	return loop->now_ms;
}

bool loop_next_timer(const struct loop *loop, uint64_t *when_ms)
{
	if (loop->heap_len == 0)
		return false;
	*when_ms = loop->heap[0]->when_ms;
	return true;
}

/* Events of a soft io: what it is ready for that is wanted, hang-up always. */
static uint32_t loop_soft_events(struct loop_io *io)
{
	uint32_t r = io->ready(io);

	return (r & io->interest) | (r & LOOP_HUP ? LOOP_HUP | LOOP_READ : 0);
}

bool loop_busy(const struct loop *loop)
{
	if (loop->defer_head)
		return true;
	for (struct loop_io *io = loop->soft_head; io; io = io->soft_next)
		if (loop_soft_events(io))
			return true;
	return false;
}

static void loop_run_timers(struct loop *loop)
{
	/* Bound the work: a timer that re-arms itself with 0 runs again next iteration. */
	size_t budget = loop->heap_len;

	while (budget-- > 0 && loop->heap_len > 0 && loop->heap[0]->when_ms <= loop->now_ms) {
		struct loop_timer *t = loop->heap[0];

		loop_timer_cancel(loop, t);
		t->cb(loop, t);
	}
}

/* Moves the batch's ios marked first to its front, keeping the order within each group
 * (a stable partition: batches are small, and marked ios rare). All of them are live. */
static void loop_batch_first(struct loop *loop, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		struct loop_io *io = loop->batch[i];
		uint32_t ev = loop->batch_ev[i];

		if (!io->first)
			continue;
		memmove(&loop->batch[k + 1], &loop->batch[k],
			(size_t)(i - k) * sizeof(loop->batch[0]));
		memmove(&loop->batch_ev[k + 1], &loop->batch_ev[k],
			(size_t)(i - k) * sizeof(loop->batch_ev[0]));
		loop->batch[k] = io;
		loop->batch_ev[k++] = ev;
	}
}

int loop_run_once(struct loop *loop, int max_wait_ms)
{
	struct epoll_event evs[LOOP_BATCH_MAX];
	int timeout = max_wait_ms;
	int n;

	loop->now_ms = loop_clock_ms(loop);
	if (loop_busy(loop))
		timeout = 0;
	else if (loop->heap_len > 0) {
		uint64_t when = loop->heap[0]->when_ms;
		int until = when <= loop->now_ms
				? 0
				: (int)(when - loop->now_ms > 60000 ? 60000 : when - loop->now_ms);

		if (timeout < 0 || until < timeout)
			timeout = until;
	}
	n = epoll_wait(loop->epfd, evs, LOOP_BATCH_MAX, timeout);
	if (n < 0) {
		if (errno == EINTR)
			n = 0;
		else
			return -MGW_EIO;
	}
	loop->now_ms = loop_clock_ms(loop);
	for (int i = 0; i < n; i++) {
		uint32_t e = evs[i].events, ev = 0;

		if (e & (EPOLLIN | EPOLLRDHUP))
			ev |= LOOP_READ;
		if (e & EPOLLOUT)
			ev |= LOOP_WRITE;
		if (e & (EPOLLERR | EPOLLHUP))
			ev |= LOOP_HUP | LOOP_READ;
		loop->batch[i] = evs[i].data.ptr;
		loop->batch_ev[i] = ev;
	}
	/* Soft ios join the batch (a full batch leaves the rest ready for the next one). */
	for (struct loop_io *io = loop->soft_head; io && n < LOOP_BATCH_MAX; io = io->soft_next) {
		uint32_t ev = loop_soft_events(io);

		if (ev) {
			loop->batch[n] = io;
			loop->batch_ev[n++] = ev;
		}
	}
	loop_batch_first(loop, n);
	loop->batch_len = n;
	for (loop->batch_cur = 0; loop->batch_cur < n; loop->batch_cur++) {
		struct loop_io *io = loop->batch[loop->batch_cur];

		if (io != NULL)
			io->cb(loop, io, loop->batch_ev[loop->batch_cur]);
	}
	loop->batch_len = 0;
	loop->batch_cur = 0;
	loop_run_timers(loop);
	loop_run_deferred(loop);
	if (loop->on_iteration)
		loop->on_iteration(loop, loop->on_iteration_arg);
	return 0;
}

int loop_run(struct loop *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		int rc = loop_run_once(loop, -1);

		if (rc < 0) {
			log_err("event loop: epoll_wait failed");
			return rc;
		}
	}
	return 0;
}

void loop_stop(struct loop *loop)
{
	loop->stop = true;
}
