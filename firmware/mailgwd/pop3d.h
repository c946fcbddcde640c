/*
 * pop3d.h - the POP3S service of mailgwd: the listener on [pop3s] listen (995 on the
 * board), implicit TLS through the current generation's certificate gate, then a POP3
 * session (proto/pop3_sess.h) holding that generation until it ends.
 */
#ifndef MGW_POP3D_H
#define MGW_POP3D_H

#include "core/loop.h"
#include "core/work.h"
#include "gen.h"

/* Binds the listener (as root, before the privilege drop); nothing when listen = off. */
int pop3d_open(const struct mgw_cfg *cfg);
/* Starts accepting; *genp is read at every accept (the current generation). */
/* work: the worker pool password checks run on (borrowed; outlives every session). */
int pop3d_start(struct loop *loop, struct mgw_gen *const *genp, struct work_pool *work);
/* Stops accepting (graceful stop). */
void pop3d_stop(struct loop *loop);
void pop3d_close(struct loop *loop);
/* POP3S connections alive, handshakes included (status). */
unsigned pop3d_connections(void);
/* The address bound, or NULL when not listening. */
const char *pop3d_bound(void);

#endif
