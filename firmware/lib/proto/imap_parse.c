/*
 * imap_parse.c - IMAP4rev1 commands, RFC 3501 section 9 (formal syntax). A recursive
 * descent over a cursor (p, end): every reader either advances over what it accepted or
 * fails with the first error it met, recorded once in the cursor. Nothing is allocated;
 * results borrow the buffer and the pools of struct imap_cmd.
 */
#include "proto/imap_parse.h"

#include <stddef.h>
#include <string.h>

#include "core/err.h"

struct ip {
	const uint8_t *p, *end;
	struct imap_cmd *c;
};

static int ip_fail(struct ip *ip, int rc, const char *why)
{
	if (ip->c->err == NULL)
		ip->c->err = why;
	return rc;
}

static bool ip_at_end(const struct ip *ip)
{
	return ip->p == ip->end;
}

static int ip_peek(const struct ip *ip)
{
	return ip->p < ip->end ? *ip->p : -1;
}

static uint8_t ip_upper(uint8_t c)
{
	return c >= 'a' && c <= 'z' ? (uint8_t)(c - 'a' + 'A') : c;
}

static int ip_char(struct ip *ip, uint8_t want, const char *why)
{
	if (ip_peek(ip) != want)
		return ip_fail(ip, MGW_PARSE_SYNTAX, why);
	ip->p++;
	return MGW_PARSE_OK;
}

static int ip_sp(struct ip *ip)
{
	return ip_char(ip, ' ', "Missing argument or extra space");
}

/* Takes the ASCII word w (upper case) if it comes next, ignoring case. */
static bool ip_word(struct ip *ip, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(ip->end - ip->p) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ip_upper(ip->p[i]) != (uint8_t)w[i])
			return false;
	ip->p += n;
	return true;
}

/* RFC 3501 section 9: ATOM-CHAR is any 7-bit CHAR but atom-specials: "(" ")" "{" SP CTL
 * list-wildcards quoted-specials resp-specials. */
static bool imap_atom_char(uint8_t c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

static bool imap_astring_char(uint8_t c)
{
	return imap_atom_char(c) || c == ']';
}

static bool imap_list_char(uint8_t c)
{
	return imap_astring_char(c) || c == '%' || c == '*';
}

static bool imap_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* number = 1*DIGIT fitting 32 bits (RFC 3501 section 9, "number"). */
static int ip_number(struct ip *ip, uint32_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	while (imap_digit(ip_peek(ip))) {
		v = v * 10 + (uint64_t)(*ip->p++ - '0');
		if (v > UINT32_MAX)
			return ip_fail(ip, MGW_PARSE_SYNTAX, "Number out of range");
		n++;
	}
	if (n == 0)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Number expected");
	*out = (uint32_t)v;
	return MGW_PARSE_OK;
}

static int ip_nz_number(struct ip *ip, uint32_t *out)
{
	int rc = ip_number(ip, out);

	if (rc == MGW_PARSE_OK && *out == 0)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Zero is not a valid number here");
	return rc;
}

/* A run of chars accepted by ok, at least one. */
static int ip_run(struct ip *ip, bool (*ok)(uint8_t), struct imap_str *s, const char *why)
{
	const uint8_t *b = ip->p;

	while (ip->p < ip->end && ok(*ip->p))
		ip->p++;
	if (ip->p == b)
		return ip_fail(ip, MGW_PARSE_SYNTAX, why);
	s->p = b;
	s->len = (uint32_t)(ip->p - b);
	s->kind = IMAP_STR_ATOM;
	return MGW_PARSE_OK;
}

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE: any TEXT-CHAR but the quoted-specials, which come
 * escaped. 8-bit octets are allowed (UTF-8 in SEARCH CHARSET UTF-8). */
static int ip_quoted(struct ip *ip, struct imap_str *s)
{
	const uint8_t *b;

	ip->p++; /* the opening quote */
	b = ip->p;
	for (;;) {
		int ch = ip_peek(ip);

		if (ch < 0 || ch == 0 || ch == '\r' || ch == '\n')
			return ip_fail(ip, MGW_PARSE_SYNTAX, "Unterminated quoted string");
		if (ch == '"')
			break;
		if (ch == '\\') {
			ip->p++;
			ch = ip_peek(ip);
			if (ch != '"' && ch != '\\')
				return ip_fail(ip, MGW_PARSE_SYNTAX, "Bad escape in quoted string");
		}
		ip->p++;
	}
	s->p = b;
	s->len = (uint32_t)(ip->p - b);
	s->kind = IMAP_STR_QUOTED;
	ip->p++;
	return MGW_PARSE_OK;
}

/* "{" number ["+"] "}" (RFC 7888 for the "+"), the announcement only; n up to max. */
static int ip_literal_head(struct ip *ip, uint32_t max, uint32_t *n, bool *plus)
{
	int rc;

	ip->p++; /* "{" */
	rc = ip_number(ip, n);
	if (rc != MGW_PARSE_OK)
		return rc;
	*plus = ip_peek(ip) == '+';
	if (*plus)
		ip->p++;
	rc = ip_char(ip, '}', "Bad literal");
	if (rc == MGW_PARSE_OK && *n > max)
		return ip_fail(ip, MGW_PARSE_TOO_LONG, "Literal too long");
	return rc;
}

/* literal = "{" number "}" CRLF *CHAR8: NEED_MORE when the buffer stops after "}". */
static int ip_literal(struct ip *ip, struct imap_str *s)
{
	uint32_t n;
	bool plus;
	int rc = ip_literal_head(ip, IMAP_CMD_MAX, &n, &plus);

	if (rc != MGW_PARSE_OK)
		return rc;
	if (ip_at_end(ip)) {
		ip->c->lit_len = n;
		ip->c->lit_plus = plus;
		return MGW_PARSE_NEED_MORE;
	}
	if (ip->end - ip->p < 2 || ip->p[0] != '\r' || ip->p[1] != '\n')
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Literal announcement must end the line");
	ip->p += 2;
	if ((size_t)(ip->end - ip->p) < n)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Literal shorter than announced");
	if (memchr(ip->p, '\0', n))
		return ip_fail(ip, MGW_PARSE_SYNTAX, "NUL in literal");
	s->p = ip->p;
	s->len = n;
	s->kind = IMAP_STR_LITERAL;
	ip->p += n;
	return MGW_PARSE_OK;
}

static int ip_string(struct ip *ip, struct imap_str *s)
{
	if (ip_peek(ip) == '"')
		return ip_quoted(ip, s);
	if (ip_peek(ip) == '{')
		return ip_literal(ip, s);
	return ip_fail(ip, MGW_PARSE_SYNTAX, "String expected");
}

/* astring = 1*ASTRING-CHAR / string; also mailbox. */
static int ip_astring(struct ip *ip, struct imap_str *s)
{
	if (ip_peek(ip) == '"' || ip_peek(ip) == '{')
		return ip_string(ip, s);
	return ip_run(ip, imap_astring_char, s, "String expected");
}

/* list-mailbox = 1*list-char / string */
static int ip_list_mailbox(struct ip *ip, struct imap_str *s)
{
	if (ip_peek(ip) == '"' || ip_peek(ip) == '{')
		return ip_string(ip, s);
	return ip_run(ip, imap_list_char, s, "Mailbox pattern expected");
}

/* nstring = string / NIL */
static int ip_nstring(struct ip *ip, struct imap_str *s)
{
	if (ip_word(ip, "NIL")) {
		s->p = NULL;
		s->len = 0;
		s->kind = IMAP_STR_NIL;
		return MGW_PARSE_OK;
	}
	return ip_string(ip, s);
}

/* sequence-set = (seq-number / seq-range) ["," sequence-set]; seq-number = nz-number /
 * "*". The ranges go to the command's pool; "$" (RFC 5182) is not offered. */
static int ip_seqset(struct ip *ip, struct imap_seqset *set)
{
	struct imap_cmd *c = ip->c;

	set->first = c->nranges;
	set->count = 0;
	for (;;) {
		uint32_t v[2];
		int rc;

		for (int i = 0; i < 2; i++) {
			if (ip_peek(ip) == '*') {
				ip->p++;
				v[i] = IMAP_SEQ_STAR;
			} else {
				rc = ip_nz_number(ip, &v[i]);
				if (rc != MGW_PARSE_OK)
					return ip_fail(ip, rc, "Invalid sequence set");
			}
			if (i == 0) {
				if (ip_peek(ip) != ':') {
					v[1] = v[0];
					break;
				}
				ip->p++;
			}
		}
		if (c->nranges == IMAP_SEQ_RANGES_MAX)
			return ip_fail(ip, MGW_PARSE_LIMIT, "Too many ranges in sequence sets");
		/* the smaller first, "*" last */
		if (v[1] != IMAP_SEQ_STAR && (v[0] == IMAP_SEQ_STAR || v[0] > v[1])) {
			uint32_t t = v[0];

			v[0] = v[1];
			v[1] = t;
		}
		c->ranges[c->nranges].lo = v[0];
		c->ranges[c->nranges].hi = v[1];
		c->nranges++;
		set->count++;
		if (ip_peek(ip) != ',')
			return MGW_PARSE_OK;
		ip->p++;
	}
}

static const char imap_months[12][4] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
					"JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};

int32_t imap_days_from_civil(int32_t y, unsigned m, unsigned d)
{
	/* H. Hinnant's days_from_civil: March-based years make leap days fall last. */
	int32_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (int32_t)((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1);
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool imap_date_valid(uint32_t y, unsigned m, uint32_t d)
{
	static const uint8_t mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (d < 1 || d > mdays[m - 1])
		return false;
	return !(m == 2 && d == 29 && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0)));
}

/* Exactly n digits. */
static int ip_digits(struct ip *ip, unsigned n, uint32_t *out)
{
	*out = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!imap_digit(ip_peek(ip)))
			return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid date");
		*out = *out * 10 + (uint32_t)(*ip->p++ - '0');
	}
	return MGW_PARSE_OK;
}

