/*
 * imap_sess.c - the IMAP state machine. A table says which command runs in which state;
 * imap_enter() is the only way to change state; imap_close() is the one way out, with one
 * log line. As in pop3_sess.c, a session is freed only by the outermost event handler
 * after CONN_EV_CLOSED.
 *
 * Input modes: commands are assembled line by line into s->cmd, with the octets of each
 * literal the parser asks for (after a "+" continuation unless LITERAL+); long outputs
 * (FETCH, SEARCH, EXPUNGE) are jobs that continue on CONN_EV_DRAINED while input waits in
 * the bounded conn buffer.
 */
#include "proto/imap_sess.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "proto/imap_fetch.h"
#include "proto/imap_parse.h"
#include "store/commitq.h"
#include "store/flushjob.h"
#include "store/folder.h"
#include "store/keywords.h"
#include "store/quota.h"

#define IMAP_CHUNK (8 * 1024) /* bytes read from a message file at a time */
/* Stop producing output while this much waits: two full TLS records (conn_cork), sent
 * with one push (tls/sess.c). The rest of the output buffer is the room one step of a
 * job may take beyond it (a converted chunk, a message's attributes). */
#define IMAP_OUT_HIGH (2 * CONN_CORK_CHUNK)
_Static_assert(IMAP_OUT_MAX - IMAP_OUT_HIGH >= 2 * IMAP_CHUNK, "a converted chunk fits");
#define IMAP_PASS_MAX 1024 /* a password */
#define IMAP_SASL_MAX GATE_SASL_MAX(IMAP_LINE_MAX)
#define IMAP_HDR_MAX (256 * 1024) /* header bytes kept for HEADER.FIELDS */
#define IMAP_FIELD_NAME_MAX 127	  /* a HEADER.FIELDS name (RFC 5322 suggests 78 per line) */
/* The longest attribute name echoed in a FETCH response: every field name escaped */
#define IMAP_FATT_NAME_MAX (IMAP_HDR_FIELDS_MAX * (2 * IMAP_FIELD_NAME_MAX + 3) + 64)

#define IMAP_CAPS_COMMON                                                                           \
	"IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN "      \
	"SPECIAL-USE"
#define IMAP_FOLDERS_MAX 100 /* folders per user (CREATE: NO [LIMIT]); LIST fits the output */
#define IMAP_SYSFLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"
/* a message's flags as text: the system flags, \Recent and every keyword */
#define IMAP_FLAGS_TEXT_MAX (96 + MAILDIR_KW_MAX * (MAILDIR_KW_NAME_MAX + 1))
#define IMAP_OUT_LINE_MAX 4096 /* one imap_out() line: the longest is a FETCH FLAGS */
_Static_assert(IMAP_OUT_LINE_MAX >= IMAP_FLAGS_TEXT_MAX + 128, "a FLAGS line fits imap_out");

enum imap_state {
	IMAP_ST_TLS = 0,  /* handshake in progress */
	IMAP_ST_NOAUTH,	  /* not authenticated */
	IMAP_ST_AUTH,	  /* authenticated */
	IMAP_ST_SELECTED, /* a mailbox is selected */
	IMAP_ST_LOGOUT,	  /* closing: nothing more is read */
};

enum imap_mode {
	IMAP_MODE_CMD = 0,    /* reading command lines */
	IMAP_MODE_LITERAL,    /* reading the octets of a literal into the command */
	IMAP_MODE_SKIP,	      /* discarding a literal of a refused command */
	IMAP_MODE_SASL,	      /* waiting for the AUTHENTICATE response line */
	IMAP_MODE_DELAY,      /* a failed login waits out its delay */
	IMAP_MODE_VERIFY,     /* the password is being checked on a worker */
	IMAP_MODE_JOB,	      /* FETCH / SEARCH / EXPUNGE output in progress */
	IMAP_MODE_IDLE,	      /* IDLE until DONE */
	IMAP_MODE_APPEND,     /* APPEND's message literal into a delivery */
	IMAP_MODE_APPEND_EOL, /* the empty rest of the APPEND line */
	IMAP_MODE_FLUSH,      /* a change waits for its flush on a worker (s->wait) */
};

/* What continues when the flush a session waits for is done (IMAP_MODE_FLUSH). */
enum imap_wait {
	IMAP_WAIT_NONE = 0,
	IMAP_WAIT_APPEND,    /* the delivery's commit (store/commitq.h): s->append_commit */
	IMAP_WAIT_EXPUNGE,   /* new/ and cur/ after the unlinks: then the EXPUNGE responses */
	IMAP_WAIT_CLOSE,     /* the same for CLOSE: then only the tagged reply */
	IMAP_WAIT_COPY,	     /* the destination's cur/ after the links: s->copy */
	IMAP_WAIT_FOLDER,    /* CREATE, DELETE, RENAME: the directories they changed */
	IMAP_WAIT_SELECT,    /* SELECT/EXAMINE: the uidlist that gave the box's UIDs */
	IMAP_WAIT_RESCAN,    /* NOOP, IDLE, after APPEND/COPY: the rescan's uidlist (s->job) */
	IMAP_WAIT_STATUS,    /* STATUS of another mailbox: its uidlist (s->sbox) */
	IMAP_WAIT_APPENDUID, /* after APPEND's commit: the folder's uidlist, its keywords */
	IMAP_WAIT_COPYUID,   /* after COPY's flush: the destination's uidlist (s->copy) */
	IMAP_WAIT_STORE,     /* STORE of a new keyword: dovecot-keywords (then the job) */
	IMAP_WAIT_LOGIN,     /* a first login: the Maildir and special-use folders, made */
};

/* The octets of a message in CRLF form (store/crlf.h), from skip, at most left. */
struct imap_lit {
	int fd;		    /* message file, -1 when the source is mem */
	const uint8_t *mem; /* or bytes from memory (HEADER.FIELDS) */
	size_t memlen, mempos;
	uint64_t skip, left;
	bool after_cr, any, eof;
	uint8_t last;
	/* The file is its own CRLF form (imap_fetch_body): its octets from off go out as
	 * they are, skip is 0. */
	bool raw;
	uint64_t off;
};

enum imap_job_kind {
	IMAP_JOB_NONE = 0,
	IMAP_JOB_FETCH,
	IMAP_JOB_SEARCH,
	IMAP_JOB_EXPUNGE,
	IMAP_JOB_STORE,
	IMAP_JOB_RESCAN,
};

struct imap_job {
	enum imap_job_kind kind;
	size_t next;	/* next message index to consider */
	size_t cur;	/* FETCH: the message being sent */
	unsigned item;	/* FETCH: next attribute of cur; IMAP_FETCH_ATTS_MAX: none open */
	bool add_flags; /* FETCH: \Seen was set: send FLAGS though not asked for */
	bool in_lit;	/* FETCH: a literal is streaming */
	struct imap_lit lit;
	uint8_t *mem;		/* HEADER.FIELDS result, owned */
	struct imap_mime *mime; /* the message's MIME structure (imap_fetch.h), owned */
	/* EXPUNGE, RESCAN: sequence numbers to report, descending */
	uint32_t *seqs;
	size_t nseqs;
	/* RESCAN: flags before the scan, messages gone, phase */
	unsigned *was;
	size_t nwas, added, *gone;
	unsigned phase;
	const char *done; /* tagged OK text; NULL: back to IDLE */
	bool no;	  /* the tagged reply is NO done (a flush failed) */
};

struct imap_copy;
struct imap_append_commit;

/* STATUS, APPEND: a mailbox opened besides the selected one while its uidlist is
 * flushed (on the heap: most sessions never need one). */
struct imap_sbox {
	struct maildir_box box;
	char name[MAILDIR_FOLDER_MAX + 1]; /* STATUS: the name as reported */
};

struct imap_sess {
	struct conn *c;
	struct gate_env env;
	struct gate_login gl;
	enum imap_state state;
	enum imap_mode mode;
	struct buf_lr lr;
	struct loop_timer delay;
	unsigned depth;
	bool in_input, closed;
	unsigned cmds, bad;
	/* the command being assembled; owned */
	uint8_t *cmd;
	size_t cmdlen, cmdcap;
	uint32_t lit_left;   /* LITERAL/SKIP */
	bool skip_rest;	     /* SKIP: the line after the literal is garbage too */
	struct imap_cmd *pc; /* the parsed command, owned; NULL between commands */
	char tag[IMAP_TAG_MAX + 1];
	const char *delayed_reply;
	bool close_after_delay;
	struct passwd_addr who;
	char login[PASSWD_ADDR_MAX + 1];
	struct maildir_box box;
	bool box_open, readonly;
	uint32_t recent_from;		     /* UIDs from here on are \Recent for this session */
	struct maildir_kw kw;		     /* the selected folder's keywords (store/keywords.h) */
	unsigned store_kw;		     /* STORE: the keyword bits of the command */
	char folder[MAILDIR_FOLDER_MAX + 1]; /* the selected folder; "": INBOX */
	/* APPEND in progress: the delivery, its flags, its tagged OK text */
	struct maildir_dlv dlv;
	bool dlv_active;
	unsigned append_flags;
	uint64_t append_left;
	char append_folder[MAILDIR_FOLDER_MAX + 1]; /* "": INBOX */
	char resp[800]; /* tagged OK text of APPEND, COPY (APPENDUID, COPYUID) */
	struct imap_job job;
	/* IMAP_MODE_FLUSH: the flush in flight (owned by the pool, store/flushjob.h) or the
	 * APPEND's commit (owned by the commit queue), and what continues afterwards */
	enum imap_wait wait;
	struct maildir_flush *flush;
	struct imap_append_commit *append_commit;
	struct imap_copy *copy; /* COPY/MOVE between the links and their flush; owned */
	uint32_t *wait_seqs;	/* EXPUNGE: the sequence numbers to report; owned */
	size_t wait_nseqs;
	const char *wait_done; /* EXPUNGE, CREATE, DELETE, RENAME: tagged OK text */
	/* RESCAN: the snapshot before it (taken back when its flush fails), whether the
	 * tagged text reports a change durable already (APPEND, COPY: OK even then) */
	size_t rescan_count;
	uint32_t rescan_uidnext;
	bool rescan_change;
	bool rescan_again;	/* IDLE: new mail while a rescan was under way: another one */
	struct imap_sbox *sbox; /* STATUS, APPEND: see struct imap_sbox; owned, or NULL */
	unsigned status_items;
	uint32_t append_uid;	     /* APPEND: the new message's UID in sbox (0: not found) */
	size_t append_idx;	     /* and its index there */
	bool store_added;	     /* STORE: a keyword was new (FLAGS announced) */
	bool flags_stale;	     /* a keyword was added but not announced (its flush failed) */
	struct imap_sess *next_live; /* all sessions, for imap_sess_notify */
};

/*
 * COPY and MOVE between their links (on the loop) and the flush of the destination's
 * cur/ (on a worker): what the reply needs afterwards. Owned by the session (s->copy);
 * the worker never sees it.
 */
struct imap_copy {
	bool move, uid;
	size_t k; /* copies made */
	uint64_t bytes;
	size_t *idx; /* their source indices (MOVE expunges them) */
	uint32_t *src_uids, *dst_uids;
	char (*names)[MAILDIR_NAME_MAX + 1]; /* their names in dst/cur */
	char folder[MAILDIR_FOLDER_MAX + 1]; /* the destination; "": INBOX */
	char dst[MAILDIR_PATH_MAX];
	uint32_t uidvalidity; /* the destination's (0: no COPYUID) */
};

/*
 * An APPEND's delivery being committed on a worker, in a batch with the SMTP deliveries
 * of the moment (store/commitq.h). The item owns the delivery (moved out of the session)
 * and copies of its recipient, so it does not care whether the session is still there;
 * s belongs to the loop thread: the session clears it when it goes away first (the
 * message may then be stored: the client never saw OK and may append it again, a
 * duplicate, never a loss).
 */
struct imap_append_commit {
	struct maildir_cq_item it;
	struct imap_sess *s; /* loop thread only; NULL once the session is gone */
	const struct maildir_store *st;
	struct maildir_rcpt r;
	char domain[PASSWD_ADDR_MAX + 1], user[PASSWD_ADDR_MAX + 1];
	char folder[MAILDIR_FOLDER_MAX + 1];
	char base[MAILDIR_NAME_MAX + 1]; /* the unique name and ",": finds the UID */
};

static unsigned imap_live;
static struct imap_sess *imap_sessions;

static void imap_copy_free(struct imap_copy *cp)
{
	if (cp == NULL)
		return;
	free(cp->idx);
	free(cp->src_uids);
	free(cp->dst_uids);
	free(cp->names);
	free(cp);
}

/* Opens folder (NULL: INBOX) into s->sbox, its uidlist's flush left to the caller. 0,
 * or what maildir_folder_open returns (-MGW_ENOMEM: no memory for it). */
static int imap_sbox_open(struct imap_sess *s, const char *folder)
{
	int rc;

	s->sbox = calloc(1, sizeof(*s->sbox));
	if (s->sbox == NULL)
		return -MGW_ENOMEM;
	snprintf(s->sbox->name, sizeof(s->sbox->name), "%s", folder ? folder : "INBOX");
	rc = maildir_folder_open(&s->sbox->box, s->env.store, s->who.domain, s->who.user, folder,
				 MAILDIR_OPEN_DEFER);
	if (rc < 0) {
		free(s->sbox);
		s->sbox = NULL;
	}
	return rc;
}

static void imap_sbox_close(struct imap_sess *s)
{
	if (s->sbox != NULL)
		maildir_box_close(&s->sbox->box);
	free(s->sbox);
	s->sbox = NULL;
}

/* The session goes away: a flush or commit in flight drops its result (loop thread). */
static void imap_wait_abandon(struct imap_sess *s)
{
	maildir_flush_abandon(s->flush);
	s->flush = NULL;
	if (s->append_commit != NULL)
		s->append_commit->s = NULL;
	s->append_commit = NULL;
	imap_copy_free(s->copy);
	s->copy = NULL;
	free(s->wait_seqs);
	s->wait_seqs = NULL;
	imap_sbox_close(s);
	s->wait = IMAP_WAIT_NONE;
}

typedef void (*imap_handler)(struct imap_sess *s, const struct imap_cmd *cmd);

/* ---- helpers ----------------------------------------------------------------------- */

static void imap_enter(struct imap_sess *s, enum imap_state st)
{
	s->state = st;
}

static void imap_out(struct imap_sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void imap_out(struct imap_sess *s, const char *fmt, ...)
{
	char line[IMAP_OUT_LINE_MAX];
	va_list ap;
	int n;

	if (s->closed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	conn_write(s->c, line, (size_t)n);
}

/* "tag OK text" for the command running (its tag was saved in s->tag). */
static void imap_tagged(struct imap_sess *s, const char *status, const char *text)
{
	imap_out(s, "%s %s %s\r\n", s->tag[0] ? s->tag : "*", status, text);
}

static void imap_close(struct imap_sess *s, const char *bye, const char *reason)
{
	if (s->closed || s->state == IMAP_ST_LOGOUT)
		return;
	if (bye)
		imap_out(s, "* BYE %s\r\n", bye);
	imap_enter(s, IMAP_ST_LOGOUT);
	conn_close_after_flush(s->c, reason);
}

static void imap_job_end(struct imap_sess *s)
{
	if (s->job.kind == IMAP_JOB_FETCH && !s->closed)
		conn_cork(s->c, false);
	if (s->job.lit.fd >= 0)
		close(s->job.lit.fd);
	free(s->job.mem);
	imap_mime_free(&s->job.mime);
	free(s->job.seqs);
	free(s->job.was);
	free(s->job.gone);
	memset(&s->job, 0, sizeof(s->job));
	s->job.lit.fd = -1;
}

static void imap_unselect(struct imap_sess *s)
{
	if (s->box_open)
		maildir_box_close(&s->box);
	s->box_open = false;
	maildir_kw_free(&s->kw);
	if (s->state == IMAP_ST_SELECTED)
		imap_enter(s, IMAP_ST_AUTH);
}

static void imap_free(struct imap_sess *s)
{
	struct imap_sess **pp;

	for (pp = &imap_sessions; *pp; pp = &(*pp)->next_live)
		if (*pp == s) {
			*pp = s->next_live;
			break;
		}
	gate_login_abandon(&s->gl); /* a check in flight drops its result */
	imap_wait_abandon(s);
	loop_timer_cancel(s->c->loop, &s->delay);
	if (s->dlv_active)
		maildir_dlv_abort(&s->dlv);
	imap_job_end(s);
	imap_unselect(s);
	if (s->cmd)
		explicit_bzero(s->cmd, s->cmdcap);
	free(s->cmd);
	free(s->pc);
	if (s->env.release)
		s->env.release(s->env.release_arg, s->env.release_ref);
	imap_live--;
	free(s);
}

/* Maildir flags <-> IMAP system flags (dovecot's mapping). */
static unsigned imap_to_maildir(uint32_t bits)
{
	return (bits & IMAP_FLAG_SEEN ? MAILDIR_F_SEEN : 0) |
	       (bits & IMAP_FLAG_ANSWERED ? MAILDIR_F_REPLIED : 0) |
	       (bits & IMAP_FLAG_FLAGGED ? MAILDIR_F_FLAGGED : 0) |
	       (bits & IMAP_FLAG_DELETED ? MAILDIR_F_TRASHED : 0) |
	       (bits & IMAP_FLAG_DRAFT ? MAILDIR_F_DRAFT : 0);
}

static uint32_t imap_msg_bits(const struct imap_sess *s, size_t i)
{
	unsigned f = s->box.msgs[i].flags;

	return (f & MAILDIR_F_SEEN ? IMAP_FLAG_SEEN : 0) |
	       (f & MAILDIR_F_REPLIED ? IMAP_FLAG_ANSWERED : 0) |
	       (f & MAILDIR_F_FLAGGED ? IMAP_FLAG_FLAGGED : 0) |
	       (f & MAILDIR_F_TRASHED ? IMAP_FLAG_DELETED : 0) |
	       (f & MAILDIR_F_DRAFT ? IMAP_FLAG_DRAFT : 0) |
	       (s->box.msgs[i].uid >= s->recent_from ? IMAP_FLAG_RECENT : 0);
}

static void imap_flags_text(const struct imap_sess *s, size_t i, char *out, size_t outsz)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
	    {IMAP_FLAG_ANSWERED, "\\Answered"}, {IMAP_FLAG_FLAGGED, "\\Flagged"},
	    {IMAP_FLAG_DELETED, "\\Deleted"},	{IMAP_FLAG_SEEN, "\\Seen"},
	    {IMAP_FLAG_DRAFT, "\\Draft"},	{IMAP_FLAG_RECENT, "\\Recent"},
	};
	uint32_t bits = imap_msg_bits(s, i);
	unsigned f = s->box.msgs[i].flags;
	size_t n = 0;

	out[0] = '\0';
	for (size_t k = 0; k < MGW_ARRAY_LEN(names); k++)
		if (bits & names[k].bit)
			n += (size_t)snprintf(out + n, outsz - n, "%s%s", n ? " " : "",
					      names[k].name);
	for (size_t k = 0; k < MAILDIR_KW_MAX && n < outsz; k++)
		if ((f & MAILDIR_F_KW(k)) && s->kw.name[k] != NULL)
			n += (size_t)snprintf(out + n, outsz - n, "%s%s", n ? " " : "",
					      s->kw.name[k]);
}

