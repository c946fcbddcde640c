/*
 * pop3d.h - the POP3S service of mailgwd: the listener on [pop3s] listen (995 on the
 * board), implicit TLS through the current generation's certificate gate, then a POP3
 * session (proto/pop3_sess.h) holding that generation until it ends.
 */
#ifndef MGW_POP3D_H
#define MGW_POP3D_H

#include "gate.h"

/* The service (gate.h): gate_svc_open/start/stop/close/bound(&pop3d_svc, ...). */
extern struct gate_svc pop3d_svc;

#endif
