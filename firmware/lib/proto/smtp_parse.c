/*
 * smtp_parse.c - the RFC 5321 §4.1 command grammar, with (p, end) readers.
 *
 * Every reader advances *pp only on success and never reads at or beyond end. The
 * grammar names in comments are those of RFC 5321 §4.1.2 and RFC 6531 §3.3.
 */
#include "proto/smtp_parse.h"

#include <string.h>

#include "core/err.h"

struct smtp_verb_row {
	const char *name;
	enum smtp_verb verb;
};

static const struct smtp_verb_row smtp_verbs[] = {
    {"HELO", SMTP_V_HELO}, {"EHLO", SMTP_V_EHLO}, {"MAIL", SMTP_V_MAIL},
    {"RCPT", SMTP_V_RCPT}, {"DATA", SMTP_V_DATA}, {"RSET", SMTP_V_RSET},
    {"NOOP", SMTP_V_NOOP}, {"QUIT", SMTP_V_QUIT}, {"HELP", SMTP_V_HELP},
    {"VRFY", SMTP_V_VRFY}, {"EXPN", SMTP_V_EXPN}, {"STARTTLS", SMTP_V_STARTTLS},
};

const char *smtp_verb_name(enum smtp_verb v)
{
	for (size_t i = 0; i < MGW_ARRAY_LEN(smtp_verbs); i++)
		if (smtp_verbs[i].verb == v)
			return smtp_verbs[i].name;
	return "?";
}

static bool smtp_is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool smtp_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static uint8_t smtp_upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
}

