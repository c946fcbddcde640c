/*
 * control.h - the root-only control socket the admin CLI talks to.
 *
 * Protocol: one command per line; the reply is zero or more data lines followed by a
 * last line "OK" or "ERR <reason>". Commands: status, reload, help, quit.
 * Only peers with the daemon's own uid before the privilege drop (root on the board) or
 * uid 0 are accepted (SO_PEERCRED), on top of the socket's 0600 mode.
 */
#ifndef MGW_CONTROL_H
#define MGW_CONTROL_H

#include <sys/types.h>

#include "core/loop.h"
#include "net/listen.h"

struct control_ops {
	/* Rebuilds the generation from the files; returns 0 or fills why. */
	int (*reload)(char *why, size_t whysz);
	/* Appends "key: value" status lines to the reply via the emit callback. */
	void (*status)(void (*emit)(void *ctx, const char *line), void *ctx);
};

int control_open(struct listener *l, const char *path);
int control_start(struct loop *loop, struct listener *l, uid_t allowed_uid,
		  const struct control_ops *ops);

#endif