/* date-month "-" date-year after the day and its "-". */
static int ip_month_year(struct ip *ip, unsigned *m, uint32_t *y)
{
	*m = 0;
	for (unsigned i = 0; i < 12 && *m == 0; i++)
		if (ip_word(ip, imap_months[i]))
			*m = i + 1;
	if (*m == 0 || ip_char(ip, '-', "Invalid date") != MGW_PARSE_OK)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid date");
	return ip_digits(ip, 4, y);
}

/* date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-"
 * date-year; date-day = 1*2DIGIT. The result is days since 1970-01-01. */
static int ip_date(struct ip *ip, uint32_t *days)
{
	bool q = ip_peek(ip) == '"';
	uint32_t d = 0, y;
	unsigned m, nd = 0;
	int rc;

	if (q)
		ip->p++;
	while (nd < 2 && imap_digit(ip_peek(ip))) {
		d = d * 10 + (uint32_t)(*ip->p++ - '0');
		nd++;
	}
	if (nd == 0 || ip_char(ip, '-', "Invalid date") != MGW_PARSE_OK)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid date");
	rc = ip_month_year(ip, &m, &y);
	if (rc != MGW_PARSE_OK)
		return rc;
	if (q && ip_char(ip, '"', "Invalid date") != MGW_PARSE_OK)
		return MGW_PARSE_SYNTAX;
	if (!imap_date_valid(y, m, d) || y < 1970)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid date");
	*days = (uint32_t)imap_days_from_civil((int32_t)y, m, d);
	return MGW_PARSE_OK;
}

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
 * (RFC 3501 section 9): "dd-Mon-yyyy hh:mm:ss +hhmm", the day may start with a space. */
static int ip_date_time(struct ip *ip, int64_t *t)
{
	uint32_t d, y, hh, mm, ss, zh, zm;
	unsigned m;
	int sign, rc;

	ip->p++; /* DQUOTE */
	if (ip_peek(ip) == ' ') {
		ip->p++;
		rc = ip_digits(ip, 1, &d);
	} else {
		rc = ip_digits(ip, 2, &d);
	}
	if (rc == MGW_PARSE_OK)
		rc = ip_char(ip, '-', "Invalid date-time");
	if (rc == MGW_PARSE_OK)
		rc = ip_month_year(ip, &m, &y);
	if (rc == MGW_PARSE_OK)
		rc = ip_sp(ip);
	if (rc == MGW_PARSE_OK)
		rc = ip_digits(ip, 2, &hh);
	if (rc == MGW_PARSE_OK)
		rc = ip_char(ip, ':', "Invalid date-time");
	if (rc == MGW_PARSE_OK)
		rc = ip_digits(ip, 2, &mm);
	if (rc == MGW_PARSE_OK)
		rc = ip_char(ip, ':', "Invalid date-time");
	if (rc == MGW_PARSE_OK)
		rc = ip_digits(ip, 2, &ss);
	if (rc == MGW_PARSE_OK)
		rc = ip_sp(ip);
	if (rc != MGW_PARSE_OK)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid date-time");
	sign = ip_peek(ip) == '-' ? -1 : 1;
	if (ip_peek(ip) != '-' && ip_peek(ip) != '+')
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid date-time");
	ip->p++;
	rc = ip_digits(ip, 2, &zh);
	if (rc == MGW_PARSE_OK)
		rc = ip_digits(ip, 2, &zm);
	if (rc == MGW_PARSE_OK)
		rc = ip_char(ip, '"', "Invalid date-time");
	if (rc != MGW_PARSE_OK)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid date-time");
	if (!imap_date_valid(y, m, d) || y < 1970 || hh > 23 || mm > 59 || ss > 60 || zh > 23 ||
	    zm > 59)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid date-time");
	*t = (int64_t)imap_days_from_civil((int32_t)y, m, d) * 86400 + hh * 3600 + mm * 60 + ss -
	     sign * (int64_t)(zh * 3600 + zm * 60);
	return MGW_PARSE_OK;
}

