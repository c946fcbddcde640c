/*
 * tls_client.h - the simulator's TLS client side (mbedTLS), shared by the POP3S and
 * IMAPS clients: a configuration with the test CA and an optional client certificate,
 * and a connection from the client's netif to the daemon with TLS started on it, the TLS
 * context a transport under conn (net/transport.h) that the conn owns.
 */
#ifndef MGW_NETSIM_TLS_CLIENT_H
#define MGW_NETSIM_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "net/conn.h"

struct tls_client_conf;
struct tls_client;

/* cert: "joe", "ann", "rev", "foreign" (files in pki_dir) or NULL (no certificate). */
int tls_client_conf_new(const char *pki_dir, const char *cert, struct tls_client_conf **out);
/* Only once no connection that uses conf is left (the loop reaped them). */
void tls_client_conf_free(struct tls_client_conf *conf);

/*
 * Connects from local to the daemon's port and starts TLS (the ClientHello goes out
 * first); events go to cb(arg). *c and *t are the conn's: t lives until the conn's
 * CONN_EV_CLOSED event returns. 0, or -MGW_E* with nothing left open.
 */
int tls_client_connect(struct loop *loop, struct tls_client_conf *conf, uint32_t local,
		       uint16_t port, size_t in_max, conn_event_cb cb, void *arg, struct conn **c,
		       struct tls_client **t);
/* The server ended the handshake or the session with a fatal alert (the gate's refusal). */
bool tls_client_alerted(const struct tls_client *t);

#endif
