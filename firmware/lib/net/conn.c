/*
 * conn.c - connection I/O: level-triggered epoll, flush and read on every event.
 *
 * Invariant: after every entry point that can change buffers or state, conn_rearm()
 * recomputes the epoll interest from the state, so the interest is never stale.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "net/addr_net.h"

#define CONN_READ_CHUNK 16384

static struct conn *conn_list;
static size_t conn_live;
static uint64_t conn_next_id = 1;
static unsigned conn_v6_prefix = ADDR_NET_V6_PREFIX_DEFAULT;
static struct work_pool *conn_hs_pool; /* for connections accepted from now on */

static void conn_io_cb(struct loop *loop, struct loop_io *io, uint32_t events);
static void conn_idle_cb(struct loop *loop, struct loop_timer *t);
static void conn_reap_cb(struct loop *loop, void *arg);
static void conn_flush_cb(struct loop *loop, void *arg);
static void conn_queue_flush(struct conn *c);
static void conn_step(struct conn *c, bool polled);

static void conn_format_peer(struct conn *c, const struct sockaddr *sa, socklen_t salen)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa && sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, port);
	} else if (sa && sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, port);
	} else {
		snprintf(c->peer, sizeof(c->peer), "local");
		snprintf(ip, sizeof(ip), "local");
	}
	snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", ip);
	addr_net_format(sa, salen, conn_v6_prefix, c->peer_net, sizeof(c->peer_net));
}

void conn_set_v6_prefix(unsigned bits)
{
	conn_v6_prefix = bits;
}

void conn_set_handshake_pool(struct work_pool *pool)
{
	conn_hs_pool = pool;
}

/* The one timer: the handshake deadline while a handshake runs, else the idle limit. */
static void conn_arm_timer(struct conn *c)
{
	uint32_t ms = c->state == CONN_ST_HANDSHAKE && c->hs_ms ? c->hs_ms : c->idle_ms;

	if (c->state == CONN_ST_CLOSED || c->state == CONN_ST_DRAINING || !c->io.registered)
		return;
	if (ms)
		loop_timer_set(c->loop, &c->idle, ms);
	else
		loop_timer_cancel(c->loop, &c->idle);
}

/* Timers, deferred calls and the list of live connections, for both constructors. */
static void conn_link(struct conn *c)
{
	loop_timer_init(&c->idle, conn_idle_cb, c);
	loop_defer_init(&c->reap, conn_reap_cb, c);
	loop_defer_init(&c->flush, conn_flush_cb, c);
	c->next = conn_list;
	if (conn_list)
		conn_list->prev = c;
	conn_list = c;
	conn_live++;
}

int conn_new(struct loop *loop, int fd, const struct sockaddr *sa, socklen_t salen, size_t in_max,
	     size_t out_max, struct conn **out)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -MGW_ENOMEM;
	c->loop = loop;
	c->fd = fd;
	c->id = conn_next_id++;
	c->state = CONN_ST_OPEN;
	buf_init(&c->in, in_max);
	buf_init(&c->out, out_max);
	transport_sock(&c->tr, &c->fd);
	c->plain = c->tr;
	c->hs_pool = conn_hs_pool;
	loop_io_init(&c->io, fd, conn_io_cb, c);
	conn_format_peer(c, sa, salen);
	conn_link(c);
	*out = c;
	return 0;
}

static uint32_t conn_ready(struct loop_io *io)
{
	struct conn *c = io->arg;

	return c->plain.ops->ready(c->plain.ctx);
}

int conn_new_transport(struct loop *loop, const struct transport *tr, const char *peer,
		       size_t in_max, size_t out_max, struct conn **out)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		if (tr->ops->destroy)
			tr->ops->destroy(tr->ctx);
		return -MGW_ENOMEM;
	}
	c->loop = loop;
	c->fd = -1;
	c->id = conn_next_id++;
	c->state = CONN_ST_OPEN;
	buf_init(&c->in, in_max);
	buf_init(&c->out, out_max);
	c->tr = c->plain = *tr;
	loop_io_init_soft(&c->io, conn_ready, conn_io_cb, c);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", peer);
	snprintf(c->peer_net, sizeof(c->peer_net), "%s", peer);
	conn_link(c);
	*out = c;
	return 0;
}

