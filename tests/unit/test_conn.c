/*
 * test_conn.c - the connection layer over a real socketpair: line echo, close after
 * flush, idle timeout, back-pressure, and the STARTTLS switch discarding bytes that were
 * sent in the clear before the handshake (command injection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/loop.h"
#include "net/conn.h"

struct echo {
	struct buf_lr lr;
	int closed, timeouts, tls_ready, drained;
	char lines[8][64];
	int nlines;
	char reason[CONN_REASON_MAX];
};

static void echo_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct echo *e = arg;
	struct buf_line line;

	switch (ev) {
	case CONN_EV_DATA:
		while (buf_lr_next(&e->lr, conn_in(c), &line) == MGW_PARSE_OK) {
			if (e->nlines < 8) {
				memcpy(e->lines[e->nlines], line.text,
				       line.len < 63 ? line.len : 63);
				e->lines[e->nlines][line.len < 63 ? line.len : 63] = '\0';
			}
			if (line.len == 4 && memcmp(line.text, "QUIT", 4) == 0) {
				buf_lr_done(&e->lr, conn_in(c), &line);
				conn_printf(c, "BYE\r\n");
				conn_close_after_flush(c, "quit");
				return;
			}
			if (e->nlines < 8 && strcmp(e->lines[e->nlines], "STARTTLS") == 0) {
				e->nlines++;
				buf_lr_done(&e->lr, conn_in(c), &line);
				conn_printf(c, "GO\r\n");
				conn_start_tls(c, &transport_sock_ops, &c->fd);
				return;
			}
			e->nlines++;
			conn_write(c, "> ", 2);
			conn_write(c, line.text, line.len);
			conn_write(c, "\r\n", 2);
			buf_lr_done(&e->lr, conn_in(c), &line);
		}
		break;
	case CONN_EV_TIMEOUT:
		e->timeouts++;
		break;
	case CONN_EV_TLS_READY:
		e->tls_ready++;
		break;
	case CONN_EV_DRAINED:
		e->drained++;
		break;
	case CONN_EV_CLOSED:
		e->closed++;
		strncpy(e->reason, conn_close_reason(c), sizeof(e->reason) - 1);
		break;
	}
}

struct fixture {
	struct loop loop;
	int peer;
	struct conn *c;
	struct echo e;
};

static void setup_conn_out(struct fixture *f, uint32_t idle_ms, size_t out_max)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	assert_int_equal(loop_init(&f->loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	f->peer = sv[1];
	buf_lr_init(&f->e.lr, 64);
	assert_int_equal(conn_new(&f->loop, sv[0], NULL, 0, 256, out_max, &f->c), 0);
	conn_set_idle(f->c, idle_ms);
	assert_int_equal(conn_start(f->c, echo_event, &f->e), 0);
}

static void setup_conn(struct fixture *f, uint32_t idle_ms)
{
	setup_conn_out(f, idle_ms, 4096);
}

static void spin(struct fixture *f, int rounds)
{
	for (int i = 0; i < rounds; i++)
		loop_run_once(&f->loop, 10);
}

static size_t peer_read(struct fixture *f, char *out, size_t max)
{
	ssize_t n = read(f->peer, out, max - 1);

	n = n < 0 ? 0 : n;
	out[n] = '\0';
	return (size_t)n;
}

static void teardown_conn(struct fixture *f)
{
	if (f->e.closed == 0)
		conn_close(f->c, "test end");
	spin(f, 2);
	close(f->peer);
	loop_free(&f->loop);
}

static void test_echo_and_quit(void **state)
{
	struct fixture f;
	char out[256];

	(void)state;
	setup_conn(&f, 0);
	assert_int_equal(write(f.peer, "hello\r\nwor", 10), 10);
	spin(&f, 3);
	assert_int_equal(write(f.peer, "ld\r\nQUIT\r\nignored\r\n", 19), 19);
	spin(&f, 5);
	peer_read(&f, out, sizeof(out));
	assert_string_equal(out, "> hello\r\n> world\r\nBYE\r\n");
	assert_int_equal(f.e.closed, 1);
	assert_string_equal(f.e.reason, "quit");
	assert_int_equal(conn_count(), 0);	   /* reaped */
	assert_int_equal(read(f.peer, out, 1), 0); /* EOF */
	teardown_conn(&f);
}