/* The keywords of the selected folder, each after a space. */
static void imap_kw_text(const struct imap_sess *s, char *out, size_t outsz)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t k = 0; k < MAILDIR_KW_MAX && n < outsz; k++)
		if (s->kw.name[k] != NULL)
			n += (size_t)snprintf(out + n, outsz - n, " %s", s->kw.name[k]);
}

/* FLAGS and PERMANENTFLAGS of the selected folder (SELECT, and when a STORE added a
 * keyword): keywords may be created, so PERMANENTFLAGS ends in \* (RFC 3501 7.1). */
static void imap_flags_announce(struct imap_sess *s)
{
	char kws[IMAP_FLAGS_TEXT_MAX];

	imap_kw_text(s, kws, sizeof(kws));
	imap_out(s, "* FLAGS (" IMAP_SYSFLAGS "%s)\r\n", kws);
	if (s->readonly)
		imap_out(s, "* OK [PERMANENTFLAGS ()] Flags permitted\r\n");
	else
		imap_out(s, "* OK [PERMANENTFLAGS (" IMAP_SYSFLAGS "%s \\*)] Flags permitted\r\n",
			 kws);
}

/* The bits of the keywords of f in the folder md (kw its keywords): added to the
 * folder's dovecot-keywords if add, else only those that exist. *added: a keyword was
 * new. The file goes into later when a write of it is not durable yet (a new keyword, or
 * another session's): no message gets a letter before it is flushed. 0, or -MGW_ELIMIT
 * (26 keywords in use, or a name too long), -MGW_E*. */
static int imap_kw_bits(struct maildir_kw *kw, const char *md, const struct imap_flags *f, bool add,
			unsigned *bits, bool *added, struct maildir_dirs *later)
{
	int idx;

	*bits = 0;
	for (unsigned k = 0; k < f->nkeywords; k++) {
		const char *name = (const char *)f->kw[k].p;
		size_t len = f->kw[k].len;

		idx = maildir_kw_find(kw, name, len);
		if (idx == -MGW_ENOENT && add) {
			idx = maildir_kw_add(kw, md, name, len, later);
			*added |= idx >= 0;
		}
		if (idx == -MGW_ENOENT)
			continue;
		if (idx < 0)
			return idx;
		*bits |= MAILDIR_F_KW(idx);
	}
	/* A letter of a file whose last write is not durable yet waits for its flush too. */
	return *bits ? maildir_kw_pending(md, later) : 0;
}

/* The arrival time: the "<sec>." prefix of a Maildir name, else the file's mtime. */
static time_t imap_msg_time(struct imap_sess *s, size_t i)
{
	const char *name = s->box.msgs[i].name;
	char path[MAILDIR_PATH_MAX + MAILDIR_NAME_MAX + 8];
	time_t t = 0;
	struct stat st;
	size_t k = 0;

	while (name[k] >= '0' && name[k] <= '9' && k < 12)
		t = t * 10 + (name[k++] - '0');
	if (k > 0 && name[k] == '.')
		return t;
	snprintf(path, sizeof(path), "%s/%s/%s", s->box.path, s->box.msgs[i].in_new ? "new" : "cur",
		 name);
	return stat(path, &st) == 0 ? st.st_mtime : 0;
}

/* Whether n (a sequence number or UID) is in the set; star is the largest in use. */
static bool imap_set_has(const struct imap_cmd *c, const struct imap_seqset *set, uint32_t n,
			 uint32_t star)
{
	for (unsigned i = 0; i < set->count; i++) {
		const struct imap_seq_range *r = &c->ranges[set->first + i];
		uint32_t lo = r->lo == IMAP_SEQ_STAR ? star : r->lo;
		uint32_t hi = r->hi == IMAP_SEQ_STAR ? star : r->hi;

		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}

static uint32_t imap_max_uid(const struct imap_sess *s)
{
	return s->box.count ? s->box.msgs[s->box.count - 1].uid : 0;
}

/* Message index i is addressed by the command's set (sequence numbers or UIDs). */
static bool imap_msg_in_set(const struct imap_sess *s, const struct imap_cmd *c, size_t i)
{
	if (c->uid)
		return imap_set_has(c, &c->set, s->box.msgs[i].uid, imap_max_uid(s));
	return imap_set_has(c, &c->set, (uint32_t)(i + 1), (uint32_t)s->box.count);
}

/* RFC 3501 section 6.4.8: a sequence number beyond the mailbox is an error (BAD);
 * for UIDs a set that matches nothing is fine. */
static bool imap_seqset_valid(const struct imap_sess *s, const struct imap_cmd *c)
{
	if (c->uid)
		return true;
	for (unsigned i = 0; i < c->set.count; i++) {
		const struct imap_seq_range *r = &c->ranges[c->set.first + i];

		if (s->box.count == 0 || (r->lo != IMAP_SEQ_STAR && r->lo > s->box.count) ||
		    (r->hi != IMAP_SEQ_STAR && r->hi > s->box.count))
			return false;
	}
	return true;
}

/* ---- the CRLF form of a message ---------------------------------------------------- */

/* Up to outsz octets of the CRLF form, after lit->skip, at most lit->left: the count, 0
 * at the end, -1 on a read error. outsz >= 2. */
static ssize_t imap_lit_read(struct imap_lit *l, uint8_t *out, size_t outsz)
{
	uint8_t in[IMAP_CHUNK];
	size_t o = 0;

	while (o == 0 && l->left > 0 && !l->eof) {
		size_t want = outsz / 2 < sizeof(in) ? outsz / 2 : sizeof(in);
		ssize_t n;

		if (l->fd < 0) {
			n = (ssize_t)(l->memlen - l->mempos < want ? l->memlen - l->mempos : want);
			memcpy(in, l->mem + l->mempos, (size_t)n);
			l->mempos += (size_t)n;
		} else {
			n = read(l->fd, in, want);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -1;
		}
		if (n == 0) {
			/* store/crlf.h: a message not ending in LF gets a final CR LF. */
			l->eof = true;
			if (!l->any || l->last == '\n')
				break;
			in[0] = '\r';
			in[1] = '\n';
			n = 2;
			l->after_cr = true; /* the LF below is not doubled */
		}
		for (ssize_t i = 0; i < n && l->left > 0; i++) {
			uint8_t ch = in[i];
			uint8_t pair[2];
			int np = 0;

			if (l->skip == 0 && ch != '\n') {
				/* A run of octets up to the next LF goes out as it is. */
				const uint8_t *nl = memchr(in + i, '\n', (size_t)(n - i));
				size_t run = nl ? (size_t)(nl - (in + i)) : (size_t)(n - i);

				if (run > l->left)
					run = (size_t)l->left;
				memcpy(out + o, in + i, run);
				o += run;
				l->left -= run;
				l->last = in[i + (ssize_t)run - 1];
				l->after_cr = l->last == '\r';
				l->any = true;
				i += (ssize_t)run - 1;
				continue;
			}

			if (ch == '\n' && !l->after_cr)
				pair[np++] = '\r';
			pair[np++] = ch;
			l->after_cr = ch == '\r';
			l->last = ch;
			l->any = true;
			for (int k = 0; k < np && l->left > 0; k++) {
				if (l->skip > 0) {
					l->skip--;
					continue;
				}
				out[o++] = pair[k];
				l->left--;
			}
		}
	}
	return (ssize_t)o;
}

/* Adds up to want octets of the literal to the output, read or converted in place:
 * the count, 0 when the source ended, -MGW_EIO on a read error, -MGW_ENOMEM when the
 * output has no room. l->left > 0. */
static ssize_t imap_lit_fill(struct conn *c, struct imap_lit *l, size_t want)
{
	size_t got;
	uint8_t *p;
	ssize_t n;

	if (want > l->left)
		want = (size_t)l->left;
	if (!l->raw && want < 2)
		want = 2; /* imap_lit_read's minimum; it never writes past l->left */
	p = conn_out_tail(c, want, &got);
	if (p == NULL || (!l->raw && got < 2))
		return -MGW_ENOMEM;
	if (l->raw) {
		do
			n = pread(l->fd, p, got, (off_t)l->off);
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			l->off += (uint64_t)n;
			l->left -= (uint64_t)n;
		}
	} else {
		n = imap_lit_read(l, p, got);
	}
	if (n < 0)
		return -MGW_EIO;
	conn_out_commit(c, (size_t)n);
	return n;
}

/* The length of the header in CRLF form, blank line included (RFC 3501 section 6.4.5:
 * HEADER); the whole message when there is no blank line. */
static int imap_hdr_len(struct imap_sess *s, size_t i, uint64_t *len)
{
	struct imap_lit l = {.fd = -1, .left = UINT64_MAX};
	uint8_t out[2 * IMAP_CHUNK];
	uint32_t tail = 0;
	uint64_t pos = 0;
	ssize_t n;
	int rc = maildir_msg_open(&s->box, i, &l.fd);

	if (rc < 0)
		return rc;
	*len = s->box.msgs[i].vsize;
	while ((n = imap_lit_read(&l, out, sizeof(out))) > 0) {
		for (ssize_t k = 0; k < n; k++) {
			tail = (tail << 8) | out[k];
			pos++;
			if ((pos == 2 && (tail & 0xffff) == 0x0d0a) || tail == 0x0d0a0d0a) {
				*len = pos;
				goto out;
			}
		}
	}
	if (n < 0)
		rc = -MGW_EIO;
out:
	close(l.fd);
	return rc;
}

/* ---- FETCH -------------------------------------------------------------------------- */

static void imap_input(struct imap_sess *s);

/* The name a FETCH response gives an attribute ("BODY[HEADER.FIELDS (From)]<0>"). */
static void imap_fatt_name(const struct imap_cmd *c, const struct imap_fatt *f, char *out,
			   size_t outsz)
{
	static const char *const texts[] = {"",	    "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT",
					    "TEXT", "MIME"};
	size_t n = 0;

	/* outsz >= IMAP_FATT_NAME_MAX, field names <= IMAP_FIELD_NAME_MAX (checked before
	 * the FETCH starts): everything fits; the clamps only keep a mistake harmless. */
#define IMAP_PUT(...)                                                                              \
	do {                                                                                       \
		if (n < outsz)                                                                     \
			n += (size_t)snprintf(out + n, outsz - n, __VA_ARGS__);                    \
	} while (0)
	IMAP_PUT("BODY[");
	for (unsigned k = 0; k < f->nparts; k++)
		IMAP_PUT("%s%u", k ? "." : "", f->part[k]);
	IMAP_PUT("%s%s", f->nparts && f->text ? "." : "", texts[f->text]);
	if (f->nfields) {
		IMAP_PUT(" (");
		for (unsigned j = 0; j < f->nfields; j++) {
			char v[IMAP_FIELD_NAME_MAX + 1];
			size_t vl;

			if (imap_str_get(&c->fields[f->field0 + j], v, sizeof(v), &vl) != 0)
				vl = 0;
			IMAP_PUT("%s\"", j ? " " : "");
			for (size_t k = 0; k < vl; k++)
				IMAP_PUT("%s%c", v[k] == '"' || v[k] == '\\' ? "\\" : "", v[k]);
			IMAP_PUT("\"");
		}
		IMAP_PUT(")");
	}
	IMAP_PUT("]");
	if (f->partial)
		IMAP_PUT("<%u>", f->origin);
#undef IMAP_PUT
}

/* Whether the header line (unfolded name up to ':') is one of the listed fields. */
static bool imap_field_listed(const struct imap_cmd *c, const struct imap_fatt *f,
			      const uint8_t *line, size_t len)
{
	const uint8_t *colon = memchr(line, ':', len);
	size_t nl;

	if (colon == NULL)
		return false;
	nl = (size_t)(colon - line);
	while (nl > 0 && (line[nl - 1] == ' ' || line[nl - 1] == '\t'))
		nl--;
	return imap_fetch_field_listed(c, f, line, nl);
}

/* The header of message i in CRLF form, blank line included, at most IMAP_HDR_MAX
 * octets: *hp owned by the caller. */
static int imap_hdr_read(struct imap_sess *s, size_t i, uint8_t **hp, size_t *hnp)
{
	struct imap_lit l = {.fd = -1};
	uint64_t hlen;
	size_t hn = 0;
	uint8_t *h;
	ssize_t n = 0;
	int rc = imap_hdr_len(s, i, &hlen);

	if (rc < 0)
		return rc;
	if (hlen > IMAP_HDR_MAX)
		hlen = IMAP_HDR_MAX;
	h = malloc(hlen + 2);
	if (h == NULL)
		return -MGW_ENOMEM;
	rc = maildir_msg_open(&s->box, i, &l.fd);
	l.left = hlen;
	while (rc == 0 && (n = imap_lit_read(&l, h + hn, hlen - hn + 2)) > 0)
		hn += (size_t)n;
	if (l.fd >= 0)
		close(l.fd);
	if (rc == 0 && n < 0)
		rc = -MGW_EIO;
	if (rc < 0) {
		free(h);
		return rc;
	}
	*hp = h;
	*hnp = hn;
	return 0;
}

/* HEADER.FIELDS (.NOT): the fields kept or dropped with their continuation lines, and
 * the blank line (RFC 3501 6.4.5). */
static int imap_hdr_fields(struct imap_sess *s, size_t i, const struct imap_fatt *f, uint8_t **outp,
			   size_t *outlen)
{
	uint8_t *h, *o;
	size_t hn, on = 0, p = 0;
	bool keep = false;
	int rc = imap_hdr_read(s, i, &h, &hn);

	if (rc < 0)
		return rc;
	o = malloc(hn + 2);
	if (o == NULL) {
		free(h);
		return -MGW_ENOMEM;
	}
	while (rc == 0 && p < hn) {
		const uint8_t *nl = memchr(h + p, '\n', hn - p);
		size_t e = nl ? (size_t)(nl - h) + 1 : hn;

		if (e - p <= 2 && h[p] == '\r')
			break; /* the blank line */
		if (h[p] != ' ' && h[p] != '\t') {
			bool listed = imap_field_listed(s->pc, f, h + p, e - p);

			keep = f->text == IMAP_SECT_HEADER_FIELDS ? listed : !listed;
		}
		if (keep) {
			memcpy(o + on, h + p, e - p);
			on += e - p;
		}
		p = e;
	}
	free(h);
	if (rc < 0) {
		free(o);
		return rc;
	}
	o[on++] = '\r';
	o[on++] = '\n';
	*outp = o;
	*outlen = on;
	return 0;
}

/* Starts the literal of one body attribute of message i: writes "NAME {n}\r\n". */
static int imap_fetch_body(struct imap_sess *s, size_t i, const struct imap_fatt *f,
			   const char *name)
{
	struct imap_job *j = &s->job;
	uint64_t start = 0, len = s->box.msgs[i].vsize, hlen;
	int rc = 0;

	memset(&j->lit, 0, sizeof(j->lit));
	j->lit.fd = -1;
	if (f->nparts) {
		size_t ml = 0;

		rc = imap_mime_get(&j->mime, &s->box, i);
		if (rc == 0)
			rc = imap_fetch_section(j->mime, s->pc, f, &start, &len, &j->mem, &ml);
		if (rc < 0)
			return rc;
		j->lit.mem = j->mem;
		j->lit.memlen = ml;
		if (j->mem)
			len = ml;
	} else if (f->text == IMAP_SECT_HEADER_FIELDS || f->text == IMAP_SECT_HEADER_FIELDS_NOT) {
		size_t ml;

		rc = imap_hdr_fields(s, i, f, &j->mem, &ml);
		if (rc < 0)
			return rc;
		j->lit.mem = j->mem;
		j->lit.memlen = ml;
		len = ml;
	} else if (f->text == IMAP_SECT_HEADER || f->text == IMAP_SECT_TEXT) {
		rc = imap_hdr_len(s, i, &hlen);
		if (rc < 0)
			return rc;
		if (f->text == IMAP_SECT_HEADER)
			len = hlen;
		else {
			start = hlen;
			len = len > hlen ? len - hlen : 0;
		}
	}
	if (f->partial) {
		uint64_t o = f->origin;

		start += o < len ? o : len;
		len = o < len ? len - o : 0;
		if (len > f->count)
			len = f->count;
	}
	if (j->lit.mem == NULL && len > 0) {
		rc = maildir_msg_open(&s->box, i, &j->lit.fd);
		if (rc < 0)
			return rc;
		/* Stored with CRLF line ends (as our SMTP stores every message): only a bare
		 * LF or a missing final LF make the CRLF form longer than the file (crlf.h), so
		 * with equal sizes it is the file itself, read from its offset straight into
		 * the output. */
		if (s->box.msgs[i].size == s->box.msgs[i].vsize) {
			j->lit.raw = true;
			j->lit.off = start;
			start = 0;
		}
	}
	j->lit.skip = start;
	j->lit.left = len;
	/* the name may be longer than a line imap_out() formats */
	if (conn_write(s->c, name, strlen(name)) < 0)
		return -MGW_EIO;
	imap_out(s, " {%llu}\r\n", (unsigned long long)len);
	j->in_lit = len > 0;
	return 0;
}

