/*
 * conn.h - a connection: fd + transport + bounded input/output buffers + idle timer.
 *
 * Protocol code never touches the socket: it is told of semantic events through one
 * callback and reads conn_in(), writes with conn_write()/conn_printf().
 *   CONN_EV_DATA       new bytes are in conn_in(); consume what you can
 *   CONN_EV_DRAINED    the output buffer became empty, or corked less than a chunk is
 *                      left (stream more if you have it)
 *   CONN_EV_TIMEOUT    the idle timer fired; if the session does not close or re-arm,
 *                      the connection is closed with reason "idle timeout"
 *                      (not sent for a handshake deadline: see conn_set_handshake_timeout)
 *   CONN_EV_TLS_READY  a TLS handshake on this connection completed
 *   CONN_EV_CLOSED     the connection is closing (reason in conn_close_reason()); the
 *                      session must free itself and not touch the conn afterwards
 *
 * Ownership: a conn owns its fd, buffers and transport context; it is freed by the loop
 * (deferred) after CLOSED was delivered, so a callback may close it safely. The session
 * pointer is owned by the session code, which frees it on CLOSED.
 * Memory: at most in_max + out_max bytes of buffers per connection, and none while a
 * buffer is empty (its storage is wiped and freed once everything in it was taken or
 * sent), so an idle connection holds only its struct and its transport's state.
 *
 * Handshakes on workers (conn_set_handshake_pool): each step of a transport handshake
 * (a TLS handshake's public-key work, about 1.6 ms of CPU on the build host) runs on a
 * worker thread, one step of one connection at a time. While its step runs the
 * connection is "busy on a worker": the worker alone touches its transport (the TLS
 * session and the socket under it); the loop keeps the conn, its buffers, timer and
 * session, but neither reads, writes nor frees the transport, and the fd has no epoll
 * interest. A close meanwhile (handshake timeout, hang-up, shutdown) is delivered at
 * once (CLOSED; the session goes), but the conn and its transport are freed only after
 * the step has come back. Everything else stays on the loop thread.
 */
#ifndef MGW_CONN_H
#define MGW_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/work.h"
#include "net/buf.h"
#include "net/transport.h"

enum conn_event {
	CONN_EV_DATA,
	CONN_EV_DRAINED,
	CONN_EV_TIMEOUT,
	CONN_EV_TLS_READY,
	CONN_EV_CLOSED,
};

enum conn_state {
	CONN_ST_OPEN,
	CONN_ST_HANDSHAKE, /* transport handshake in progress */
	CONN_ST_DRAINING,  /* flushing output, then close; input ignored */
	CONN_ST_CLOSED,
};

struct conn;
typedef void (*conn_event_cb)(struct conn *c, enum conn_event ev, void *sess);

#define CONN_ADDR_MAX 64 /* "[ipv6]:port" */
#define CONN_REASON_MAX 96
#define CONN_DRAIN_TIMEOUT_MS 10000
#define CONN_CORK_CHUNK 16384 /* the largest TLS record's payload (RFC 8446 5.1) */

struct conn {
	struct loop *loop;
	struct loop_io io;
	struct loop_timer idle;
	struct loop_defer reap;
	int fd;
	struct transport tr;
	struct transport plain;	   /* the stream under TLS: the socket, or an lwIP connection */
	struct transport tls_next; /* STARTTLS: installed once the output is flushed */
	bool tls_next_set;
	struct buf in, out;
	uint32_t idle_ms;
	uint32_t hs_ms; /* deadline of a TLS handshake, from its start; 0 = idle_ms applies */
	conn_event_cb cb;
	void *sess;
	enum conn_state state;
	bool paused, eof, rd_wants_write, wr_wants_read, hs_wants_write, flush_queued;
	bool held;   /* conn_hold(): the peer's end of input does not close yet */
	bool corked; /* conn_cork(): only whole CONN_CORK_CHUNKs are written */
	uint64_t id;
	char peer[CONN_ADDR_MAX];     /* address and port, for logs */
	char peer_ip[CONN_ADDR_MAX];  /* address only */
	char peer_net[CONN_ADDR_MAX]; /* its network, for per-address limits (addr_net.h) */
	char reason[CONN_REASON_MAX];
	struct loop_defer flush;
	struct conn *prev, *next; /* list of live connections */
	/* A handshake step on a worker (conn_set_handshake_pool): from its submission until
	 * its done callback, hs_job, hs_tr and hs_rc belong to the worker pool, and so does
	 * the transport behind hs_tr (hs_busy is set and read by the loop only). */
	struct work_pool *hs_pool;
	struct work_job hs_job;
	struct transport hs_tr;
	int hs_rc;
	bool hs_busy;
};

/*
 * Creates a connection for an accepted, non-blocking fd and starts reading once a
 * handler is attached. Takes ownership of fd on success only.
 */