static void test_idle_timeout(void **state)
{
	struct fixture f;

	(void)state;
	setup_conn(&f, 30);
	for (int i = 0; i < 50 && f.e.closed == 0; i++)
		loop_run_once(&f.loop, 10);
	assert_int_equal(f.e.timeouts, 1);
	assert_int_equal(f.e.closed, 1);
	assert_string_equal(f.e.reason, "idle timeout");
	teardown_conn(&f);
}

static void test_peer_close(void **state)
{
	struct fixture f;

	(void)state;
	setup_conn(&f, 0);
	assert_int_equal(write(f.peer, "last\r\n", 6), 6);
	shutdown(f.peer, SHUT_WR);
	spin(&f, 3);
	assert_int_equal(f.e.nlines, 1); /* data before EOF is still delivered */
	assert_int_equal(f.e.closed, 1);
	assert_string_equal(f.e.reason, "peer closed");
	teardown_conn(&f);
}

static void test_starttls_discards_pipelined_clear_text(void **state)
{
	struct fixture f;
	char out[256];

	(void)state;
	setup_conn(&f, 0);
	/* One write: the command, then an injected command in the clear. */
	assert_int_equal(write(f.peer, "STARTTLS\r\nINJECTED\r\n", 20), 20);
	spin(&f, 4);
	peer_read(&f, out, sizeof(out));
	assert_string_equal(out, "GO\r\n");
	assert_int_equal(f.e.tls_ready, 1);
	/* What came after the switch is processed; the injected line never was. */
	assert_int_equal(write(f.peer, "after\r\n", 7), 7);
	spin(&f, 3);
	peer_read(&f, out, sizeof(out));
	assert_string_equal(out, "> after\r\n");
	assert_int_equal(f.e.nlines, 2);
	assert_string_equal(f.e.lines[0], "STARTTLS");
	assert_string_equal(f.e.lines[1], "after");
	teardown_conn(&f);
}

