/*
 * pop3_parse.h - the POP3 command parser (RFC 1939, RFC 2449 CAPA, RFC 5034 AUTH).
 *
 * A pure function over one command line (without its CRLF): it never allocates, never
 * relies on a NUL terminator, and consumes the whole line: trailing garbage is a syntax
 * error. The results point into the caller's line (borrowed until the line is consumed).
 */
#ifndef MGW_POP3_PARSE_H
#define MGW_POP3_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* RFC 2449 section 4: command lines are at most 255 octets including CRLF; we accept
 * more (a long PASS or an AUTH initial response) up to this, then refuse. */
#define POP3_LINE_MAX 1024
/* RFC 2449 section 4: arguments up to 40 octets; user names of up to
 * PASSWD_ADDR_MAX (318) need more, so this is our bound for one argument. */
#define POP3_ARG_MAX 320

enum pop3_cmd_id {
	POP3_CMD_UNKNOWN = 0,
	POP3_CMD_USER,
	POP3_CMD_PASS,
	POP3_CMD_AUTH,
	POP3_CMD_APOP,
	POP3_CMD_STLS,
	POP3_CMD_CAPA,
	POP3_CMD_STAT,
	POP3_CMD_LIST,
	POP3_CMD_RETR,
	POP3_CMD_DELE,
	POP3_CMD_NOOP,
	POP3_CMD_RSET,
	POP3_CMD_QUIT,
	POP3_CMD_UIDL,
	POP3_CMD_TOP,
	POP3_CMD_LAST,
	POP3_CMD_COUNT
};

struct pop3_cmd {
	enum pop3_cmd_id id;
	unsigned nargs;	       /* arguments present (0..2) */
	const uint8_t *arg[2]; /* USER name; AUTH mechanism and initial response */
	size_t arglen[2];
	uint32_t num[2];     /* LIST/UIDL/RETR/DELE message number; TOP number, lines */
	const uint8_t *pass; /* PASS: the rest of the line (may hold spaces) */
	size_t passlen;
};

/*
 * Parses line[0..len). MGW_PARSE_OK: *cmd filled; an unknown keyword is OK with id
 * POP3_CMD_UNKNOWN (the session answers -ERR). MGW_PARSE_SYNTAX: bad keyword, missing,
 * extra or malformed arguments, a number out of range, a NUL or CR in the line.
 * MGW_PARSE_TOO_LONG: len > POP3_LINE_MAX - 2 or an argument over POP3_ARG_MAX.
 * cmd->id is set to the keyword's command even on SYNTAX (for the reply and the log).
 */
int pop3_cmd_parse(const uint8_t *line, size_t len, struct pop3_cmd *cmd);

/* The keyword of a command ("RETR"), for logs; "?" for POP3_CMD_UNKNOWN. */
const char *pop3_cmd_name(enum pop3_cmd_id id);

#endif