/* The output bytes to write now: all of them, or while corked and open only whole
 * chunks (a full TLS record each; the rest waits for more). */
static size_t conn_out_ready(const struct conn *c)
{
	size_t len = buf_len(&c->out);

	if (c->corked && c->state == CONN_ST_OPEN && !c->tls_next_set)
		len -= len % CONN_CORK_CHUNK;
	return len;
}

/* Input is wanted: open, not paused, room for it, and our replies are being read. */
static bool conn_wants_input(const struct conn *c)
{
	return c->state == CONN_ST_OPEN && !c->paused && !c->eof && !c->tls_next_set &&
	       buf_room(&c->in) > 0 && buf_len(&c->out) < c->out.max / 2;
}

static uint32_t conn_interest(const struct conn *c)
{
	uint32_t want = 0;

	switch (c->state) {
	case CONN_ST_HANDSHAKE:
		if (c->hs_busy)
			return 0; /* the worker has the transport */
		return c->hs_wants_write ? LOOP_WRITE : LOOP_READ;
	case CONN_ST_CLOSED:
		return 0;
	case CONN_ST_OPEN:
		/* Back-pressure: no reading while the peer does not read our replies. */
		if (conn_wants_input(c))
			want |= c->rd_wants_write ? LOOP_WRITE : LOOP_READ;
		break;
	case CONN_ST_DRAINING:
		break;
	}
	if (conn_out_ready(c) > 0)
		want |= c->wr_wants_read ? LOOP_READ : LOOP_WRITE;
	return want;
}

static void conn_rearm(struct conn *c)
{
	if (c->state == CONN_ST_CLOSED || !c->io.registered)
		return;
	if (loop_io_mod(c->loop, &c->io, conn_interest(c)) < 0) {
		conn_close(c, "epoll_ctl failed");
		return;
	}
	/* Bytes the transport already holds (a TLS record read while the input buffer was
	 * full) never make the fd readable: read them without waiting for it. Each such step
	 * takes some of them, so this ends. */
	if (conn_wants_input(c) && c->tr.ops->pending && c->tr.ops->pending(c->tr.ctx))
		conn_queue_flush(c);
}

int conn_start(struct conn *c, conn_event_cb cb, void *sess)
{
	int rc;

	c->cb = cb;
	c->sess = sess;
	rc = loop_io_add(c->loop, &c->io, conn_interest(c));
	if (rc == 0)
		conn_arm_timer(c);
	return rc;
}

static void conn_emit(struct conn *c, enum conn_event ev)
{
	if (c->cb)
		c->cb(c, ev, c->sess);
}

static void conn_install_tls(struct conn *c)
{
	c->tr = c->tls_next;
	c->tls_next_set = false;
	/* Bytes that arrived before the handshake were sent in the clear: drop them. */
	buf_reset(&c->in);
	c->state = CONN_ST_HANDSHAKE;
	c->hs_wants_write = false;
	c->rd_wants_write = c->wr_wants_read = false;
	conn_arm_timer(c);
}

int conn_start_tls(struct conn *c, const struct transport_ops *ops, void *ctx)
{
	if (c->state != CONN_ST_OPEN || c->tr.ops != c->plain.ops)
		return -MGW_EINVAL;
	c->tls_next.ops = ops;
	c->tls_next.ctx = ctx;
	c->tls_next_set = true;
	if (buf_len(&c->out) == 0)
		conn_install_tls(c);
	conn_rearm(c);
	return 0;
}

struct buf *conn_in(struct conn *c)
{
	return &c->in;
}