/* Writes the next attributes of the current message; false when a literal started or
 * the output is full. */
static bool imap_fetch_items(struct imap_sess *s)
{
	const struct imap_cmd *c = s->pc;
	struct imap_job *j = &s->job;
	size_t i = j->cur;
	char fl[IMAP_FLAGS_TEXT_MAX], name[IMAP_FATT_NAME_MAX];
	size_t ml;

	while (j->item < c->nfatts) {
		const struct imap_fatt *f = &c->fatts[j->item];
		struct imap_fatt whole = {.kind = IMAP_FATT_BODY_SECTION};
		const char *sep = j->item ? " " : "";
		time_t t;
		struct tm tm;
		int rc = 0;

		j->item++;
		switch (f->kind) {
		case IMAP_FATT_FLAGS:
			imap_flags_text(s, i, fl, sizeof(fl));
			imap_out(s, "%sFLAGS (%s)", sep, fl);
			break;
		case IMAP_FATT_UID:
			imap_out(s, "%sUID %u", sep, s->box.msgs[i].uid);
			break;
		case IMAP_FATT_RFC822_SIZE:
			imap_out(s, "%sRFC822.SIZE %llu", sep,
				 (unsigned long long)s->box.msgs[i].vsize);
			break;
		case IMAP_FATT_INTERNALDATE:
			t = imap_msg_time(s, i);
			gmtime_r(&t, &tm);
			strftime(fl, sizeof(fl), "%d-%b-%Y %H:%M:%S +0000", &tm);
			imap_out(s, "%sINTERNALDATE \"%s\"", sep, fl);
			break;
		case IMAP_FATT_RFC822:
		case IMAP_FATT_RFC822_HEADER:
		case IMAP_FATT_RFC822_TEXT:
			whole.text = f->kind == IMAP_FATT_RFC822	  ? IMAP_SECT_ALL
				     : f->kind == IMAP_FATT_RFC822_HEADER ? IMAP_SECT_HEADER
									  : IMAP_SECT_TEXT;
			snprintf(name, sizeof(name), "%s%s", sep,
				 f->kind == IMAP_FATT_RFC822	      ? "RFC822"
				 : f->kind == IMAP_FATT_RFC822_HEADER ? "RFC822.HEADER"
								      : "RFC822.TEXT");
			rc = imap_fetch_body(s, i, &whole, name);
			break;
		case IMAP_FATT_ENVELOPE:
		case IMAP_FATT_BODYSTRUCTURE:
		case IMAP_FATT_BODY:
			/* streamed like a literal's octets, without the announcement */
			rc = imap_mime_get(&j->mime, &s->box, i);
			if (rc == 0)
				rc = imap_fetch_render(j->mime, f->kind, sep, &j->mem, &ml);
			if (rc == 0) {
				memset(&j->lit, 0, sizeof(j->lit));
				j->lit.fd = -1;
				j->lit.mem = j->mem;
				j->lit.memlen = j->lit.left = ml;
				j->in_lit = ml > 0;
			}
			break;
		case IMAP_FATT_BODY_SECTION:
			name[0] = '\0';
			snprintf(name, sizeof(name), "%s", sep);
			imap_fatt_name(c, f, name + strlen(sep), sizeof(name) - strlen(sep));
			rc = imap_fetch_body(s, i, f, name);
			break;
		default:
			break; /* refused before the job started */
		}
		if (rc < 0) {
			/* Mid-response there is no NO to give: end the connection. */
			log_err("imap %s: %s: message %zu cannot be read: %s", s->c->peer, s->login,
				i + 1, mgw_strerror(rc));
			imap_close(s, "message cannot be read", "message read error");
			return false;
		}
		if (j->in_lit)
			return false;
	}
	if (j->add_flags) {
		imap_flags_text(s, i, fl, sizeof(fl));
		imap_out(s, " FLAGS (%s)", fl);
	}
	imap_out(s, ")\r\n");
	j->item = IMAP_FETCH_ATTS_MAX;
	return true;
}

/* Whether attribute f sets \Seen (RFC 3501 6.4.5: BODY[...] without PEEK, RFC822,
 * RFC822.TEXT). */
static bool imap_fatt_sets_seen(const struct imap_fatt *f)
{
	return (f->kind == IMAP_FATT_BODY_SECTION && !f->peek) || f->kind == IMAP_FATT_RFC822 ||
	       f->kind == IMAP_FATT_RFC822_TEXT;
}

static void imap_fetch_begin_msg(struct imap_sess *s, size_t i)
{
	const struct imap_cmd *c = s->pc;
	struct imap_job *j = &s->job;
	bool seen = false, has_flags = false;

	for (unsigned k = 0; k < c->nfatts; k++) {
		seen |= imap_fatt_sets_seen(&c->fatts[k]);
		has_flags |= c->fatts[k].kind == IMAP_FATT_FLAGS;
	}
	j->cur = i;
	j->item = 0;
	j->add_flags = false;
	if (seen && !s->readonly && !(s->box.msgs[i].flags & MAILDIR_F_SEEN) &&
	    maildir_msg_flags_set(&s->box, i, s->box.msgs[i].flags | MAILDIR_F_SEEN) == 0)
		j->add_flags = !has_flags;
	imap_out(s, "* %zu FETCH (", i + 1);
}

static void imap_cmd_reset(struct imap_sess *s);
static void imap_rescan(struct imap_sess *s, const char *done, bool change);

/* The job is over: its command's tagged OK (or back to IDLE), then the input that
 * waited. */
static void imap_job_done(struct imap_sess *s)
{
	const char *done = s->job.done;
	bool no = s->job.no;

	imap_job_end(s);
	imap_cmd_reset(s);
	s->mode = done ? IMAP_MODE_CMD : IMAP_MODE_IDLE;
	if (!s->closed) {
		if (done)
			imap_tagged(s, no ? "NO" : "OK", done);
		if (!done && s->rescan_again) {
			/* New mail came while this rescan ran: look again (it ends here too). */
			s->rescan_again = false;
			imap_rescan(s, NULL, false);
			return;
		}
		imap_input(s);
	}
}

/* HEADER name text (and FROM, TO, CC, BCC, SUBJECT): a field of that name whose
 * unfolded, RFC 2047-decoded value contains text, case folded (imap_fetch.h). BODY, TEXT:
 * the decoded text of the parts (and for TEXT the headers) contains it. */
static bool imap_search_mime(struct imap_sess *s, size_t i, const struct imap_skey *k)
{
	char name[256], text[IMAP_LINE_MAX];
	size_t nl, tl;

	if (imap_str_get(&k->str, text, sizeof(text), &tl) != 0 ||
	    imap_mime_get(&s->job.mime, &s->box, i) < 0)
		return false;
	if (k->op != IMAP_SK_HEADER)
		return imap_search_text(s->job.mime, (const uint8_t *)text, tl,
					k->op == IMAP_SK_TEXT);
	if (imap_str_get(&k->str2, name, sizeof(name), &nl) != 0)
		return false;
	return imap_search_hdr(s->job.mime, name, (const uint8_t *)text, tl);
}

/* The day of the Date: field (RFC 5322 3.3: "[Www, ] D Mon YYYY ..."), as days since
 * 1970-01-01, ignoring time and zone (RFC 3501 6.4.4, SENTBEFORE/ON/SINCE). */
static bool imap_sent_day(struct imap_sess *s, size_t i, int32_t *day)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	uint8_t *h;
	size_t hn, p = 0;
	bool ok = false;

	if (imap_hdr_read(s, i, &h, &hn) < 0)
		return false;
	while (!ok && p < hn) {
		const uint8_t *lf = memchr(h + p, '\n', hn - p);
		size_t e = lf ? (size_t)(lf - h) + 1 : hn, q = p + 5;
		unsigned d = 0, y = 0, nd = 0, ny = 0;
		const char *m;

		if (e - p > 5 && strncasecmp((const char *)h + p, "Date:", 5) == 0) {
			while (q < e && !(h[q] >= '0' && h[q] <= '9'))
				q++; /* the blanks and the day of the week */
			while (q < e && h[q] >= '0' && h[q] <= '9' && nd < 2)
				d = d * 10 + (unsigned)(h[q++] - '0'), nd++;
			while (q < e && h[q] == ' ')
				q++;
			m = NULL;
			if (q + 3 <= e) {
				char mon[4] = {(char)(h[q] | 0x20), (char)(h[q + 1] | 0x20),
					       (char)(h[q + 2] | 0x20), 0};

				m = strstr(months, mon);
				q += 3;
			}
			while (q < e && h[q] == ' ')
				q++;
			while (q < e && h[q] >= '0' && h[q] <= '9' && ny < 4)
				y = y * 10 + (unsigned)(h[q++] - '0'), ny++;
			if (ny == 2)
				y += y < 50 ? 2000 : 1900; /* RFC 5322 4.3 */
			if (nd && m && (m - months) % 3 == 0 && (ny == 4 || ny == 2) && d >= 1 &&
			    d <= 31) {
				*day = imap_days_from_civil((int32_t)y,
							    (unsigned)(m - months) / 3 + 1, d);
				ok = true;
			}
			break;
		}
		p = e;
	}
	free(h);
	return ok;
}

/* SEARCH: whether message i satisfies the program's subtree at k. */
static bool imap_search_eval(struct imap_sess *s, const struct imap_cmd *c, unsigned k, size_t i)
{
	const struct imap_skey *key = &c->skeys[k];
	uint32_t bits;
	int32_t day;
	unsigned ch;

	switch (key->op) {
	case IMAP_SK_AND:
		for (ch = k + 1; ch < k + key->span; ch += c->skeys[ch].span)
			if (!imap_search_eval(s, c, ch, i))
				return false;
		return true;
	case IMAP_SK_OR:
		ch = k + 1;
		return imap_search_eval(s, c, ch, i) ||
		       imap_search_eval(s, c, ch + c->skeys[ch].span, i);
	case IMAP_SK_NOT:
		return !imap_search_eval(s, c, k + 1, i);
	case IMAP_SK_ALL:
		return true;
	case IMAP_SK_FLAGS:
		bits = imap_msg_bits(s, i);
		return (bits & key->num) == key->num && (bits & key->num2) == 0;
	case IMAP_SK_SEQ:
		return imap_set_has(c, &key->set, (uint32_t)(i + 1), (uint32_t)s->box.count);
	case IMAP_SK_UID:
		return imap_set_has(c, &key->set, s->box.msgs[i].uid, imap_max_uid(s));
	case IMAP_SK_LARGER:
		return s->box.msgs[i].vsize > key->num;
	case IMAP_SK_SMALLER:
		return s->box.msgs[i].vsize < key->num;
	case IMAP_SK_KEYWORD:
	case IMAP_SK_UNKEYWORD: {
		int idx = maildir_kw_find(&s->kw, (const char *)key->str.p, key->str.len);
		bool has = idx >= 0 && (s->box.msgs[i].flags & MAILDIR_F_KW(idx));

		return key->op == IMAP_SK_KEYWORD ? has : !has;
	}
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		if (!imap_sent_day(s, i, &day))
			return false;
		return key->op == IMAP_SK_SENTBEFORE ? day < (int32_t)key->num
		       : key->op == IMAP_SK_SENTON   ? day == (int32_t)key->num
						     : day >= (int32_t)key->num;
	case IMAP_SK_HEADER:
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		return imap_search_mime(s, i, key);
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE:
		/* RFC 3501 6.4.4: dates without time, internal date in its zone (UTC here). */
		day = (int32_t)(imap_msg_time(s, i) / 86400);
		return key->op == IMAP_SK_BEFORE ? day < (int32_t)key->num
		       : key->op == IMAP_SK_ON	 ? day == (int32_t)key->num
						 : day >= (int32_t)key->num;
	default:
		return false; /* refused before the job started */
	}
}

static bool imap_rescan_more(struct imap_sess *s);
static void imap_store_one(struct imap_sess *s, size_t i);
static void imap_flush_done(void *arg, int rc);
static void imap_wait_end(struct imap_sess *s, enum imap_wait w, int rc);

/* The job: produces output while there is room; called again on DRAINED. */
static void imap_job_more(struct imap_sess *s)
{
	struct imap_job *j = &s->job;

	while (!s->closed && s->mode == IMAP_MODE_JOB && conn_out_len(s->c) < IMAP_OUT_HIGH) {
		if (j->kind == IMAP_JOB_STORE) {
			if (j->next == s->box.count) {
				imap_job_done(s);
				return;
			}
			imap_store_one(s, j->next++);
			continue;
		}
		if (j->kind == IMAP_JOB_RESCAN) {
			if (!imap_rescan_more(s))
				return;
			continue;
		}
		if (j->kind == IMAP_JOB_EXPUNGE) {
			if (j->next == j->nseqs) {
				imap_job_done(s);
				return;
			}
			imap_out(s, "* %u EXPUNGE\r\n", j->seqs[j->next++]);
			continue;
		}
		if (j->kind == IMAP_JOB_SEARCH) {
			size_t n = 0;
			char line[512];

			while (j->next < s->box.count && n < sizeof(line) - 16) {
				size_t i = j->next++;

				if (imap_search_eval(s, s->pc, 0, i))
					n += (size_t)snprintf(line + n, sizeof(line) - n, " %u",
							      s->pc->uid ? s->box.msgs[i].uid
									 : (uint32_t)(i + 1));
			}
			if (n)
				conn_write(s->c, line, n);
			if (j->next == s->box.count) {
				imap_out(s, "\r\n");
				imap_job_done(s);
				return;
			}
			continue;
		}
		if (j->in_lit) {
			/* Up to the high mark exactly: corked, the output then goes as whole
			 * records with nothing left over to move. */
			ssize_t n =
			    imap_lit_fill(s->c, &j->lit, IMAP_OUT_HIGH - conn_out_len(s->c));

			if (n == -MGW_ENOMEM) {
				imap_close(s, "Out of memory", "out of memory");
				return;
			}
			if (n < 0 || (n == 0 && j->lit.left > 0)) {
				/* The file ended before its announced size, or cannot be read:
				 * nothing true can follow in this response. */
				log_err("imap %s: %s: message %zu changed size or cannot be read",
					s->c->peer, s->login, j->cur + 1);
				imap_close(s, "message cannot be read", "message read error");
				return;
			}
			if (j->lit.left == 0) {
				j->in_lit = false;
				if (j->lit.fd >= 0)
					close(j->lit.fd);
				j->lit.fd = -1;
				free(j->mem);
				j->mem = NULL;
			}
			continue;
		}
		if (j->item < IMAP_FETCH_ATTS_MAX) {
			imap_fetch_items(s);
			continue;
		}
		while (j->next < s->box.count && !imap_msg_in_set(s, s->pc, j->next))
			j->next++;
		if (j->next == s->box.count) {
			imap_job_done(s);
			return;
		}
		imap_fetch_begin_msg(s, j->next++);
	}
}

static void imap_job_start_empty(struct imap_sess *s, enum imap_job_kind kind, const char *done)
{
	imap_job_end(s);
	s->job.kind = kind;
	s->job.item = IMAP_FETCH_ATTS_MAX;
	s->job.done = done;
	s->mode = IMAP_MODE_JOB;
}

static void imap_job_start(struct imap_sess *s, enum imap_job_kind kind, const char *done)
{
	imap_job_start_empty(s, kind, done);
	/* Messages go out in full TLS records, not one short record per refill; the rest
	 * goes when the job ends (imap_job_end). */
	if (kind == IMAP_JOB_FETCH)
		conn_cork(s->c, true);
	imap_job_more(s);
}

/* RESCAN job, one step: FETCH FLAGS for flags changed elsewhere, then EXPUNGE for the
 * messages gone (highest first, so the numbers sent stay right), then EXISTS and RECENT
 * for new ones. false when the job ended. */
static bool imap_rescan_more(struct imap_sess *s)
{
	struct imap_job *j = &s->job;
	char fl[IMAP_FLAGS_TEXT_MAX];

	switch (j->phase) {
	case 0:
		for (; j->next < j->nwas; j->next++) {
			size_t i = j->next;
			bool unsaid = s->box.msgs[i].flags_unsaid;

			s->box.msgs[i].flags_unsaid = false;
			if (!s->box.msgs[i].gone && (s->box.msgs[i].flags != j->was[i] || unsaid)) {
				imap_flags_text(s, i, fl, sizeof(fl));
				imap_out(s, "* %zu FETCH (FLAGS (%s))\r\n", i + 1, fl);
				j->next++;
				return true;
			}
		}
		j->phase = 1;
		j->next = 0;
		if (j->nseqs)
			maildir_box_expunge(&s->box, j->gone, j->nseqs, NULL);
		return true;
	case 1:
		if (j->next < j->nseqs) {
			imap_out(s, "* %u EXPUNGE\r\n", j->seqs[j->next++]);
			return true;
		}
		j->phase = 2;
		if (j->added || j->nseqs || s->box.count != j->nwas) {
			size_t recent = 0;

			for (size_t i = 0; i < s->box.count; i++)
				recent += s->box.msgs[i].uid >= s->recent_from;
			imap_out(s, "* %zu EXISTS\r\n* %zu RECENT\r\n", s->box.count, recent);
		}
		return true;
	default:
		imap_job_done(s);
		return false;
	}
}

