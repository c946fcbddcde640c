/*
 * imapd.h - the IMAPS service of mailgwd: the listener on [imaps] listen (993 on the
 * board), implicit TLS through the current generation's certificate gate, then an IMAP
 * session (proto/imap_sess.h) holding that generation until it ends.
 */
#ifndef MGW_IMAPD_H
#define MGW_IMAPD_H

#include "gate.h"

/* The service (gate.h): gate_svc_open/start/stop/close/bound(&imapd_svc, ...). */
extern struct gate_svc imapd_svc;

#endif