size_t conn_out_len(const struct conn *c)
{
	return buf_len(&c->out);
}

static void conn_queue_flush(struct conn *c)
{
	/* Never queued after close: the reap, queued at close, must be the last callback. */
	if (c->state != CONN_ST_CLOSED && !c->flush_queued) {
		c->flush_queued = true;
		loop_defer(c->loop, &c->flush);
	}
}

int conn_write(struct conn *c, const void *p, size_t len)
{
	int rc;

	if (c->state == CONN_ST_CLOSED)
		return -MGW_ECLOSED;
	rc = buf_append(&c->out, p, len);
	if (rc < 0) {
		conn_close(c, "output buffer limit");
		return rc;
	}
	conn_queue_flush(c);
	return 0;
}

uint8_t *conn_out_tail(struct conn *c, size_t want, size_t *got)
{
	*got = 0;
	if (c->state == CONN_ST_CLOSED)
		return NULL;
	return buf_tail(&c->out, want, got);
}

void conn_out_commit(struct conn *c, size_t len)
{
	if (c->state == CONN_ST_CLOSED || len == 0)
		return;
	buf_commit(&c->out, len);
	conn_queue_flush(c);
}

int conn_printf(struct conn *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -MGW_EINVAL;
	return conn_write(c, line, (size_t)n);
}

void conn_pause(struct conn *c, bool paused)
{
	c->paused = paused;
	conn_rearm(c);
	/* Input may already be buffered: let the session see it without waiting for I/O. */
	if (!paused && buf_len(&c->in) > 0)
		conn_queue_flush(c);
}

void conn_cork(struct conn *c, bool corked)
{
	c->corked = corked;
	if (!corked && buf_len(&c->out) > 0)
		conn_queue_flush(c);
}

void conn_hold(struct conn *c, bool held)
{
	c->held = held;
	if (!held && c->state == CONN_ST_OPEN)
		conn_queue_flush(c);
}

void conn_set_idle(struct conn *c, uint32_t ms)
{
	c->idle_ms = ms;
	if (c->state != CONN_ST_HANDSHAKE || c->hs_ms == 0)
		conn_arm_timer(c);
}

void conn_set_interactive(struct conn *c, bool interactive)
{
	loop_io_set_first(&c->io, interactive);
}

void conn_set_handshake_timeout(struct conn *c, uint32_t ms)
{
	c->hs_ms = ms;
	if (c->state == CONN_ST_HANDSHAKE)
		conn_arm_timer(c);
}

const char *conn_close_reason(const struct conn *c)
{
	return c->reason;
}

bool conn_is_open(const struct conn *c)
{
	return c->state == CONN_ST_OPEN || c->state == CONN_ST_HANDSHAKE;
}

void *conn_tls_ctx(const struct conn *c)
{
	return c->tr.ops == c->plain.ops ? NULL : c->tr.ctx;
}

void conn_close(struct conn *c, const char *reason)
{
	if (c->state == CONN_ST_CLOSED)
		return;
	if (reason && c->reason[0] == '\0')
		snprintf(c->reason, sizeof(c->reason), "%s", reason);
	c->state = CONN_ST_CLOSED;
	loop_io_del(c->loop, &c->io);
	loop_timer_cancel(c->loop, &c->idle);
	conn_emit(c, CONN_EV_CLOSED);
	c->cb = NULL;
	/* A handshake step still running on a worker uses the transport and the fd: they
	 * are freed when it comes back (conn_hs_done). */
	if (!c->hs_busy)
		loop_defer(c->loop, &c->reap);
}

void conn_close_after_flush(struct conn *c, const char *reason)
{
	if (c->state == CONN_ST_CLOSED || c->state == CONN_ST_DRAINING)
		return;
	if (reason && c->reason[0] == '\0')
		snprintf(c->reason, sizeof(c->reason), "%s", reason);
	if (c->state == CONN_ST_HANDSHAKE || buf_len(&c->out) == 0) {
		conn_close(c, reason);
		return;
	}
	c->state = CONN_ST_DRAINING;
	loop_timer_set(c->loop, &c->idle, CONN_DRAIN_TIMEOUT_MS);
	conn_queue_flush(c);
	conn_rearm(c);
}