/* A rescan's report does not go out (its flush failed, or the scan stopped half-way),
 * but the snapshot has the flags it found: the messages whose flags changed are marked,
 * and the next rescan reports them (RFC 3501 7.4.1: unsolicited FETCH). Messages it
 * found gone stay in the snapshot, gone, and are reported by the next rescan too. */
static void imap_rescan_unsaid(struct imap_sess *s, const unsigned *was, size_t nwas)
{
	for (size_t i = 0; i < nwas && i < s->box.count; i++)
		if (s->box.msgs[i].flags != was[i])
			s->box.msgs[i].flags_unsaid = true;
}

/* Reports what changed since the last look, as a job (a slow reader with many changes
 * never overflows the output), between commands only (RFC 3501 7.4.1); done is the
 * tagged OK text, NULL in IDLE; change: done reports a change that is durable already
 * (APPEND, COPY), confirmed even when the rescan's flush fails. When the scan rewrote the
 * uidlist (new or vanished messages), or finds a rewrite not known durable, the job
 * waits in FLUSH for its flush on a worker: no new UID goes out before it is durable. */
static void imap_rescan(struct imap_sess *s, const char *done, bool change)
{
	struct imap_job *j;
	size_t added = 0, old = s->box.count, n = 0;
	uint32_t old_next = s->box.uidnext;
	unsigned *was = calloc(old ? old : 1, sizeof(*was));
	int rc;

	for (size_t i = 0; was && i < old; i++)
		was[i] = s->box.msgs[i].flags;
	maildir_kw_load(&s->kw, s->box.path); /* keywords other sessions added */
	rc = was ? maildir_box_rescan(&s->box, &added) : -MGW_ENOMEM;
	if (rc == -MGW_EAGAIN) {
		free(was);
		imap_close(s, "UIDVALIDITY changed, please reconnect", "uidvalidity changed");
		return;
	}
	if (rc < 0 && maildir_folder_exists(s->box.path) == -MGW_ENOENT) {
		/* Deleted or renamed by another session: as dovecot, the session ends. */
		free(was);
		imap_close(s, "Mailbox was deleted or renamed", "mailbox gone");
		return;
	}
	if (rc < 0 && was != NULL)
		imap_rescan_unsaid(s, was, old);
	imap_job_start_empty(s, IMAP_JOB_RESCAN, done);
	j = &s->job;
	j->was = was;
	j->nwas = rc == 0 ? old : 0; /* a passing error: look again at the next NOOP */
	j->added = added;
	for (size_t i = 0; rc == 0 && i < s->box.count; i++)
		n += s->box.msgs[i].gone;
	if (n) {
		j->gone = calloc(n, sizeof(*j->gone));
		j->seqs = calloc(n, sizeof(*j->seqs));
		if (j->gone && j->seqs)
			for (size_t i = s->box.count; i-- > 0;)
				if (s->box.msgs[i].gone) {
					j->gone[j->nseqs] = i;
					j->seqs[j->nseqs++] = (uint32_t)(i + 1);
				}
	}
	if (rc == 0 && s->box.uidlist_gen != 0) {
		s->rescan_count = old;
		s->rescan_uidnext = old_next;
		s->rescan_change = change;
		s->mode = IMAP_MODE_FLUSH;
		s->wait = IMAP_WAIT_RESCAN;
		rc = maildir_flush_uidlist(s->env.work, s->box.path, s->box.uidlist_gen,
					   imap_flush_done, s, &s->flush);
		if (rc < 0)
			imap_wait_end(s, IMAP_WAIT_RESCAN, rc);
		return;
	}
	imap_job_more(s);
}

/* Whether s is in IDLE, looking at what changed (a rescan's job or its flush). */
static bool imap_idle_busy(const struct imap_sess *s)
{
	return s->job.kind == IMAP_JOB_RESCAN && s->job.done == NULL &&
	       (s->mode == IMAP_MODE_JOB || s->mode == IMAP_MODE_FLUSH);
}

static void imap_do_fetch(struct imap_sess *s, const struct imap_cmd *cmd)
{
	if (!imap_seqset_valid(s, cmd)) {
		imap_tagged(s, "BAD", "Invalid message sequence number");
		return;
	}
	for (unsigned k = 0; k < cmd->nfatts; k++) {
		const struct imap_fatt *f = &cmd->fatts[k];

		for (unsigned j = 0; j < f->nfields; j++)
			if (cmd->fields[f->field0 + j].len > IMAP_FIELD_NAME_MAX) {
				imap_tagged(s, "BAD", "Header field name too long");
				return;
			}
	}
	if (cmd->uid) {
		/* RFC 3501 6.4.8: UID FETCH always includes UID. */
		bool has = false;

		for (unsigned k = 0; k < cmd->nfatts; k++)
			has |= cmd->fatts[k].kind == IMAP_FATT_UID;
		if (!has && cmd->nfatts < IMAP_FETCH_ATTS_MAX) {
			struct imap_cmd *w = s->pc;

			memset(&w->fatts[w->nfatts], 0, sizeof(w->fatts[0]));
			w->fatts[w->nfatts++].kind = IMAP_FATT_UID;
		}
	}
	imap_job_start(s, IMAP_JOB_FETCH, cmd->uid ? "UID FETCH completed" : "FETCH completed");
}

