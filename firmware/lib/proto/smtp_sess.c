/*
 * smtp_sess.c - the SMTP server state machine.
 *
 * States and what moves between them (smtp_enter() is the only place that changes it):
 *
 *   GREET  --delay over-->  HELO  --EHLO/HELO-->  READY  --MAIL-->  MAIL  --RCPT ok-->  RCPT
 *   RCPT --DATA--> SPOOL --spool file created--> DATA --"."--> COMMIT --durable--> READY
 *   RSET / EHLO: back to READY (HELO keeps HELO)
 *   READY/HELO --STARTTLS--> TLS --handshake--> HELO (everything forgotten, RFC 3207 §4.2)
 *   any --QUIT / 421 / fatal--> CLOSING (input ignored, output flushed, then closed)
 *
 * Which command is allowed in which state is the table smtp_cmds[]; anything else gets
 * 503 5.5.1. Replies go out in the order commands came in (RFC 2920 §3.1): input is
 * processed strictly in sequence and nothing is answered asynchronously.
 */
#include "proto/smtp_sess.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "proto/smtp_data.h"
#include "proto/smtp_parse.h"
#include "proto/smtp_rcpt.h"
#include "store/quota.h"

#define SMTP_CHUNK 16384       /* unstuffed bytes written to the store per step */
#define SMTP_LOG_RCPTS_MAX 512 /* recipients as logged (truncated with "...") */
#define SMTP_ID_MAX 48

enum smtp_state {
	SMTP_ST_GREET = 0, /* waiting before the banner; any input is an early talker */
	SMTP_ST_HELO,	   /* banner sent, EHLO/HELO expected */
	SMTP_ST_READY,	   /* no transaction */
	SMTP_ST_MAIL,	   /* MAIL accepted, no recipient yet */
	SMTP_ST_RCPT,	   /* at least one recipient */
	SMTP_ST_DATA,	   /* reading the message */
	SMTP_ST_TLS,	   /* STARTTLS accepted, handshake pending */
	SMTP_ST_COMMIT,	   /* message read, being made durable on a worker; input waits */
	SMTP_ST_SPOOL,	   /* DATA accepted, its spool file being created on a worker */
	SMTP_ST_CLOSING,
};

#define ST(x) (1u << SMTP_ST_##x)
#define SMTP_ST_CMDS (ST(HELO) | ST(READY) | ST(MAIL) | ST(RCPT))

struct smtp_sess {
	struct conn *c;
	struct smtp_sess_params p;
	enum smtp_state state;
	struct buf_lr lr;
	unsigned bad;
	unsigned junk; /* harmless commands since the last message (SMTP_JUNK_MAX) */
	bool esmtp, tls, paused_for_output;
	bool closed;	/* CONN_EV_CLOSED seen; freed when no event is being handled */
	unsigned depth; /* events being handled (nesting) */
	uint64_t started;
	unsigned msgs;
	char helo[SMTP_DOMAIN_MAX + 1];
	char tls_desc[SMTP_TLS_DESC_MAX];

	/* The transaction. */
	char from[SMTP_PATH_MAX + 1]; /* without brackets; "" for <> */
	bool smtputf8;
	enum smtp_body body;
	bool has_size;
	uint64_t size;
	size_t nrcpt;	/* accepted RCPT commands */
	bool all_admin; /* every accepted recipient is postmaster/abuse (the reserve) */
	char first_rcpt[SMTP_PATH_MAX + 1];
	char log_rcpts[SMTP_LOG_RCPTS_MAX];
	struct smtp_mbox_set mboxes;
	struct smtp_data data;
	struct maildir_dlv dlv;
	bool dlv_active;
	int dlv_err; /* first store error while streaming */
	char id[SMTP_ID_MAX];
	struct smtp_commit *commit; /* the commit in flight, or NULL */
	struct smtp_spool *spool;   /* the spool file being created, or NULL */
	bool in_input;		    /* smtp_input() is running */
};

/*
 * A delivery being committed on a worker, in a batch with the others that finish at about
 * the same time (store/commitq.h). The item owns the delivery (moved out of the session),
 * copies of the recipients and the log line's start, so it does not care whether the
 * session is still there; s belongs to the loop thread: the session clears it when it
 * goes away first. The client then never saw a reply: the message may be delivered (the
 * client retries: a duplicate, never a loss).
 */
struct smtp_commit {
	struct maildir_cq_item it; /* it.dlv, it.rc: the commit's result */
	struct smtp_sess *s;	   /* loop thread only; NULL once the session is gone */
	struct maildir_store *st;
	size_t n;
	struct maildir_rcpt *r; /* n, pointing into mb */
	struct smtp_mbox *mb;	/* n copies */
	char *logline;		/* "smtp msg id=... size=N" */
};

/*
 * A spool file being created on a worker. Creating a file is a filesystem transaction
 * (on an ext4 it allocates an inode, which on the build host's journal-less root
 * filesystem costs 0.3-5 ms of CPU with many recently deleted files, and on a journalled
 * one may wait for the journal), too slow for the loop, where every other session waits
 * for it: the loop only names the job, as OpenSMTPD's smtp process asks its queue process
 * for the file. The job owns the delivery until it is done; s belongs to the loop thread
 * and is cleared when the session goes away first, and the done callback then removes
 * the file.
 */
struct smtp_spool {
	struct work_job job;
	struct smtp_sess *s; /* loop thread only; NULL once the session is gone */
	struct maildir_store *st;
	struct maildir_dlv dlv; /* the worker's until done */
	int rc;
};

typedef void (*smtp_handler)(struct smtp_sess *s, const struct smtp_cmd *cmd);

struct smtp_cmd_row {
	unsigned states; /* ST() bits in which the verb is allowed */
	smtp_handler fn;
};