static const struct {
	char name[10];
	uint32_t bit;
} imap_sysflags[] = {
    {"\\SEEN", IMAP_FLAG_SEEN},	      {"\\ANSWERED", IMAP_FLAG_ANSWERED},
    {"\\FLAGGED", IMAP_FLAG_FLAGGED}, {"\\DELETED", IMAP_FLAG_DELETED},
    {"\\DRAFT", IMAP_FLAG_DRAFT},
};

/* flag = "\Answered" / ... / flag-keyword / flag-extension ("\" atom). */
static int ip_flag(struct ip *ip, struct imap_flags *f)
{
	struct imap_str s;
	bool sys = ip_peek(ip) == '\\';
	int rc;

	if (sys)
		ip->p++;
	rc = ip_run(ip, imap_atom_char, &s, "Invalid flag");
	if (rc != MGW_PARSE_OK)
		return rc;
	if (sys) {
		s.p--;
		s.len++;
		for (size_t i = 0; i < MGW_ARRAY_LEN(imap_sysflags); i++)
			if (imap_str_eq_ci(&s, imap_sysflags[i].name)) {
				f->bits |= imap_sysflags[i].bit;
				return MGW_PARSE_OK;
			}
		f->has_extension = true;
		return MGW_PARSE_OK;
	}
	for (unsigned i = 0; i < f->nkeywords; i++)
		if (f->kw[i].len == s.len && memcmp(f->kw[i].p, s.p, s.len) == 0)
			return MGW_PARSE_OK;
	if (f->nkeywords == IMAP_FLAGS_MAX)
		return ip_fail(ip, MGW_PARSE_LIMIT, "Too many keywords");
	f->kw[f->nkeywords++] = s;
	return MGW_PARSE_OK;
}

/* flag-list = "(" [flag *(SP flag)] ")"; or, for STORE, flag *(SP flag) bare. */
static int ip_flags(struct ip *ip, struct imap_flags *f, bool bare_ok)
{
	bool paren = ip_peek(ip) == '(';
	int rc;

	if (!paren && !bare_ok)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Flag list expected");
	if (paren) {
		ip->p++;
		if (ip_peek(ip) == ')') {
			ip->p++;
			return MGW_PARSE_OK;
		}
	}
	for (;;) {
		rc = ip_flag(ip, f);
		if (rc != MGW_PARSE_OK)
			return rc;
		if (ip_peek(ip) != ' ')
			break;
		ip->p++;
	}
	return paren ? ip_char(ip, ')', "Unterminated flag list") : MGW_PARSE_OK;
}

/* header-list = "(" header-fld-name *(SP header-fld-name) ")", names as astrings. */
static int ip_header_list(struct ip *ip, struct imap_fatt *fa)
{
	struct imap_cmd *c = ip->c;
	int rc = ip_char(ip, '(', "Header field list expected");

	fa->field0 = c->nfields;
	while (rc == MGW_PARSE_OK) {
		if (c->nfields == IMAP_HDR_FIELDS_MAX)
			return ip_fail(ip, MGW_PARSE_LIMIT, "Too many header fields");
		rc = ip_astring(ip, &c->fields[c->nfields]);
		if (rc != MGW_PARSE_OK)
			return rc;
		c->nfields++;
		fa->nfields++;
		if (ip_peek(ip) != ' ')
			break;
		ip->p++;
	}
	return rc == MGW_PARSE_OK ? ip_char(ip, ')', "Unterminated header field list") : rc;
}

/* section-msgtext / "MIME" (only after a part number). The order matters: the longest
 * name first. */
static int ip_section_text(struct ip *ip, struct imap_fatt *fa, bool after_part)
{
	if (ip_word(ip, "HEADER.FIELDS.NOT"))
		fa->text = IMAP_SECT_HEADER_FIELDS_NOT;
	else if (ip_word(ip, "HEADER.FIELDS"))
		fa->text = IMAP_SECT_HEADER_FIELDS;
	else if (ip_word(ip, "HEADER"))
		fa->text = IMAP_SECT_HEADER;
	else if (ip_word(ip, "TEXT"))
		fa->text = IMAP_SECT_TEXT;
	else if (after_part && ip_word(ip, "MIME"))
		fa->text = IMAP_SECT_MIME;
	else
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid body section");
	if (fa->text == IMAP_SECT_HEADER_FIELDS || fa->text == IMAP_SECT_HEADER_FIELDS_NOT) {
		int rc = ip_sp(ip);

		return rc == MGW_PARSE_OK ? ip_header_list(ip, fa) : rc;
	}
	return MGW_PARSE_OK;
}

/* section = "[" [section-spec] "]" ["<" number "." nz-number ">"] */
static int ip_section(struct ip *ip, struct imap_fatt *fa)
{
	int rc = MGW_PARSE_OK;

	ip->p++; /* "[" */
	if (imap_digit(ip_peek(ip))) {
		for (;;) {
			if (fa->nparts == IMAP_PART_DEPTH_MAX)
				return ip_fail(ip, MGW_PARSE_LIMIT, "Body part nested too deep");
			rc = ip_nz_number(ip, &fa->part[fa->nparts++]);
			if (rc != MGW_PARSE_OK)
				return rc;
			if (ip_peek(ip) != '.')
				break;
			ip->p++;
			if (!imap_digit(ip_peek(ip))) {
				rc = ip_section_text(ip, fa, true);
				break;
			}
		}
	} else if (ip_peek(ip) != ']') {
		rc = ip_section_text(ip, fa, false);
	}
	if (rc == MGW_PARSE_OK)
		rc = ip_char(ip, ']', "Invalid body section");
	if (rc != MGW_PARSE_OK || ip_peek(ip) != '<')
		return rc;
	ip->p++;
	fa->partial = true;
	rc = ip_number(ip, &fa->origin);
	if (rc == MGW_PARSE_OK)
		rc = ip_char(ip, '.', "Invalid partial");
	if (rc == MGW_PARSE_OK)
		rc = ip_nz_number(ip, &fa->count);
	if (rc == MGW_PARSE_OK)
		rc = ip_char(ip, '>', "Invalid partial");
	return rc;
}

