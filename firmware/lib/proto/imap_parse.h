/*
 * imap_parse.h - the IMAP4rev1 command parser (RFC 3501 section 9, RFC 7888 LITERAL+,
 * RFC 4315 UIDPLUS, RFC 6851 MOVE, RFC 2971 ID, RFC 5161 ENABLE, RFC 3691 UNSELECT).
 *
 * A pure function over one whole command as it came over the wire, without its final
 * CRLF: lines joined by the CRLF that follows each literal announcement, literal octets in
 * place ("a LOGIN {3}\r\njoe pw"). It never allocates, never relies on a NUL terminator
 * and consumes the command to its end: trailing garbage is a syntax error.
 *
 * The results borrow the caller's buffer (valid until the buffer is reused) and the
 * pools inside struct imap_cmd (sequence ranges, header field names, search keys).
 *
 * Literals: the parser is the authority on where a literal may stand. When the buffer
 * ends right after a literal announcement "{n}" or "{n+}" that is an argument, the
 * answer is MGW_PARSE_NEED_MORE with cmd->lit_len / cmd->lit_plus set: the session reads
 * n octets (after a "+" continuation for a synchronizing literal), appends them with the
 * next line and parses again. The message literal of APPEND is the exception: it ends the
 * command, and the answer is MGW_PARSE_OK with cmd->append.size set; its octets never
 * enter the command buffer (the session streams them into the store).
 */
#ifndef MGW_IMAP_PARSE_H
#define MGW_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One line without its CRLF. RFC 7162 section 4 asks clients to keep lines under 8192
 * octets and servers to accept at least that. */
#define IMAP_LINE_MAX 8192
/* A whole command: its lines and the literals inside it (not APPEND's message). */
#define IMAP_CMD_MAX 65536
/* Tag length: RFC 3501 sets none; clients use a few characters. */
#define IMAP_TAG_MAX 64
/* Ranges in all sequence sets of one command ("1,3,5:7" is three). */
#define IMAP_SEQ_RANGES_MAX 512
/* Attributes in one FETCH list. */
#define IMAP_FETCH_ATTS_MAX 32
/* Depth of a body part number (BODY[1.2.3]). */
#define IMAP_PART_DEPTH_MAX 8
/* Header field names in all HEADER.FIELDS lists of one FETCH. */
#define IMAP_HDR_FIELDS_MAX 64
/* Nodes of one SEARCH program, and its nesting of parentheses, NOT and OR. */
#define IMAP_SEARCH_KEYS_MAX 64
#define IMAP_SEARCH_DEPTH_MAX 16
/* Flags in one flag list (STORE, APPEND). */
#define IMAP_FLAGS_MAX 32
/* Atoms after ENABLE, status items, ID parameter pairs (RFC 2971 section 3.3: 30). */
#define IMAP_ENABLE_MAX 8
#define IMAP_ID_PAIRS_MAX 30

/* "*" in a sequence set: the largest number in use, resolved by the session. 0 is no
 * valid number (nz-number), 4294967295 is. */
#define IMAP_SEQ_STAR 0

enum imap_cmd_id {
	IMAP_CMD_UNKNOWN = 0,
	IMAP_CMD_CAPABILITY,
	IMAP_CMD_NOOP,
	IMAP_CMD_LOGOUT,
	IMAP_CMD_STARTTLS,
	IMAP_CMD_LOGIN,
	IMAP_CMD_AUTHENTICATE,
	IMAP_CMD_SELECT,
	IMAP_CMD_EXAMINE,
	IMAP_CMD_CREATE,
	IMAP_CMD_DELETE,
	IMAP_CMD_RENAME,
	IMAP_CMD_SUBSCRIBE,
	IMAP_CMD_UNSUBSCRIBE,
	IMAP_CMD_LIST,
	IMAP_CMD_LSUB,
	IMAP_CMD_STATUS,
	IMAP_CMD_APPEND,
	IMAP_CMD_CHECK,
	IMAP_CMD_CLOSE,
	IMAP_CMD_UNSELECT,
	IMAP_CMD_EXPUNGE,
	IMAP_CMD_SEARCH,
	IMAP_CMD_FETCH,
	IMAP_CMD_STORE,
	IMAP_CMD_COPY,
	IMAP_CMD_MOVE,
	IMAP_CMD_IDLE,
	IMAP_CMD_ID,
	IMAP_CMD_NAMESPACE,
	IMAP_CMD_ENABLE,
	IMAP_CMD_COUNT
};

