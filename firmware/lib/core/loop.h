/*
 * loop.h - the event loop: fd readiness (epoll), one-shot timers, deferred calls.
 *
 * All objects are caller-allocated and must outlive their registration. Callbacks run on
 * the loop's thread; a callback may add, modify or delete any registration, its own
 * included: an io deleted during a dispatch batch is never called again in that batch.
 * Deferred calls run after each dispatch batch, which is where objects that callbacks
 * closed are safely freed.
 */
#ifndef MGW_LOOP_H
#define MGW_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOOP_READ 0x1u
#define LOOP_WRITE 0x2u
#define LOOP_HUP 0x4u /* reported only: error or hang-up on the fd */

#define LOOP_BATCH_MAX 64

struct loop;
struct loop_io;
struct loop_timer;

typedef void (*loop_io_cb)(struct loop *loop, struct loop_io *io, uint32_t events);
typedef void (*loop_timer_cb)(struct loop *loop, struct loop_timer *t);
typedef void (*loop_defer_cb)(struct loop *loop, void *arg);

/* ready: NULL for an fd watched by epoll; else a readiness function (LOOP_READ,
 * LOOP_WRITE, LOOP_HUP) polled on every iteration, level-triggered like epoll, for a
 * byte stream that is not a file descriptor (an lwIP connection in the simulator). */
typedef uint32_t (*loop_ready_fn)(struct loop_io *io);

struct loop_io {
	int fd;
	uint32_t interest;
	loop_io_cb cb;
	void *arg;
	bool registered;
	loop_ready_fn ready;
	struct loop_io *soft_next; /* the loop's list of ios with a readiness function */
	bool first;		   /* loop_io_set_first() */
};

struct loop_timer {
	uint64_t when_ms;
	size_t heap_idx; /* index in the loop's heap, or SIZE_MAX when not pending */
	loop_timer_cb cb;
	void *arg;
};

struct loop_defer {
	loop_defer_cb cb;
	void *arg;
	struct loop_defer *next;
	bool queued;
};

struct loop {
	int epfd;
	bool stop;
	uint64_t now_ms; /* monotonic, refreshed before each dispatch batch */
	struct loop_timer **heap;
	size_t heap_len, heap_cap;
	struct loop_defer *defer_head, *defer_tail;
	void *batch[LOOP_BATCH_MAX]; /* ios of the batch being dispatched */
	uint32_t batch_ev[LOOP_BATCH_MAX];
	int batch_len, batch_cur;
	void (*on_iteration)(struct loop *loop, void *arg); /* e.g. watchdog pet */
	void *on_iteration_arg;
	uint64_t (*clock)(void *arg); /* NULL: CLOCK_MONOTONIC; else e.g. a virtual clock */
	void *clock_arg;
	struct loop_io *soft_head;
};

int loop_init(struct loop *loop);
void loop_free(struct loop *loop);

/*
 * Replaces the loop's clock (milliseconds, never going backwards) by clock(arg): a
 * simulator runs the loop in virtual time. Call right after loop_init().
 */
void loop_set_clock(struct loop *loop, uint64_t (*clock)(void *arg), void *arg);

void loop_io_init(struct loop_io *io, int fd, loop_io_cb cb, void *arg);
/* An io without fd whose readiness ready(io) reports (see struct loop_io). */
void loop_io_init_soft(struct loop_io *io, loop_ready_fn ready, loop_io_cb cb, void *arg);
int loop_io_add(struct loop *loop, struct loop_io *io, uint32_t interest);
/*
 * An io marked first is dispatched before the unmarked ones of the same batch (each
 * group in the order epoll reported it): a user waiting for a reply (a logged-in mail
 * reader's command) goes before bulk work that became ready with it (SMTP sessions'
 * message data). Marked ios are expected to be few and to do little per event.
 */
void loop_io_set_first(struct loop_io *io, bool first);
int loop_io_mod(struct loop *loop, struct loop_io *io, uint32_t interest);
void loop_io_del(struct loop *loop, struct loop_io *io);

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg);
/* (Re)arms t to fire once, after_ms from now. */
int loop_timer_set(struct loop *loop, struct loop_timer *t, uint64_t after_ms);
void loop_timer_cancel(struct loop *loop, struct loop_timer *t);
bool loop_timer_pending(const struct loop_timer *t);

void loop_defer_init(struct loop_defer *d, loop_defer_cb cb, void *arg);
/* Queues d to run after the current batch; queuing a queued d does nothing. */
void loop_defer(struct loop *loop, struct loop_defer *d);

uint64_t loop_now_ms(const struct loop *loop);
/* The earliest timer's deadline in *when_ms; false when no timer is pending. */
bool loop_next_timer(const struct loop *loop, uint64_t *when_ms);
/* True when the next loop_run_once() has work without waiting: deferred calls or a ready
 * soft io (a simulator advances its virtual clock only when the loop is not busy). */
bool loop_busy(const struct loop *loop);
/* Waits at most max_wait_ms (-1: until the next timer), dispatches one batch. */
int loop_run_once(struct loop *loop, int max_wait_ms);
/* Runs until loop_stop(); returns 0, or a negative code if epoll fails. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

#endif