static int ip_fatt_add(struct ip *ip, uint8_t kind, struct imap_fatt **out)
{
	struct imap_cmd *c = ip->c;

	if (c->nfatts == IMAP_FETCH_ATTS_MAX)
		return ip_fail(ip, MGW_PARSE_LIMIT, "Too many fetch attributes");
	*out = &c->fatts[c->nfatts++];
	memset(*out, 0, sizeof(**out));
	(*out)->kind = kind;
	return MGW_PARSE_OK;
}

/* The plain fetch-att names, longest first where one is a prefix of another. */
static const struct {
	char name[14];
	uint8_t kind;
} imap_fatt_names[] = {
    {"ENVELOPE", IMAP_FATT_ENVELOPE},
    {"FLAGS", IMAP_FATT_FLAGS},
    {"INTERNALDATE", IMAP_FATT_INTERNALDATE},
    {"RFC822.HEADER", IMAP_FATT_RFC822_HEADER},
    {"RFC822.SIZE", IMAP_FATT_RFC822_SIZE},
    {"RFC822.TEXT", IMAP_FATT_RFC822_TEXT},
    {"RFC822", IMAP_FATT_RFC822},
    {"BODYSTRUCTURE", IMAP_FATT_BODYSTRUCTURE},
    {"UID", IMAP_FATT_UID},
};

/* An attribute name ends at SP, ")" or the end; "BODY" may go on with "[" or ".PEEK[". */
static bool ip_name_ends(const struct ip *ip)
{
	int ch = ip_peek(ip);

	return ch < 0 || ch == ' ' || ch == ')';
}

static int ip_fatt(struct ip *ip)
{
	struct imap_fatt *fa;
	int rc;

	for (size_t i = 0; i < MGW_ARRAY_LEN(imap_fatt_names); i++) {
		const uint8_t *save = ip->p;

		if (ip_word(ip, imap_fatt_names[i].name)) {
			if (ip_name_ends(ip))
				return ip_fatt_add(ip, imap_fatt_names[i].kind, &fa);
			ip->p = save;
		}
	}
	if (!ip_word(ip, "BODY"))
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid fetch attribute");
	if (ip_name_ends(ip))
		return ip_fatt_add(ip, IMAP_FATT_BODY, &fa);
	rc = ip_fatt_add(ip, IMAP_FATT_BODY_SECTION, &fa);
	if (rc != MGW_PARSE_OK)
		return rc;
	fa->peek = ip_word(ip, ".PEEK");
	if (ip_peek(ip) != '[')
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Invalid fetch attribute");
	return ip_section(ip, fa);
}

/* FETCH sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP
 * fetch-att) ")"); the macros expand as RFC 3501 section 6.4.5 defines them. */
static int ip_fetch(struct ip *ip)
{
	static const uint8_t fast[] = {IMAP_FATT_FLAGS, IMAP_FATT_INTERNALDATE,
				       IMAP_FATT_RFC822_SIZE, IMAP_FATT_ENVELOPE, IMAP_FATT_BODY};
	struct imap_fatt *fa;
	size_t nmacro = 0;
	int rc = ip_seqset(ip, &ip->c->set);

	if (rc == MGW_PARSE_OK)
		rc = ip_sp(ip);
	if (rc != MGW_PARSE_OK)
		return rc;
	if (ip_word(ip, "ALL"))
		nmacro = 4;
	else if (ip_word(ip, "FULL"))
		nmacro = 5;
	else if (ip_word(ip, "FAST"))
		nmacro = 3;
	if (nmacro > 0) {
		for (size_t i = 0; i < nmacro && rc == MGW_PARSE_OK; i++)
			rc = ip_fatt_add(ip, fast[i], &fa);
		return rc;
	}
	if (ip_peek(ip) != '(')
		return ip_fatt(ip);
	ip->p++;
	for (;;) {
		rc = ip_fatt(ip);
		if (rc != MGW_PARSE_OK)
			return rc;
		if (ip_peek(ip) != ' ')
			break;
		ip->p++;
	}
	return ip_char(ip, ')', "Unterminated fetch attribute list");
}

/* STORE sequence-set SP ["+" / "-"] "FLAGS" [".SILENT"] SP (flag-list / flag *(SP flag)) */
static int ip_store(struct ip *ip)
{
	struct imap_cmd *c = ip->c;
	int rc = ip_seqset(ip, &c->set);

	if (rc == MGW_PARSE_OK)
		rc = ip_sp(ip);
	if (rc != MGW_PARSE_OK)
		return rc;
	if (ip_peek(ip) == '+' || ip_peek(ip) == '-') {
		c->store_mode = *ip->p == '+' ? IMAP_STORE_ADD : IMAP_STORE_REMOVE;
		ip->p++;
	}
	if (!ip_word(ip, "FLAGS"))
		return ip_fail(ip, MGW_PARSE_SYNTAX, "FLAGS, +FLAGS or -FLAGS expected");
	c->store_silent = ip_word(ip, ".SILENT");
	rc = ip_sp(ip);
	return rc == MGW_PARSE_OK ? ip_flags(ip, &c->flags, true) : rc;
}

enum imap_sk_arg {
	IMAP_SKA_NONE,
	IMAP_SKA_ASTRING, /* text in str */
	IMAP_SKA_HEADER,  /* field name, text */
	IMAP_SKA_KEYWORD,
	IMAP_SKA_DATE,
	IMAP_SKA_NUMBER,
	IMAP_SKA_SEQSET,
	IMAP_SKA_ONE, /* one search key (NOT) */
	IMAP_SKA_TWO, /* two search keys (OR) */
};

struct imap_sk_def {
	char name[11];
	uint8_t op, arg;
	uint32_t set, clear; /* flag bits for IMAP_SK_FLAGS */
	const char *field;   /* the header searched by FROM, TO ... */
};