int conn_new(struct loop *loop, int fd, const struct sockaddr *sa, socklen_t salen, size_t in_max,
	     size_t out_max, struct conn **out);
/*
 * The same for a stream without fd (an lwIP connection, net/lwip/): *tr (copied; its
 * ops->ready required) is owned by the conn from now on, even on failure. peer names it
 * in logs and per-address limits.
 */
int conn_new_transport(struct loop *loop, const struct transport *tr, const char *peer,
		       size_t in_max, size_t out_max, struct conn **out);
/* Sets the handler and starts the connection (registers the fd). */
int conn_start(struct conn *c, conn_event_cb cb, void *sess);

/*
 * Replaces the plain transport by ops/ctx (ownership of ctx transfers to the conn) and
 * starts its handshake. Implicit TLS: call before conn_start() or at any time with an
 * empty output. STARTTLS: the switch happens after the pending output (the "go ahead"
 * reply) is flushed, and every byte the peer sent before the handshake is discarded,
 * never executed (STARTTLS command injection).
 */
int conn_start_tls(struct conn *c, const struct transport_ops *ops, void *ctx);

struct buf *conn_in(struct conn *c);
int conn_write(struct conn *c, const void *p, size_t len);
int conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Output produced in place (a message file read straight into the output buffer, no
 * copy on the way): a writable tail of at least 1 and at most want bytes (less when the
 * buffer's limit is near), NULL when the output is full, the conn closed or memory is
 * short. Borrowed until the next call that changes the output; conn_out_commit() adds
 * the first len bytes written there to the output (0 adds nothing).
 */
uint8_t *conn_out_tail(struct conn *c, size_t want, size_t *got);
void conn_out_commit(struct conn *c, size_t len);
size_t conn_out_len(const struct conn *c);
/* Stops (true) or resumes (false) reading input; used for back-pressure by sessions. */
void conn_pause(struct conn *c, bool paused);
/*
 * Corks (true) or uncorks (false) the output, as TCP_CORK does for a socket: while
 * corked, output is written in whole CONN_CORK_CHUNKs only, so a session that streams
 * many small pieces (the messages of a FETCH) fills every TLS record instead of ending a
 * short record each time its output drains; CONN_EV_DRAINED comes when less than a chunk
 * is left. Uncorking writes the rest. Closing (conn_close_after_flush) writes it all.
 */
void conn_cork(struct conn *c, bool corked);
/*
 * Holds (true) or releases (false) the conn open after the peer's end of input: while
 * the session still works on input it took (a commit or password check on a worker),
 * a client that half-closed after pipelining (RFC 9293 3.6) must still get the replies
 * to that and to the input behind it. On release the buffered input is offered again
 * and the usual end-of-input close follows.
 */
void conn_hold(struct conn *c, bool held);
void conn_set_idle(struct conn *c, uint32_t ms);
/*
 * Marks c as interactive (true): when it becomes readable together with other
 * connections, it is served before them (loop_io_set_first). For a logged-in mail
 * reader, whose user waits for each reply, against SMTP sessions' bulk data.
 */
void conn_set_interactive(struct conn *c, bool interactive);
/*
 * Bounds every TLS handshake of c (implicit TLS or STARTTLS) to ms from its start,
 * however the peer trickles bytes; a handshake still unfinished then closes c with the
 * reason "TLS handshake timeout". Afterwards the idle timeout applies again.
 */
void conn_set_handshake_timeout(struct conn *c, uint32_t ms);

/* Closes now; CLOSED is delivered before this returns. Safe to call twice. */
void conn_close(struct conn *c, const char *reason);
/* Flushes the output (bounded by CONN_DRAIN_TIMEOUT_MS), then closes. */
void conn_close_after_flush(struct conn *c, const char *reason);
const char *conn_close_reason(const struct conn *c);
bool conn_is_open(const struct conn *c);

/* The transport context in use (e.g. the TLS session), or NULL for plain TCP. */
void *conn_tls_ctx(const struct conn *c);

/*
 * Connections accepted from now on by conn_new() (kernel sockets) run every step of
 * their transport handshake on pool (NULL: on the loop, the default). A connection
 * over another transport (conn_new_transport: lwIP, which is single-threaded and
 * deterministic in the simulator) always runs its handshake on the loop. When pool's
 * queue is full the handshake is refused: the connection is closed with the reason
 * "TLS handshake queue full" (logged), as an accept-time limit would.
 */
void conn_set_handshake_pool(struct work_pool *pool);

/* Live connections, and closing all of them (graceful stop). */
size_t conn_count(void);
/* Bytes waiting in the output buffers of all live connections (memory accounting). */
size_t conn_out_total(void);
/* Open connections whose peer_net is net (all services). */
size_t conn_count_peer(const char *net);
void conn_close_all(const char *reason);
/* The IPv6 prefix length of peer_net for connections accepted from now on. */
void conn_set_v6_prefix(unsigned bits);

#endif