static void imap_do_search(struct imap_sess *s, const struct imap_cmd *cmd)
{
	if (cmd->a[0].kind && !imap_str_eq_ci(&cmd->a[0], "US-ASCII") &&
	    !imap_str_eq_ci(&cmd->a[0], "UTF-8")) {
		imap_tagged(s, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
		return;
	}
	imap_out(s, "* SEARCH");
	imap_job_start(s, IMAP_JOB_SEARCH, cmd->uid ? "UID SEARCH completed" : "SEARCH completed");
}

/* ---- changes made elsewhere: new mail, expunges ------------------------------------ */

void imap_sess_notify(void *arg, const char *domain, const char *user)
{
	(void)arg;
	for (struct imap_sess *s = imap_sessions; s; s = s->next_live) {
		if (s->closed || !s->box_open || strcmp(s->who.domain, domain) != 0 ||
		    strcmp(s->who.user, user) != 0)
			continue;
		if (imap_idle_busy(s))
			s->rescan_again = true; /* it looks again when this one is over */
		if (s->mode != IMAP_MODE_IDLE)
			continue;
		s->depth++;
		imap_rescan(s, NULL, false);
		s->depth--;
	}
}

/* ---- not authenticated ------------------------------------------------------------- */

static void imap_delay_cb(struct loop *loop, struct loop_timer *t)
{
	struct imap_sess *s = t->arg;

	(void)loop;
	s->depth++;
	if (!s->closed && s->mode == IMAP_MODE_DELAY) {
		s->mode = IMAP_MODE_CMD;
		imap_tagged(s, "NO", s->delayed_reply);
		if (s->close_after_delay)
			imap_close(s, "Too many failed logins", "too many failed logins");
		else
			imap_input(s);
	}
	s->depth--;
	if (s->closed && s->depth == 0)
		imap_free(s);
}

/* Logged-in sessions of this user. */
static unsigned imap_user_sessions(const struct passwd_addr *who)
{
	unsigned n = 0;

	for (const struct imap_sess *o = imap_sessions; o; o = o->next_live)
		n += !o->closed && o->login[0] && strcmp(o->who.user, who->user) == 0 &&
		     strcmp(o->who.domain, who->domain) == 0;
	return n;
}

/*
 * The gate's second half (proto/gate_login.h): the session waits in VERIFY, where no
 * input is taken, until imap_login_done. The tag stays in s->tag for the reply; commands
 * pipelined behind the login stay buffered and are answered, in order, afterwards.
 */
static void imap_login(struct imap_sess *s, const uint8_t *name, size_t namelen, const uint8_t *pw,
		       size_t pwlen)
{
	s->mode = IMAP_MODE_VERIFY;
	gate_login_start(&s->gl, name, namelen, pw, pwlen);
}

/* The login succeeded (s->who) and the Maildir is ready: authenticated. */
static void imap_login_ok(struct imap_sess *s)
{
	snprintf(s->login, sizeof(s->login), "%s@%s", s->who.user, s->who.domain);
	log_record("imap %s: login %s (subject %s, serial %s)", s->c->peer, s->login, s->gl.subject,
		   s->gl.serial);
	imap_enter(s, IMAP_ST_AUTH);
	conn_set_idle(s->c, s->env.idle_timeout_ms);
	conn_set_interactive(s->c, true); /* its commands before SMTP's bulk data */
	imap_tagged(s, "OK", "[CAPABILITY " IMAP_CAPS_COMMON "] Logged in");
}

/* The login's result: inside imap_login, or later from the worker pool's completion. */
static void imap_login_done(void *arg, enum gate_login_result r, const struct passwd_addr *a,
			    uint32_t delay, bool close_after)
{
	struct imap_sess *s = arg;
	int rc;

	s->depth++;
	if (s->closed || s->mode != IMAP_MODE_VERIFY)
		goto out;
	s->mode = IMAP_MODE_CMD;
	switch (r) {
	case GATE_LOGIN_OK:
		s->who = *a;
		if (imap_user_sessions(&s->who) >= IMAP_SESSIONS_PER_USER) {
			log_warn("imap %s: %s@%s: refused, %u sessions already", s->c->peer,
				 s->who.user, s->who.domain, IMAP_SESSIONS_PER_USER);
			imap_tagged(s, "NO", "[UNAVAILABLE] Too many sessions of this user");
			break;
		}
		if (maildir_prepare_needed(s->env.store, s->who.domain, s->who.user, true)) {
			/* RFC 6154 folders at the first login (as dovecot's auto = subscribe),
			 * made and flushed on a worker; the OK waits for them. */
			s->mode = IMAP_MODE_FLUSH;
			s->wait = IMAP_WAIT_LOGIN;
			rc =
			    maildir_prepare_start(s->env.work, s->env.store, s->who.domain,
						  s->who.user, true, imap_flush_done, s, &s->flush);
			if (rc < 0)
				imap_wait_end(s, IMAP_WAIT_LOGIN, rc);
			break;
		}
		imap_login_ok(s);
		break;
	case GATE_LOGIN_FAILED:
		/* RFC 5530 response code; the reply waits out the throttle's delay. */
		s->delayed_reply = "[AUTHENTICATIONFAILED] Authentication failed";
		s->close_after_delay = close_after;
		s->mode = IMAP_MODE_DELAY;
		loop_timer_set(s->c->loop, &s->delay, delay);
		break;
	case GATE_LOGIN_LIMIT:
		imap_tagged(s, "NO", "[AUTHENTICATIONFAILED] Too many failed logins");
		imap_close(s, "Too many failed logins, try again later", "login limit");
		break;
	case GATE_LOGIN_TEMP:
		/* RFC 5530: the server cannot check the password now (not a failed login). */
		imap_tagged(s, "NO", "[UNAVAILABLE] Cannot check the password now, try later");
		break;
	}
	imap_input(s); /* the commands pipelined behind the login (no-op when nested) */
out:
	s->depth--;
	if (s->closed && s->depth == 0)
		imap_free(s);
}

static void imap_do_login(struct imap_sess *s, const struct imap_cmd *cmd)
{
	char user[PASSWD_ADDR_MAX + 2], pw[IMAP_PASS_MAX + 1];
	size_t ul, pl;

	if (imap_str_get(&cmd->a[0], user, sizeof(user), &ul) != 0 ||
	    imap_str_get(&cmd->a[1], pw, sizeof(pw), &pl) != 0) {
		imap_tagged(s, "NO", "[AUTHENTICATIONFAILED] Name or password too long");
		return;
	}
	imap_login(s, (const uint8_t *)user, ul, (const uint8_t *)pw, pl);
	explicit_bzero(pw, sizeof(pw));
}

static void imap_sasl_plain(struct imap_sess *s, const uint8_t *b64, size_t len)
{
	uint8_t msg[IMAP_SASL_MAX];
	const uint8_t *user, *pw;
	size_t ulen, pwlen;

	switch (gate_sasl_plain(b64, len, msg, sizeof(msg), &user, &ulen, &pw, &pwlen)) {
	case GATE_SASL_OK:
		imap_login(s, user, ulen, pw, pwlen);
		break;
	case GATE_SASL_BASE64:
		imap_tagged(s, "BAD", "Invalid base64 in the AUTHENTICATE response");
		break;
	case GATE_SASL_MALFORMED:
		imap_tagged(s, "BAD", "Malformed PLAIN response");
		break;
	case GATE_SASL_AUTHZID:
		imap_tagged(s, "NO",
			    "[AUTHORIZATIONFAILED] Authorization identity must be empty or the "
			    "user itself");
		break;
	}
	explicit_bzero(msg, sizeof(msg));
}

static void imap_do_authenticate(struct imap_sess *s, const struct imap_cmd *cmd)
{
	if (!imap_str_eq_ci(&cmd->a[0], "PLAIN")) {
		imap_tagged(s, "NO", "Unsupported mechanism (PLAIN only)");
		return;
	}
	if (cmd->a[1].kind) {
		/* RFC 4959: "=" is an empty initial response. */
		if (cmd->a[1].len == 1 && cmd->a[1].p[0] == '=')
			imap_sasl_plain(s, cmd->a[1].p, 0);
		else
			imap_sasl_plain(s, cmd->a[1].p, cmd->a[1].len);
		return;
	}
	imap_out(s, "+ \r\n");
	s->mode = IMAP_MODE_SASL;
}

/* The line after "+ ": the base64 response, or "*" to cancel (RFC 3501 6.2.2). */
static void imap_sasl_line(struct imap_sess *s, const uint8_t *text, size_t len)
{
	s->mode = IMAP_MODE_CMD;
	if (len == 1 && text[0] == '*') {
		imap_tagged(s, "BAD", "Authentication cancelled");
		return;
	}
	imap_sasl_plain(s, text, len);
}

/* ---- any state --------------------------------------------------------------------- */

static void imap_do_capability(struct imap_sess *s, const struct imap_cmd *cmd)
{
	(void)cmd;
	imap_out(s, "* CAPABILITY " IMAP_CAPS_COMMON "%s\r\n",
		 s->state == IMAP_ST_NOAUTH ? " AUTH=PLAIN" : "");
	imap_tagged(s, "OK", "CAPABILITY completed");
}

static void imap_do_noop(struct imap_sess *s, const struct imap_cmd *cmd)
{
	const char *done = cmd->id == IMAP_CMD_CHECK ? "CHECK completed" : "NOOP completed";

	if (s->state == IMAP_ST_SELECTED)
		imap_rescan(s, done, false);
	else
		imap_tagged(s, "OK", done);
}

static void imap_do_logout(struct imap_sess *s, const struct imap_cmd *cmd)
{
	(void)cmd;
	imap_out(s, "* BYE Logging out\r\n");
	imap_tagged(s, "OK", "LOGOUT completed");
	imap_close(s, NULL, "LOGOUT");
}

static void imap_do_starttls(struct imap_sess *s, const struct imap_cmd *cmd)
{
	(void)cmd;
	imap_tagged(s, "BAD", "Already under TLS");
}

static void imap_do_id(struct imap_sess *s, const struct imap_cmd *cmd)
{
	(void)cmd;
	/* RFC 2971: the server's own parameters; the client's are not kept. */
	imap_out(s, "* ID (\"name\" \"mailgw\")\r\n");
	imap_tagged(s, "OK", "ID completed");
}

static void imap_do_enable(struct imap_sess *s, const struct imap_cmd *cmd)
{
	(void)cmd;
	/* RFC 5161: nothing we offer needs enabling (no CONDSTORE, no UTF8=ACCEPT). */
	imap_out(s, "* ENABLED\r\n");
	imap_tagged(s, "OK", "ENABLE completed");
}

static void imap_do_namespace(struct imap_sess *s, const struct imap_cmd *cmd)
{
	(void)cmd;
	imap_out(s, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
	imap_tagged(s, "OK", "NAMESPACE completed");
}

/* ---- authenticated: mailboxes ------------------------------------------------------ */

/* The mailbox argument m: *folder NULL for INBOX, else out (its normal form, valid:
 * store/folder.h). false: refused with a NO (the tagged reply is sent). */
static bool imap_mbox(struct imap_sess *s, const struct imap_str *m, char *out, size_t outsz,
		      const char **folder)
{
	char raw[MAILDIR_FOLDER_MAX + 2];
	size_t len;

	if (imap_str_get(m, raw, sizeof(raw), &len) != MGW_PARSE_OK || len > MAILDIR_FOLDER_MAX) {
		imap_tagged(s, "NO", "[CANNOT] Mailbox name too long");
		return false;
	}
	/* RFC 3501 6.3.3: CREATE "name." declares that children will follow; the name is
	 * created (dovecot does the same). */
	if (s->pc->id == IMAP_CMD_CREATE && len > 1 && raw[len - 1] == '.' && raw[len - 2] != '.')
		raw[--len] = '\0';
	if (strlen(raw) == len && strcasecmp(raw, "INBOX") == 0) {
		*folder = NULL;
		return true;
	}
	maildir_folder_norm(raw, out, outsz);
	if (strlen(raw) != len || !maildir_folder_valid(out)) {
		imap_tagged(s, "NO",
			    "[CANNOT] Invalid mailbox name: printable ASCII and modified UTF-7, "
			    "'.' between levels, no empty level, none of / \\ * % \"");
		return false;
	}
	*folder = out;
	return true;
}

/* The text of the NO for a failed folder operation. */
static const char *imap_folder_err(int rc)
{
	switch (rc) {
	case -MGW_ENOENT:
		return "[NONEXISTENT] No such mailbox";
	case -MGW_EEXIST:
		return "[ALREADYEXISTS] Mailbox already exists";
	case -MGW_EINVAL:
		return "[CANNOT] Invalid mailbox name";
	case -MGW_ELIMIT:
		return "[LIMIT] Too many mailboxes or name too long";
	case -MGW_ENOSPC:
		return "[OVERQUOTA] Disk full";
	default:
		return "[UNAVAILABLE] Mail store unavailable, try later";
	}
}

/* A LIST pattern (RFC 3501 6.3.8: "*" anything, "%" anything but the delimiter) against
 * a name; its first ci octets match case-insensitively (INBOX, RFC 3501 5.1). */
static bool imap_list_match_ci(const char *pat, const char *name, size_t ci)
{
	if (*pat == '\0')
		return *name == '\0';
	if (*pat == '*' || *pat == '%') {
		for (const char *n = name;; n++) {
			if (imap_list_match_ci(
				pat + 1, n, ci > (size_t)(n - name) ? ci - (size_t)(n - name) : 0))
				return true;
			if (*n == '\0' || (*pat == '%' && *n == '.'))
				return false;
		}
	}
	if (*name == '\0' || (*pat != *name && !(ci > 0 && (*pat | 0x20) == (*name | 0x20))))
		return false;
	return imap_list_match_ci(pat + 1, name + 1, ci ? ci - 1 : 0);
}

static bool imap_list_match(const char *pat, const char *name)
{
	return imap_list_match_ci(pat, name, strncmp(name, "INBOX", 5) == 0 ? 5 : 0);
}

/* The RFC 6154 attribute of a special-use folder, or "". */
static const char *imap_special_use(const char *name)
{
	static const char *const attr[] = {" \\Sent", " \\Drafts", " \\Trash", " \\Junk",
					   " \\Archive"};

	for (size_t i = 0; i < MGW_ARRAY_LEN(attr); i++)
		if (strcmp(name, maildir_special_folders[i]) == 0)
			return attr[i];
	return "";
}

/* Whether some name of f is below name (name + '.' ...). */
static bool imap_has_children(const struct maildir_folders *f, const char *name)
{
	size_t l = strlen(name);

	for (size_t i = 0; i < f->n; i++)
		if (strncmp(f->names[i], name, l) == 0 && f->names[i][l] == '.')
			return true;
	return false;
}

static int imap_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names to consider for LIST (folders and their parents that do not exist) or LSUB
 * (subscriptions and their parents): into out, sorted, without duplicates. */
static int imap_list_names(const struct maildir_folders *base, struct maildir_folders *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < base->n; i++) {
		const char *n = base->names[i];

		for (const char *dot = n;; dot++) {
			if (*dot != '.' && *dot != '\0')
				continue;
			if (strncasecmp(n, "INBOX", 5) != 0 || (size_t)(dot - n) != 5) {
				char *name = strndup(n, (size_t)(dot - n));
				bool dup;
				char **nn;

				if (name == NULL)
					return -MGW_ENOMEM;
				dup = maildir_folders_has(out, name);
				nn = dup ? NULL : realloc(out->names, (out->n + 1) * sizeof(*nn));
				if (dup || nn == NULL) {
					free(name);
					if (!dup)
						return -MGW_ENOMEM;
				} else {
					out->names = nn;
					out->names[out->n++] = name;
				}
			}
			if (*dot == '\0')
				break;
		}
	}
	if (out->n > 1)
		qsort(out->names, out->n, sizeof(*out->names), imap_name_cmp);
	return 0;
}

static void imap_do_list(struct imap_sess *s, const struct imap_cmd *cmd)
{
	char ref[256], pat[512], full[768];
	size_t rl, pl;
	bool lsub = cmd->id == IMAP_CMD_LSUB;
	const char *verb = lsub ? "LSUB" : "LIST";
	struct maildir_folders folders = {0}, subs = {0}, names = {0};
	int rc;

	if (imap_str_get(&cmd->a[0], ref, sizeof(ref), &rl) != 0 ||
	    imap_str_get(&cmd->a[1], pat, sizeof(pat), &pl) != 0) {
		imap_tagged(s, "BAD", "Mailbox name too long");
		return;
	}
	if (pl == 0 && !lsub) {
		/* RFC 3501 6.3.8: the delimiter and the root of the reference. */
		imap_out(s, "* LIST (\\Noselect) \".\" \"\"\r\n");
		imap_out(s, "%s OK LIST completed\r\n", s->tag);
		return;
	}
	snprintf(full, sizeof(full), "%s%s", ref, pat);
	rc = maildir_folder_list(s->env.store, s->who.domain, s->who.user, &folders);
	if (rc == 0 && lsub)
		rc = maildir_subs_list(s->env.store, s->who.domain, s->who.user, &subs);
	if (rc == 0)
		rc = imap_list_names(lsub ? &subs : &folders, &names);
	if (rc < 0) {
		imap_tagged(s, "NO", imap_folder_err(rc));
		goto out;
	}
	/* INBOX always exists and is always subscribed (as dovecot shows it). */
	if (imap_list_match(full, "INBOX"))
		imap_out(s, "* %s (%s) \".\" INBOX\r\n", verb,
			 imap_has_children(&folders, "INBOX") ? "\\HasChildren"
							      : "\\HasNoChildren");
	for (size_t i = 0; i < names.n; i++) {
		const char *n = names.names[i];
		bool exists = maildir_folders_has(&folders, n);

		if (!imap_list_match(full, n))
			continue;
		if (conn_out_len(s->c) + 1024 > IMAP_OUT_MAX) {
			/* More than the output buffer holds (a Maildir copied in with hundreds
			 * of folders): refused rather than the connection closed. */
			imap_tagged(s, "NO", "[LIMIT] Too many mailboxes, use a narrower pattern");
			goto out;
		}
		/* LSUB: a parent that is not subscribed itself shows only for '%' (RFC 3501
		 * 6.3.9), as \Noselect. */
		if (lsub && !maildir_folders_has(&subs, n) && strchr(full, '%') == NULL)
			continue;
		imap_out(s, "* %s (%s%s%s) \".\" \"%s\"\r\n", verb,
			 imap_has_children(&folders, n) ? "\\HasChildren" : "\\HasNoChildren",
			 !exists || (lsub && !maildir_folders_has(&subs, n)) ? " \\Noselect" : "",
			 exists ? imap_special_use(n) : "", n);
	}
	imap_out(s, "%s OK %s completed\r\n", s->tag, verb);
out:
	maildir_folders_free(&folders);
	maildir_folders_free(&subs);
	maildir_folders_free(&names);
}

static void imap_flush_start(struct imap_sess *s, enum imap_wait w,
			     const struct maildir_dirs *dirs);

/* A folder operation's end (rc): NO (nothing claimed), or the flush of the directories
 * it changed on a worker, then the tagged OK done (or NO when the flush fails). true
 * when it succeeded so far (to be logged). */
static bool imap_folder_flush(struct imap_sess *s, int rc, const struct maildir_dirs *dirs,
			      const char *done)
{
	if (rc < 0) {
		imap_tagged(s, "NO", imap_folder_err(rc));
		return false;
	}
	if (dirs->n == 0) {
		imap_tagged(s, "OK", done);
		return true;
	}
	s->wait_done = done;
	imap_flush_start(s, IMAP_WAIT_FOLDER, dirs);
	return true;
}

/* SUBSCRIBE, UNSUBSCRIBE: the subscriptions file is replaced on the loop and flushed on
 * a worker before the OK. */
static void imap_do_subscribe(struct imap_sess *s, const struct imap_cmd *cmd)
{
	char name[MAILDIR_FOLDER_MAX + 1];
	struct maildir_dirs later = {0};
	const char *folder;
	bool on = cmd->id == IMAP_CMD_SUBSCRIBE;
	int rc;

	if (!imap_mbox(s, &cmd->a[0], name, sizeof(name), &folder))
		return;
	if (folder == NULL) {
		imap_tagged(s, on ? "OK" : "NO",
			    on ? "SUBSCRIBE completed (INBOX is always subscribed)"
			       : "[CANNOT] INBOX is always subscribed");
		return;
	}
	/* RFC 3501 6.3.6: a valid name that does not exist (yet) may be subscribed; LSUB
	 * shows it \Noselect. */
	rc = maildir_subs_set(s->env.store, s->who.domain, s->who.user, folder, on, &later);
	imap_folder_flush(s, rc, &later, on ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
}

static void imap_do_create(struct imap_sess *s, const struct imap_cmd *cmd)
{
	char name[MAILDIR_FOLDER_MAX + 1];
	struct maildir_dirs dirs = {0};
	struct maildir_folders f;
	const char *folder;
	size_t l;
	int rc;

	if (!imap_mbox(s, &cmd->a[0], name, sizeof(name), &folder))
		return;
	if (folder == NULL) {
		imap_tagged(s, "NO", "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	l = strlen(name);
	rc = maildir_folder_list(s->env.store, s->who.domain, s->who.user, &f);
	if (rc == 0 && f.n >= IMAP_FOLDERS_MAX)
		rc = -MGW_ELIMIT;
	maildir_folders_free(&f);
	if (rc == 0)
		rc = maildir_folder_create_later(s->env.store, s->who.domain, s->who.user, name,
						 &dirs);
	if (imap_folder_flush(s, rc, &dirs, "CREATE completed"))
		log_info("imap %s: %s: created folder %.*s", s->c->peer, s->login, (int)l, name);
}

/* Whether the selected mailbox is folder (NULL: INBOX). */
static bool imap_is_selected(const struct imap_sess *s, const char *folder)
{
	if (!s->box_open)
		return false;
	return folder ? strcmp(s->folder, folder) == 0 : s->folder[0] == '\0';
}

static void imap_do_delete(struct imap_sess *s, const struct imap_cmd *cmd)
{
	char name[MAILDIR_FOLDER_MAX + 1];
	struct maildir_dirs dirs = {0};
	const char *folder;
	int rc;

	if (!imap_mbox(s, &cmd->a[0], name, sizeof(name), &folder))
		return;
	if (folder == NULL) {
		imap_tagged(s, "NO", "[CANNOT] INBOX cannot be deleted"); /* RFC 3501 6.3.4 */
		return;
	}
	if (imap_is_selected(s, folder))
		imap_unselect(s); /* as dovecot: deleting the selected mailbox closes it */
	rc = maildir_folder_delete_later(s->env.store, s->who.domain, s->who.user, folder, &dirs);
	if (rc == 0)
		(void)maildir_subs_set(s->env.store, s->who.domain, s->who.user, folder, false,
				       &dirs);
	if (imap_folder_flush(s, rc, &dirs, "DELETE completed"))
		log_info("imap %s: %s: deleted folder %s", s->c->peer, s->login, folder);
}

static void imap_do_rename(struct imap_sess *s, const struct imap_cmd *cmd)
{
	char from[MAILDIR_FOLDER_MAX + 1], to[MAILDIR_FOLDER_MAX + 1];
	struct maildir_dirs dirs = {0};
	const char *ff, *tf;
	int rc;

	if (!imap_mbox(s, &cmd->a[0], from, sizeof(from), &ff) ||
	    !imap_mbox(s, &cmd->a[1], to, sizeof(to), &tf))
		return;
	if (tf == NULL) {
		imap_tagged(s, "NO", "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	if (imap_is_selected(s, ff))
		imap_unselect(s);
	rc = maildir_folder_rename_later(s->env.store, s->who.domain, s->who.user, ff, tf, &dirs);
	if (imap_folder_flush(s, rc, &dirs, "RENAME completed"))
		log_info("imap %s: %s: renamed folder %s to %s", s->c->peer, s->login,
			 ff ? ff : "INBOX", tf);
}

/* The NO for folder (NULL: INBOX) that could not be opened (rc). */
static void imap_box_refused(struct imap_sess *s, const char *folder, int rc, const char *missing)
{
	if (rc != -MGW_ENOENT)
		log_err("imap %s: %s: cannot open %s: %s", s->c->peer, s->login,
			folder ? folder : "INBOX", mgw_strerror(rc));
	imap_tagged(s, "NO", rc == -MGW_ENOENT ? missing : imap_folder_err(rc));
}

/* Opens folder (NULL: INBOX) into b. false: refused with a NO (sent). */
static bool imap_box_open(struct imap_sess *s, struct maildir_box *b, const char *folder,
			  const char *missing, unsigned flags)
{
	int rc = maildir_folder_open(b, s->env.store, s->who.domain, s->who.user, folder, flags);

	if (rc < 0)
		imap_box_refused(s, folder, rc, missing);
	return rc == 0;
}

/* STATUS's response for bp (the selected box, or s->sbox's) named name, then the
 * tagged OK. */
static void imap_status_report(struct imap_sess *s, const struct maildir_box *bp, const char *name)
{
	unsigned items = s->status_items;
	size_t recent = 0, unseen = 0;
	char line[512];
	size_t n;

	for (size_t i = 0; i < bp->count; i++) {
		recent += bp == &s->box ? bp->msgs[i].uid >= s->recent_from : bp->msgs[i].in_new;
		unseen += !(bp->msgs[i].flags & MAILDIR_F_SEEN);
	}
	n = (size_t)snprintf(line, sizeof(line), "* STATUS \"%s\" (", name);
	if (items & IMAP_STATUS_MESSAGES)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "MESSAGES %zu ", bp->count);
	if (items & IMAP_STATUS_RECENT)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "RECENT %zu ", recent);
	if (items & IMAP_STATUS_UIDNEXT)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "UIDNEXT %u ", bp->uidnext);
	if (items & IMAP_STATUS_UIDVALIDITY)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "UIDVALIDITY %u ",
				      bp->uidvalidity);
	if (items & IMAP_STATUS_UNSEEN)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "UNSEEN %zu ", unseen);
	if (items & IMAP_STATUS_SIZE)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "SIZE %llu ",
				      (unsigned long long)maildir_box_size(bp));
	if (line[n - 1] == ' ')
		n--;
	imap_out(s, "%.*s)\r\n", (int)n, line);
	imap_tagged(s, "OK", "STATUS completed");
}

/* STATUS of another mailbox opens it (a scan, which may rewrite its uidlist: the
 * counts and UIDNEXT go out once that list is durable, flushed on a worker). */
static void imap_do_status(struct imap_sess *s, const struct imap_cmd *cmd)
{
	char name[MAILDIR_FOLDER_MAX + 1];
	const char *folder;
	int rc;

	if (!imap_mbox(s, &cmd->a[0], name, sizeof(name), &folder))
		return;
	s->status_items = cmd->items;
	if (imap_is_selected(s, folder)) {
		imap_status_report(s, &s->box, folder ? folder : "INBOX");
		return;
	}
	rc = imap_sbox_open(s, folder);
	if (rc < 0) {
		imap_box_refused(s, folder, rc, "[NONEXISTENT] No such mailbox");
		return;
	}
	if (s->sbox->box.uidlist_gen == 0) {
		imap_wait_end(s, IMAP_WAIT_STATUS, 0);
		return;
	}
	s->mode = IMAP_MODE_FLUSH;
	s->wait = IMAP_WAIT_STATUS;
	rc = maildir_flush_uidlist(s->env.work, s->sbox->box.path, s->sbox->box.uidlist_gen,
				   imap_flush_done, s, &s->flush);
	if (rc < 0)
		imap_wait_end(s, IMAP_WAIT_STATUS, rc);
}

/* SELECT/EXAMINE's responses for the box just opened, whose UIDs are durable. */
static void imap_select_report(struct imap_sess *s)
{
	size_t recent = 0, first_unseen = 0;

	/* \Recent: what was still in new/ when this session first saw it. */
	s->recent_from = s->box.uidnext;
	for (size_t i = 0; i < s->box.count; i++) {
		if (s->box.msgs[i].in_new && s->box.msgs[i].uid < s->recent_from)
			s->recent_from = s->box.msgs[i].uid;
		if (!first_unseen && !(s->box.msgs[i].flags & MAILDIR_F_SEEN))
			first_unseen = i + 1;
	}
	for (size_t i = 0; i < s->box.count; i++) {
		recent += s->box.msgs[i].uid >= s->recent_from;
		/* As dovecot: a read-write SELECT moves new/ to cur/, so the next session
		 * does not see these as \Recent too (RFC 3501 2.3.2). */
		if (!s->readonly && s->box.msgs[i].in_new)
			maildir_msg_flags_set(&s->box, i, s->box.msgs[i].flags);
	}
	imap_enter(s, IMAP_ST_SELECTED);
	maildir_kw_load(&s->kw, s->box.path);
	imap_flags_announce(s);
	imap_out(s, "* %zu EXISTS\r\n* %zu RECENT\r\n", s->box.count, recent);
	if (first_unseen)
		imap_out(s, "* OK [UNSEEN %zu] First unseen\r\n", first_unseen);
	imap_out(s, "* OK [UIDVALIDITY %u] UIDs valid\r\n", s->box.uidvalidity);
	imap_out(s, "* OK [UIDNEXT %u] Predicted next UID\r\n", s->box.uidnext);
	imap_tagged(s, "OK",
		    s->readonly ? "[READ-ONLY] EXAMINE completed"
				: "[READ-WRITE] SELECT completed");
}

/* The box is opened with the uidlist's flush left to us (MAILDIR_OPEN_DEFER): when the
 * scan rewrote the list (new or vanished messages), or an earlier rewrite is not known
 * durable, the session waits in FLUSH for its flush on a worker (imap_flush_done), and
 * no UID is announced before it is durable; else the responses go out at once. */