static void test_backpressure_stops_reading(void **state)
{
	struct fixture f;
	char big[200];
	int sent = 0;

	char drain[65536];
	size_t got = 0;
	int small = 2048;

	(void)state;
	setup_conn(&f, 0);
	setsockopt(f.c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(f.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(f.peer, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	/* The peer never reads: replies pile up to half the output limit, then the conn
	 * stops reading input instead of growing without bound or closing. */
	memset(big, 'x', 40);
	memcpy(big + 40, "\r\n", 2);
	for (int i = 0; i < 2000; i++) {
		if (write(f.peer, big, 42) == 42)
			sent++;
		spin(&f, 1);
	}
	assert_int_equal(f.e.closed, 0);
	assert_true(conn_out_len(f.c) <= 4096);
	assert_true(sent < 2000); /* the peer's writes blocked: we stopped reading */
	/* Once the peer reads, everything it sent is answered, in order. */
	for (int i = 0; i < 400; i++) {
		ssize_t n;

		spin(&f, 1);
		while ((n = read(f.peer, drain, sizeof(drain))) > 0)
			got += (size_t)n;
	}
	assert_int_equal(got, (size_t)sent * 44);
	teardown_conn(&f);
}

static void test_paused_conn_closes_on_hangup(void **state)
{
	struct fixture f;
	int i;

	(void)state;
	setup_conn(&f, 0);
	assert_int_equal(write(f.peer, "one\r\n", 5), 5);
	spin(&f, 2);
	conn_pause(f.c, true);
	close(f.peer); /* both directions gone: EPOLLHUP regardless of interest */
	f.peer = open("/dev/null", O_RDONLY);
	for (i = 0; i < 20 && f.e.closed == 0; i++)
		spin(&f, 1);
	assert_int_equal(f.e.closed, 1);
	assert_true(i < 20);
	teardown_conn(&f);
}

/* Buffers hold storage only while they hold bytes: an idle conn has none. */
static void test_idle_conn_holds_no_buffers(void **state)
{
	struct fixture f;
	char out[256];

	(void)state;
	setup_conn(&f, 0);
	assert_int_equal(write(f.peer, "hello\r\npar", 10), 10);
	spin(&f, 3);
	peer_read(&f, out, sizeof(out));
	assert_string_equal(out, "> hello\r\n");
	assert_int_equal(f.c->out.cap, 0);
	assert_true(f.c->in.cap > 0); /* "par" waits for its line end */
	assert_int_equal(write(f.peer, "t\r\n", 3), 3);
	spin(&f, 3);
	peer_read(&f, out, sizeof(out));
	assert_string_equal(out, "> part\r\n");
	assert_int_equal(f.c->in.cap, 0);
	assert_int_equal(f.c->out.cap, 0);
	teardown_conn(&f);
}

static size_t peer_drain(struct fixture *f)
{
	static char sink[65536];
	size_t got = 0;
	ssize_t n;

	while ((n = read(f->peer, sink, sizeof(sink))) > 0)
		got += (size_t)n;
	return got;
}

/* Corked, only whole chunks go out and DRAINED asks for more while less than a chunk
 * waits; uncorking sends the rest, and so does a close after flush. */
static void test_cork_sends_whole_chunks(void **state)
{
	static char data[20000];
	struct fixture f;
	char out[256];

	(void)state;
	memset(data, 'a', sizeof(data));
	setup_conn_out(&f, 0, 65536);
	conn_cork(f.c, true);
	assert_int_equal(conn_write(f.c, data, sizeof(data)), 0);
	spin(&f, 3);
	assert_int_equal(peer_drain(&f), CONN_CORK_CHUNK);
	assert_int_equal(conn_out_len(f.c), sizeof(data) - CONN_CORK_CHUNK);
	assert_true(f.e.drained >= 1);
	assert_int_equal(conn_write(f.c, data, 13000), 0);
	spin(&f, 3);
	assert_int_equal(peer_drain(&f), CONN_CORK_CHUNK);
	assert_int_equal(conn_out_len(f.c), sizeof(data) + 13000 - 2 * CONN_CORK_CHUNK);
	conn_cork(f.c, false);
	spin(&f, 3);
	assert_int_equal(peer_drain(&f), sizeof(data) + 13000 - 2 * CONN_CORK_CHUNK);
	assert_int_equal(conn_out_len(f.c), 0);
	conn_cork(f.c, true);
	assert_int_equal(conn_write(f.c, "last", 4), 0);
	conn_close_after_flush(f.c, "done");
	spin(&f, 3);
	peer_read(&f, out, sizeof(out));
	assert_string_equal(out, "last");
	assert_int_equal(f.e.closed, 1);
	teardown_conn(&f);
}

/* Output written in place: it follows what was buffered before, a tail never passes the
 * buffer's limit, a full buffer gives none, and a closed conn none either. */
static void test_out_tail_in_place(void **state)
{
	struct fixture f;
	char out[256];
	uint8_t *p;
	size_t got;

	(void)state;
	setup_conn_out(&f, 0, 64);
	assert_int_equal(conn_write(f.c, "head:", 5), 0);
	p = conn_out_tail(f.c, 100, &got);
	assert_non_null(p);
	assert_int_equal(got, 64 - 5);
	memcpy(p, "body", 4);
	conn_out_commit(f.c, 4);
	assert_int_equal(conn_out_len(f.c), 9);
	p = conn_out_tail(f.c, 3, &got);
	assert_non_null(p);
	assert_int_equal(got, 3);
	conn_out_commit(f.c, 0); /* nothing written there */
	assert_int_equal(conn_out_len(f.c), 9);
	p = conn_out_tail(f.c, 64, &got);
	assert_int_equal(got, 64 - 9);
	memset(p, '.', got);
	conn_out_commit(f.c, got);
	assert_null(conn_out_tail(f.c, 1, &got));
	assert_int_equal(got, 0);
	spin(&f, 3);
	assert_int_equal(peer_read(&f, out, sizeof(out)), 64);
	assert_memory_equal(out, "head:body.", 10);
	conn_close(f.c, "test end");
	assert_null(conn_out_tail(f.c, 1, &got));
	teardown_conn(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_echo_and_quit),
	    cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_peer_close),
	    cmocka_unit_test(test_starttls_discards_pipelined_clear_text),
	    cmocka_unit_test(test_backpressure_stops_reading),
	    cmocka_unit_test(test_paused_conn_closes_on_hangup),
	    cmocka_unit_test(test_idle_conn_holds_no_buffers),
	    cmocka_unit_test(test_cork_sends_whole_chunks),
	    cmocka_unit_test(test_out_tail_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