/* Case-insensitive match of an ASCII word at p; true and *pp advanced on match. */
static bool smtp_eat_word(const uint8_t **pp, const uint8_t *end, const char *word)
{
	const uint8_t *p = *pp;
	size_t n = strlen(word);

	if ((size_t)(end - p) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (smtp_upper(p[i]) != (uint8_t)word[i])
			return false;
	*pp = p + n;
	return true;
}

static bool smtp_kw_is(const uint8_t *p, size_t len, const char *kw)
{
	const uint8_t *q = p;

	return strlen(kw) == len && smtp_eat_word(&q, p + len, kw);
}

/*
 * Length of one well-formed UTF-8 multi-byte sequence at p (RFC 3629 §4: no overlongs,
 * no surrogates, at most U+10FFFF), or 0.
 */
static size_t smtp_utf8_len(const uint8_t *p, const uint8_t *end)
{
	size_t n, avail = (size_t)(end - p);
	uint8_t c = p[0];

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
		return 0;
	return n;
}

/* atext (RFC 5322 §3.2.3) */
static bool smtp_is_atext(uint8_t c)
{
	return smtp_is_alpha(c) || smtp_is_digit(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Atom = 1*atext, atext extended by UTF8-non-ascii (RFC 6531 §3.3). */
static bool smtp_eat_atom(const uint8_t **pp, const uint8_t *end, struct smtp_path *path)
{
	const uint8_t *p = *pp;

	while (p < end) {
		size_t u;

		if (smtp_is_atext(*p)) {
			p++;
		} else if (*p >= 0x80 && (u = smtp_utf8_len(p, end)) > 0) {
			path->utf8 = true;
			p += u;
		} else {
			break;
		}
	}
	if (p == *pp)
		return false;
	*pp = p;
	return true;
}

/* Local-part = Dot-string / Quoted-string */
static bool smtp_eat_local(const uint8_t **pp, const uint8_t *end, struct smtp_path *path)
{
	const uint8_t *p = *pp;

	if (p < end && *p == '"') {
		p++;
		for (;;) {
			size_t u;

			if (p >= end)
				return false;
			if (*p == '"')
				break;
			if (*p == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (p + 1 >= end || p[1] < 32 || p[1] > 126)
					return false;
				p += 2;
			} else if (*p >= 32 && *p <= 126) {
				p++;
			} else if (*p >= 0x80 && (u = smtp_utf8_len(p, end)) > 0) {
				path->utf8 = true;
				p += u;
			} else {
				return false;
			}
		}
		p++;
		path->quoted = true;
	} else {
		if (!smtp_eat_atom(&p, end, path))
			return false;
		while (p < end && *p == '.') {
			p++;
			if (!smtp_eat_atom(&p, end, path))
				return false;
		}
	}
	path->local = *pp;
	path->local_len = (size_t)(p - *pp);
	for (const uint8_t *q = *pp; q < p; q++)
		if (*q == '%')
			path->percent = true;
	*pp = p;
	return true;
}

/* Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] / U-label */
static bool smtp_eat_domain(const uint8_t **pp, const uint8_t *end, bool *utf8)
{
	const uint8_t *p = *pp;

	for (;;) {
		const uint8_t *label = p;
		uint8_t last = 0;

		while (p < end) {
			size_t u;

			if (smtp_is_alpha(*p) || smtp_is_digit(*p) || *p == '-') {
				last = *p++;
			} else if (*p >= 0x80 && (u = smtp_utf8_len(p, end)) > 0) {
				*utf8 = true;
				last = 'a';
				p += u;
			} else {
				break;
			}
		}
		if (p == label || *label == '-' || last == '-' ||
		    (size_t)(p - label) > SMTP_LABEL_MAX)
			return false;
		if (p < end && *p == '.' && p + 1 < end && p[1] != '>' && p[1] != ' ') {
			p++;
			continue;
		}
		break;
	}
	*pp = p;
	return true;
}

/* address-literal = "[" ( IPv4 / IPv6 / General-address-literal ) "]"; dcontent check */
static bool smtp_eat_literal(const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp;

	if (p >= end || *p != '[')
		return false;
	p++;
	while (p < end && *p != ']') {
		/* dcontent = %d33-90 / %d94-126 */
		if (!((*p >= 33 && *p <= 90) || (*p >= 94 && *p <= 126)))
			return false;
		p++;
	}
	if (p >= end || p == *pp + 1)
		return false;
	*pp = p + 1;
	return true;
}

/*
 * Path = "<" [ A-d-l ":" ] Mailbox ">", plus "<>" (reverse) and "<Postmaster>" (forward,
 * §4.1.1.3). Returns MGW_PARSE_OK, _SYNTAX or _TOO_LONG.
 */
static int smtp_eat_path(const uint8_t **pp, const uint8_t *end, bool reverse,
			 struct smtp_path *path)
{
	const uint8_t *p = *pp, *start = *pp, *dom;
	bool utf8 = false;

	memset(path, 0, sizeof(*path));
	if (p >= end || *p != '<')
		return MGW_PARSE_SYNTAX;
	p++;
	if (p < end && *p == '>') {
		if (!reverse)
			return MGW_PARSE_SYNTAX;
		path->null = true;
		*pp = p + 1;
		return MGW_PARSE_OK;
	}
	if (p < end && *p == '@') {
		/* A-d-l: accepted and ignored for the reverse path, refused for the forward one. */
		path->route = true;
		for (;;) {
			p++;
			if (!smtp_eat_domain(&p, end, &utf8))
				return MGW_PARSE_SYNTAX;
			if (p < end && *p == ',' && p + 1 < end && p[1] == '@') {
				p++;
				continue;
			}
			break;
		}
		if (p >= end || *p != ':')
			return MGW_PARSE_SYNTAX;
		p++;
	}
	if (!smtp_eat_local(&p, end, path))
		return MGW_PARSE_SYNTAX;
	if (p < end && *p == '>' && !reverse && !path->route && !path->quoted &&
	    smtp_kw_is(path->local, path->local_len, "POSTMASTER")) {
		*pp = p + 1;
		return MGW_PARSE_OK;
	}
	if (p >= end || *p != '@')
		return MGW_PARSE_SYNTAX;
	p++;
	dom = p;
	if (p < end && *p == '[') {
		if (!smtp_eat_literal(&p, end))
			return MGW_PARSE_SYNTAX;
		path->literal = true;
	} else if (!smtp_eat_domain(&p, end, &utf8)) {
		return MGW_PARSE_SYNTAX;
	}
	path->domain = dom;
	path->domain_len = (size_t)(p - dom);
	if (p >= end || *p != '>')
		return MGW_PARSE_SYNTAX;
	p++;
	if (utf8)
		path->utf8 = true;
	/* §4.5.3.1: the limits are on what the client wrote, including the brackets. */
	if ((size_t)(p - start) > SMTP_PATH_MAX || path->local_len > SMTP_LOCAL_MAX ||
	    path->domain_len > SMTP_DOMAIN_MAX)
		return MGW_PARSE_TOO_LONG;
	*pp = p;
	return MGW_PARSE_OK;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static size_t smtp_keyword_len(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p;

	if (q >= end || !(smtp_is_alpha(*q) || smtp_is_digit(*q)))
		return 0;
	while (q < end && (smtp_is_alpha(*q) || smtp_is_digit(*q) || *q == '-'))
		q++;
	return (size_t)(q - p);
}

/*
 * Mail-parameters / Rcpt-parameters (§4.1.2): SP-separated esmtp-param. MAIL knows SIZE
 * (RFC 1870 §6), BODY (RFC 6152 §2) and SMTPUTF8 (RFC 6531 §3.4); RCPT knows none.
 */
static int smtp_parse_params(const uint8_t *p, const uint8_t *end, struct smtp_cmd *cmd)
{
	unsigned n = 0;

	/* Count first, so that a flood of parameters is a LIMIT whatever they are. */
	for (const uint8_t *q = p; q < end; q++)
		if (*q == ' ' && q + 1 < end && q[1] != ' ')
			n++;
	if (n > SMTP_PARAMS_MAX) {
		cmd->why = SMTP_WHY_TOO_MANY;
		return MGW_PARSE_LIMIT;
	}
	while (p < end) {
		const uint8_t *val = NULL, *vend;
		size_t klen;

		if (*p != ' ') {
			cmd->why = SMTP_WHY_PARAM;
			return MGW_PARSE_SYNTAX;
		}
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break; /* trailing blanks are tolerated */
		klen = smtp_keyword_len(p, end);
		if (klen == 0) {
			cmd->why = SMTP_WHY_PARAM;
			return MGW_PARSE_SYNTAX;
		}
		vend = p + klen;
		if (vend < end && *vend == '=') {
			val = vend + 1;
			vend = val;
			/* esmtp-value = 1*(%d33-60 / %d62-126) */
			while (vend < end && *vend != ' ' &&
			       ((*vend >= 33 && *vend <= 60) || (*vend >= 62 && *vend <= 126)))
				vend++;
			if (vend == val || (vend < end && *vend != ' ')) {
				cmd->why = SMTP_WHY_PARAM;
				return MGW_PARSE_SYNTAX;
			}
		} else if (vend < end && *vend != ' ') {
			cmd->why = SMTP_WHY_PARAM;
			return MGW_PARSE_SYNTAX;
		}
		if (cmd->verb == SMTP_V_MAIL && smtp_kw_is(p, klen, "SIZE") && val &&
		    !cmd->has_size) {
			uint64_t v = 0;

			if ((size_t)(vend - val) > SMTP_SIZE_DIGITS_MAX) {
				cmd->why = SMTP_WHY_PARAM;
				return MGW_PARSE_SYNTAX;
			}
			for (const uint8_t *d = val; d < vend; d++) {
				if (!smtp_is_digit(*d) || v > (UINT64_MAX - 9) / 10) {
					cmd->why = SMTP_WHY_PARAM;
					return MGW_PARSE_SYNTAX;
				}
				v = v * 10 + (uint64_t)(*d - '0');
			}
			cmd->has_size = true;
			cmd->size = v;
		} else if (cmd->verb == SMTP_V_MAIL && smtp_kw_is(p, klen, "BODY") && val &&
			   cmd->body == SMTP_BODY_NONE) {
			if (smtp_kw_is(val, (size_t)(vend - val), "7BIT")) {
				cmd->body = SMTP_BODY_7BIT;
			} else if (smtp_kw_is(val, (size_t)(vend - val), "8BITMIME")) {
				cmd->body = SMTP_BODY_8BITMIME;
			} else {
				cmd->why = SMTP_WHY_PARAM;
				return MGW_PARSE_SYNTAX;
			}
		} else if (cmd->verb == SMTP_V_MAIL && smtp_kw_is(p, klen, "SMTPUTF8") && !val &&
			   !cmd->smtputf8) {
			cmd->smtputf8 = true;
		} else {
			cmd->why = SMTP_WHY_PARAM;
			return MGW_PARSE_SYNTAX;
		}
		p = vend;
	}
	return MGW_PARSE_OK;
}

/* "MAIL FROM:" / "RCPT TO:" followed by a path and parameters. */
static int smtp_parse_mail_rcpt(const uint8_t *p, const uint8_t *end, struct smtp_cmd *cmd)
{
	bool reverse = cmd->verb == SMTP_V_MAIL;
	int rc;

	if (!smtp_eat_word(&p, end, reverse ? " FROM:" : " TO:")) {
		cmd->why = SMTP_WHY_ARGS;
		return MGW_PARSE_SYNTAX;
	}
	/* Not RFC 5321 but common: a blank after the colon (Postfix tolerates it too). */
	while (p < end && *p == ' ')
		p++;
	rc = smtp_eat_path(&p, end, reverse, &cmd->path);
	if (rc != MGW_PARSE_OK) {
		cmd->why = rc == MGW_PARSE_TOO_LONG ? SMTP_WHY_TOO_LONG : SMTP_WHY_PATH;
		return rc;
	}
	rc = smtp_parse_params(p, end, cmd);
	if (rc != MGW_PARSE_OK)
		return rc;
	/* RFC 6531 §3.4: a non-ASCII reverse-path needs the SMTPUTF8 parameter. */
	if (reverse && cmd->path.utf8 && !cmd->smtputf8) {
		cmd->why = SMTP_WHY_UTF8;
		return MGW_PARSE_SYNTAX;
	}
	return MGW_PARSE_OK;
}

int smtp_parse_cmd(const uint8_t *p, const uint8_t *end, struct smtp_cmd *cmd)
{
	const uint8_t *q;
	size_t vlen;

	memset(cmd, 0, sizeof(*cmd));
	if ((size_t)(end - p) > SMTP_CMD_LINE_MAX - 2) {
		cmd->why = SMTP_WHY_TOO_LONG;
		return MGW_PARSE_TOO_LONG;
	}
	/* Controls (NUL, CR, LF, TAB, DEL ...) never belong in a command line (§2.3.8). */
	for (q = p; q < end; q++) {
		if (*q < 32 || *q == 127) {
			cmd->why = SMTP_WHY_BYTES;
			return MGW_PARSE_SYNTAX;
		}
	}
	for (q = p; q < end && *q != ' '; q++)
		;
	vlen = (size_t)(q - p);
	for (size_t i = 0; i < MGW_ARRAY_LEN(smtp_verbs); i++) {
		if (smtp_kw_is(p, vlen, smtp_verbs[i].name)) {
			cmd->verb = smtp_verbs[i].verb;
			break;
		}
	}
	if (cmd->verb == SMTP_V_UNKNOWN) {
		cmd->why = SMTP_WHY_VERB;
		return MGW_PARSE_SYNTAX;
	}
	if (q < end) {
		cmd->arg = q + 1;
		cmd->arg_len = (size_t)(end - q - 1);
	}
	switch (cmd->verb) {
	case SMTP_V_MAIL:
	case SMTP_V_RCPT:
		return smtp_parse_mail_rcpt(q, end, cmd);
	case SMTP_V_HELO:
	case SMTP_V_EHLO:
		/* §4.1.1.1: one argument, a domain or an address literal. */
		if (cmd->arg == NULL || !smtp_parse_helo(cmd->arg, end)) {
			cmd->why = SMTP_WHY_ARGS;
			return MGW_PARSE_SYNTAX;
		}
		return MGW_PARSE_OK;
	case SMTP_V_VRFY:
	case SMTP_V_EXPN:
		if (cmd->arg == NULL || cmd->arg_len == 0) {
			cmd->why = SMTP_WHY_ARGS;
			return MGW_PARSE_SYNTAX;
		}
		return MGW_PARSE_OK;
	case SMTP_V_NOOP:
	case SMTP_V_HELP:
		return MGW_PARSE_OK; /* an optional string argument, ignored */
	default:
		/* DATA, RSET, QUIT, STARTTLS take no argument (§4.1.1, RFC 3207 §4). */
		while (q < end && *q == ' ')
			q++;
		if (q != end) {
			cmd->why = SMTP_WHY_ARGS;
			return MGW_PARSE_SYNTAX;
		}
		cmd->arg = NULL;
		cmd->arg_len = 0;
		return MGW_PARSE_OK;
	}
}

bool smtp_parse_helo(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p;
	bool utf8 = false;

	while (end > p && end[-1] == ' ')
		end--;
	if (q < end && *q == '[') {
		if (!smtp_eat_literal(&q, end))
			return false;
	} else {
		if (!smtp_eat_domain(&q, end, &utf8))
			return false;
		/* A trailing dot (a fully qualified "host.example.") is tolerated. */
		if (q < end && *q == '.' && q + 1 == end)
			q++;
	}
	/* ASCII only: the name goes into Received: headers of messages that may be 7-bit. */
	return q == end && !utf8 && (size_t)(end - p) <= SMTP_DOMAIN_MAX;
}

enum smtp_fwd smtp_path_forward_check(const struct smtp_path *path)
{
	if (path->null)
		return SMTP_FWD_NULL;
	if (path->route)
		return SMTP_FWD_ROUTE;
	if (path->literal)
		return SMTP_FWD_LITERAL;
	if (path->quoted)
		return SMTP_FWD_QUOTED;
	if (path->percent)
		return SMTP_FWD_PERCENT;
	return SMTP_FWD_OK;
}