/* A string argument as it stands in the buffer. */
enum imap_str_kind {
	IMAP_STR_NONE = 0, /* absent */
	IMAP_STR_ATOM,	   /* bare atom (astring, list-mailbox or flag) */
	IMAP_STR_QUOTED,   /* p/len: between the quotes, still backslash-escaped */
	IMAP_STR_LITERAL,  /* p/len: the literal's octets */
	IMAP_STR_NIL,	   /* NIL where an nstring is allowed */
};

struct imap_str {
	const uint8_t *p;
	uint32_t len;
	uint8_t kind; /* enum imap_str_kind */
};

/* A sequence set: ranges[first .. first + count) of struct imap_cmd's pool. Numbers come
 * ordered, lo <= hi ("5:2" is stored 2:5, RFC 3501 section 9). IMAP_SEQ_STAR stands for
 * "*" and is always in hi when only one end is "*" ("*:3" is stored 3:*): the session
 * resolves it to the largest number and orders the range again ("3:*" with 2 messages
 * is 2:3). */
struct imap_seq_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	uint16_t first, count;
};

/* FETCH attributes (RFC 3501 section 6.4.5). */
enum imap_fatt_kind {
	IMAP_FATT_FLAGS = 1,
	IMAP_FATT_UID,
	IMAP_FATT_INTERNALDATE,
	IMAP_FATT_RFC822_SIZE,
	IMAP_FATT_RFC822,	 /* = BODY[] and sets \Seen */
	IMAP_FATT_RFC822_HEADER, /* = BODY.PEEK[HEADER] */
	IMAP_FATT_RFC822_TEXT,	 /* = BODY[TEXT] and sets \Seen */
	IMAP_FATT_ENVELOPE,
	IMAP_FATT_BODYSTRUCTURE,
	IMAP_FATT_BODY,	       /* BODY without a section: the non-extensible BODYSTRUCTURE */
	IMAP_FATT_BODY_SECTION /* BODY[...] / BODY.PEEK[...] */
};

enum imap_section_text {
	IMAP_SECT_ALL = 0,	     /* BODY[] or BODY[1.2] */
	IMAP_SECT_HEADER,	     /* BODY[HEADER], BODY[1.HEADER] */
	IMAP_SECT_HEADER_FIELDS,     /* BODY[HEADER.FIELDS (A B)] */
	IMAP_SECT_HEADER_FIELDS_NOT, /* BODY[HEADER.FIELDS.NOT (A B)] */
	IMAP_SECT_TEXT,		     /* BODY[TEXT] */
	IMAP_SECT_MIME,		     /* BODY[1.MIME]: only after a part number */
};

struct imap_fatt {
	uint8_t kind;	 /* enum imap_fatt_kind */
	uint8_t text;	 /* enum imap_section_text */
	bool peek;	 /* BODY.PEEK: do not set \Seen */
	bool partial;	 /* <origin.count> given */
	uint8_t nparts;	 /* part numbers in part[] */
	uint16_t field0; /* HEADER.FIELDS names: cmd->fields[field0 .. field0 + nfields) */
	uint16_t nfields;
	uint32_t part[IMAP_PART_DEPTH_MAX];
	uint32_t origin, count; /* partial; count >= 1 */
};