static const struct imap_sk_def imap_sk_defs[] = {
    {"ALL", IMAP_SK_ALL, IMAP_SKA_NONE, 0, 0, NULL},
    {"ANSWERED", IMAP_SK_FLAGS, IMAP_SKA_NONE, IMAP_FLAG_ANSWERED, 0, NULL},
    {"BCC", IMAP_SK_HEADER, IMAP_SKA_ASTRING, 0, 0, "BCC"},
    {"BEFORE", IMAP_SK_BEFORE, IMAP_SKA_DATE, 0, 0, NULL},
    {"BODY", IMAP_SK_BODY, IMAP_SKA_ASTRING, 0, 0, NULL},
    {"CC", IMAP_SK_HEADER, IMAP_SKA_ASTRING, 0, 0, "CC"},
    {"DELETED", IMAP_SK_FLAGS, IMAP_SKA_NONE, IMAP_FLAG_DELETED, 0, NULL},
    {"DRAFT", IMAP_SK_FLAGS, IMAP_SKA_NONE, IMAP_FLAG_DRAFT, 0, NULL},
    {"FLAGGED", IMAP_SK_FLAGS, IMAP_SKA_NONE, IMAP_FLAG_FLAGGED, 0, NULL},
    {"FROM", IMAP_SK_HEADER, IMAP_SKA_ASTRING, 0, 0, "FROM"},
    {"HEADER", IMAP_SK_HEADER, IMAP_SKA_HEADER, 0, 0, NULL},
    {"KEYWORD", IMAP_SK_KEYWORD, IMAP_SKA_KEYWORD, 0, 0, NULL},
    {"LARGER", IMAP_SK_LARGER, IMAP_SKA_NUMBER, 0, 0, NULL},
    {"NEW", IMAP_SK_FLAGS, IMAP_SKA_NONE, IMAP_FLAG_RECENT, IMAP_FLAG_SEEN, NULL},
    {"NOT", IMAP_SK_NOT, IMAP_SKA_ONE, 0, 0, NULL},
    {"OLD", IMAP_SK_FLAGS, IMAP_SKA_NONE, 0, IMAP_FLAG_RECENT, NULL},
    {"ON", IMAP_SK_ON, IMAP_SKA_DATE, 0, 0, NULL},
    {"OR", IMAP_SK_OR, IMAP_SKA_TWO, 0, 0, NULL},
    {"RECENT", IMAP_SK_FLAGS, IMAP_SKA_NONE, IMAP_FLAG_RECENT, 0, NULL},
    {"SEEN", IMAP_SK_FLAGS, IMAP_SKA_NONE, IMAP_FLAG_SEEN, 0, NULL},
    {"SENTBEFORE", IMAP_SK_SENTBEFORE, IMAP_SKA_DATE, 0, 0, NULL},
    {"SENTON", IMAP_SK_SENTON, IMAP_SKA_DATE, 0, 0, NULL},
    {"SENTSINCE", IMAP_SK_SENTSINCE, IMAP_SKA_DATE, 0, 0, NULL},
    {"SINCE", IMAP_SK_SINCE, IMAP_SKA_DATE, 0, 0, NULL},
    {"SMALLER", IMAP_SK_SMALLER, IMAP_SKA_NUMBER, 0, 0, NULL},
    {"SUBJECT", IMAP_SK_HEADER, IMAP_SKA_ASTRING, 0, 0, "SUBJECT"},
    {"TEXT", IMAP_SK_TEXT, IMAP_SKA_ASTRING, 0, 0, NULL},
    {"TO", IMAP_SK_HEADER, IMAP_SKA_ASTRING, 0, 0, "TO"},
    {"UID", IMAP_SK_UID, IMAP_SKA_SEQSET, 0, 0, NULL},
    {"UNANSWERED", IMAP_SK_FLAGS, IMAP_SKA_NONE, 0, IMAP_FLAG_ANSWERED, NULL},
    {"UNDELETED", IMAP_SK_FLAGS, IMAP_SKA_NONE, 0, IMAP_FLAG_DELETED, NULL},
    {"UNDRAFT", IMAP_SK_FLAGS, IMAP_SKA_NONE, 0, IMAP_FLAG_DRAFT, NULL},
    {"UNFLAGGED", IMAP_SK_FLAGS, IMAP_SKA_NONE, 0, IMAP_FLAG_FLAGGED, NULL},
    {"UNKEYWORD", IMAP_SK_UNKEYWORD, IMAP_SKA_KEYWORD, 0, 0, NULL},
    {"UNSEEN", IMAP_SK_FLAGS, IMAP_SKA_NONE, 0, IMAP_FLAG_SEEN, NULL},
};

static int ip_search_key(struct ip *ip, unsigned depth);

/* Keys separated by single spaces until ")" or the end; they become children of the
 * AND node at index at. */
static int ip_search_keys(struct ip *ip, unsigned depth, bool paren)
{
	int rc;

	for (;;) {
		rc = ip_search_key(ip, depth);
		if (rc != MGW_PARSE_OK)
			return rc;
		if (paren && ip_peek(ip) == ')')
			return MGW_PARSE_OK;
		if (ip_at_end(ip))
			return paren ? ip_fail(ip, MGW_PARSE_SYNTAX, "Unterminated search list")
				     : MGW_PARSE_OK;
		rc = ip_sp(ip);
		if (rc != MGW_PARSE_OK)
			return rc;
	}
}

static int ip_skey_new(struct ip *ip, uint8_t op, struct imap_skey **out)
{
	struct imap_cmd *c = ip->c;

	if (c->nskeys == IMAP_SEARCH_KEYS_MAX)
		return ip_fail(ip, MGW_PARSE_LIMIT, "Search program too long");
	*out = &c->skeys[c->nskeys++];
	memset(*out, 0, sizeof(**out));
	(*out)->op = op;
	return MGW_PARSE_OK;
}

/* A key name: the letters up to SP, ")" or the end. */
static const struct imap_sk_def *ip_sk_lookup(struct ip *ip)
{
	const uint8_t *b = ip->p;
	size_t n;

	while (!ip_name_ends(ip))
		ip->p++;
	n = (size_t)(ip->p - b);
	for (size_t i = 0; i < MGW_ARRAY_LEN(imap_sk_defs); i++) {
		const char *name = imap_sk_defs[i].name;
		size_t j = 0;

		if (strlen(name) != n)
			continue;
		while (j < n && ip_upper(b[j]) == (uint8_t)name[j])
			j++;
		if (j == n)
			return &imap_sk_defs[i];
	}
	return NULL;
}

/* RFC 3501 section 6.4.4: search-key. Every node records its span once its subtree is
 * read, so the evaluator can skip subtrees. */
