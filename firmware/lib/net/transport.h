/*
 * transport.h - the byte stream under a connection.
 *
 * The socket backend (sock.c) is the default; TLS (lib/tls) wraps another transport;
 * an lwIP backend can replace the socket one. All calls are non-blocking:
 *   read/write return bytes moved (> 0), 0 on orderly EOF (read only), or a negative
 *   code: -MGW_EWANTREAD / -MGW_EWANTWRITE (try again when the fd is readable/writable),
 *   -MGW_ECLOSED, -MGW_EIO, -MGW_ETLS.
 *   handshake (optional, NULL when none) returns 0 when done, or the same codes.
 *   pending (optional) returns true when bytes are buffered inside the transport, so the
 *   connection must read again without waiting for the fd.
 *   destroy frees ctx; it never closes the fd (the connection owns it).
 *   ready (optional) is for a transport without fd (lwIP, net/lwip/): what the stream is
 *   ready for now (LOOP_READ, LOOP_WRITE, LOOP_HUP of core/loop.h), level-triggered.
 */
#ifndef MGW_TRANSPORT_H
#define MGW_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct transport_ops {
	const char *name;
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	ssize_t (*write)(void *ctx, const void *buf, size_t len);
	int (*handshake)(void *ctx);
	bool (*pending)(void *ctx);
	/* Orderly close (TLS close_notify); best effort, non-blocking. */
	void (*shutdown)(void *ctx);
	void (*destroy)(void *ctx);
	uint32_t (*ready)(void *ctx);
};

struct transport {
	const struct transport_ops *ops;
	void *ctx;
};

/* The plain socket transport over fd; ctx is the fd itself, nothing to free. */
extern const struct transport_ops transport_sock_ops;
void transport_sock(struct transport *t, int *fd);

#endif