static void smtp_do_helo(struct smtp_sess *s, const struct smtp_cmd *cmd);
static void smtp_do_mail(struct smtp_sess *s, const struct smtp_cmd *cmd);
static void smtp_do_rcpt(struct smtp_sess *s, const struct smtp_cmd *cmd);
static void smtp_do_data(struct smtp_sess *s, const struct smtp_cmd *cmd);
static void smtp_do_rset(struct smtp_sess *s, const struct smtp_cmd *cmd);
static void smtp_do_noop(struct smtp_sess *s, const struct smtp_cmd *cmd);
static void smtp_do_quit(struct smtp_sess *s, const struct smtp_cmd *cmd);
static void smtp_do_help(struct smtp_sess *s, const struct smtp_cmd *cmd);
static void smtp_do_vrfy(struct smtp_sess *s, const struct smtp_cmd *cmd);
static void smtp_do_starttls(struct smtp_sess *s, const struct smtp_cmd *cmd);

/* RFC 5321 §4.1.4 for the order; STARTTLS only outside a transaction (RFC 3207 §4). */
static const struct smtp_cmd_row smtp_cmds[SMTP_V_COUNT] = {
    [SMTP_V_HELO] = {SMTP_ST_CMDS, smtp_do_helo},
    [SMTP_V_EHLO] = {SMTP_ST_CMDS, smtp_do_helo},
    [SMTP_V_MAIL] = {ST(READY), smtp_do_mail},
    [SMTP_V_RCPT] = {ST(MAIL) | ST(RCPT), smtp_do_rcpt},
    [SMTP_V_DATA] = {ST(MAIL) | ST(RCPT), smtp_do_data},
    [SMTP_V_RSET] = {SMTP_ST_CMDS, smtp_do_rset},
    [SMTP_V_NOOP] = {SMTP_ST_CMDS, smtp_do_noop},
    [SMTP_V_QUIT] = {SMTP_ST_CMDS, smtp_do_quit},
    [SMTP_V_HELP] = {SMTP_ST_CMDS, smtp_do_help},
    [SMTP_V_VRFY] = {SMTP_ST_CMDS, smtp_do_vrfy},
    [SMTP_V_EXPN] = {SMTP_ST_CMDS, smtp_do_vrfy},
    [SMTP_V_STARTTLS] = {ST(HELO) | ST(READY), smtp_do_starttls},
};

static const struct mgw_cfg *smtp_cfg(const struct smtp_sess *s)
{
	return s->p.cfg;
}