static int ip_search_key(struct ip *ip, unsigned depth)
{
	struct imap_cmd *c = ip->c;
	const struct imap_sk_def *def;
	struct imap_skey *k;
	uint16_t at = c->nskeys;
	int rc;

	if (depth > IMAP_SEARCH_DEPTH_MAX)
		return ip_fail(ip, MGW_PARSE_LIMIT, "Search program nested too deep");
	if (ip_peek(ip) == '(') {
		ip->p++;
		rc = ip_skey_new(ip, IMAP_SK_AND, &k);
		if (rc == MGW_PARSE_OK)
			rc = ip_search_keys(ip, depth + 1, true);
		if (rc == MGW_PARSE_OK)
			ip->p++; /* ")" */
		goto out;
	}
	if (imap_digit(ip_peek(ip)) || ip_peek(ip) == '*') {
		rc = ip_skey_new(ip, IMAP_SK_SEQ, &k);
		if (rc == MGW_PARSE_OK)
			rc = ip_seqset(ip, &k->set);
		goto out;
	}
	def = ip_sk_lookup(ip);
	if (def == NULL)
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Unknown search key");
	rc = ip_skey_new(ip, def->op, &k);
	if (rc != MGW_PARSE_OK)
		return rc;
	k->num = def->set;
	k->num2 = def->clear;
	if (def->field) {
		k->str2.p = (const uint8_t *)def->field;
		k->str2.len = (uint32_t)strlen(def->field);
		k->str2.kind = IMAP_STR_ATOM;
	}
	if (def->arg == IMAP_SKA_NONE)
		goto out;
	rc = ip_sp(ip);
	if (rc != MGW_PARSE_OK)
		return rc;
	switch (def->arg) {
	case IMAP_SKA_ASTRING:
		rc = ip_astring(ip, &k->str);
		break;
	case IMAP_SKA_HEADER:
		rc = ip_astring(ip, &k->str2);
		if (rc == MGW_PARSE_OK)
			rc = ip_sp(ip);
		if (rc == MGW_PARSE_OK)
			rc = ip_astring(ip, &k->str);
		break;
	case IMAP_SKA_KEYWORD:
		rc = ip_run(ip, imap_atom_char, &k->str, "Keyword expected");
		break;
	case IMAP_SKA_DATE:
		rc = ip_date(ip, &k->num);
		break;
	case IMAP_SKA_NUMBER:
		rc = ip_number(ip, &k->num);
		break;
	case IMAP_SKA_SEQSET:
		rc = ip_seqset(ip, &k->set);
		break;
	case IMAP_SKA_TWO:
		rc = ip_search_key(ip, depth + 1);
		if (rc == MGW_PARSE_OK)
			rc = ip_sp(ip);
		/* fall through */
	case IMAP_SKA_ONE:
		if (rc == MGW_PARSE_OK)
			rc = ip_search_key(ip, depth + 1);
		break;
	}
out:
	if (rc == MGW_PARSE_OK)
		c->skeys[at].span = (uint16_t)(c->nskeys - at);
	return rc;
}

/* SEARCH [SP "CHARSET" SP astring] 1*(SP search-key); the caller read the first SP.
 * CHARSET is checked by the session (US-ASCII and UTF-8, RFC 3501 section 6.4.4). */
static int ip_search(struct ip *ip)
{
	struct imap_cmd *c = ip->c;
	struct imap_skey *top;
	int rc = ip_skey_new(ip, IMAP_SK_AND, &top);

	if (rc != MGW_PARSE_OK)
		return rc;
	if (ip_word(ip, "CHARSET ")) {
		rc = ip_astring(ip, &c->a[0]);
		if (rc == MGW_PARSE_OK)
			rc = ip_sp(ip);
		if (rc != MGW_PARSE_OK)
			return rc;
	}
	rc = ip_search_keys(ip, 1, false);
	if (rc == MGW_PARSE_OK)
		c->skeys[0].span = c->nskeys;
	return rc;
}

static const struct {
	char name[12];
	uint32_t bit;
} imap_status_items[] = {
    {"MESSAGES", IMAP_STATUS_MESSAGES}, {"RECENT", IMAP_STATUS_RECENT},
    {"UIDNEXT", IMAP_STATUS_UIDNEXT},	{"UIDVALIDITY", IMAP_STATUS_UIDVALIDITY},
    {"UNSEEN", IMAP_STATUS_UNSEEN},	{"SIZE", IMAP_STATUS_SIZE},
};

/* STATUS mailbox SP "(" status-att *(SP status-att) ")" */
static int ip_status(struct ip *ip)
{
	struct imap_cmd *c = ip->c;
	int rc = ip_astring(ip, &c->a[0]);

	if (rc == MGW_PARSE_OK)
		rc = ip_sp(ip);
	if (rc == MGW_PARSE_OK)
		rc = ip_char(ip, '(', "Status item list expected");
	while (rc == MGW_PARSE_OK) {
		uint32_t bit = 0;

		for (size_t i = 0; i < MGW_ARRAY_LEN(imap_status_items) && bit == 0; i++) {
			const uint8_t *save = ip->p;

			if (ip_word(ip, imap_status_items[i].name)) {
				if (ip_peek(ip) == ' ' || ip_peek(ip) == ')')
					bit = imap_status_items[i].bit;
				else
					ip->p = save;
			}
		}
		if (bit == 0)
			return ip_fail(ip, MGW_PARSE_SYNTAX, "Unknown status item");
		c->items |= bit;
		if (ip_peek(ip) != ' ')
			break;
		ip->p++;
	}
	return rc == MGW_PARSE_OK ? ip_char(ip, ')', "Unterminated status item list") : rc;
}

/* APPEND mailbox [SP flag-list] [SP date-time] SP literal: the literal's announcement
 * must end the buffer (see the header). */
static int ip_append(struct ip *ip)
{
	struct imap_cmd *c = ip->c;
	int rc = ip_astring(ip, &c->a[0]);

	if (rc == MGW_PARSE_OK)
		rc = ip_sp(ip);
	if (rc == MGW_PARSE_OK && ip_peek(ip) == '(') {
		rc = ip_flags(ip, &c->flags, false);
		if (rc == MGW_PARSE_OK)
			rc = ip_sp(ip);
	}
	if (rc == MGW_PARSE_OK && ip_peek(ip) == '"') {
		c->append.has_date = true;
		rc = ip_date_time(ip, &c->append.date);
		if (rc == MGW_PARSE_OK)
			rc = ip_sp(ip);
	}
	if (rc != MGW_PARSE_OK)
		return rc;
	if (ip_peek(ip) != '{')
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Message literal expected");
	/* the message never enters the command: the session bounds it */
	rc = ip_literal_head(ip, UINT32_MAX, &c->append.size, &c->append.plus);
	if (rc == MGW_PARSE_OK && !ip_at_end(ip))
		return ip_fail(ip, MGW_PARSE_SYNTAX, "Message literal must end the line");
	return rc;
}

/* AUTHENTICATE auth-type [SP (base64 / "=")] (RFC 4959 SASL-IR). */
static int ip_authenticate(struct ip *ip)
{
	struct imap_cmd *c = ip->c;
	int rc = ip_run(ip, imap_atom_char, &c->a[0], "Mechanism expected");

	if (rc != MGW_PARSE_OK || ip_at_end(ip))
		return rc;
	rc = ip_sp(ip);
	if (rc == MGW_PARSE_OK)
		rc = ip_run(ip, imap_atom_char, &c->a[1], "Initial response expected");
	return rc;
}