/* Writes as much output as the transport takes. Returns false if the conn closed. */
static bool conn_do_flush(struct conn *c)
{
	c->wr_wants_read = false;
	while (conn_out_ready(c) > 0) {
		ssize_t n = c->tr.ops->write(c->tr.ctx, buf_data(&c->out), conn_out_ready(c));

		if (n == -MGW_EWANTWRITE)
			break;
		if (n == -MGW_EWANTREAD) {
			c->wr_wants_read = true;
			break;
		}
		if (n <= 0) {
			conn_close(c, n == -MGW_ECLOSED ? "peer closed" : "write error");
			return false;
		}
		buf_consume(&c->out, (size_t)n);
	}
	if (buf_len(&c->out) > 0 && conn_out_ready(c) == 0 && !c->wr_wants_read) {
		/* Corked: less than a chunk is left; the session adds to it. */
		conn_emit(c, CONN_EV_DRAINED);
	} else if (buf_len(&c->out) == 0) {
		if (c->state == CONN_ST_DRAINING) {
			if (c->tr.ops->shutdown)
				c->tr.ops->shutdown(c->tr.ctx);
			conn_close(c, NULL);
			return false;
		}
		if (c->tls_next_set)
			conn_install_tls(c);
		else if (c->state == CONN_ST_OPEN)
			conn_emit(c, CONN_EV_DRAINED);
		/* Nothing more to send: an idle connection holds no output storage. */
		if (buf_len(&c->out) == 0)
			buf_free(&c->out);
	}
	return c->state != CONN_ST_CLOSED;
}

/* Reads what is available: from the socket when it was reported readable (polled), else
 * only what the transport already holds (a TLS record read earlier), then offers the
 * buffered input to the session. Returns false if the conn closed. */
static bool conn_do_read(struct conn *c, bool polled)
{
	bool got = false, took = false;
	size_t before;

	c->rd_wants_write = false;
	while (c->state == CONN_ST_OPEN && !c->paused && !c->eof && !c->tls_next_set &&
	       buf_len(&c->out) < c->out.max / 2) {
		size_t room;
		uint8_t *p = buf_tail(&c->in, CONN_READ_CHUNK, &room);
		ssize_t n;

		if (p == NULL)
			break;
		if (!polled && !(c->tr.ops->pending && c->tr.ops->pending(c->tr.ctx)))
			break;
		n = c->tr.ops->read(c->tr.ctx, p, room);
		if (n == -MGW_EWANTREAD)
			break;
		if (n == -MGW_EWANTWRITE) {
			c->rd_wants_write = true;
			break;
		}
		if (n == 0) {
			c->eof = true;
			break;
		}
		if (n < 0) {
			conn_close(c, n == -MGW_ECLOSED ? "peer reset"
				      : n == -MGW_ETLS	? "TLS error"
							: "read error");
			return false;
		}
		buf_commit(&c->in, (size_t)n);
		got = true;
		if (!(c->tr.ops->pending && c->tr.ops->pending(c->tr.ctx)) && (size_t)n < room)
			break;
	}
	if (got && c->idle_ms)
		loop_timer_set(c->loop, &c->idle, c->idle_ms);
	before = buf_len(&c->in);
	if (before > 0 && c->state == CONN_ST_OPEN && !c->paused) {
		conn_emit(c, CONN_EV_DATA);
		took = buf_len(&c->in) < before;
	}
	/* Everything read was taken: an idle connection holds no input storage (a read
	 * chunk is CONN_READ_CHUNK, most of a logged-in session's memory otherwise). */
	if (buf_len(&c->in) == 0)
		buf_free(&c->in);
	/* The peer has sent everything, but a half-closed peer still reads: close once every
	 * reply is out and the session takes no more of the input (RFC 9293 3.6). */
	if (c->eof && !c->held && c->state == CONN_ST_OPEN && buf_len(&c->out) == 0 &&
	    (buf_len(&c->in) == 0 || !took)) {
		conn_close(c, "peer closed");
		return false;
	}
	return c->state != CONN_ST_CLOSED;
}