/* System flags as bits; keywords are kept as strings. */
enum imap_flag_bit {
	IMAP_FLAG_SEEN = 1u << 0,
	IMAP_FLAG_ANSWERED = 1u << 1,
	IMAP_FLAG_FLAGGED = 1u << 2,
	IMAP_FLAG_DELETED = 1u << 3,
	IMAP_FLAG_DRAFT = 1u << 4,
	IMAP_FLAG_RECENT = 1u << 5, /* only in SEARCH; never stored by a client */
};

struct imap_flags {
	uint32_t bits;	    /* enum imap_flag_bit */
	uint8_t nkeywords;  /* keywords in kw[] (atoms, borrowed) */
	bool has_extension; /* a "\Foo" flag we do not know (refused by STORE, RFC 3501 2.3.2) */
	struct imap_str kw[IMAP_FLAGS_MAX];
};

/* SEARCH keys (RFC 3501 section 6.4.4), a program in prefix order: every node has a
 * span (itself and its subtree); IMAP_SK_AND holds the keys of a parenthesized list or
 * of the top level, IMAP_SK_NOT one subtree, IMAP_SK_OR two. */
enum imap_sk_op {
	IMAP_SK_AND = 1,
	IMAP_SK_OR,
	IMAP_SK_NOT,
	IMAP_SK_ALL,
	IMAP_SK_FLAGS, /* flag bits in num all set, in num2 all clear (NEW: RECENT, not SEEN) */
	IMAP_SK_KEYWORD,
	IMAP_SK_UNKEYWORD,
	IMAP_SK_SEQ,	/* a sequence set of message numbers */
	IMAP_SK_UID,	/* UID sequence set */
	IMAP_SK_HEADER, /* field name in str2 ("FROM" for FROM ...), text in str */
	IMAP_SK_BODY,	/* text in the body */
	IMAP_SK_TEXT,	/* text in header or body */
	IMAP_SK_BEFORE, /* internal date, days since 1970-01-01 in num */
	IMAP_SK_ON,
	IMAP_SK_SINCE,
	IMAP_SK_SENTBEFORE, /* Date: header */
	IMAP_SK_SENTON,
	IMAP_SK_SENTSINCE,
	IMAP_SK_LARGER, /* RFC822.SIZE in num */
	IMAP_SK_SMALLER,
};

struct imap_skey {
	uint8_t op; /* enum imap_sk_op */
	uint16_t span;
	uint32_t num;  /* flag bits, a size, or a date as days since the epoch */
	uint32_t num2; /* IMAP_SK_FLAGS: the bits that must be clear */
	struct imap_seqset set;
	struct imap_str str, str2;
};

/* STATUS items (RFC 3501 section 6.3.10). */
enum imap_status_bit {
	IMAP_STATUS_MESSAGES = 1u << 0,
	IMAP_STATUS_RECENT = 1u << 1,
	IMAP_STATUS_UIDNEXT = 1u << 2,
	IMAP_STATUS_UIDVALIDITY = 1u << 3,
	IMAP_STATUS_UNSEEN = 1u << 4,
	IMAP_STATUS_SIZE = 1u << 5, /* RFC 8438 STATUS=SIZE */
};

enum imap_store_mode {
	IMAP_STORE_SET = 0, /* FLAGS */
	IMAP_STORE_ADD,	    /* +FLAGS */
	IMAP_STORE_REMOVE,  /* -FLAGS */
};

struct imap_cmd {
	enum imap_cmd_id id;
	bool uid; /* UID FETCH/STORE/SEARCH/COPY/MOVE/EXPUNGE */
	const uint8_t *tag;
	size_t taglen;
	const char *err; /* on SYNTAX/LIMIT/TOO_LONG: what was wrong, for the BAD reply */

	/* NEED_MORE: the literal announced at the end of the buffer. */
	uint32_t lit_len;
	bool lit_plus;