/* ID SP ("(" [string SP nstring *(SP string SP nstring)] ")" / NIL), RFC 2971 section
 * 3.3. The values are read and dropped. */
static int ip_id(struct ip *ip)
{
	struct imap_str k, v;
	int rc = MGW_PARSE_OK;

	if (ip_word(ip, "NIL"))
		return MGW_PARSE_OK;
	rc = ip_char(ip, '(', "ID parameter list expected");
	if (rc != MGW_PARSE_OK || ip_peek(ip) == ')')
		goto out;
	for (unsigned n = 0;; n++) {
		if (n == IMAP_ID_PAIRS_MAX)
			return ip_fail(ip, MGW_PARSE_LIMIT, "Too many ID parameters");
		rc = ip_string(ip, &k);
		if (rc == MGW_PARSE_OK)
			rc = ip_sp(ip);
		if (rc == MGW_PARSE_OK)
			rc = ip_nstring(ip, &v);
		if (rc != MGW_PARSE_OK || ip_peek(ip) != ' ')
			break;
		ip->p++;
	}
out:
	return rc == MGW_PARSE_OK ? ip_char(ip, ')', "Unterminated ID parameter list") : rc;
}

/* ENABLE 1*(SP capability) */
static int ip_enable(struct ip *ip)
{
	struct imap_cmd *c = ip->c;

	for (;;) {
		int rc;

		if (c->nenable == IMAP_ENABLE_MAX)
			return ip_fail(ip, MGW_PARSE_LIMIT, "Too many capabilities");
		rc = ip_run(ip, imap_atom_char, &c->enable[c->nenable], "Capability expected");
		if (rc != MGW_PARSE_OK)
			return rc;
		c->nenable++;
		if (ip_at_end(ip))
			return MGW_PARSE_OK;
		rc = ip_sp(ip);
		if (rc != MGW_PARSE_OK)
			return rc;
	}
}

enum imap_shape {
	IMAP_SH_NONE,	 /* no argument */
	IMAP_SH_MAILBOX, /* one mailbox */
	IMAP_SH_TWO,	 /* two astrings (LOGIN, RENAME) */
	IMAP_SH_LIST,	 /* mailbox SP list-mailbox */
	IMAP_SH_SEQ_MBOX,
	IMAP_SH_SEQ, /* UID EXPUNGE */
	IMAP_SH_FETCH,
	IMAP_SH_STORE,
	IMAP_SH_SEARCH,
	IMAP_SH_STATUS,
	IMAP_SH_APPEND,
	IMAP_SH_AUTH,
	IMAP_SH_ID,
	IMAP_SH_ENABLE,
};

struct imap_kw {
	char name[13];
	uint8_t id;    /* enum imap_cmd_id */
	uint8_t shape; /* enum imap_shape */
	bool uid_ok;   /* may follow "UID " */
};

static const struct imap_kw imap_kws[] = {
    {"CAPABILITY", IMAP_CMD_CAPABILITY, IMAP_SH_NONE, false},
    {"NOOP", IMAP_CMD_NOOP, IMAP_SH_NONE, false},
    {"LOGOUT", IMAP_CMD_LOGOUT, IMAP_SH_NONE, false},
    {"STARTTLS", IMAP_CMD_STARTTLS, IMAP_SH_NONE, false},
    {"LOGIN", IMAP_CMD_LOGIN, IMAP_SH_TWO, false},
    {"AUTHENTICATE", IMAP_CMD_AUTHENTICATE, IMAP_SH_AUTH, false},
    {"SELECT", IMAP_CMD_SELECT, IMAP_SH_MAILBOX, false},
    {"EXAMINE", IMAP_CMD_EXAMINE, IMAP_SH_MAILBOX, false},
    {"CREATE", IMAP_CMD_CREATE, IMAP_SH_MAILBOX, false},
    {"DELETE", IMAP_CMD_DELETE, IMAP_SH_MAILBOX, false},
    {"RENAME", IMAP_CMD_RENAME, IMAP_SH_TWO, false},
    {"SUBSCRIBE", IMAP_CMD_SUBSCRIBE, IMAP_SH_MAILBOX, false},
    {"UNSUBSCRIBE", IMAP_CMD_UNSUBSCRIBE, IMAP_SH_MAILBOX, false},
    {"LIST", IMAP_CMD_LIST, IMAP_SH_LIST, false},
    {"LSUB", IMAP_CMD_LSUB, IMAP_SH_LIST, false},
    {"STATUS", IMAP_CMD_STATUS, IMAP_SH_STATUS, false},
    {"APPEND", IMAP_CMD_APPEND, IMAP_SH_APPEND, false},
    {"CHECK", IMAP_CMD_CHECK, IMAP_SH_NONE, false},
    {"CLOSE", IMAP_CMD_CLOSE, IMAP_SH_NONE, false},
    {"UNSELECT", IMAP_CMD_UNSELECT, IMAP_SH_NONE, false},
    {"EXPUNGE", IMAP_CMD_EXPUNGE, IMAP_SH_NONE, true},
    {"SEARCH", IMAP_CMD_SEARCH, IMAP_SH_SEARCH, true},
    {"FETCH", IMAP_CMD_FETCH, IMAP_SH_FETCH, true},
    {"STORE", IMAP_CMD_STORE, IMAP_SH_STORE, true},
    {"COPY", IMAP_CMD_COPY, IMAP_SH_SEQ_MBOX, true},
    {"MOVE", IMAP_CMD_MOVE, IMAP_SH_SEQ_MBOX, true},
    {"IDLE", IMAP_CMD_IDLE, IMAP_SH_NONE, false},
    {"ID", IMAP_CMD_ID, IMAP_SH_ID, false},
    {"NAMESPACE", IMAP_CMD_NAMESPACE, IMAP_SH_NONE, false},
    {"ENABLE", IMAP_CMD_ENABLE, IMAP_SH_ENABLE, false},
};

/* A command name: ATOM-CHARs up to SP or the end, matched ignoring case; *kw is NULL
 * for a name we do not know. */
static int ip_keyword(struct ip *ip, struct imap_str *name, const struct imap_kw **kw)
{
	int rc = ip_run(ip, imap_atom_char, name, "Command name expected");

	*kw = NULL;
	for (size_t i = 0; rc == MGW_PARSE_OK && i < MGW_ARRAY_LEN(imap_kws) && !*kw; i++)
		if (imap_str_eq_ci(name, imap_kws[i].name))
			*kw = &imap_kws[i];
	return rc;
}