static void imap_do_select(struct imap_sess *s, const struct imap_cmd *cmd)
{
	char name[MAILDIR_FOLDER_MAX + 1];
	const char *folder;
	int rc;

	imap_unselect(s); /* RFC 3501 6.3.1: a failed SELECT leaves none selected */
	if (!imap_mbox(s, &cmd->a[0], name, sizeof(name), &folder) ||
	    !imap_box_open(s, &s->box, folder, "[NONEXISTENT] No such mailbox", MAILDIR_OPEN_DEFER))
		return;
	s->box_open = true;
	snprintf(s->folder, sizeof(s->folder), "%s", folder ? folder : "");
	s->readonly = cmd->id == IMAP_CMD_EXAMINE;
	if (s->box.uidlist_gen == 0) {
		imap_select_report(s);
		return;
	}
	s->mode = IMAP_MODE_FLUSH;
	s->wait = IMAP_WAIT_SELECT;
	rc = maildir_flush_uidlist(s->env.work, s->box.path, s->box.uidlist_gen, imap_flush_done, s,
				   &s->flush);
	if (rc < 0)
		imap_wait_end(s, IMAP_WAIT_SELECT, rc);
}

/* ---- changes that wait for a flush (IMAP_MODE_FLUSH) ---------------------------------- */

static void imap_copy_end(struct imap_sess *s, int rc);
static void imap_copy_report(struct imap_sess *s, int rc);
static void imap_append_finish(struct imap_sess *s, int rc, const char *base);
static void imap_append_report(struct imap_sess *s, int rc);
static void imap_store_go(struct imap_sess *s);

/* The tagged NO text when the flush of a change failed: the change is not confirmed. */
static const char *imap_flush_err(int rc, const char *what)
{
	if (rc == -MGW_ELIMIT || rc == -MGW_ECLOSED)
		return "[UNAVAILABLE] Server busy, cannot confirm the change, try later";
	if (rc == -MGW_ENOSPC)
		return "[OVERQUOTA] Disk full";
	return what;
}

/* The EXPUNGE responses of the messages removed (a job), then the tagged reply: OK once
 * the removals are durable, NO when their flush failed (the files are gone from the
 * directories, so the snapshot and the responses say so; the removal is not claimed
 * durable). */
static void imap_expunge_report(struct imap_sess *s, int rc)
{
	imap_job_end(s);
	s->job.seqs = s->wait_seqs;
	s->job.nseqs = s->wait_nseqs;
	s->wait_seqs = NULL;
	s->job.kind = IMAP_JOB_EXPUNGE;
	s->job.done =
	    rc < 0 ? imap_flush_err(rc, "[SERVERBUG] Expunge not confirmed on disk") : s->wait_done;
	s->job.no = rc < 0;
	s->job.item = IMAP_FETCH_ATTS_MAX;
	s->mode = IMAP_MODE_JOB;
	imap_job_more(s);
}

/* The rescan's uidlist is durable (rc 0): its report goes out (the job). Else the new
 * messages leave the snapshot again, unannounced (the next rescan finds them, with the
 * same UIDs, and flushes the list again), the flag changes and expunges it saw wait for
 * the next rescan's report, and the tagged reply is NO, or OK for an APPEND or COPY,
 * whose change is durable; in IDLE nothing is said. */
static void imap_rescan_end(struct imap_sess *s, int rc)
{
	const char *done = s->job.done;

	if (rc == 0) {
		s->mode = IMAP_MODE_JOB;
		imap_job_more(s);
		return;
	}
	imap_rescan_unsaid(s, s->job.was, s->job.nwas);
	maildir_box_truncate(&s->box, s->rescan_count, s->rescan_uidnext);
	imap_job_end(s);
	if (done == NULL) {
		s->rescan_again = false; /* the next delivery tries again */
		s->mode = IMAP_MODE_IDLE;
	} else if (s->rescan_change) {
		imap_tagged(s, "OK", done);
	} else {
		imap_tagged(s, "NO",
			    imap_flush_err(rc, "[SERVERBUG] Mailbox state not confirmed on disk"));
	}
}

/* What waited for the flush continues, on the loop thread (rc: the flush's result). */
static void imap_wait_end(struct imap_sess *s, enum imap_wait w, int rc)
{
	s->mode = IMAP_MODE_CMD;
	s->wait = IMAP_WAIT_NONE;
	if (rc < 0)
		log_err("imap %s: %s: the change is not confirmed on disk: %s", s->c->peer,
			s->login, mgw_strerror(rc));
	switch (w) {
	case IMAP_WAIT_EXPUNGE:
		imap_expunge_report(s, rc);
		break;
	case IMAP_WAIT_CLOSE:
		if (rc < 0)
			imap_tagged(
			    s, "NO",
			    imap_flush_err(rc, "[SERVERBUG] Expunge not confirmed on disk"));
		else
			imap_tagged(s, "OK", "CLOSE completed");
		break;
	case IMAP_WAIT_COPY:
		imap_copy_end(s, rc);
		break;
	case IMAP_WAIT_FOLDER:
		if (rc < 0)
			imap_tagged(s, "NO",
				    imap_flush_err(rc, "[SERVERBUG] Change not confirmed on disk"));
		else
			imap_tagged(s, "OK", s->wait_done);
		break;
	case IMAP_WAIT_SELECT:
		if (rc < 0) {
			imap_unselect(s); /* no UID of it announced */
			imap_tagged(s, "NO",
				    imap_flush_err(rc, "[SERVERBUG] Mailbox state not confirmed "
						       "on disk"));
		} else {
			imap_select_report(s);
		}
		break;
	case IMAP_WAIT_RESCAN:
		imap_rescan_end(s, rc);
		break;
	case IMAP_WAIT_STATUS:
		if (rc < 0)
			imap_tagged(s, "NO",
				    imap_flush_err(rc, "[SERVERBUG] Mailbox state not confirmed "
						       "on disk"));
		else
			imap_status_report(s, &s->sbox->box, s->sbox->name);
		imap_sbox_close(s);
		break;
	case IMAP_WAIT_APPENDUID:
		imap_append_report(s, rc);
		break;
	case IMAP_WAIT_COPYUID:
		imap_copy_report(s, rc);
		break;
	case IMAP_WAIT_STORE:
		if (rc < 0) {
			imap_cmd_reset(s);
			s->flags_stale |= s->store_added;
			imap_tagged(
			    s, "NO",
			    imap_flush_err(rc, "[SERVERBUG] Keyword not confirmed on disk"));
		} else {
			imap_store_go(s);
		}
		break;
	case IMAP_WAIT_LOGIN:
		if (rc < 0 &&
		    maildir_prepare_needed(s->env.store, s->who.domain, s->who.user, false)) {
			/* The Maildir itself is not durable (store/mdcreate.h): no mailbox to
			 * log in to; the next login makes and flushes it again. */
			log_err("imap %s: %s@%s: cannot make the mailbox: %s", s->c->peer,
				s->who.user, s->who.domain, mgw_strerror(rc));
			imap_tagged(s, "NO", "[UNAVAILABLE] Mailbox unavailable, try later");
			break;
		}
		/* The special-use folders are a convenience: the login stands without them
		 * (the next login tries again: no subscriptions file was written). */
		if (rc < 0)
			log_warn("imap %s: %s@%s: cannot create the special-use folders",
				 s->c->peer, s->who.user, s->who.domain);
		imap_login_ok(s);
		break;
	case IMAP_WAIT_APPEND:
	case IMAP_WAIT_NONE:
		break;
	}
}

/* The flush's completion (store/flushjob.h): inside imap_flush_start without a pool,
 * else later from the pool, outside any event handler of the session. */
static void imap_flush_done(void *arg, int rc)
{
	struct imap_sess *s = arg;

	s->depth++;
	if (!s->closed && s->mode == IMAP_MODE_FLUSH) {
		imap_wait_end(s, s->wait, rc);
		imap_input(s); /* the commands pipelined behind it (no-op when nested) */
	}
	s->depth--;
	if (s->closed && s->depth == 0)
		imap_free(s);
}

/*
 * The change made on the loop (links, unlinks, mkdir, renames) is made durable by a flush
 * of the directories dirs on a worker (shared with the deliveries' flushes:
 * store/dirsync.h); the session waits in FLUSH, taking no input, and w continues in
 * imap_flush_done. When the flush cannot be queued, w continues at once with the error
 * (NO, never OK).
 */
static void imap_flush_start(struct imap_sess *s, enum imap_wait w, const struct maildir_dirs *dirs)
{
	int rc;

	s->mode = IMAP_MODE_FLUSH;
	s->wait = w;
	rc = maildir_flush_start(s->env.work, dirs, imap_flush_done, s, &s->flush);
	if (rc < 0)
		imap_wait_end(s, w, rc);
}

/* ---- selected ---------------------------------------------------------------------- */

/* Expunges the n messages at the indices idx (ascending; owned, freed here); once the
 * removals are flushed (on a worker) reports each as a job, then the tagged done
 * (nothing but the tagged reply for CLOSE: silent). true when the tagged reply is left
 * to the flush's end, false when the caller answers (silent, nothing removed). */
static bool imap_expunge_idx(struct imap_sess *s, size_t *idx, size_t n, bool silent,
			     const char *done)
{
	int rc;
	uint32_t *uids = calloc(n ? n : 1, sizeof(*uids)), *seqs = calloc(n ? n : 1, sizeof(*seqs));
	size_t k = 0;

	if (uids == NULL || seqs == NULL) {
		free(idx);
		free(uids);
		free(seqs);
		if (!silent)
			imap_tagged(s, "NO", "[SERVERBUG] Out of memory, nothing expunged");
		return !silent;
	}
	for (size_t m = 0; m < n; m++)
		uids[m] = s->box.msgs[idx[m]].uid;
	if (n > 0 && maildir_box_expunge(&s->box, idx, n, NULL) < 0)
		log_err("imap %s: %s: some messages could not be expunged", s->c->peer, s->login);
	/* Report those really gone, highest sequence number first. */
	for (size_t m = n; m-- > 0;)
		if (maildir_box_find_uid(&s->box, uids[m]) < 0)
			seqs[k++] = (uint32_t)(idx[m] + 1);
	free(idx);
	free(uids);
	free(s->wait_seqs);
	s->wait_seqs = seqs;
	s->wait_nseqs = k;
	s->wait_done = k == n ? done : "EXPUNGE completed, some messages remain";
	if (k == 0) {
		if (silent)
			return false;
		imap_expunge_report(s, 0); /* nothing removed: nothing to flush */
		return true;
	}
	s->mode = IMAP_MODE_FLUSH;
	s->wait = silent ? IMAP_WAIT_CLOSE : IMAP_WAIT_EXPUNGE;
	rc = maildir_flush_box(s->env.work, s->box.path, imap_flush_done, s, &s->flush);
	if (rc < 0)
		imap_wait_end(s, s->wait, rc);
	return true;
}

/* Removes the \Deleted messages (those in the command's UID set for UID EXPUNGE) and
 * reports each (silently for CLOSE). As imap_expunge_idx: true when the tagged reply is
 * given (or will be, after the flush). */
static bool imap_expunge(struct imap_sess *s, const struct imap_cmd *cmd, bool silent)
{
	size_t n = 0, k = 0, *idx;

	for (size_t i = 0; i < s->box.count; i++)
		n += (s->box.msgs[i].flags & MAILDIR_F_TRASHED) &&
		     !(cmd->uid && !imap_msg_in_set(s, cmd, i));
	if (n == 0) {
		if (!silent)
			imap_tagged(s, "OK", "EXPUNGE completed");
		return !silent;
	}
	idx = calloc(n, sizeof(*idx));
	if (idx == NULL) {
		if (!silent)
			imap_tagged(s, "NO", "[SERVERBUG] Out of memory, nothing expunged");
		return !silent;
	}
	for (size_t i = 0; i < s->box.count; i++)
		if ((s->box.msgs[i].flags & MAILDIR_F_TRASHED) &&
		    !(cmd->uid && !imap_msg_in_set(s, cmd, i)))
			idx[k++] = i;
	return imap_expunge_idx(s, idx, n, silent, "EXPUNGE completed");
}