static void conn_hs_run(struct work_job *j);
static void conn_hs_done(struct work_job *j);

/* Hands the next handshake step to the pool. The conn stays in CONN_ST_HANDSHAKE with
 * no epoll interest until conn_hs_done. False if it was refused (the conn closed). */
static bool conn_hs_submit(struct conn *c)
{
	int rc;

	c->hs_tr = c->tr;
	work_job_init(&c->hs_job, conn_hs_run, conn_hs_done, c);
	rc = work_submit(c->hs_pool, &c->hs_job);
	if (rc < 0) {
		log_warn("conn %s: TLS handshake refused: %s", c->peer,
			 rc == -MGW_ELIMIT ? "too many handshakes waiting for a worker"
					   : "shutting down");
		conn_close(c, rc == -MGW_ELIMIT ? "TLS handshake queue full" : "shutting down");
		return false;
	}
	c->hs_busy = true;
	return true;
}

/* The outcome of a handshake step (on the loop). False if the conn closed. */
static bool conn_hs_result(struct conn *c, int rc)
{
	if (rc == -MGW_EWANTREAD || rc == -MGW_EWANTWRITE) {
		c->hs_wants_write = rc == -MGW_EWANTWRITE;
		return true;
	}
	if (rc < 0) {
		conn_close(c, "TLS handshake failed");
		return false;
	}
	c->state = CONN_ST_OPEN;
	conn_arm_timer(c);
	conn_emit(c, CONN_EV_TLS_READY);
	return c->state != CONN_ST_CLOSED;
}

static bool conn_do_handshake(struct conn *c)
{
	/* Without a pool (lwIP, the simulator, fuzzers) the step runs here, on the loop. */
	if (c->hs_pool && c->tr.ops->handshake)
		return conn_hs_submit(c);
	return conn_hs_result(c, c->tr.ops->handshake ? c->tr.ops->handshake(c->tr.ctx) : 0);
}

/* On a worker: one handshake step, as far as the non-blocking socket lets it go (the
 * transport returns at WANT_READ/WANT_WRITE, done or error). Touches only the job's
 * copy of the transport, which the loop leaves alone while hs_busy is set. */
static void conn_hs_run(struct work_job *j)
{
	struct conn *c = j->arg;
	const struct transport *tr = &c->hs_tr;

	c->hs_rc = tr->ops->handshake(tr->ctx);
}

/* On the loop: the step came back. The conn may have closed meanwhile (its session is
 * gone already): only the reap is left. Otherwise the result is applied as if the step
 * had run here, and the conn waits for its socket again or goes on as open. */
static void conn_hs_done(struct work_job *j)
{
	struct conn *c = j->arg;

	c->hs_busy = false;
	if (c->state == CONN_ST_CLOSED) {
		loop_defer(c->loop, &c->reap);
		return;
	}
	if (j->status < 0) {
		conn_close(c, "shutting down");
		return;
	}
	if (!conn_hs_result(c, c->hs_rc))
		return;
	if (c->state == CONN_ST_HANDSHAKE)
		conn_rearm(c);
	else
		conn_step(c, true); /* input the client sent along with its Finished */
}

/* One step of c: handshake, flush, read, flush. polled: the socket was reported ready
 * (or may hold input: a handshake just ended), so it is read; a deferred flush is not,
 * and reads only what the transport holds: a socket with input is reported by epoll in
 * the next iteration, so a connection gets at most one socket read per iteration and one
 * that keeps replying cannot keep the loop from the others. */
