/*
 * pop3_parse.c - POP3 command lines, RFC 1939 section 3: a case-insensitive keyword of
 * three or four characters, then arguments separated by single spaces. Table-driven:
 * each keyword has a shape of arguments.
 */
#include "proto/pop3_parse.h"

#include <stdbool.h>
#include <string.h>

#include "core/err.h"
#include "core/num.h"

enum pop3_shape {
	POP3_SH_NONE,	/* no argument */
	POP3_SH_NAME,	/* one word (USER) */
	POP3_SH_REST,	/* the rest of the line, at least one octet (PASS) */
	POP3_SH_WORDS2, /* zero to two words (AUTH [mechanism [initial-response]]) */
	POP3_SH_ANY,	/* anything (APOP, not offered: parsed only to be refused) */
	POP3_SH_OPTNUM, /* an optional message number (LIST, UIDL) */
	POP3_SH_NUM,	/* a message number (RETR, DELE) */
	POP3_SH_NUM2,	/* a message number and a line count (TOP) */
};

struct pop3_kw {
	char name[5];
	enum pop3_cmd_id id;
	enum pop3_shape shape;
};

static const struct pop3_kw pop3_kws[] = {
    {"USER", POP3_CMD_USER, POP3_SH_NAME},   {"PASS", POP3_CMD_PASS, POP3_SH_REST},
    {"AUTH", POP3_CMD_AUTH, POP3_SH_WORDS2}, {"APOP", POP3_CMD_APOP, POP3_SH_ANY},
    {"STLS", POP3_CMD_STLS, POP3_SH_NONE},   {"CAPA", POP3_CMD_CAPA, POP3_SH_NONE},
    {"STAT", POP3_CMD_STAT, POP3_SH_NONE},   {"LIST", POP3_CMD_LIST, POP3_SH_OPTNUM},
    {"RETR", POP3_CMD_RETR, POP3_SH_NUM},    {"DELE", POP3_CMD_DELE, POP3_SH_NUM},
    {"NOOP", POP3_CMD_NOOP, POP3_SH_NONE},   {"RSET", POP3_CMD_RSET, POP3_SH_NONE},
    {"QUIT", POP3_CMD_QUIT, POP3_SH_NONE},   {"UIDL", POP3_CMD_UIDL, POP3_SH_OPTNUM},
    {"TOP", POP3_CMD_TOP, POP3_SH_NUM2},     {"LAST", POP3_CMD_LAST, POP3_SH_NONE},
};

static uint8_t pop3_upper(uint8_t c)
{
	return c >= 'a' && c <= 'z' ? (uint8_t)(c - 'a' + 'A') : c;
}

/* Splits [p, end) into words at single spaces; an empty word (two spaces, a leading or
 * trailing space) is a syntax error. At most max words. */
static int pop3_words(const uint8_t *p, const uint8_t *end, unsigned max, struct pop3_cmd *cmd)
{
	cmd->nargs = 0;
	while (p < end) {
		const uint8_t *sp = memchr(p, ' ', (size_t)(end - p));
		const uint8_t *we = sp ? sp : end;

		if (we == p || cmd->nargs == max)
			return MGW_PARSE_SYNTAX;
		if ((size_t)(we - p) > POP3_ARG_MAX)
			return MGW_PARSE_TOO_LONG;
		cmd->arg[cmd->nargs] = p;
		cmd->arglen[cmd->nargs] = (size_t)(we - p);
		cmd->nargs++;
		if (sp == NULL)
			break;
		p = sp + 1;
		if (p == end)
			return MGW_PARSE_SYNTAX; /* trailing space */
	}
	return MGW_PARSE_OK;
}