	/* Mailbox or other string arguments: LOGIN user, password; SELECT/EXAMINE/CREATE/
	 * DELETE/SUBSCRIBE/UNSUBSCRIBE/STATUS/APPEND mailbox in a[0]; RENAME old, new; LIST/
	 * LSUB reference, pattern; COPY/MOVE destination in a[0]; AUTHENTICATE mechanism
	 * and initial response (a[1] NONE when absent; "=" is an empty response). */
	struct imap_str a[2];

	struct imap_seqset set;	 /* FETCH, STORE, COPY, MOVE, UID EXPUNGE */
	uint32_t items;		 /* STATUS: enum imap_status_bit */
	struct imap_flags flags; /* STORE, APPEND */
	enum imap_store_mode store_mode;
	bool store_silent;

	struct {
		bool has_date;
		int64_t date;  /* seconds since the epoch, UTC */
		uint32_t size; /* any 32-bit size: the session applies its limit */
		bool plus;     /* the message literal is non-synchronizing */
	} append;

	/* FETCH */
	uint8_t nfatts;
	struct imap_fatt fatts[IMAP_FETCH_ATTS_MAX];
	uint16_t nfields;
	struct imap_str fields[IMAP_HDR_FIELDS_MAX];

	/* SEARCH: skeys[0] is the top-level AND; charset in a[0] when given. */
	uint16_t nskeys;
	struct imap_skey skeys[IMAP_SEARCH_KEYS_MAX];

	/* ENABLE */
	uint8_t nenable;
	struct imap_str enable[IMAP_ENABLE_MAX];

	/* The pool behind every struct imap_seqset above. */
	uint16_t nranges;
	struct imap_seq_range ranges[IMAP_SEQ_RANGES_MAX];
};

/*
 * Parses buf[0..len), one whole command (see the file header). MGW_PARSE_OK: *cmd filled;
 * an unknown command name is OK with IMAP_CMD_UNKNOWN (the session answers BAD).
 * MGW_PARSE_NEED_MORE: a literal is announced at the end (cmd->lit_len, cmd->lit_plus).
 * MGW_PARSE_SYNTAX: anything malformed, including NUL, bare CR or LF, a missing or extra
 * argument, a literal whose octets are not all there. MGW_PARSE_TOO_LONG: len >
 * IMAP_CMD_MAX, a literal announced over it, or a tag over IMAP_TAG_MAX (the line reader
 * of the session bounds each line by IMAP_LINE_MAX). MGW_PARSE_LIMIT: one
 * of the pools above is full. cmd->tag/taglen are set whenever the tag itself is valid
 * (taglen 0 otherwise: the reply is then untagged "* BAD"), cmd->id whenever the command
 * name was recognized, cmd->err on every error.
 */
int imap_cmd_parse(const uint8_t *buf, size_t len, struct imap_cmd *cmd);

/*
 * Whether one line (without CRLF) ends with a literal announcement "{n}" or "{n+}",
 * whatever comes before it: for the session that must swallow the octets of a
 * non-synchronizing literal in a command it refused. true and *n, *plus when it does.
 */
bool imap_line_literal(const uint8_t *line, size_t len, uint32_t *n, bool *plus);

/*
 * Copies the value of s into out (outsz bytes) with quoted-string escapes removed and a
 * NUL appended. MGW_PARSE_OK and *outlen (without the NUL); MGW_PARSE_TOO_LONG when it
 * does not fit; NIL and NONE give the empty string.
 */
int imap_str_get(const struct imap_str *s, char *out, size_t outsz, size_t *outlen);

/* Whether s (unescaped) equals the ASCII text t, ignoring case. */
bool imap_str_eq_ci(const struct imap_str *s, const char *t);

/* The name of a command ("FETCH"), for logs; "?" for IMAP_CMD_UNKNOWN. */
const char *imap_cmd_name(enum imap_cmd_id id);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12); for SEARCH dates. */
int32_t imap_days_from_civil(int32_t y, unsigned m, unsigned d);

#endif
