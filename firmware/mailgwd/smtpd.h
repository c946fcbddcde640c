/*
 * smtpd.h - the SMTP service of mailgwd: listener, connection limits, the Maildir store
 * and STARTTLS hooks around lib/proto/smtp_sess.
 *
 * smtpd_open() binds (as root, before the privilege drop); smtpd_start() runs after the
 * drop: it opens the store (so its directories belong to the daemon user), removes what
 * an interrupted delivery left behind and starts accepting. Every session holds a
 * reference on the generation that was current when it was accepted.
 */
#ifndef MGW_SMTPD_H
#define MGW_SMTPD_H

#include <stdbool.h>

#include "cfg/cfg.h"
#include "core/loop.h"
#include "store/commitq.h"
#include "gen.h"

/* Binds [smtp] listen (nothing when it is "off"). 0 or -MGW_E* (errno set). */
int smtpd_open(const struct mgw_cfg *cfg);
/* Opens the store, cleans it up, starts accepting. *genp is read at every accept. cq:
 * the commit queue the deliveries' flushes run through, on the worker pool (borrowed;
 * outlives every session; shared with IMAP APPEND); work: that pool, where the sessions
 * create their spool files (borrowed, likewise). */
int smtpd_start(struct loop *loop, struct mgw_gen **genp, struct maildir_cq *cq,
		struct work_pool *work);
/* The bound address for the "listening smtp on" line, or NULL when SMTP is off. */
const char *smtpd_bound(void);
/* SMTP sessions alive (status). */
unsigned smtpd_sessions(void);

void smtpd_stop(struct loop *loop);
void smtpd_close(struct loop *loop);

#endif