int pop3_cmd_parse(const uint8_t *line, size_t len, struct pop3_cmd *cmd)
{
	const struct pop3_kw *kw = NULL;
	const uint8_t *end = line + len, *p;
	size_t klen = 0;
	int rc;

	memset(cmd, 0, sizeof(*cmd));
	if (len > POP3_LINE_MAX - 2)
		return MGW_PARSE_TOO_LONG;
	/* RFC 1939 section 3: printable text; NUL and CR never belong in a command. */
	if (memchr(line, '\0', len) || memchr(line, '\r', len) || memchr(line, '\n', len))
		return MGW_PARSE_SYNTAX;
	while (klen < len && line[klen] != ' ')
		klen++;
	if (klen < 3 || klen > 4)
		return MGW_PARSE_SYNTAX;
	for (size_t i = 0; i < MGW_ARRAY_LEN(pop3_kws) && kw == NULL; i++) {
		const char *n = pop3_kws[i].name;

		if (strlen(n) != klen)
			continue;
		kw = &pop3_kws[i];
		for (size_t j = 0; j < klen; j++)
			if (pop3_upper(line[j]) != (uint8_t)n[j])
				kw = NULL;
	}
	if (kw == NULL) {
		for (size_t j = 0; j < klen; j++)
			if (pop3_upper(line[j]) < 'A' || pop3_upper(line[j]) > 'Z')
				return MGW_PARSE_SYNTAX;
		return MGW_PARSE_OK; /* a well-formed keyword we do not know */
	}
	cmd->id = kw->id;
	p = line + klen;
	if (p < end && ++p == end)
		return MGW_PARSE_SYNTAX; /* keyword followed by a lone space */
	switch (kw->shape) {
	case POP3_SH_NONE:
		return p == end ? MGW_PARSE_OK : MGW_PARSE_SYNTAX;
	case POP3_SH_ANY:
		return MGW_PARSE_OK;
	case POP3_SH_REST:
		if (p == end)
			return MGW_PARSE_SYNTAX;
		cmd->pass = p;
		cmd->passlen = (size_t)(end - p);
		return MGW_PARSE_OK;
	case POP3_SH_NAME:
		rc = pop3_words(p, end, 1, cmd);
		if (rc == MGW_PARSE_OK && cmd->nargs != 1)
			rc = MGW_PARSE_SYNTAX;
		return rc;
	case POP3_SH_WORDS2: {
		/* RFC 5034 section 4: the initial response may exceed an argument's length; it
		 * is bounded by the line only. */
		const uint8_t *sp = p < end ? memchr(p, ' ', (size_t)(end - p)) : NULL;

		rc = pop3_words(p, sp ? sp : end, 1, cmd);
		if (rc != MGW_PARSE_OK || sp == NULL)
			return rc;
		if (cmd->nargs != 1 || sp + 1 == end || memchr(sp + 1, ' ', (size_t)(end - sp - 1)))
			return MGW_PARSE_SYNTAX;
		cmd->arg[1] = sp + 1;
		cmd->arglen[1] = (size_t)(end - sp - 1);
		cmd->nargs = 2;
		return MGW_PARSE_OK;
	}
	case POP3_SH_OPTNUM:
	case POP3_SH_NUM:
	case POP3_SH_NUM2: {
		unsigned want = kw->shape == POP3_SH_NUM2 ? 2 : 1;

		rc = pop3_words(p, end, want, cmd);
		if (rc != MGW_PARSE_OK)
			return rc;
		if (cmd->nargs != want && !(kw->shape == POP3_SH_OPTNUM && cmd->nargs == 0))
			return MGW_PARSE_SYNTAX;
		for (unsigned i = 0; i < cmd->nargs; i++)
			if (!num_parse_u32(cmd->arg[i], cmd->arglen[i], &cmd->num[i]))
				return MGW_PARSE_SYNTAX;
		return MGW_PARSE_OK;
	}
	}
	return MGW_PARSE_SYNTAX;
}

const char *pop3_cmd_name(enum pop3_cmd_id id)
{
	for (size_t i = 0; i < MGW_ARRAY_LEN(pop3_kws); i++)
		if (pop3_kws[i].id == id)
			return pop3_kws[i].name;
	return "?";
}