static void imap_do_expunge(struct imap_sess *s, const struct imap_cmd *cmd)
{
	if (s->readonly) {
		imap_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	imap_expunge(s, cmd, false);
}

static void imap_do_close(struct imap_sess *s, const struct imap_cmd *cmd)
{
	/* RFC 3501 6.4.2: CLOSE expunges silently unless read-only; UNSELECT does not. The
	 * box closes now; the tagged reply waits for the removals' flush (a copy of the
	 * directory paths is flushed). */
	if (cmd->id == IMAP_CMD_CLOSE && !s->readonly && imap_expunge(s, cmd, true)) {
		imap_unselect(s);
		return;
	}
	imap_unselect(s);
	imap_tagged(s, "OK", cmd->id == IMAP_CMD_CLOSE ? "CLOSE completed" : "UNSELECT completed");
}

/* STORE job, one message: the new flags, and the FETCH unless .SILENT. */
static void imap_store_one(struct imap_sess *s, size_t i)
{
	const struct imap_cmd *cmd = s->pc;
	unsigned want =
	    imap_to_maildir(cmd->flags.bits & ~(uint32_t)IMAP_FLAG_RECENT) | s->store_kw;
	unsigned f = s->box.msgs[i].flags, nf;
	char fl[IMAP_FLAGS_TEXT_MAX];

	if (!imap_msg_in_set(s, cmd, i))
		return;
	nf = cmd->store_mode == IMAP_STORE_ADD	    ? f | want
	     : cmd->store_mode == IMAP_STORE_REMOVE ? f & ~want
						    : (f & MAILDIR_F_PASSED) | want;
	if (nf != f && maildir_msg_flags_set(&s->box, i, nf) < 0)
		return; /* gone meanwhile: the next NOOP reports it */
	if (cmd->store_silent)
		return;
	imap_flags_text(s, i, fl, sizeof(fl));
	if (cmd->uid)
		imap_out(s, "* %zu FETCH (UID %u FLAGS (%s))\r\n", i + 1, s->box.msgs[i].uid, fl);
	else
		imap_out(s, "* %zu FETCH (FLAGS (%s))\r\n", i + 1, fl);
}

/* STORE once its keywords are durable: FLAGS if one was new, then the job. */
static void imap_store_go(struct imap_sess *s)
{
	if (s->store_added || s->flags_stale)
		imap_flags_announce(s);
	s->flags_stale = false;
	imap_job_start(s, IMAP_JOB_STORE, s->pc->uid ? "UID STORE completed" : "STORE completed");
}

/* A keyword new to the folder is added to its dovecot-keywords, replaced on the loop and
 * flushed on a worker before any message gets its letter (the session waits in FLUSH,
 * keeping the command for the job). */
static void imap_do_store(struct imap_sess *s, const struct imap_cmd *cmd)
{
	struct maildir_dirs later = {0};

	if (s->readonly) {
		imap_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (!imap_seqset_valid(s, cmd)) {
		imap_tagged(s, "BAD", "Invalid message sequence number");
		return;
	}
	s->store_added = false;
	if (imap_kw_bits(&s->kw, s->box.path, &cmd->flags, cmd->store_mode != IMAP_STORE_REMOVE,
			 &s->store_kw, &s->store_added, &later) < 0) {
		imap_tagged(s, "NO", "[LIMIT] Too many keywords in this mailbox");
		return;
	}
	if (later.n > 0)
		imap_flush_start(s, IMAP_WAIT_STORE, &later);
	else
		imap_store_go(s);
}

static void imap_do_idle(struct imap_sess *s, const struct imap_cmd *cmd)
{
	(void)cmd;
	imap_out(s, "+ idling\r\n");
	s->mode = IMAP_MODE_IDLE;
	if (s->state == IMAP_ST_SELECTED)
		imap_rescan(s, NULL, false);
}

static void imap_idle_line(struct imap_sess *s, const uint8_t *text, size_t len)
{
	s->mode = IMAP_MODE_CMD;
	if (len == 4 && strncasecmp((const char *)text, "DONE", 4) == 0)
		imap_tagged(s, "OK", "IDLE terminated");
	else
		imap_tagged(s, "BAD", "Expected DONE");
}

static void imap_bad(struct imap_sess *s, const char *text);

/* ---- APPEND -------------------------------------------------------------------------- */

/* Whether bytes more would put the user over the quota ([smtp] quota or the user's
 * rule, counting every folder: maildirsize). A store that cannot say is not "over". */
static bool imap_over_quota(struct imap_sess *s, uint64_t bytes)
{
	struct passwd_entry e;
	uint64_t limit, used = 0, msgs;
	int rc = passwd_lookup(s->env.data_dir, s->who.domain, s->who.user, &e);

	limit = rc == 0 && e.has_quota ? e.quota : s->env.quota_default;
	explicit_bzero(&e, sizeof(e));
	if (limit == 0 ||
	    maildir_quota_get(s->env.store, s->who.domain, s->who.user, limit, &used, &msgs) < 0)
		return false;
	return used >= limit || bytes > limit - used;
}

/* The message literal is announced (the parser stopped at it): refuse, or take it into a
 * delivery as SMTP does (spool, fsync, link into new/), so an APPEND is as durable as a
 * delivery. RFC 7889 [TOOBIG] beyond [smtp] max_message_size; RFC 3501 6.3.11
 * [TRYCREATE] for a folder that does not exist; RFC 5530 [OVERQUOTA]. */
static void imap_append_begin(struct imap_sess *s, const struct imap_cmd *cmd)
{
	char root[MAILDIR_PATH_MAX], dir[MAILDIR_PATH_MAX];
	const char *why = NULL, *folder = NULL;
	char raw[MAILDIR_FOLDER_MAX + 2];
	struct maildir_kw kw = {0};
	struct maildir_dirs kwl = {0}; /* flushed after the commit (imap_append_finish) */
	unsigned kwbits = 0;
	bool added = false;
	size_t len = 0;

	if (s->state != IMAP_ST_NOAUTH &&
	    (imap_str_get(&cmd->a[0], raw, sizeof(raw), &len) != MGW_PARSE_OK ||
	     strlen(raw) != len))
		why = "NO [CANNOT] Invalid mailbox name";
	else if (s->state != IMAP_ST_NOAUTH && strcasecmp(raw, "INBOX") != 0) {
		maildir_folder_norm(raw, s->append_folder, sizeof(s->append_folder));
		folder = s->append_folder;
		if (!maildir_folder_valid(folder))
			why = "NO [CANNOT] Invalid mailbox name";
		else if (maildir_path(s->env.store, s->who.domain, s->who.user, root,
				      sizeof(root)) < 0 ||
			 maildir_folder_dir(root, folder, dir, sizeof(dir)) < 0 ||
			 maildir_folder_exists(dir) < 0)
			why = "NO [TRYCREATE] No such mailbox";
	}
	if (why)
		;
	else if (s->state == IMAP_ST_NOAUTH)
		why = "BAD Log in first";
	else if (cmd->append.size == 0)
		why = "NO Empty message";
	else if (cmd->append.size > s->env.max_message_size)
		why = "NO [TOOBIG] Message larger than the limit";
	else if (cmd->flags.has_extension)
		why = "BAD Unknown system flag";
	else if (imap_over_quota(s, cmd->append.size))
		why = "NO [OVERQUOTA] Quota exceeded";
	else if (cmd->flags.nkeywords &&
		 (maildir_path(s->env.store, s->who.domain, s->who.user, root, sizeof(root)) < 0 ||
		  maildir_folder_dir(root, folder, dir, sizeof(dir)) < 0 ||
		  imap_kw_bits(&kw, dir, &cmd->flags, true, &kwbits, &added, &kwl) < 0))
		why = "NO [LIMIT] Too many keywords in this mailbox";
	else if (maildir_dlv_begin_at(s->env.store, &s->dlv,
				      cmd->append.has_date ? (time_t)cmd->append.date : 0) < 0)
		why = "NO [UNAVAILABLE] Mail store unavailable, try later";
	maildir_kw_free(&kw);
	if (why) {
		imap_out(s, "%s %s\r\n", s->tag, why);
		if (cmd->append.plus) {
			/* RFC 7888 section 4: its octets come anyway */
			s->lit_left = cmd->append.size;
			s->skip_rest = true;
			s->mode = IMAP_MODE_SKIP;
		}
		return;
	}
	if (folder == NULL)
		s->append_folder[0] = '\0';
	s->dlv_active = true;
	s->append_flags = imap_to_maildir(cmd->flags.bits) | kwbits;
	s->append_left = cmd->append.size;
	if (!cmd->append.plus)
		imap_out(s, "+ Ready for literal data\r\n");
	s->mode = IMAP_MODE_APPEND;
}

/* The commit's end (store/commitq.h), on the loop thread: inside imap_append_end
 * without a queue, else later, outside any event handler of the session. */
static void imap_append_done(struct maildir_cq_item *it)
{
	struct imap_append_commit *cm = (struct imap_append_commit *)it;
	struct imap_sess *s = cm->s;
	int rc = it->rc;

	if (rc == 0)
		maildir_dlv_notify(cm->st, &cm->r, 1);
	if (s == NULL) {
		log_debug("imap: an APPEND for %s@%s finished after its connection had closed: %s",
			  cm->user, cm->domain, rc == 0 ? "stored" : "not stored");
		free(cm);
		return;
	}
	s->append_commit = NULL;
	s->depth++;
	if (!s->closed && s->mode == IMAP_MODE_FLUSH && s->wait == IMAP_WAIT_APPEND) {
		s->mode = IMAP_MODE_CMD;
		s->wait = IMAP_WAIT_NONE;
		imap_append_finish(s, rc, cm->base);
		imap_input(s); /* the commands pipelined behind it (no-op when nested) */
	}
	s->depth--;
	free(cm);
	if (s->closed && s->depth == 0)
		imap_free(s);
}

/* The message is in the spool and the line is over: the delivery is committed (spool
 * flushed, linked into new/, new/ flushed) on a worker, in a batch with the SMTP
 * deliveries of the moment; the session waits in FLUSH, taking no input, until
 * imap_append_done. */
static void imap_append_end(struct imap_sess *s, size_t restlen)
{
	struct imap_append_commit *cm;
	int rc;

	s->mode = IMAP_MODE_CMD;
	s->dlv_active = false;
	if (restlen != 0) {
		maildir_dlv_abort(&s->dlv);
		imap_bad(s, "Unexpected text after the message (MULTIAPPEND is not offered)");
		return;
	}
	cm = calloc(1, sizeof(*cm));
	if (cm == NULL) {
		maildir_dlv_abort(&s->dlv);
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory, not stored");
		return;
	}
	cm->s = s;
	cm->st = s->env.store;
	snprintf(cm->domain, sizeof(cm->domain), "%s", s->who.domain);
	snprintf(cm->user, sizeof(cm->user), "%s", s->who.user);
	snprintf(cm->folder, sizeof(cm->folder), "%s", s->append_folder);
	snprintf(cm->base, sizeof(cm->base), "%s,", strrchr(s->dlv.spool, '/') + 1);
	cm->r = (struct maildir_rcpt){cm->domain, cm->user, cm->folder[0] ? cm->folder : NULL};
	cm->it.dlv = s->dlv; /* the queue owns the delivery now */
	cm->it.rcpts = &cm->r;
	cm->it.n = 1;
	cm->it.done = imap_append_done;
	s->append_commit = cm;
	s->mode = IMAP_MODE_FLUSH;
	s->wait = IMAP_WAIT_APPEND;
	rc = maildir_cq_submit(s->env.cq, &cm->it); /* NULL (the fuzzers): inline */
	if (rc < 0) {
		s->append_commit = NULL;
		s->mode = IMAP_MODE_CMD;
		s->wait = IMAP_WAIT_NONE;
		maildir_dlv_abort(&cm->it.dlv);
		free(cm);
		imap_tagged(s, "NO", imap_flush_err(rc, "[SERVERBUG] Not stored"));
	}
}

/* The commit is over (rc): find the UID (RFC 4315 APPENDUID) in the folder, opened into
 * s->sbox; its uidlist (when the scan rewrote it) and dovecot-keywords (when a keyword
 * was added) are flushed on a worker before the UID is announced and the message gets
 * its keyword letters; then imap_append_report. NO when the message is not stored.
 * base: the message's unique name and ",". */
static void imap_append_finish(struct imap_sess *s, int rc, const char *base)
{
	const char *folder = s->append_folder[0] ? s->append_folder : NULL;
	struct maildir_dirs l = {0};

	if (rc < 0) {
		imap_tagged(s, "NO",
			    rc == -MGW_ENOSPC	? "[OVERQUOTA] Disk full"
			    : rc == -MGW_ENOENT ? "[TRYCREATE] No such mailbox"
						: imap_flush_err(rc, "[SERVERBUG] Not stored"));
		return;
	}
	s->append_uid = 0;
	if (imap_sbox_open(s, folder) == 0) {
		struct maildir_box *b = &s->sbox->box;

		for (size_t i = b->count; i-- > 0;)
			if (strncmp(b->msgs[i].name, base, strlen(base)) == 0) {
				s->append_uid = b->msgs[i].uid;
				s->append_idx = i;
				break;
			}
		rc = b->uidlist_gen ? maildir_dirs_add_uidlist(&l, b->path, b->uidlist_gen) : 0;
		if (rc == 0 && (s->append_flags & ~MAILDIR_F_SYSTEM))
			rc = maildir_kw_pending(b->path, &l);
	}
	if (rc < 0 || l.n == 0)
		imap_wait_end(s, IMAP_WAIT_APPENDUID, rc);
	else
		imap_flush_start(s, IMAP_WAIT_APPENDUID, &l);
}

/* APPEND's end once the UID (and keywords) are durable, rc 0, or not: then the message
 * is stored all the same (its commit was flushed) and OK says so, without APPENDUID and
 * without keywords (a NO would make the client append it again). EXISTS if the folder
 * is selected. */
static void imap_append_report(struct imap_sess *s, int rc)
{
	const char *folder = s->append_folder[0] ? s->append_folder : NULL;
	unsigned flags = rc == 0 ? s->append_flags : s->append_flags & MAILDIR_F_SYSTEM;
	uint32_t uid = 0, uidvalidity = 0;

	if (s->sbox != NULL) {
		uid = rc == 0 ? s->append_uid : 0;
		uidvalidity = s->sbox->box.uidvalidity;
		if (s->append_uid && flags)
			maildir_msg_flags_set(&s->sbox->box, s->append_idx, flags);
	}
	imap_sbox_close(s);
	log_info("imap %s: %s: APPEND of UID %u to %s", s->c->peer, s->login, uid,
		 folder ? folder : "INBOX");
	if (uid)
		snprintf(s->resp, sizeof(s->resp), "[APPENDUID %u %u] APPEND completed",
			 uidvalidity, uid);
	else
		snprintf(s->resp, sizeof(s->resp), "APPEND completed");
	imap_sess_notify(NULL, s->who.domain, s->who.user);
	if (s->state == IMAP_ST_SELECTED)
		imap_rescan(s, s->resp, true); /* EXISTS, then the tagged OK */
	else
		imap_tagged(s, "OK", s->resp);
}

/* ---- COPY, MOVE ---------------------------------------------------------------------- */

/* Appends the UID set of the n UIDs u (in the order of the copies: RFC 4315 pairs the
 * two sets by position) to out; runs where both sides ascend by one become "a:b". false
 * when it does not fit. */
static bool imap_uidset(char *out, size_t outsz, const uint32_t *u, const uint32_t *other, size_t n)
{
	size_t len = strlen(out);

	for (size_t i = 0; i < n;) {
		size_t j = i;
		int w;

		while (j + 1 < n && u[j + 1] == u[j] + 1 && other[j + 1] == other[j] + 1)
			j++;
		w = j > i ? snprintf(out + len, outsz - len, "%s%u:%u", i ? "," : "", u[i], u[j])
			  : snprintf(out + len, outsz - len, "%s%u", i ? "," : "", u[i]);
		if (w < 0 || (size_t)w >= outsz - len)
			return false;
		len += (size_t)w;
		i = j + 1;
	}
	return true;
}

/* The UIDs the destination gave the n copies named names (full names in its cur/). The
 * scan may have rewritten its uidlist: the number of that write (0: durable), for the
 * caller to flush (maildir_flush_uidlist) before it announces them. */
static uint64_t imap_copy_uids(struct imap_sess *s, const char *folder,
			       char (*names)[MAILDIR_NAME_MAX + 1], size_t n, uint32_t *uids,
			       uint32_t *uidvalidity)
{
	struct maildir_box b = {.lock_fd = -1};
	uint64_t gen;

	if (maildir_folder_open(&b, s->env.store, s->who.domain, s->who.user, folder,
				MAILDIR_OPEN_DEFER) < 0)
		return 0;
	*uidvalidity = b.uidvalidity;
	gen = b.uidlist_gen;
	for (size_t k = 0; k < n; k++) {
		const char *info = strstr(names[k], ":2,");
		size_t bl = info ? (size_t)(info - names[k]) : strlen(names[k]);

		/* The copies are the newest: look from the end. */
		for (size_t i = b.count; i-- > 0;)
			if (b.msgs[i].base_len == bl &&
			    strncmp(b.msgs[i].name, names[k], bl) == 0) {
				uids[k] = b.msgs[i].uid;
				break;
			}
	}
	maildir_box_close(&b);
	return gen;
}

/* COPY and MOVE (RFC 3501 6.4.7, RFC 6851): hard links into the destination, all or
 * nothing, fsync'd before the answer; [COPYUID] (RFC 4315); MOVE then expunges. */
/* Message i's flags for a copy into the folder dst (dkw its keywords, loaded at the
 * first call): each keyword under its letter in dst's dovecot-keywords, added there if
 * new (replaced without a flush, the file added to later); one that cannot be added (26
 * in use, later full) is left out. */
static unsigned imap_kw_remap(struct imap_sess *s, size_t i, struct maildir_kw *dkw,
			      const char *dst, struct maildir_dirs *later)
{
	unsigned f = s->box.msgs[i].flags, out = f & MAILDIR_F_SYSTEM;
	int idx;

	if (f == out)
		return out;
	for (size_t k = 0; k < MAILDIR_KW_MAX; k++) {
		const char *name = s->kw.name[k];

		if (!(f & MAILDIR_F_KW(k)) || name == NULL)
			continue;
		idx = maildir_kw_find(dkw, name, strlen(name));
		if (idx < 0)
			idx = maildir_kw_add(dkw, dst, name, strlen(name), later);
		if (idx >= 0)
			out |= MAILDIR_F_KW(idx);
	}
	/* dst's dovecot-keywords is flushed with the copies when a write of it is not
	 * durable yet (after a crash a letter would name no keyword, or another one). */
	if (out != (f & MAILDIR_F_SYSTEM) && maildir_kw_pending(dst, later) < 0)
		out &= MAILDIR_F_SYSTEM;
	return out;
}

static void imap_do_copy(struct imap_sess *s, const struct imap_cmd *cmd)
{
	char name[MAILDIR_FOLDER_MAX + 1], root[MAILDIR_PATH_MAX], cur[MAILDIR_PATH_MAX + 8];
	struct maildir_dirs dirs = {0};
	const char *folder;
	struct maildir_kw dkw = {0};
	struct imap_copy *cp;
	size_t n = 0;
	int rc;

	if (cmd->id == IMAP_CMD_MOVE && s->readonly) {
		imap_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (!imap_seqset_valid(s, cmd)) {
		imap_tagged(s, "BAD", "Invalid message sequence number");
		return;
	}
	if (!imap_mbox(s, &cmd->a[0], name, sizeof(name), &folder))
		return;
	cp = calloc(1, sizeof(*cp));
	if (cp == NULL) {
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory, nothing copied");
		return;
	}
	cp->move = cmd->id == IMAP_CMD_MOVE;
	cp->uid = cmd->uid;
	snprintf(cp->folder, sizeof(cp->folder), "%s", folder ? folder : "");
	rc = maildir_path(s->env.store, s->who.domain, s->who.user, root, sizeof(root));
	if (rc == 0)
		rc = maildir_folder_dir(root, folder, cp->dst, sizeof(cp->dst));
	if (rc == 0 && folder)
		rc = maildir_folder_exists(cp->dst);
	if (rc < 0) {
		imap_tagged(s, "NO",
			    rc == -MGW_ENOENT ? "[TRYCREATE] No such mailbox"
					      : imap_folder_err(rc));
		goto out;
	}
	for (size_t i = 0; i < s->box.count; i++)
		if (!s->box.msgs[i].gone && imap_msg_in_set(s, cmd, i)) {
			n++;
			cp->bytes += s->box.msgs[i].size;
		}
	if (n == 0) {
		imap_tagged(s, "OK",
			    cp->move ? "MOVE completed (nothing to move)"
				     : "COPY completed (nothing to copy)");
		goto out;
	}
	if (!cp->move && imap_over_quota(s, cp->bytes)) {
		imap_tagged(s, "NO", "[OVERQUOTA] Quota exceeded");
		goto out;
	}
	cp->idx = calloc(n, sizeof(*cp->idx));
	cp->names = calloc(n, sizeof(*cp->names));
	cp->src_uids = calloc(n, sizeof(*cp->src_uids));
	cp->dst_uids = calloc(n, sizeof(*cp->dst_uids));
	if (cp->idx == NULL || cp->names == NULL || cp->src_uids == NULL || cp->dst_uids == NULL) {
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory, nothing copied");
		goto out;
	}
	for (size_t i = 0; i < s->box.count && cp->k < n; i++) {
		if (s->box.msgs[i].gone || !imap_msg_in_set(s, cmd, i))
			continue;
		rc = maildir_msg_copy(&s->box, i, s->env.store, cp->dst,
				      imap_kw_remap(s, i, &dkw, cp->dst, &dirs), cp->names[cp->k],
				      sizeof(cp->names[cp->k]));
		if (rc == -MGW_ENOENT)
			continue; /* expunged elsewhere meanwhile: the next NOOP says so */
		if (rc < 0)
			break;
		cp->src_uids[cp->k] = s->box.msgs[i].uid;
		cp->idx[cp->k++] = i;
	}
	maildir_kw_free(&dkw);
	s->copy = cp;
	if (rc < 0 && rc != -MGW_ENOENT) {
		imap_copy_end(s, rc);
		return;
	}
	if (cp->k == 0) {
		imap_copy_end(s, 0); /* all expunged elsewhere: nothing to flush */
		return;
	}
	/* The links are durable once cur/ is flushed (shared with the deliveries). */
	snprintf(cur, sizeof(cur), "%s/cur", cp->dst);
	rc = maildir_dirs_add(&dirs, cur);
	if (rc < 0) {
		imap_copy_end(s, rc);
		return;
	}
	imap_flush_start(s, IMAP_WAIT_COPY, &dirs);
	return;
out:
	maildir_kw_free(&dkw);
	imap_copy_free(cp);
}

/* COPY and MOVE after the links and their flush (rc): NO and the copies removed when
 * either failed (RFC 3501 6.4.7: a failed COPY leaves the destination as it was); else
 * the UIDs the destination gave them, whose uidlist is flushed on a worker when the scan
 * rewrote it, then imap_copy_report. */
static void imap_copy_end(struct imap_sess *s, int rc)
{
	struct imap_copy *cp = s->copy;
	const char *folder = cp->folder[0] ? cp->folder : NULL;
	uint64_t gen;

	if (rc < 0) {
		for (size_t m = 0; m < cp->k; m++) {
			char p[MAILDIR_PATH_MAX + MAILDIR_NAME_MAX + 8];

			snprintf(p, sizeof(p), "%s/cur/%s", cp->dst, cp->names[m]);
			unlink(p);
		}
		log_err("imap %s: %s: %s to %s failed: %s", s->c->peer, s->login,
			cp->move ? "MOVE" : "COPY", folder ? folder : "INBOX", mgw_strerror(rc));
		imap_tagged(s, "NO",
			    rc == -MGW_ENOSPC ? "[OVERQUOTA] Disk full"
					      : imap_flush_err(rc, "[SERVERBUG] Nothing copied"));
		s->copy = NULL;
		imap_copy_free(cp);
		return;
	}
	maildir_quota_add(s->box.root, (int64_t)cp->bytes, (int64_t)cp->k);
	gen = imap_copy_uids(s, folder, cp->names, cp->k, cp->dst_uids, &cp->uidvalidity);
	if (gen == 0) {
		imap_copy_report(s, 0);
		return;
	}
	s->mode = IMAP_MODE_FLUSH;
	s->wait = IMAP_WAIT_COPYUID;
	rc = maildir_flush_uidlist(s->env.work, cp->dst, gen, imap_flush_done, s, &s->flush);
	if (rc < 0)
		imap_wait_end(s, IMAP_WAIT_COPYUID, rc);
}

/* The copies are durable; their UIDs too (rc 0: [COPYUID], RFC 4315) or not (rc < 0:
 * OK without it, the copies stand). MOVE then expunges the sources (RFC 6851). */
static void imap_copy_report(struct imap_sess *s, int rc)
{
	struct imap_copy *cp = s->copy;
	const char *folder = cp->folder[0] ? cp->folder : NULL;
	char sets[2][320] = {"", ""};
	bool ok;

	s->copy = NULL;
	imap_sess_notify(NULL, s->who.domain, s->who.user);
	ok = rc == 0 && cp->uidvalidity != 0 && cp->k > 0;
	for (size_t m = 0; m < cp->k; m++)
		ok = ok && cp->dst_uids[m] != 0;
	ok = ok && imap_uidset(sets[0], sizeof(sets[0]), cp->src_uids, cp->dst_uids, cp->k) &&
	     imap_uidset(sets[1], sizeof(sets[1]), cp->dst_uids, cp->src_uids, cp->k);
	if (ok)
		snprintf(s->resp, sizeof(s->resp), "[COPYUID %u %s %s] ", cp->uidvalidity, sets[0],
			 sets[1]);
	else
		s->resp[0] = '\0';
	if (cp->move) {
		/* RFC 6851 4.3: COPYUID in an untagged OK, then the EXPUNGEs. */
		if (s->resp[0])
			imap_out(s, "* OK %sMoved\r\n", s->resp);
		imap_expunge_idx(s, cp->idx, cp->k, false,
				 cp->uid ? "UID MOVE completed" : "MOVE completed");
		cp->idx = NULL;
		goto out;
	}
	snprintf(s->resp + strlen(s->resp), sizeof(s->resp) - strlen(s->resp), "%s completed",
		 cp->uid ? "UID COPY" : "COPY");
	if (imap_is_selected(s, folder))
		imap_rescan(s, s->resp, true); /* EXISTS, then the tagged OK */
	else
		imap_tagged(s, "OK", s->resp);
out:
	imap_copy_free(cp);
}

/* ---- dispatch ---------------------------------------------------------------------- */

#define IMAP_IN_NOAUTH (1u << IMAP_ST_NOAUTH)
#define IMAP_IN_AUTH (1u << IMAP_ST_AUTH)
#define IMAP_IN_SEL (1u << IMAP_ST_SELECTED)
#define IMAP_IN_ANY (IMAP_IN_NOAUTH | IMAP_IN_AUTH | IMAP_IN_SEL)
#define IMAP_IN_LOGGED (IMAP_IN_AUTH | IMAP_IN_SEL)

static const struct {
	unsigned states;
	imap_handler fn;
} imap_table[IMAP_CMD_COUNT] = {
    [IMAP_CMD_CAPABILITY] = {IMAP_IN_ANY, imap_do_capability},
    [IMAP_CMD_NOOP] = {IMAP_IN_ANY, imap_do_noop},
    [IMAP_CMD_LOGOUT] = {IMAP_IN_ANY, imap_do_logout},
    [IMAP_CMD_ID] = {IMAP_IN_ANY, imap_do_id},
    [IMAP_CMD_STARTTLS] = {IMAP_IN_NOAUTH, imap_do_starttls},
    [IMAP_CMD_LOGIN] = {IMAP_IN_NOAUTH, imap_do_login},
    [IMAP_CMD_AUTHENTICATE] = {IMAP_IN_NOAUTH, imap_do_authenticate},
    [IMAP_CMD_ENABLE] = {IMAP_IN_LOGGED, imap_do_enable},
    [IMAP_CMD_NAMESPACE] = {IMAP_IN_LOGGED, imap_do_namespace},
    [IMAP_CMD_SELECT] = {IMAP_IN_LOGGED, imap_do_select},
    [IMAP_CMD_EXAMINE] = {IMAP_IN_LOGGED, imap_do_select},
    [IMAP_CMD_CREATE] = {IMAP_IN_LOGGED, imap_do_create},
    [IMAP_CMD_DELETE] = {IMAP_IN_LOGGED, imap_do_delete},
    [IMAP_CMD_RENAME] = {IMAP_IN_LOGGED, imap_do_rename},
    [IMAP_CMD_SUBSCRIBE] = {IMAP_IN_LOGGED, imap_do_subscribe},
    [IMAP_CMD_UNSUBSCRIBE] = {IMAP_IN_LOGGED, imap_do_subscribe},
    [IMAP_CMD_LIST] = {IMAP_IN_LOGGED, imap_do_list},
    [IMAP_CMD_LSUB] = {IMAP_IN_LOGGED, imap_do_list},
    [IMAP_CMD_STATUS] = {IMAP_IN_LOGGED, imap_do_status},
    /* APPEND: imap_append_begin(), as soon as its message literal is announced */
    [IMAP_CMD_IDLE] = {IMAP_IN_LOGGED, imap_do_idle},
    [IMAP_CMD_CHECK] = {IMAP_IN_SEL, imap_do_noop},
    [IMAP_CMD_CLOSE] = {IMAP_IN_SEL, imap_do_close},
    [IMAP_CMD_UNSELECT] = {IMAP_IN_SEL, imap_do_close},
    [IMAP_CMD_EXPUNGE] = {IMAP_IN_SEL, imap_do_expunge},
    [IMAP_CMD_SEARCH] = {IMAP_IN_SEL, imap_do_search},
    [IMAP_CMD_FETCH] = {IMAP_IN_SEL, imap_do_fetch},
    [IMAP_CMD_STORE] = {IMAP_IN_SEL, imap_do_store},
    [IMAP_CMD_COPY] = {IMAP_IN_SEL, imap_do_copy},
    [IMAP_CMD_MOVE] = {IMAP_IN_SEL, imap_do_copy},
};

static void imap_bad(struct imap_sess *s, const char *text)
{
	imap_tagged(s, "BAD", text);
	if (++s->bad >= IMAP_BAD_CMDS_MAX)
		imap_close(s, "Too many bad commands", "too many bad commands");
}

static void imap_cmd_reset(struct imap_sess *s)
{
	if (s->cmdlen)
		explicit_bzero(s->cmd, s->cmdlen); /* may hold a password */
	s->cmdlen = 0;
}

static int imap_cmd_append(struct imap_sess *s, const uint8_t *p, size_t n)
{
	size_t max = s->state == IMAP_ST_NOAUTH ? IMAP_PRELOGIN_CMD_MAX : IMAP_CMD_MAX;

	if (s->cmdlen + n > max)
		return -MGW_ELIMIT;
	if (n == 0)
		return 0;
	if (s->cmdlen + n > s->cmdcap) {
		size_t cap = s->cmdcap ? s->cmdcap : 1024;
		uint8_t *nb;

		while (cap < s->cmdlen + n)
			cap *= 2;
		if (cap > max)
			cap = max;
		nb = malloc(cap);
		if (nb == NULL)
			return -MGW_ENOMEM;
		if (s->cmdlen)
			memcpy(nb, s->cmd, s->cmdlen);
		if (s->cmd)
			explicit_bzero(s->cmd, s->cmdcap);
		free(s->cmd);
		s->cmd = nb;
		s->cmdcap = cap;
	}
	memcpy(s->cmd + s->cmdlen, p, n);
	s->cmdlen += n;
	return 0;
}

/* A refused command whose line announced a non-synchronizing literal: its octets come
 * anyway and must not be taken for commands (RFC 7888 section 4). */
static void imap_skip_literal(struct imap_sess *s, const uint8_t *line, size_t len)
{
	uint32_t n;
	bool plus;

	if (imap_line_literal(line, len, &n, &plus) && plus) {
		s->lit_left = n;
		s->skip_rest = true;
		s->mode = IMAP_MODE_SKIP;
	}
}

/* One line of a command: the whole command once its last line is there. */
static void imap_line(struct imap_sess *s, const uint8_t *text, size_t len)
{
	struct imap_cmd *pc;
	int rc;

	if (s->cmdlen == 0 && s->state == IMAP_ST_NOAUTH && ++s->cmds > IMAP_PRELOGIN_CMDS_MAX) {
		imap_close(s, "Too many commands without login", "pre-login command limit");
		return;
	}
	if (s->pc == NULL && (s->pc = malloc(sizeof(*s->pc))) == NULL) {
		imap_close(s, "Out of memory", "out of memory");
		return;
	}
	pc = s->pc;
	if (imap_cmd_append(s, text, len) < 0) {
		s->tag[0] = '\0';
		imap_cmd_reset(s);
		imap_bad(s, "Command too long");
		imap_skip_literal(s, text, len);
		return;
	}
	rc = imap_cmd_parse(s->cmd ? s->cmd : (const uint8_t *)"", s->cmdlen, pc);
	snprintf(s->tag, sizeof(s->tag), "%.*s", (int)pc->taglen,
		 pc->taglen ? (const char *)pc->tag : "");
	if (rc == MGW_PARSE_NEED_MORE) {
		uint32_t max = s->state == IMAP_ST_NOAUTH ? IMAP_PRELOGIN_CMD_MAX : IMAP_CMD_MAX;

		if (pc->lit_len > max - s->cmdlen - 2 ||
		    imap_cmd_append(s, (const uint8_t *)"\r\n", 2) < 0) {
			imap_cmd_reset(s);
			imap_bad(s, "[TOOBIG] Literal too long");
			imap_skip_literal(s, text, len);
			return;
		}
		if (!pc->lit_plus)
			imap_out(s, "+ Ready for literal data\r\n");
		s->lit_left = pc->lit_len;
		s->mode = IMAP_MODE_LITERAL;
		return;
	}
	if (rc == MGW_PARSE_OK && pc->id == IMAP_CMD_APPEND) {
		imap_append_begin(s, pc);
		imap_cmd_reset(s);
		return;
	}
	if (rc != MGW_PARSE_OK) {
		imap_bad(s, pc->err ? pc->err : "Syntax error");
		imap_cmd_reset(s);
		imap_skip_literal(s, text, len);
		return;
	}
	if (pc->id == IMAP_CMD_UNKNOWN || imap_table[pc->id].fn == NULL) {
		imap_cmd_reset(s);
		imap_bad(s, "Unknown command");
		return;
	}
	if (!(imap_table[pc->id].states & (1u << s->state))) {
		imap_cmd_reset(s);
		imap_bad(s, s->state == IMAP_ST_NOAUTH ? "Log in first"
			    : s->state == IMAP_ST_AUTH ? "Select a mailbox first"
						       : "Not allowed now");
		return;
	}
	/* The command's strings point into s->cmd: it is reset only when the handler is
	 * done with them (a job keeps them until it ends, and input waits meanwhile). */
	imap_table[pc->id].fn(s, pc);
	if (s->mode != IMAP_MODE_JOB && !(s->mode == IMAP_MODE_FLUSH && s->wait == IMAP_WAIT_STORE))
		imap_cmd_reset(s);
}

/* Between commands the parsed command (about 10 KiB) and the command buffer are not
 * needed: an idle session gives them back (imap_line allocates them again). A job uses
 * both until it ends; a literal being read fills the command buffer. */
static void imap_release_idle(struct imap_sess *s)
{
	if (s->cmdlen || s->mode == IMAP_MODE_JOB || s->mode == IMAP_MODE_LITERAL)
		return;
	free(s->pc);
	s->pc = NULL;
	if (s->cmd)
		explicit_bzero(s->cmd, s->cmdcap);
	free(s->cmd);
	s->cmd = NULL;
	s->cmdcap = 0;
}

/*
 * Runs what the conn's input holds while the mode takes input: command lines, literal
 * octets, the SASL response, DONE. During a job, a password check or a login delay input
 * stays buffered (bounded by IMAP_IN_MAX) and is taken up when the mode changes back.
 * Not re-entrant.
 */
static void imap_input(struct imap_sess *s)
{
	if (s->in_input)
		return;
	s->in_input = true;
	while (!s->closed && s->state != IMAP_ST_LOGOUT && s->state != IMAP_ST_TLS &&
	       s->mode != IMAP_MODE_JOB && s->mode != IMAP_MODE_DELAY &&
	       s->mode != IMAP_MODE_VERIFY && s->mode != IMAP_MODE_FLUSH) {
		struct buf *in = conn_in(s->c);
		struct buf_line line;
		int rc;

		if (s->mode == IMAP_MODE_APPEND) {
			size_t n =
			    buf_len(in) < s->append_left ? buf_len(in) : (size_t)s->append_left;

			if (n == 0)
				break;
			if (maildir_dlv_write(&s->dlv, buf_data(in), n) < 0)
				log_warn("imap %s: %s: APPEND: write failed", s->c->peer, s->login);
			buf_consume(in, n);
			s->append_left -= n;
			if (s->append_left == 0)
				s->mode = IMAP_MODE_APPEND_EOL;
			continue;
		}
		if (s->mode == IMAP_MODE_LITERAL || s->mode == IMAP_MODE_SKIP) {
			size_t n = buf_len(in) < s->lit_left ? buf_len(in) : s->lit_left;

			if (n == 0 && s->lit_left > 0)
				break;
			if (s->mode == IMAP_MODE_LITERAL &&
			    imap_cmd_append(s, buf_data(in), n) < 0) {
				imap_close(s, "Out of memory", "out of memory");
				break;
			}
			explicit_bzero((void *)buf_data(in), n); /* it may be a password */
			buf_consume(in, n);
			s->lit_left -= (uint32_t)n;
			if (s->lit_left == 0)
				s->mode =
				    IMAP_MODE_CMD; /* after SKIP, skip_rest drops the line's rest */
			continue;
		}
		rc = buf_lr_next(&s->lr, in, &line);
		if (rc == MGW_PARSE_NEED_MORE)
			break;
		if (rc == MGW_PARSE_TOO_LONG) {
			/* Where the command ends cannot be known any more. */
			imap_close(s, "Line too long", "line too long");
			break;
		}
		if (s->skip_rest) {
			s->skip_rest = false;
			imap_skip_literal(s, line.text, line.len);
		} else if (s->mode == IMAP_MODE_SASL) {
			imap_sasl_line(s, line.text, line.len);
		} else if (s->mode == IMAP_MODE_IDLE) {
			imap_idle_line(s, line.text, line.len);
		} else if (s->mode == IMAP_MODE_APPEND_EOL) {
			imap_append_end(s, line.len);
		} else {
			imap_line(s, line.text, line.len);
		}
		if (!s->closed) {
			explicit_bzero((void *)line.text, line.len);
			buf_lr_done(&s->lr, in, &line);
		}
	}
	imap_release_idle(s);
	s->in_input = false;
}

static void imap_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct imap_sess *s = arg;

	s->depth++;
	switch (ev) {
	case CONN_EV_TLS_READY:
		if (!gate_login_peer(&s->gl)) {
			imap_close(s, NULL, "no client certificate");
			break;
		}
		imap_enter(s, IMAP_ST_NOAUTH);
		imap_out(s,
			 "* OK [CAPABILITY " IMAP_CAPS_COMMON " AUTH=PLAIN] %s IMAP4rev1 ready\r\n",
			 s->env.hostname);
		break;
	case CONN_EV_DATA:
		imap_input(s);
		break;
	case CONN_EV_DRAINED:
		if (s->mode == IMAP_MODE_JOB)
			imap_job_more(s);
		break;
	case CONN_EV_TIMEOUT:
		log_info("imap %s: idle timeout%s%s", c->peer, s->login[0] ? " for " : "",
			 s->login);
		break;
	case CONN_EV_CLOSED:
		if (s->state != IMAP_ST_TLS)
			log_info("imap %s: closed (%s)%s%s", c->peer, conn_close_reason(c),
				 s->login[0] ? ", " : "", s->login);
		s->closed = true;
		break;
	}
	s->depth--;
	if (s->closed && s->depth == 0)
		imap_free(s);
}

int imap_sess_start(struct conn *c, const struct gate_env *env)
{
	struct imap_sess *s = calloc(1, sizeof(*s));
	int rc;

	if (s == NULL)
		return -MGW_ENOMEM;
	s->c = c;
	s->env = *env;
	if (s->env.peer == NULL)
		s->env.peer = &gate_peer_tls;
	gate_login_init(&s->gl, "imap", c, &s->env, imap_login_done, s);
	s->job.lit.fd = -1;
	s->box.lock_fd = -1;
	s->state = IMAP_ST_TLS;
	buf_lr_init(&s->lr, IMAP_LINE_MAX + 2);
	loop_timer_init(&s->delay, imap_delay_cb, s);
	conn_set_idle(c, env->login_timeout_ms);
	s->next_live = imap_sessions;
	imap_sessions = s;
	imap_live++;
	rc = conn_start(c, imap_event, s);
	if (rc < 0) {
		log_err("imap %s: cannot start the connection: %s", c->peer, mgw_strerror(rc));
		conn_close(c, "cannot start");
	}
	return 0;
}

unsigned imap_sess_count(void)
{
	return imap_live;
}