static void conn_step(struct conn *c, bool polled)
{
	if (c->hs_busy)
		return; /* the worker has the transport; conn_hs_done goes on */
	if (c->state == CONN_ST_HANDSHAKE && !conn_do_handshake(c))
		return;
	if (c->state == CONN_ST_HANDSHAKE) {
		conn_rearm(c);
		return;
	}
	if (buf_len(&c->out) > 0 && !conn_do_flush(c))
		return;
	if (c->state == CONN_ST_HANDSHAKE) { /* STARTTLS installed by the flush */
		conn_step(c, polled);
		return;
	}
	if (c->state == CONN_ST_OPEN && !conn_do_read(c, polled))
		return;
	/* The session may have replied to what it read: send it now. */
	if (buf_len(&c->out) > 0 && !conn_do_flush(c))
		return;
	if (c->state == CONN_ST_HANDSHAKE) {
		conn_step(c, polled);
		return;
	}
	conn_rearm(c);
}

static void conn_io_cb(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct conn *c = io->arg;

	(void)loop;
	conn_step(c, true);
	/* epoll reports hang-up and errors whatever the interest: a conn that is not reading
	 * (paused, back-pressure) would be woken for it forever. The peer is gone, so nothing
	 * we could still send would arrive: close. */
	if ((events & LOOP_HUP) && c->state != CONN_ST_CLOSED)
		conn_close(c, "peer hung up");
}

static void conn_flush_cb(struct loop *loop, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	c->flush_queued = false;
	if (c->state == CONN_ST_CLOSED)
		return;
	/* Also delivers input that was buffered while the session was paused. */
	if (c->state == CONN_ST_OPEN && !c->paused && buf_len(&c->in) > 0 &&
	    buf_len(&c->out) == 0) {
		conn_emit(c, CONN_EV_DATA);
		if (c->state == CONN_ST_CLOSED)
			return;
	}
	conn_step(c, false);
}

static void conn_idle_cb(struct loop *loop, struct loop_timer *t)
{
	struct conn *c = t->arg;

	(void)loop;
	if (c->state == CONN_ST_DRAINING) {
		conn_close(c, NULL);
		return;
	}
	if (c->state == CONN_ST_HANDSHAKE && c->hs_ms) {
		log_info("tls %s: TLS handshake timeout (%u ms), closed", c->peer,
			 (unsigned)c->hs_ms);
		conn_close(c, "TLS handshake timeout");
		return;
	}
	conn_emit(c, CONN_EV_TIMEOUT);
	if (c->state == CONN_ST_CLOSED || c->state == CONN_ST_DRAINING)
		return;
	if (!loop_timer_pending(&c->idle))
		conn_close(c, "idle timeout");
}

static void conn_reap_cb(struct loop *loop, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	if (c->tls_next_set && c->tls_next.ops->destroy)
		c->tls_next.ops->destroy(c->tls_next.ctx);
	if (c->tr.ops->destroy)
		c->tr.ops->destroy(c->tr.ctx);
	if (c->tr.ops != c->plain.ops && c->plain.ops->destroy)
		c->plain.ops->destroy(c->plain.ctx);
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		conn_list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_live--;
	free(c);
}

size_t conn_count(void)
{
	return conn_live;
}

size_t conn_out_total(void)
{
	size_t n = 0;

	for (struct conn *c = conn_list; c; c = c->next)
		n += buf_len(&c->out);
	return n;
}

size_t conn_count_peer(const char *net)
{
	size_t n = 0;

	for (struct conn *c = conn_list; c; c = c->next)
		if (c->state != CONN_ST_CLOSED && strcmp(c->peer_net, net) == 0)
			n++;
	return n;
}

void conn_close_all(const char *reason)
{
	for (struct conn *c = conn_list; c; c = c->next)
		conn_close(c, reason);
}
