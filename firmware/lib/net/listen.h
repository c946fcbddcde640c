/*
 * listen.h - non-blocking TCP and unix-socket listeners.
 *
 * A listener is caller-allocated. listen_open() binds (as root, before the privilege
 * drop); listen_start() registers it with the loop; each accepted socket is non-blocking,
 * close-on-exec, with TCP_NODELAY, and is handed to on_accept, which owns it from then
 * on. When accept fails for lack of descriptors the listener pauses for a second
 * instead of spinning.
 */
#ifndef MGW_LISTEN_H
#define MGW_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>

#include "core/loop.h"

#define LISTEN_ADDR_MAX 128

struct listener;
typedef void (*listen_accept_cb)(struct listener *l, int fd, const struct sockaddr *sa,
				 socklen_t salen);

struct listener {
	struct loop_io io;
	struct loop_timer pause;
	int fd;
	const char *name;               /* borrowed: service name for logs */
	char bound[LISTEN_ADDR_MAX];    /* the address actually bound, port resolved */
	listen_accept_cb on_accept;
	void *arg;
	bool running;
};

/*
 * Parses "HOST:PORT", "[V6]:PORT" or "*:PORT" (port 0 = any free port). Returns 0 or
 * -MGW_EINVAL; does not resolve names.
 */
int listen_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* Binds a TCP listener; the result's bound address is in l->bound. */
int listen_open_tcp(struct listener *l, const char *name, const char *addr);
/* Binds a unix stream socket at path with the given mode (replacing a stale socket). */
int listen_open_unix(struct listener *l, const char *name, const char *path, unsigned mode);
int listen_start(struct loop *loop, struct listener *l, listen_accept_cb cb, void *arg);
/* Stops accepting (graceful stop) but keeps the fd. */
void listen_stop(struct loop *loop, struct listener *l);
void listen_close(struct loop *loop, struct listener *l);

#endif