static int ip_args(struct ip *ip, enum imap_shape shape)
{
	struct imap_cmd *c = ip->c;
	int rc;

	if (shape == IMAP_SH_NONE)
		return MGW_PARSE_OK;
	rc = ip_sp(ip);
	if (rc != MGW_PARSE_OK)
		return rc;
	switch (shape) {
	case IMAP_SH_NONE:
		break;
	case IMAP_SH_MAILBOX:
		return ip_astring(ip, &c->a[0]);
	case IMAP_SH_TWO:
	case IMAP_SH_LIST:
		rc = ip_astring(ip, &c->a[0]);
		if (rc == MGW_PARSE_OK)
			rc = ip_sp(ip);
		if (rc != MGW_PARSE_OK)
			return rc;
		return shape == IMAP_SH_TWO ? ip_astring(ip, &c->a[1])
					    : ip_list_mailbox(ip, &c->a[1]);
	case IMAP_SH_SEQ_MBOX:
		rc = ip_seqset(ip, &c->set);
		if (rc == MGW_PARSE_OK)
			rc = ip_sp(ip);
		return rc == MGW_PARSE_OK ? ip_astring(ip, &c->a[0]) : rc;
	case IMAP_SH_SEQ:
		return ip_seqset(ip, &c->set);
	case IMAP_SH_FETCH:
		return ip_fetch(ip);
	case IMAP_SH_STORE:
		return ip_store(ip);
	case IMAP_SH_SEARCH:
		return ip_search(ip);
	case IMAP_SH_STATUS:
		return ip_status(ip);
	case IMAP_SH_APPEND:
		return ip_append(ip);
	case IMAP_SH_AUTH:
		return ip_authenticate(ip);
	case IMAP_SH_ID:
		return ip_id(ip);
	case IMAP_SH_ENABLE:
		return ip_enable(ip);
	}
	return MGW_PARSE_OK;
}

static bool imap_tag_char(uint8_t c)
{
	return imap_astring_char(c) && c != '+';
}

int imap_cmd_parse(const uint8_t *buf, size_t len, struct imap_cmd *cmd)
{
	struct ip ip = {buf, buf + len, cmd};
	const struct imap_kw *kw;
	enum imap_shape shape;
	struct imap_str tag, name;
	int rc;

	memset(cmd, 0, offsetof(struct imap_cmd, fatts));
	cmd->nfields = cmd->nskeys = cmd->nenable = cmd->nranges = 0;
	if (len > IMAP_CMD_MAX)
		return ip_fail(&ip, MGW_PARSE_TOO_LONG, "Command too long");
	rc = ip_run(&ip, imap_tag_char, &tag, "Invalid tag");
	if (rc != MGW_PARSE_OK)
		return rc;
	if (tag.len > IMAP_TAG_MAX)
		return ip_fail(&ip, MGW_PARSE_TOO_LONG, "Tag too long");
	cmd->tag = tag.p;
	cmd->taglen = tag.len;
	rc = ip_sp(&ip);
	if (rc != MGW_PARSE_OK)
		return rc;
	rc = ip_keyword(&ip, &name, &kw);
	if (rc != MGW_PARSE_OK)
		return rc;
	if (kw == NULL && imap_str_eq_ci(&name, "UID")) {
		cmd->uid = true;
		rc = ip_sp(&ip);
		if (rc == MGW_PARSE_OK)
			rc = ip_keyword(&ip, &name, &kw);
		if (rc != MGW_PARSE_OK)
			return rc;
		if (kw == NULL || !kw->uid_ok)
			return ip_fail(&ip, MGW_PARSE_SYNTAX, "Unknown UID command");
	}
	if (kw == NULL)
		return MGW_PARSE_OK; /* a well-formed name we do not know: BAD from the session */
	cmd->id = (enum imap_cmd_id)kw->id;
	shape = (enum imap_shape)kw->shape;
	if (cmd->uid && cmd->id == IMAP_CMD_EXPUNGE)
		shape = IMAP_SH_SEQ; /* RFC 4315 section 2.1 */
	rc = ip_args(&ip, shape);
	if (rc == MGW_PARSE_OK && !ip_at_end(&ip))
		return ip_fail(&ip, MGW_PARSE_SYNTAX, "Unexpected extra arguments");
	if (rc != MGW_PARSE_OK)
		ip_fail(&ip, rc, "Invalid arguments");
	return rc;
}

bool imap_line_literal(const uint8_t *line, size_t len, uint32_t *n, bool *plus)
{
	size_t i;
	uint64_t v = 0, mul = 1;

	if (len < 3 || line[len - 1] != '}')
		return false;
	i = len - 1;
	*plus = line[i - 1] == '+';
	if (*plus)
		i--;
	if (i == 0 || !imap_digit(line[i - 1]))
		return false;
	while (i > 0 && imap_digit(line[i - 1])) {
		if (mul > 1000000000ull)
			return false;
		v += (uint64_t)(line[i - 1] - '0') * mul;
		mul *= 10;
		i--;
	}
	if (i == 0 || line[i - 1] != '{' || v > UINT32_MAX)
		return false;
	*n = (uint32_t)v;
	return true;
}

int imap_str_get(const struct imap_str *s, char *out, size_t outsz, size_t *outlen)
{
	size_t o = 0;

	if (outsz == 0)
		return MGW_PARSE_TOO_LONG;
	for (uint32_t i = 0; s->kind != IMAP_STR_NIL && s->kind != IMAP_STR_NONE && i < s->len;
	     i++) {
		uint8_t ch = s->p[i];

		if (s->kind == IMAP_STR_QUOTED && ch == '\\' && i + 1 < s->len)
			ch = s->p[++i];
		if (o + 1 >= outsz)
			return MGW_PARSE_TOO_LONG;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	*outlen = o;
	return MGW_PARSE_OK;
}

bool imap_str_eq_ci(const struct imap_str *s, const char *t)
{
	size_t n = strlen(t), o = 0;

	if (s->kind == IMAP_STR_NIL || s->kind == IMAP_STR_NONE)
		return n == 0;
	for (uint32_t i = 0; i < s->len; i++, o++) {
		uint8_t ch = s->p[i];

		if (s->kind == IMAP_STR_QUOTED && ch == '\\' && i + 1 < s->len)
			ch = s->p[++i];
		if (o == n || ip_upper(ch) != ip_upper((uint8_t)t[o]))
			return false;
	}
	return o == n;
}

const char *imap_cmd_name(enum imap_cmd_id id)
{
	for (size_t i = 0; i < MGW_ARRAY_LEN(imap_kws); i++)
		if (imap_kws[i].id == id)
			return imap_kws[i].name;
	return "?";
}