/* One reply line (or several joined with CRLF by the caller); CRLF is added. */
static void smtp_reply(struct smtp_sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void smtp_reply(struct smtp_sess *s, const char *fmt, ...)
{
	char line[SMTP_CMD_LINE_MAX * 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	conn_write(s->c, line, (size_t)n);
}

static void smtp_enter(struct smtp_sess *s, enum smtp_state st)
{
	const struct mgw_cfg *cfg = smtp_cfg(s);
	uint32_t secs;

	s->state = st;
	switch (st) {
	case SMTP_ST_GREET:
		secs = cfg->smtp_greeting_delay;
		break;
	case SMTP_ST_HELO:
		secs = cfg->smtp_helo_timeout;
		break;
	case SMTP_ST_DATA:
		secs = cfg->smtp_data_timeout;
		break;
	case SMTP_ST_CLOSING:
	case SMTP_ST_TLS:
		return; /* the connection's own drain / handshake bounds apply */
	default:
		secs = cfg->smtp_command_timeout;
		break;
	}
	conn_set_idle(s->c, secs * 1000u);
}

/* Ends the session after the pending replies are sent. */
static void smtp_close(struct smtp_sess *s, const char *reason)
{
	smtp_enter(s, SMTP_ST_CLOSING);
	conn_close_after_flush(s->c, reason);
}

static void smtp_bad(struct smtp_sess *s)
{
	if (++s->bad >= smtp_cfg(s)->smtp_max_bad_commands && s->state != SMTP_ST_CLOSING) {
		smtp_reply(s, "421 4.7.0 %s too many errors, closing connection",
			   smtp_cfg(s)->hostname);
		smtp_close(s, "too many bad commands");
	}
}

static void smtp_txn_reset(struct smtp_sess *s)
{
	if (s->dlv_active)
		maildir_dlv_abort(&s->dlv);
	s->dlv_active = false;
	s->dlv_err = 0;
	s->from[0] = '\0';
	s->smtputf8 = false;
	s->body = SMTP_BODY_NONE;
	s->has_size = false;
	s->size = 0;
	s->nrcpt = 0;
	s->all_admin = true;
	s->first_rcpt[0] = '\0';
	s->log_rcpts[0] = '\0';
	s->mboxes.n = 0;
}

static void smtp_greet(struct smtp_sess *s)
{
	smtp_reply(s, "220 %s ESMTP mailgw", smtp_cfg(s)->hostname);
	smtp_enter(s, SMTP_ST_HELO);
}

/* ---- commands ---------------------------------------------------------------------- */

static void smtp_do_helo(struct smtp_sess *s, const struct smtp_cmd *cmd)
{
	const struct mgw_cfg *cfg = smtp_cfg(s);
	size_t n = cmd->arg_len;

	while (n > 0 && cmd->arg[n - 1] == ' ')
		n--;
	if (n >= sizeof(s->helo))
		n = sizeof(s->helo) - 1;
	memcpy(s->helo, cmd->arg, n);
	s->helo[n] = '\0';
	/* §4.1.4: EHLO/HELO in a transaction resets it, like RSET. */
	smtp_txn_reset(s);
	s->esmtp = cmd->verb == SMTP_V_EHLO;
	if (!s->esmtp) {
		smtp_reply(s, "250 %s", cfg->hostname);
	} else {
		/* RFC 2034 §3: no enhanced codes in the EHLO reply itself. */
		smtp_reply(s, "250-%s", cfg->hostname);
		smtp_reply(s, "250-PIPELINING");
		smtp_reply(s, "250-SIZE %llu", (unsigned long long)cfg->smtp_max_message_size);
		smtp_reply(s, "250-8BITMIME");
		smtp_reply(s, "250-ENHANCEDSTATUSCODES");
		if (s->p.tls && !s->tls)
			smtp_reply(s, "250-STARTTLS");
		smtp_reply(s, "250 SMTPUTF8");
	}
	smtp_enter(s, SMTP_ST_READY);
}

/* Copies a path as text for headers and logs ("" for <>). */
static void smtp_path_text(const struct smtp_path *path, char *out, size_t outsz)
{
	size_t n = 0;

	out[0] = '\0';
	if (path->null)
		return;
	if (path->local_len < outsz) {
		memcpy(out, path->local, path->local_len);
		n = path->local_len;
	}
	if (path->domain && n + 1 + path->domain_len < outsz) {
		out[n++] = '@';
		memcpy(out + n, path->domain, path->domain_len);
		n += path->domain_len;
	}
	out[n] = '\0';
}

/* Free space for this message; admin: mail only for postmaster/abuse, which may use
 * half of the reserve so that warnings about the full disk still reach the admin. */
static bool smtp_space_ok(struct smtp_sess *s, bool admin)
{
	int rc = maildir_store_space_check(s->p.store, s->has_size ? s->size : 0, admin);

	if (rc == 0)
		return true;
	if (rc == -MGW_ENOSPC)
		log_warn("smtp %s: free space below the reserve, refusing mail", s->c->peer);
	smtp_reply(s, "452 4.3.1 insufficient system storage");
	return false;
}

static void smtp_do_mail(struct smtp_sess *s, const struct smtp_cmd *cmd)
{
	const struct mgw_cfg *cfg = smtp_cfg(s);

	if (cmd->has_size && cmd->size > cfg->smtp_max_message_size) {
		/* RFC 1870 §6.1 */
		smtp_reply(s, "552 5.3.4 message size exceeds fixed maximum message size");
		return;
	}
	if (cmd->body == SMTP_BODY_8BITMIME && !s->esmtp) {
		smtp_reply(s, "555 5.5.4 BODY=8BITMIME needs EHLO");
		smtp_bad(s);
		return;
	}
	smtp_txn_reset(s);
	s->has_size = cmd->has_size;
	s->size = cmd->size;
	/* The recipients decide which reserve applies; MAIL only needs the lower bar. */
	if (!smtp_space_ok(s, true)) {
		smtp_txn_reset(s);
		return;
	}
	smtp_path_text(&cmd->path, s->from, sizeof(s->from));
	s->smtputf8 = cmd->smtputf8;
	s->body = cmd->body;
	smtp_reply(s, "250 2.1.0 sender ok");
	smtp_enter(s, SMTP_ST_MAIL);
}

/* The mailboxes from index n0 on (added by this RCPT) get their quota; SMTP_RCPT_QUOTA
 * when one is already full or would be by the declared SIZE (RFC 1870). */
static enum smtp_rcpt_res smtp_rcpt_quota_check(struct smtp_sess *s, size_t n0, const char *safe)
{
	const struct mgw_cfg *cfg = smtp_cfg(s);

	for (size_t i = n0; i < s->mboxes.n; i++) {
		struct smtp_mbox *mb = &s->mboxes.mb[i];
		uint64_t used, msgs;

		if (smtp_rcpt_quota(cfg->data_dir, cfg_smtp_quota(cfg), mb, &mb->quota) < 0)
			return SMTP_RCPT_TEMP;
		if (mb->quota == 0)
			continue;
		if (maildir_quota_get(s->p.store, mb->domain, mb->user, mb->quota, &used, &msgs) <
		    0)
			return SMTP_RCPT_TEMP;
		if (used >= mb->quota || (s->has_size && s->size > mb->quota - used)) {
			log_info("smtp %s: <%s>: mailbox %s@%s full: %llu of %llu bytes used%s",
				 s->c->peer, safe, mb->user, mb->domain, (unsigned long long)used,
				 (unsigned long long)mb->quota,
				 used < mb->quota ? " (SIZE= does not fit)" : "");
			return SMTP_RCPT_QUOTA;
		}
	}
	return SMTP_RCPT_OK;
}

/* After DATA: the first mailbox the message (size bytes as stored) would put over its
 * quota, or NULL. */
static const struct smtp_mbox *smtp_quota_over(struct smtp_sess *s, uint64_t size)
{
	for (size_t i = 0; i < s->mboxes.n; i++) {
		const struct smtp_mbox *mb = &s->mboxes.mb[i];
		uint64_t used, msgs;

		if (mb->quota == 0)
			continue;
		if (maildir_quota_get(s->p.store, mb->domain, mb->user, mb->quota, &used, &msgs) ==
			0 &&
		    (used >= mb->quota || size > mb->quota - used))
			return mb;
	}
	return NULL;
}

static void smtp_log_rcpt(struct smtp_sess *s, const char *addr)
{
	size_t used = strlen(s->log_rcpts), n = strlen(addr);

	if (used + n + 4 >= sizeof(s->log_rcpts)) {
		if (used + 4 < sizeof(s->log_rcpts) &&
		    (used < 3 || strcmp(s->log_rcpts + used - 3, "...") != 0))
			memcpy(s->log_rcpts + used, ",...", 5);
		return;
	}
	snprintf(s->log_rcpts + used, sizeof(s->log_rcpts) - used, "%s<%s>", used ? "," : "", addr);
}

static void smtp_do_rcpt(struct smtp_sess *s, const struct smtp_cmd *cmd)
{
	const struct mgw_cfg *cfg = smtp_cfg(s);
	char addr[SMTP_PATH_MAX + 1], safe[SMTP_PATH_MAX + 1];
	enum smtp_rcpt_res res;
	size_t n0;
	bool admin;

	smtp_path_text(&cmd->path, addr, sizeof(addr));
	log_safe(safe, sizeof(safe), addr, strlen(addr));
	if (s->nrcpt >= cfg->smtp_max_recipients) {
		/* §4.5.3.1.10: 452 (not 552) so the client retries the rest later. */
		smtp_reply(s, "452 4.5.3 too many recipients");
		return;
	}
	if (cmd->path.utf8 && !s->smtputf8) {
		smtp_reply(s, "553 5.6.7 non-ASCII address needs MAIL FROM with SMTPUTF8");
		smtp_bad(s);
		return;
	}
	switch (smtp_path_forward_check(&cmd->path)) {
	case SMTP_FWD_OK:
		break;
	case SMTP_FWD_QUOTED:
		smtp_reply(s, "553 5.1.3 quoted local parts are not accepted here");
		smtp_bad(s);
		return;
	case SMTP_FWD_NULL:
		smtp_reply(s, "501 5.1.3 bad recipient address syntax");
		smtp_bad(s);
		return;
	default:
		log_info("smtp %s: relaying denied for <%s>", s->c->peer, safe);
		smtp_reply(s, "550 5.7.1 relaying denied");
		smtp_bad(s);
		return;
	}
	admin = smtp_path_is_admin(&cmd->path);
	if (!smtp_space_ok(s, admin))
		return;
	n0 = s->mboxes.n;
	res = smtp_rcpt_resolve(cfg->data_dir, cfg->smtp_postmaster, &cmd->path, &s->mboxes,
				MAILDIR_RCPT_MAX);
	if (res == SMTP_RCPT_OK)
		res = smtp_rcpt_quota_check(s, n0, safe);
	if (res == SMTP_RCPT_QUOTA) {
		s->mboxes.n = n0; /* the mailboxes this RCPT added are not taken */
		/* RFC 3463 4.2.2: mailbox full, a temporary condition; the client retries
		 * this recipient later, the others of the transaction go ahead. */
		smtp_reply(s, "452 4.2.2 mailbox full, try again later");
		return;
	}
	if (res != SMTP_RCPT_OK)
		s->mboxes.n = n0;
	switch (res) {
	case SMTP_RCPT_OK:
		break;
	case SMTP_RCPT_UNKNOWN:
		log_info("smtp %s: unknown recipient <%s>", s->c->peer, safe);
		smtp_reply(s, "550 5.1.1 recipient unknown");
		smtp_bad(s);
		return;
	case SMTP_RCPT_RELAY:
		log_info("smtp %s: relaying denied for <%s>", s->c->peer, safe);
		smtp_reply(s, "550 5.7.1 relaying denied");
		smtp_bad(s);
		return;
	case SMTP_RCPT_FULL:
		smtp_reply(s, "452 4.5.3 too many recipients");
		return;
	case SMTP_RCPT_TEMP:
	default:
		smtp_reply(s, "451 4.3.0 temporary failure, try again later");
		return;
	}
	if (s->nrcpt == 0)
		snprintf(s->first_rcpt, sizeof(s->first_rcpt), "%s", addr);
	s->nrcpt++;
	s->all_admin = s->all_admin && admin;
	smtp_log_rcpt(s, safe);
	smtp_reply(s, "250 2.1.5 recipient ok");
	smtp_enter(s, SMTP_ST_RCPT);
}

/* RFC 5322 §3.3 date in UTC. */
static void smtp_date(char *out, size_t outsz)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(out, outsz, "%s, %d %s %d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
		 mons[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Return-Path: and Received: (RFC 5321 §4.4), written ahead of the message. */
static int smtp_trace_headers(struct smtp_sess *s)
{
	const struct mgw_cfg *cfg = smtp_cfg(s);
	char hdr[2048], date[64], with[160];
	const char *proto;
	int n;

	/* RFC 3848 / RFC 6531 §3.7.3 protocol names. */
	if (s->smtputf8)
		proto = s->tls ? "UTF8SMTPS" : "UTF8SMTP";
	else if (s->esmtp)
		proto = s->tls ? "ESMTPS" : "ESMTP";
	else
		proto = s->tls ? "SMTPS" : "SMTP";
	if (s->tls)
		snprintf(with, sizeof(with), "%s (%s)", proto, s->tls_desc);
	else
		snprintf(with, sizeof(with), "%s", proto);
	smtp_date(date, sizeof(date));
	n = snprintf(hdr, sizeof(hdr),
		     "Return-Path: <%s>\r\n"
		     "Received: from %s ([%s%s])\r\n"
		     "\tby %s (mailgw) with %s id %s\r\n"
		     "\t%s%s%s; %s\r\n",
		     s->from, s->helo, strchr(s->c->peer_ip, ':') ? "IPv6:" : "", s->c->peer_ip,
		     cfg->hostname, with, s->id, s->nrcpt == 1 ? "for <" : "",
		     s->nrcpt == 1 ? s->first_rcpt : "", s->nrcpt == 1 ? ">" : "", date);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -MGW_ELIMIT;
	return maildir_dlv_write(&s->dlv, hdr, (size_t)n);
}

/* The spool file is there (rc 0, s->dlv) or could not be made: 354, or 451. */
static void smtp_data_begin(struct smtp_sess *s, int rc)
{
	if (rc == 0) {
		s->dlv_active = true;
		rc = smtp_trace_headers(s);
	}
	if (rc < 0) {
		smtp_txn_reset(s);
		smtp_reply(s, "451 4.3.0 local error, try again later");
		smtp_enter(s, SMTP_ST_READY);
		return;
	}
	smtp_data_init(&s->data, smtp_cfg(s)->smtp_max_message_size);
	smtp_reply(s, "354 end data with <CR><LF>.<CR><LF>");
	smtp_enter(s, SMTP_ST_DATA);
}

static void smtp_input(struct smtp_sess *s);
static void smtp_finish(struct smtp_sess *s);

/* Worker thread. */
static void smtp_spool_run(struct work_job *j)
{
	struct smtp_spool *sp = j->arg;

	sp->rc = maildir_dlv_begin(sp->st, &sp->dlv);
}

/* Loop thread: the spool file is made (or not); the session goes on with DATA. A
 * session that went away meanwhile (s NULL) leaves only the file to remove. */
static void smtp_spool_done(struct work_job *j)
{
	struct smtp_spool *sp = j->arg;
	struct smtp_sess *s = sp->s;
	int rc = j->status < 0 ? j->status : sp->rc;

	if (s == NULL) {
		if (rc == 0)
			maildir_dlv_abort(&sp->dlv);
		free(sp);
		return;
	}
	s->spool = NULL;
	if (s->state != SMTP_ST_SPOOL) { /* closing meanwhile (a timeout) */
		if (rc == 0)
			maildir_dlv_abort(&sp->dlv);
		free(sp);
		conn_hold(s->c, false);
		return;
	}
	s->depth++;
	conn_hold(s->c, false);
	if (rc == 0)
		s->dlv = sp->dlv;
	free(sp);
	smtp_data_begin(s, rc);
	smtp_input(s); /* the message, if the client sent it without waiting for 354 */
	s->depth--;
	if (s->closed && s->depth == 0)
		smtp_finish(s);
}

static void smtp_do_data(struct smtp_sess *s, const struct smtp_cmd *cmd)
{
	struct smtp_spool *sp;

	(void)cmd;
	if (s->state != SMTP_ST_RCPT) {
		/* RFC 2920 §3.1: every RCPT of the group failed. */
		smtp_reply(s, "554 5.5.1 no valid recipients");
		return;
	}
	if (!smtp_space_ok(s, s->all_admin))
		return;
	snprintf(s->id, sizeof(s->id), "%llX.%llu.%u", (unsigned long long)s->started,
		 (unsigned long long)s->c->id, ++s->msgs);
	s->junk = 0;
	sp = s->p.work ? calloc(1, sizeof(*sp)) : NULL;
	if (sp != NULL) {
		sp->s = s;
		sp->st = s->p.store;
		work_job_init(&sp->job, smtp_spool_run, smtp_spool_done, sp);
		if (work_submit(s->p.work, &sp->job) == 0) {
			/* Input waits (as in COMMIT), and so does the peer's end of it. */
			s->spool = sp;
			smtp_enter(s, SMTP_ST_SPOOL);
			conn_hold(s->c, true);
			return;
		}
		free(sp);
	}
	/* No pool (the fuzzers), or its queue is full: here. */
	smtp_data_begin(s, maildir_dlv_begin(s->p.store, &s->dlv));
}

static void smtp_do_rset(struct smtp_sess *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_txn_reset(s);
	smtp_reply(s, "250 2.0.0 ok");
	if (s->state != SMTP_ST_HELO)
		smtp_enter(s, SMTP_ST_READY);
}

static void smtp_do_noop(struct smtp_sess *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "250 2.0.0 ok");
}

static void smtp_do_quit(struct smtp_sess *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "221 2.0.0 %s closing connection", smtp_cfg(s)->hostname);
	smtp_close(s, "quit");
}

static void smtp_do_help(struct smtp_sess *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "214-2.0.0 commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY%s",
		   s->p.tls && !s->tls ? " STARTTLS" : "");
	smtp_reply(s, "214 2.0.0 this server only accepts mail for its local users");
}

static void smtp_do_vrfy(struct smtp_sess *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	/* §3.5.3 / §7.3: answer without saying whether the user exists. */
	smtp_reply(s, "252 2.5.0 cannot verify, send some mail and see");
}

static void smtp_do_starttls(struct smtp_sess *s, const struct smtp_cmd *cmd)
{
	const struct transport_ops *ops = NULL;
	void *ctx = NULL;

	(void)cmd;
	if (s->p.tls == NULL) {
		smtp_reply(s, "502 5.5.1 STARTTLS not offered");
		smtp_bad(s);
		return;
	}
	if (s->tls) {
		smtp_reply(s, "503 5.5.1 TLS already active");
		smtp_bad(s);
		return;
	}
	if (s->p.tls->server_new(s->p.arg, s->c, &ops, &ctx) < 0) {
		smtp_reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	smtp_reply(s, "220 2.0.0 ready to start TLS");
	/* Bytes pipelined behind STARTTLS were sent in the clear: the conn drops them. */
	if (conn_start_tls(s->c, ops, ctx) < 0) {
		if (ops->destroy)
			ops->destroy(ctx);
		smtp_close(s, "STARTTLS failed");
		return;
	}
	smtp_enter(s, SMTP_ST_TLS);
}

/* ---- input --------------------------------------------------------------------------- */

static void smtp_cmd_error(struct smtp_sess *s, int rc, const struct smtp_cmd *cmd)
{
	bool mail = cmd->verb == SMTP_V_MAIL;

	(void)rc;
	switch (cmd->why) {
	case SMTP_WHY_VERB:
		smtp_reply(s, "500 5.5.1 command unrecognized");
		break;
	case SMTP_WHY_PATH:
		smtp_reply(s, mail ? "501 5.1.7 bad sender address syntax"
				   : "501 5.1.3 bad recipient address syntax");
		break;
	case SMTP_WHY_TOO_LONG:
		if (cmd->verb == SMTP_V_MAIL || cmd->verb == SMTP_V_RCPT)
			smtp_reply(s, mail ? "501 5.1.7 path too long" : "501 5.1.3 path too long");
		else
			smtp_reply(s, "500 5.5.2 line too long");
		break;
	case SMTP_WHY_PARAM:
	case SMTP_WHY_TOO_MANY:
		smtp_reply(s, "555 5.5.4 unsupported or malformed parameter");
		break;
	case SMTP_WHY_UTF8:
		smtp_reply(s, "553 5.6.7 non-ASCII address needs SMTPUTF8");
		break;
	case SMTP_WHY_BYTES:
		smtp_reply(s, "500 5.5.2 invalid character in command");
		break;
	case SMTP_WHY_ARGS:
	default:
		smtp_reply(s, "501 5.5.4 syntax error in parameters or arguments");
		break;
	}
	smtp_bad(s);
}

static void smtp_command(struct smtp_sess *s, const uint8_t *line, size_t len)
{
	struct smtp_cmd cmd;
	int rc = smtp_parse_cmd(line, line + len, &cmd);
	const struct smtp_cmd_row *row;

	if (rc != MGW_PARSE_OK) {
		/* A command out of sequence is reported as such even if its arguments are bad. */
		if (cmd.verb != SMTP_V_UNKNOWN && smtp_cmds[cmd.verb].fn &&
		    !(smtp_cmds[cmd.verb].states & (1u << s->state))) {
			smtp_reply(s, "503 5.5.1 bad sequence of commands");
			smtp_bad(s);
			return;
		}
		smtp_cmd_error(s, rc, &cmd);
		return;
	}
	row = &smtp_cmds[cmd.verb];
	if (row->fn == NULL) {
		smtp_reply(s, "502 5.5.1 command not implemented");
		smtp_bad(s);
		return;
	}
	if (!(row->states & (1u << s->state))) {
		if (s->state == SMTP_ST_HELO && cmd.verb == SMTP_V_MAIL)
			smtp_reply(s, "503 5.5.1 send EHLO or HELO first");
		else if (cmd.verb == SMTP_V_MAIL)
			smtp_reply(s, "503 5.5.1 nested MAIL command");
		else
			smtp_reply(s, "503 5.5.1 bad sequence of commands");
		smtp_bad(s);
		return;
	}
	row->fn(s, &cmd);
	if ((cmd.verb == SMTP_V_NOOP || cmd.verb == SMTP_V_RSET || cmd.verb == SMTP_V_VRFY ||
	     cmd.verb == SMTP_V_EXPN || cmd.verb == SMTP_V_HELP) &&
	    ++s->junk > SMTP_JUNK_MAX)
		smtp_bad(s);
}

/* The message is complete (terminator read): commit or refuse, reply, log. */
static void smtp_data_reply(struct smtp_sess *s, const char *reply);
static void smtp_commit_start(struct smtp_sess *s);

static void smtp_data_done(struct smtp_sess *s)
{
	unsigned f = s->data.faults;
	const char *reply;

	if (f & (SMTP_DATA_F_BARE_LF | SMTP_DATA_F_BARE_CR))
		reply = "550 5.6.11 bare LF or CR in message (RFC 5321 2.3.8), message refused";
	else if (f & SMTP_DATA_F_NUL)
		reply = "550 5.6.0 NUL byte in message, message refused";
	else if (f & SMTP_DATA_F_LONG_LINE)
		reply =
		    "550 5.6.0 line longer than 1000 octets (RFC 5321 4.5.3.1.6), message refused";
	else if (f & SMTP_DATA_F_TOO_BIG)
		reply = "552 5.3.4 message size exceeds fixed maximum message size";
	else if (s->dlv_err == -MGW_ENOSPC)
		reply = "452 4.3.1 insufficient system storage";
	else if (s->dlv_err < 0 || !s->dlv_active)
		reply = "451 4.3.0 local error, message not accepted";
	else
		reply = NULL;
	if (reply == NULL) {
		const struct smtp_mbox *full = smtp_quota_over(s, s->dlv.size);

		if (full != NULL) {
			/* One reply for the whole transaction (RFC 5321), and delivery is
			 * all or nothing: nothing is stored, the client retries later. */
			log_info("smtp %s: mailbox %s@%s would go over its quota of %llu bytes",
				 s->c->peer, full->user, full->domain,
				 (unsigned long long)full->quota);
			reply = "452 4.2.2 mailbox full, message not accepted, try again later";
		}
	}
	if (reply == NULL) {
		/* The 250 goes out only after every Maildir has the message durably. */
		smtp_commit_start(s);
		return;
	}
	smtp_data_reply(s, reply);
}

/* The reply to the message (NULL: 250), its log line; the transaction ends. */
static void smtp_data_reply(struct smtp_sess *s, const char *reply)
{
	char from[SMTP_PATH_MAX + 1];

	log_safe(from, sizeof(from), s->from, strlen(s->from));
	if (reply == NULL) {
		smtp_reply(s, "250 2.0.0 ok: queued as %s", s->id);
		log_record(
		    "smtp msg id=%s client=%s tls=%s from=<%s> rcpts=%s size=%llu result=250 "
		    "delivered",
		    s->id, s->c->peer_ip, s->tls ? s->tls_desc : "no", from, s->log_rcpts,
		    (unsigned long long)s->data.size);
	} else {
		const char *sp = strchr(reply, ' ');

		sp = sp ? strchr(sp + 1, ' ') : NULL;
		smtp_reply(s, "%s", reply);
		log_record(
		    "smtp msg id=%s client=%s tls=%s from=<%s> rcpts=%s size=%llu result=%.*s "
		    "refused",
		    s->id, s->c->peer_ip, s->tls ? s->tls_desc : "no", from, s->log_rcpts,
		    (unsigned long long)s->data.size, sp ? (int)(sp - reply) : 3, reply);
	}
	smtp_txn_reset(s);
	buf_lr_init(&s->lr, SMTP_CMD_LINE_MAX);
	smtp_enter(s, SMTP_ST_READY);
}

static const char *smtp_commit_reply(int rc)
{
	if (rc == 0)
		return NULL;
	if (rc == -MGW_ENOSPC)
		return "452 4.3.1 insufficient system storage";
	return "451 4.3.0 local error, message not accepted";
}

/* Loop thread. */
static void smtp_commit_done(struct maildir_cq_item *it)
{
	struct smtp_commit *cm = (struct smtp_commit *)it;
	struct smtp_sess *s = cm->s;
	int rc = it->rc;

	if (rc == 0)
		maildir_dlv_notify(cm->st, cm->r, cm->n);
	if (s == NULL) {
		log_record("%s result=%s (the client left before the reply)", cm->logline,
			   rc == 0 ? "250 delivered" : "451 refused");
		free(cm);
		return;
	}
	s->commit = NULL;
	s->depth++;
	if (!s->closed)
		conn_hold(s->c, false);
	if (!s->closed && s->state == SMTP_ST_COMMIT) {
		smtp_data_reply(s, smtp_commit_reply(rc));
		smtp_input(s); /* commands pipelined behind the message */
	}
	s->depth--;
	free(cm);
	if (s->closed && s->depth == 0)
		smtp_finish(s);
}

/*
 * Hands the delivery's flushes and renames (5-50 ms per flush on an SD card) to the
 * commit queue, which runs it on a worker in a batch; the session waits in COMMIT, where
 * no input is taken. Without a queue (the fuzzers) the commit runs here and
 * smtp_commit_done has run when this returns.
 */
static void smtp_commit_start(struct smtp_sess *s)
{
	size_t n = s->mboxes.n, loglen;
	char from[SMTP_PATH_MAX + 1];
	struct smtp_commit *cm;
	int rc;

	log_safe(from, sizeof(from), s->from, strlen(s->from));
	loglen = (size_t)snprintf(NULL, 0,
				  "smtp msg id=%s client=%s tls=%s from=<%s> rcpts=%s size=%llu",
				  s->id, s->c->peer_ip, s->tls ? s->tls_desc : "no", from,
				  s->log_rcpts, (unsigned long long)s->data.size);
	cm = calloc(1, sizeof(*cm) + n * (sizeof(*cm->r) + sizeof(*cm->mb)) + loglen + 1);
	if (cm == NULL) {
		smtp_data_reply(s, smtp_commit_reply(-MGW_ENOMEM));
		return;
	}
	cm->it.done = smtp_commit_done;
	cm->s = s;
	cm->st = s->p.store;
	cm->n = n;
	cm->mb = (struct smtp_mbox *)(cm + 1);
	cm->r = (struct maildir_rcpt *)(cm->mb + n);
	cm->logline = (char *)(cm->r + n);
	snprintf(cm->logline, loglen + 1,
		 "smtp msg id=%s client=%s tls=%s from=<%s> rcpts=%s size=%llu", s->id,
		 s->c->peer_ip, s->tls ? s->tls_desc : "no", from, s->log_rcpts,
		 (unsigned long long)s->data.size);
	for (size_t i = 0; i < n; i++) {
		cm->mb[i] = s->mboxes.mb[i];
		cm->r[i].domain = cm->mb[i].domain;
		cm->r[i].user = cm->mb[i].user;
		cm->r[i].folder = NULL; /* INBOX */
	}
	cm->it.dlv = s->dlv; /* the queue owns the delivery now */
	cm->it.rcpts = cm->r;
	cm->it.n = n;
	s->dlv_active = false;
	s->commit = cm;
	smtp_enter(s, SMTP_ST_COMMIT);
	conn_hold(s->c, true);
	rc = maildir_cq_submit(s->p.cq, &cm->it); /* NULL (the fuzzers): inline */
	if (rc < 0) {
		conn_hold(s->c, false);
		log_warn("smtp %s: cannot commit the message now: %s", s->c->peer,
			 rc == -MGW_ELIMIT ? "too many deliveries waiting for the disk"
					   : mgw_strerror(rc));
		s->commit = NULL;
		maildir_dlv_abort(&cm->it.dlv);
		free(cm);
		smtp_data_reply(s, smtp_commit_reply(rc));
	}
}

/* Feeds buffered input to the DATA machine. Returns false when it needs more input. */
static bool smtp_data_input(struct smtp_sess *s)
{
	struct buf *in = conn_in(s->c);
	uint8_t out[SMTP_CHUNK];
	size_t used = 0, outlen = 0;
	int r;

	if (buf_len(in) == 0)
		return false;
	r = smtp_data_feed(&s->data, buf_data(in), buf_len(in), &used, out, sizeof(out), &outlen);
	buf_consume(in, used);
	if (s->dlv_active && s->data.faults == 0 && s->dlv_err == 0 && outlen > 0)
		s->dlv_err = maildir_dlv_write(&s->dlv, out, outlen);
	if (s->dlv_active && (s->data.faults || s->dlv_err)) {
		/* Refused or failed: drop what is on disk now, keep reading to the end. */
		maildir_dlv_abort(&s->dlv);
		s->dlv_active = false;
		if (s->dlv_err == 0)
			s->dlv_err = -MGW_EINVAL;
	}
	if (r == MGW_PARSE_OK)
		smtp_data_done(s);
	return true;
}

static void smtp_input(struct smtp_sess *s)
{
	struct buf *in = conn_in(s->c);

	/* Not re-entrant: a commit completing inside (no worker pool) returns here. */
	if (s->in_input)
		return;
	s->in_input = true;
	while (conn_is_open(s->c)) {
		struct buf_line line;
		uint8_t copy[SMTP_CMD_LINE_MAX];
		size_t len;
		int r;

		if (s->state == SMTP_ST_DATA) {
			if (!smtp_data_input(s))
				break;
			continue;
		}
		if (s->state != SMTP_ST_HELO && s->state != SMTP_ST_READY &&
		    s->state != SMTP_ST_MAIL && s->state != SMTP_ST_RCPT)
			break;
		/* Back-pressure: a client that pipelines without reading waits for its replies. */
		if (conn_out_len(s->c) > SMTP_OUT_HIGH) {
			s->paused_for_output = true;
			conn_pause(s->c, true);
			break;
		}
		r = buf_lr_next(&s->lr, in, &line);
		if (r == MGW_PARSE_NEED_MORE)
			break;
		if (r == MGW_PARSE_TOO_LONG) {
			/* §4.5.3.1.4; the rest of the line is skipped by the reader. */
			smtp_reply(s, "500 5.5.2 line too long");
			smtp_bad(s);
			continue;
		}
		len = line.len;
		memcpy(copy, line.text, len);
		buf_lr_done(&s->lr, in, &line);
		if (!line.crlf) {
			/* §2.3.8: lines end in CRLF; a bare LF is not a line end here. */
			smtp_reply(s, "500 5.5.2 line must end with CRLF");
			smtp_bad(s);
			continue;
		}
		smtp_command(s, copy, len);
	}
	s->in_input = false;
}

static void smtp_log_close(struct smtp_sess *s, const char *reason)
{
	if (s->dlv_active) {
		char from[SMTP_PATH_MAX + 1];

		log_safe(from, sizeof(from), s->from, strlen(s->from));
		log_record("smtp msg id=%s client=%s tls=%s from=<%s> rcpts=%s size=%llu "
			   "result=aborted (%s)",
			   s->id, s->c->peer_ip, s->tls ? s->tls_desc : "no", from, s->log_rcpts,
			   (unsigned long long)s->data.size, reason);
	}
	log_debug("smtp %s: closed (%s), %u messages", s->c->peer, reason, s->msgs);
}

static void smtp_event_do(struct conn *c, enum conn_event ev, struct smtp_sess *s)
{
	switch (ev) {
	case CONN_EV_DATA:
		if (s->state == SMTP_ST_GREET) {
			/* RFC 5321 §4.3.1 / §3.1: the client speaks only after 220. */
			log_info("smtp %s: talked before the greeting, dropped", c->peer);
			smtp_reply(s,
				   "554 5.7.0 %s protocol violation: talking before the greeting",
				   smtp_cfg(s)->hostname);
			buf_reset(conn_in(c));
			smtp_close(s, "early talker");
			return;
		}
		if (s->state == SMTP_ST_CLOSING) {
			buf_reset(conn_in(c));
			return;
		}
		smtp_input(s);
		break;
	case CONN_EV_DRAINED:
		if (s->paused_for_output) {
			s->paused_for_output = false;
			conn_pause(c, false);
		}
		break;
	case CONN_EV_TIMEOUT:
		if (s->state == SMTP_ST_GREET) {
			smtp_greet(s);
			break;
		}
		if (s->state == SMTP_ST_CLOSING)
			break;
		smtp_reply(s, "421 4.4.2 %s timeout, closing connection", smtp_cfg(s)->hostname);
		smtp_close(s, "timeout");
		break;
	case CONN_EV_TLS_READY:
		/* RFC 3207 §4.2: forget everything learnt before TLS. */
		smtp_txn_reset(s);
		s->tls = true;
		s->esmtp = false;
		s->helo[0] = '\0';
		if (s->p.tls->describe)
			s->p.tls->describe(conn_tls_ctx(c), s->tls_desc, sizeof(s->tls_desc));
		else
			snprintf(s->tls_desc, sizeof(s->tls_desc), "TLS");
		buf_lr_init(&s->lr, SMTP_CMD_LINE_MAX);
		smtp_enter(s, SMTP_ST_HELO);
		break;
	case CONN_EV_CLOSED:
		break; /* smtp_event() */
	}
}

/* The end of a session: the caller's reference (generation) goes last. */
static void smtp_finish(struct smtp_sess *s)
{
	if (s->commit)
		s->commit->s = NULL; /* the completion logs and frees the job */
	if (s->spool)
		s->spool->s = NULL; /* the completion removes the file */
	smtp_log_close(s, conn_close_reason(s->c));
	smtp_txn_reset(s);
	if (s->p.on_close)
		s->p.on_close(s->p.arg);
	free(s);
}

/*
 * The one entry point. CLOSED can arrive nested inside another event (a write that hits
 * the output limit closes the conn at once); the session is then finished when the outer
 * event unwinds, so no handler ever runs on a freed session or configuration.
 */
static void smtp_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct smtp_sess *s = arg;

	if (ev == CONN_EV_CLOSED) {
		s->closed = true;
		if (s->depth == 0)
			smtp_finish(s);
		return;
	}
	if (s->closed)
		return;
	s->depth++;
	smtp_event_do(c, ev, s);
	s->depth--;
	if (s->closed && s->depth == 0)
		smtp_finish(s);
}

int smtp_sess_start(struct conn *c, const struct smtp_sess_params *p)
{
	struct smtp_sess *s = calloc(1, sizeof(*s));
	int rc;

	if (s == NULL) {
		conn_close(c, "out of memory");
		if (p->on_close)
			p->on_close(p->arg);
		return -MGW_ENOMEM;
	}
	s->c = c;
	s->p = *p;
	s->started = (uint64_t)time(NULL);
	buf_lr_init(&s->lr, SMTP_CMD_LINE_MAX);
	s->state = SMTP_ST_GREET;
	rc = conn_start(c, smtp_event, s);
	if (rc < 0) {
		conn_close(c, "cannot start");
		return rc;
	}
	s->depth++; /* as if in an event: a close while greeting is finished below */
	if (p->cfg->smtp_greeting_delay == 0)
		smtp_greet(s);
	else
		smtp_enter(s, SMTP_ST_GREET);
	s->depth--;
	if (s->closed)
		smtp_finish(s);
	return 0;
}

static void smtp_refuse_event(struct conn *c, enum conn_event ev, void *arg)
{
	(void)arg;
	if (ev == CONN_EV_DATA)
		buf_reset(conn_in(c));
}

void smtp_sess_refuse(struct conn *c, const char *hostname, const char *why)
{
	if (conn_start(c, smtp_refuse_event, NULL) < 0) {
		conn_close(c, why);
		return;
	}
	conn_printf(c, "421 4.7.0 %s %s, try again later\r\n", hostname, why);
	conn_close_after_flush(c, why);
}
