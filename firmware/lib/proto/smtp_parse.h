/*
 * smtp_parse.h - SMTP command lines as pure data (RFC 5321 §4.1, RFC 1870, RFC 6152,
 * RFC 6531).
 *
 * smtp_parse_cmd() takes one command line without its CRLF, as explicit bytes, and fills
 * a struct smtp_cmd whose pointers are borrowed from that line (valid while the line is).
 * It never allocates, never relies on NUL termination and consumes the whole line: any
 * trailing byte it does not understand is a syntax error. Results:
 *   MGW_PARSE_OK        cmd is filled; for MAIL/RCPT the path is syntactically valid
 *   MGW_PARSE_SYNTAX    cmd->why says what was wrong (for the reply code)
 *   MGW_PARSE_TOO_LONG  the line or a path component exceeds the RFC 5321 §4.5.3.1 limits
 *   MGW_PARSE_LIMIT     more parameters than SMTP_PARAMS_MAX
 *
 * Whether a syntactically valid forward-path may be delivered to is a separate question
 * answered by smtp_path_forward_check(): source routes, '%' hacks, quoted local parts and
 * address literals are valid SMTP but never name a local mailbox here.
 */
#ifndef MGW_SMTP_PARSE_H
#define MGW_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_CMD_LINE_MAX 512	/* §4.5.3.1.4: command line incl. CRLF */
#define SMTP_LOCAL_MAX 64	/* §4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255	/* §4.5.3.1.2 */
#define SMTP_PATH_MAX 256	/* §4.5.3.1.3: incl. the angle brackets */
#define SMTP_LABEL_MAX 63	/* RFC 1035 §2.3.4 */
#define SMTP_PARAMS_MAX 8	/* MAIL/RCPT parameters we look at before giving up */
#define SMTP_SIZE_DIGITS_MAX 20 /* RFC 1870 size-value: 1*20DIGIT */

enum smtp_verb {
	SMTP_V_UNKNOWN = 0,
	SMTP_V_HELO,
	SMTP_V_EHLO,
	SMTP_V_MAIL,
	SMTP_V_RCPT,
	SMTP_V_DATA,
	SMTP_V_RSET,
	SMTP_V_NOOP,
	SMTP_V_QUIT,
	SMTP_V_HELP,
	SMTP_V_VRFY,
	SMTP_V_EXPN,
	SMTP_V_STARTTLS,
	SMTP_V_COUNT
};

/* Why a line was refused (chooses the reply). */
enum smtp_why {
	SMTP_WHY_NONE = 0,
	SMTP_WHY_VERB,	   /* unknown command: 500 5.5.1 */
	SMTP_WHY_ARGS,	   /* bad or missing arguments: 501 5.5.4 */
	SMTP_WHY_PATH,	   /* malformed address: 501 5.1.3 (RCPT) / 501 5.1.7 (MAIL) */
	SMTP_WHY_PARAM,	   /* unknown or malformed parameter: 555 5.5.4 */
	SMTP_WHY_UTF8,	   /* non-ASCII address without SMTPUTF8: 553 5.6.7 */
	SMTP_WHY_BYTES,	   /* NUL, CR or other control byte in the line: 500 5.5.2 */
	SMTP_WHY_TOO_LONG, /* line or path too long: 500 5.5.6 / 501 5.1.3 */
	SMTP_WHY_TOO_MANY, /* too many parameters: 555 5.5.4 */
};

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

/* A mailbox or the null path "<>"; text is borrowed from the command line. */
struct smtp_path {
	bool null;	      /* "<>" (reverse-path only) */
	bool route;	      /* had a source route "@a,@b:" (ignored, §4.1.2 / §C) */
	bool quoted;	      /* local part is a quoted-string */
	bool literal;	      /* domain is an address literal "[...]" */
	bool percent;	      /* local part contains '%' (the old relay hack) */
	bool utf8;	      /* contains non-ASCII (only valid with SMTPUTF8) */
	const uint8_t *local; /* local part as written (with quotes if quoted) */
	size_t local_len;
	const uint8_t *domain; /* domain or literal incl. brackets; NULL for bare <postmaster> */
	size_t domain_len;
};

struct smtp_cmd {
	enum smtp_verb verb;
	enum smtp_why why;
	const uint8_t *arg; /* rest of the line after the verb and one SP (HELO/EHLO/VRFY...) */
	size_t arg_len;
	struct smtp_path path; /* MAIL / RCPT */
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
};

/* Parses one command line (without CRLF). See the result codes above. */
int smtp_parse_cmd(const uint8_t *p, const uint8_t *end, struct smtp_cmd *cmd);

/* The name of a verb for logs ("MAIL"), or "?" */
const char *smtp_verb_name(enum smtp_verb v);

/*
 * Checks that a HELO/EHLO argument is a domain or an address literal (§4.1.1.1). Returns
 * true when valid. Used to keep the Received: header clean.
 */
bool smtp_parse_helo(const uint8_t *p, const uint8_t *end);

/*
 * Whether a forward-path (RCPT TO) can name a local mailbox. Source routes, '%' in the
 * local part and address literals are relay attempts; quoted local parts are refused as
 * a matter of policy (no mailbox here needs one; README).
 */
enum smtp_fwd {
	SMTP_FWD_OK = 0,
	SMTP_FWD_ROUTE,	  /* 550 5.7.1 relaying denied */
	SMTP_FWD_PERCENT, /* 550 5.7.1 relaying denied */
	SMTP_FWD_LITERAL, /* 550 5.7.1 relaying denied */
	SMTP_FWD_QUOTED,  /* 553 5.1.3 */
	SMTP_FWD_NULL,	  /* "<>" is no recipient: 501 5.1.3 */
};
enum smtp_fwd smtp_path_forward_check(const struct smtp_path *path);

#endif
