/*
 * lwip_tcp.h - the transport backend over lwIP's raw TCP API (net/transport.h), beside
 * the socket one: conn, the TLS gate and the protocol sessions run over it unchanged
 * (conn_new_transport). Built only with lwIP (tests/netsim, a future MCU build): this
 * folder is not part of the daemon's library.
 *
 * Flow control both ways: received pbufs stay queued until the connection reads them,
 * and the TCP window is reopened (tcp_recved) only by what was read, so a session that
 * stops reading closes the peer's window; a write takes at most tcp_sndbuf() bytes, so
 * a peer that stops reading (zero window) makes write return -MGW_EWANTWRITE and conn's
 * bounded output buffer is all that is held.
 *
 * Ownership: a struct transport from lwip_tcp_accept/lwip_tcp_connect owns its pcb and
 * queued pbufs; its destroy op closes the pcb (FIN, or RST if lwIP has no memory) and
 * frees them. Runs on one thread with lwIP (NO_SYS=1).
 */
#ifndef MGW_LWIP_TCP_H
#define MGW_LWIP_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "net/transport.h"

extern const struct transport_ops lwip_tcp_ops;

/* A new connection: tr is the caller's (conn_new_transport takes it); peer "a.b.c.d:port". */
typedef void (*lwip_tcp_accept_cb)(void *arg, const struct transport *tr, const char *peer);

struct lwip_tcp_listener;

/* Listens on addr:port (addr in host byte order). 0 or -MGW_E*. */
int lwip_tcp_listen(uint32_t addr, uint16_t port, lwip_tcp_accept_cb cb, void *arg,
		    struct lwip_tcp_listener **out);
void lwip_tcp_listener_close(struct lwip_tcp_listener *l);

/* Connects from local (an address of one netif) to remote:port; the transport reports
 * writable once established. 0 or -MGW_E*. */
int lwip_tcp_connect(uint32_t local, uint32_t remote, uint16_t port, struct transport *out);

/* Half-close and reset "at chosen moments" (the simulator's faults). */
void lwip_tcp_abort(void *ctx);

/* Transports alive and bytes queued in them (the simulator's end-of-run checks). */
size_t lwip_tcp_live(void);
size_t lwip_tcp_queued(void);
/* Bytes lwIP holds to send (unsent and unacknowledged) on connections from local_port. */
size_t lwip_tcp_unsent(uint16_t local_port);

#endif
