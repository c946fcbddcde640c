/*
 * mime.c - the MIME structure of a message in one pass over its lines, and the header
 * text helpers (see mime.h). Recursion follows the nesting of the message and is bounded
 * by MIME_DEPTH_MAX; every loop advances over the input; nothing is allocated.
 */
#include "mime/mime.h"

#include <string.h>
#include <strings.h>

#include "proto/base64.h"

/* Where the scan stopped: at a boundary line of the multipart at level (its index in
 * the stack of open boundaries), or at the end (level -1). */
struct mime_stop {
	int level;
	bool close;   /* "--boundary--" */
	uint32_t pos; /* raw start of the boundary line */
	uint64_t vpos;
};

struct mime_ctx {
	struct mime_msg *m;
	const uint8_t *b;
	uint32_t n, pos;
	uint64_t vpos;
	unsigned nb;
	struct {
		const uint8_t *p;
		uint32_t len;
	} bnd[MIME_DEPTH_MAX];
	uint8_t bndbuf[MIME_DEPTH_MAX][MIME_BOUNDARY_MAX];
};

static bool mime_is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The end of the line at pos: after its LF, or the end of the input. */
static uint32_t mime_line_end(const uint8_t *b, uint32_t pos, uint32_t n)
{
	const uint8_t *lf = memchr(b + pos, '\n', n - pos);

	return lf ? (uint32_t)(lf - b) + 1 : n;
}

static bool mime_line_blank(const uint8_t *b, uint32_t pos, uint32_t e)
{
	return (e - pos == 1 && b[pos] == '\n') ||
	       (e - pos == 2 && b[pos] == '\r' && b[pos + 1] == '\n');
}

/* Consumes the line [pos, e): in the CRLF form a bare LF is one octet longer, and the
 * last line of a message that does not end in LF gets a CR LF (store/crlf.h). */
static void mime_consume(struct mime_ctx *x, uint32_t e)
{
	x->vpos += e - x->pos;
	if (e > x->pos && x->b[e - 1] == '\n' && (e - x->pos < 2 || x->b[e - 2] != '\r'))
		x->vpos++;
	else if (e == x->n && e > x->pos && x->b[e - 1] != '\n')
		x->vpos += 2;
	x->pos = e;
}

/* RFC 2046 5.1.1 boundary line, matched like dovecot: "--" and the boundary as a
 * prefix, innermost multipart first. */
static int mime_bnd_match(const struct mime_ctx *x, uint32_t pos, uint32_t e, bool *close)
{
	uint32_t len = e - pos;

	if (len < 3 || x->b[pos] != '-' || x->b[pos + 1] != '-')
		return -1;
	for (int k = (int)x->nb - 1; k >= 0; k--) {
		uint32_t bl = x->bnd[k].len;

		if (len >= 2 + bl && memcmp(x->b + pos + 2, x->bnd[k].p, bl) == 0) {
			*close =
			    len >= 4 + bl && x->b[pos + 2 + bl] == '-' && x->b[pos + 3 + bl] == '-';
			return k;
		}
	}
	return -1;
}

/* Consumes lines up to a boundary line (left unconsumed) or the end. */
static struct mime_stop mime_scan(struct mime_ctx *x)
{
	struct mime_stop st = {.level = -1};

	while (x->pos < x->n) {
		uint32_t e = mime_line_end(x->b, x->pos, x->n);

		if (x->nb && (st.level = mime_bnd_match(x, x->pos, e, &st.close)) >= 0) {
			st.pos = x->pos;
			st.vpos = x->vpos;
			return st;
		}
		mime_consume(x, e);
	}
	st.level = -1;
	return st;
}

/* The body of part ends at st: before the line break of the boundary line, or at the
 * end; never before its body starts, nor before its last child ends (a part right before
 * a boundary whose header's blank line is that line break). */
static void mime_part_end(struct mime_ctx *x, struct mime_part *p, const struct mime_stop *st,
			  uint16_t last)
{
	if (st->level < 0) {
		p->end_off = x->n;
		p->vend_off = x->vpos;
		return;
	}
	p->end_off = st->pos;
	p->vend_off = st->vpos;
	if (p->end_off > 0 && x->b[p->end_off - 1] == '\n') {
		p->end_off--;
		p->vend_off -= 2;
		if (p->end_off > 0 && x->b[p->end_off - 1] == '\r')
			p->end_off--;
	}
	if (p->end_off < p->body_off || p->vend_off < p->vbody_off) {
		p->end_off = p->body_off;
		p->vend_off = p->vbody_off;
	}
	if (last && p->end_off < x->m->parts[last].end_off) {
		p->end_off = x->m->parts[last].end_off;
		p->vend_off = x->m->parts[last].vend_off;
	}
}

bool mime_hdr_next(const uint8_t *b, uint32_t *pos, uint32_t end, struct mime_span *name,
		   struct mime_span *value)
{
	while (*pos < end) {
		uint32_t p = *pos, e = mime_line_end(b, p, end), fe = e, c, ne, vs, ve;
		const uint8_t *colon;

		if (mime_line_blank(b, p, e))
			return false;
		/* RFC 5322 2.2.3: a field goes on over lines that begin with a blank */
		while (fe < end && (b[fe] == ' ' || b[fe] == '\t'))
			fe = mime_line_end(b, fe, end);
		*pos = fe;
		colon = memchr(b + p, ':', e - p);
		if (colon == NULL)
			continue;
		c = (uint32_t)(colon - b);
		ne = c;
		while (ne > p && (b[ne - 1] == ' ' || b[ne - 1] == '\t'))
			ne--;
		if (ne == p)
			continue;
		vs = c + 1;
		while (vs < fe && (b[vs] == ' ' || b[vs] == '\t'))
			vs++;
		ve = fe;
		while (ve > vs && (b[ve - 1] == '\n' || b[ve - 1] == '\r'))
			ve--;
		name->off = p;
		name->len = ne - p;
		value->off = vs;
		value->len = ve - vs;
		return true;
	}
	return false;
}

static bool mime_name_is(const uint8_t *b, struct mime_span s, const char *name)
{
	return strlen(name) == s.len && strncasecmp((const char *)b + s.off, name, s.len) == 0;
}

bool mime_hdr_find(const struct mime_msg *m, const struct mime_part *part, const char *name,
		   struct mime_span *value)
{
	uint32_t pos = part->hdr_off;
	struct mime_span n;

	while (mime_hdr_next(m->buf, &pos, part->body_off, &n, value))
		if (mime_name_is(m->buf, n, name))
			return true;
	return false;
}

bool mime_span_eq(const struct mime_msg *m, struct mime_span s, const char *lit)
{
	return mime_name_is(m->buf, s, lit);
}

/* ---- values and parameters (RFC 2045 5.1, RFC 2231) ------------------------------- */

const uint8_t *mime_comment_end(const uint8_t *p, const uint8_t *end)
{
	unsigned depth = 0;

	for (; p < end; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return p + 1;
	}
	return end;
}

/* Skips blanks, line breaks and (nested) comments. */
static const uint8_t *mime_skip_cfws(const uint8_t *p, const uint8_t *end)
{
	while (p < end && (mime_is_ws(*p) || *p == '('))
		p = *p == '(' ? mime_comment_end(p, end) : p + 1;
	return p;
}

/* RFC 2045 5.1 tspecials, blanks and controls end a token. */
static bool mime_tok_char(uint8_t c)
{
	return c > ' ' && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

struct mime_span mime_value_first(const struct mime_msg *m, struct mime_span value,
				  struct mime_params *ps)
{
	const uint8_t *p = m->buf + value.off, *end = p + value.len, *s;
	struct mime_span r;

	p = mime_skip_cfws(p, end);
	s = p;
	while (p < end && *p != ';' && !mime_is_ws(*p) && *p != '(')
		p++;
	r.off = (uint32_t)(s - m->buf);
	r.len = (uint32_t)(p - s);
	ps->start = ps->p = p;
	ps->budget = MIME_PARAMS_MAX;
	ps->end = end;
	return r;
}

/* One raw parameter at p: name and value (still quoted: vq), p after it. */
struct mime_rawparam {
	const uint8_t *name, *val, *next;
	size_t nlen, vlen;
	bool quoted;
};

static bool mime_param_raw(const uint8_t *p, const uint8_t *end, struct mime_rawparam *r,
			   unsigned *budget)
{
	while (p < end) {
		const uint8_t *semi = memchr(p, ';', (size_t)(end - p));

		if (semi == NULL || *budget == 0)
			return false;
		--*budget;
		p = mime_skip_cfws(semi + 1, end);
		r->name = p;
		while (p < end && mime_tok_char(*p))
			p++;
		r->nlen = (size_t)(p - r->name);
		p = mime_skip_cfws(p, end);
		if (r->nlen == 0 || p == end || *p != '=')
			continue;
		p = mime_skip_cfws(p + 1, end);
		r->quoted = p < end && *p == '"';
		if (r->quoted) {
			r->val = ++p;
			while (p < end && *p != '"')
				p += *p == '\\' && p + 1 < end ? 2 : 1;
			r->vlen = (size_t)(p - r->val);
			if (p < end)
				p++;
		} else {
			r->val = p;
			while (p < end && *p != ';' && !mime_is_ws(*p) && *p != '(')
				p++;
			r->vlen = (size_t)(p - r->val);
		}
		r->next = p;
		return true;
	}
	return false;
}

/* The value of a raw parameter, unquoted, CR and LF dropped (a folded quoted value). */
static void mime_param_val(const struct mime_rawparam *r, struct mime_out *o)
{
	for (size_t i = 0; i < r->vlen; i++) {
		uint8_t c = r->val[i];

		if (r->quoted && c == '\\' && i + 1 < r->vlen)
			c = r->val[++i];
		else if (c == '\r' || c == '\n')
			continue;
		mime_out_c(o, (char)c);
	}
}

/* RFC 2231 3: "name*N" or "name*N*" is section N; *base gets the length of the name. */
static int mime_param_section(const struct mime_rawparam *r, size_t *base, bool *ext)
{
	size_t n = r->nlen;
	const uint8_t *star;
	int sec = 0;

	*ext = n > 0 && r->name[n - 1] == '*';
	if (*ext)
		n--;
	*base = n;
	star = n ? memchr(r->name, '*', n) : NULL;
	if (star == NULL)
		return -1;
	*base = (size_t)(star - r->name);
	if (star + 1 == r->name + n)
		return -1; /* "name*=" is extended, not continued */
	for (const uint8_t *q = star + 1; q < r->name + n; q++) {
		if (*q < '0' || *q > '9' || sec > 9999)
			return -2; /* malformed */
		sec = sec * 10 + (*q - '0');
	}
	return sec;
}

static void mime_lower_name(const uint8_t *p, size_t n, bool star, char *name, size_t namesz)
{
	size_t k = 0;

	for (; k < n && k + 2 < namesz; k++)
		name[k] = (char)(p[k] >= 'A' && p[k] <= 'Z' ? p[k] | 0x20 : p[k]);
	if (star)
		name[k++] = '*';
	name[k] = '\0';
}

bool mime_params_next(struct mime_params *ps, char *name, size_t namesz, struct mime_out *o)
{
	struct mime_rawparam r;

	o->len = 0;
	o->over = false;
	while (mime_param_raw(ps->p, ps->end, &r, &ps->budget)) {
		size_t base;
		bool ext, any_ext;
		int sec = mime_param_section(&r, &base, &ext);

		ps->p = r.next;
		if (sec == -2 || sec > 0)
			continue; /* later sections are joined to section 0 */
		ps->is_2231 = ext || sec == 0;
		if (sec < 0) {
			mime_lower_name(r.name, r.nlen - ext, ext, name, namesz);
			mime_param_val(&r, o);
			return true;
		}
		/* section 0: join the sections 0, 1, 2 ... wherever they stand */
		any_ext = ext;
		mime_param_val(&r, o);
		for (int want = 1; want < 100; want++) {
			struct mime_rawparam c;
			const uint8_t *q = ps->start;
			unsigned budget = MIME_PARAMS_MAX;
			bool found = false;

			while (!found && mime_param_raw(q, ps->end, &c, &budget)) {
				size_t cb;
				bool cext;

				q = c.next;
				if (mime_param_section(&c, &cb, &cext) == want && cb == base &&
				    strncasecmp((const char *)c.name, (const char *)r.name, base) ==
					0) {
					any_ext |= cext;
					mime_param_val(&c, o);
					found = true;
				}
			}
			if (!found)
				break;
		}
		mime_lower_name(r.name, base, any_ext, name, namesz);
		return true;
	}
	return false;
}

static int mime_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

void mime_param_decode(const uint8_t *p, size_t n, struct mime_out *o)
{
	const uint8_t *q1 = memchr(p, '\'', n), *q2;
	enum mime_cs cs = MIME_CS_UTF8;
	size_t i;

	if (q1 == NULL || (q2 = memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - p))) == NULL) {
		mime_out_put(o, p, n);
		return;
	}
	cs = mime_cs_of(p, (size_t)(q1 - p));
	for (i = (size_t)(q2 + 1 - p); i < n; i++) {
		uint8_t c = p[i], u[3];
		size_t un;

		if (c == '%' && i + 2 < n && mime_hex(p[i + 1]) >= 0 && mime_hex(p[i + 2]) >= 0) {
			c = (uint8_t)(mime_hex(p[i + 1]) << 4 | mime_hex(p[i + 2]));
			i += 2;
		}
		un = mime_cs_utf8(cs, &c, 1, u);
		mime_out_put(o, u, un);
	}
}

bool mime_param_get(const struct mime_msg *m, struct mime_span value, const char *name,
		    struct mime_out *o)
{
	struct mime_params ps;
	char pn[64], vbuf[MIME_PARAM_MAX];
	struct mime_out v = {.p = vbuf, .cap = sizeof(vbuf)};
	size_t nl = strlen(name);

	mime_value_first(m, value, &ps);
	while (mime_params_next(&ps, pn, sizeof(pn), &v)) {
		if (v.over || strncmp(pn, name, nl) != 0)
			continue;
		if (pn[nl] == '\0') {
			mime_out_put(o, vbuf, v.len);
			return true;
		}
		if (pn[nl] == '*' && pn[nl + 1] == '\0') {
			mime_param_decode((const uint8_t *)vbuf, v.len, o);
			return true;
		}
	}
	return false;
}

/* ---- the parser ---------------------------------------------------------------- */

static struct mime_stop mime_entity(struct mime_ctx *x, uint16_t idx, bool digest);

static uint16_t mime_new_child(struct mime_ctx *x, uint16_t parent, uint16_t *last)
{
	struct mime_msg *m = x->m;
	uint16_t c = m->nparts++;
	struct mime_part *p = &m->parts[c];

	memset(p, 0, sizeof(*p));
	p->parent = parent;
	p->depth = (uint8_t)(m->parts[parent].depth + 1);
	if (*last)
		m->parts[*last].next = c;
	else
		m->parts[parent].first_child = c;
	m->parts[parent].nchildren++;
	*last = c;
	return c;
}

/* Type, subtype and kind of a part from its Content-Type (RFC 2045 5.2 defaults; RFC
 * 2046 5.1.5: message/rfc822 inside multipart/digest), and a multipart's boundary onto
 * the stack. */
static void mime_type(struct mime_ctx *x, struct mime_part *p, bool digest, bool *push)
{
	struct mime_msg *m = x->m;
	struct mime_span v, t;
	struct mime_params ps;
	const uint8_t *slash;

	*push = false;
	p->ctype_given = false;
	if (mime_hdr_find(m, p, "Content-Type", &v)) {
		p->ctype = v;
		t = mime_value_first(m, v, &ps);
		slash = t.len ? memchr(m->buf + t.off, '/', t.len) : NULL;
		if (slash && slash > m->buf + t.off && slash < m->buf + t.off + t.len - 1) {
			p->type.off = t.off;
			p->type.len = (uint32_t)(slash - (m->buf + t.off));
			p->subtype.off = p->type.off + p->type.len + 1;
			p->subtype.len = t.len - p->type.len - 1;
			p->ctype_given = true;
		}
	}
	p->kind = MIME_LEAF;
	if (!p->ctype_given) {
		p->kind = digest ? MIME_MESSAGE : MIME_LEAF;
	} else if (mime_span_eq(m, p->type, "multipart")) {
		struct mime_out o = {.p = (char *)x->bndbuf[x->nb < MIME_DEPTH_MAX ? x->nb : 0],
				     .cap = MIME_BOUNDARY_MAX};

		/* without a usable boundary it stays a multipart without parts (dovecot) */
		p->kind = MIME_MULTIPART;
		if (x->nb < MIME_DEPTH_MAX && mime_param_get(m, p->ctype, "boundary", &o) &&
		    o.len > 0 && !o.over) {
			x->bnd[x->nb].p = x->bndbuf[x->nb];
			x->bnd[x->nb].len = (uint32_t)o.len;
			*push = true;
		}
	} else if (mime_span_eq(m, p->type, "message") && mime_span_eq(m, p->subtype, "rfc822")) {
		p->kind = mime_cte_of(m, p) == MIME_CTE_IDENTITY ? MIME_MESSAGE : MIME_LEAF;
	}
	if (p->kind != MIME_LEAF &&
	    (p->depth + 1 >= MIME_DEPTH_MAX || m->nparts >= MIME_PARTS_MAX)) {
		m->truncated = true;
		p->kind = MIME_LEAF;
		*push = false;
	}
}

/* One entity at x->pos: its header, then its body by its type. Returns where it ended. */
static struct mime_stop mime_entity(struct mime_ctx *x, uint16_t idx, bool digest)
{
	struct mime_part *p = &x->m->parts[idx];
	struct mime_stop st = {.level = -1};
	bool push, in_digest;
	uint16_t last = 0;

	p->hdr_off = x->pos;
	p->vhdr_off = x->vpos;
	while (x->pos < x->n) {
		uint32_t e = mime_line_end(x->b, x->pos, x->n);

		if (mime_line_blank(x->b, x->pos, e)) {
			mime_consume(x, e);
			break;
		}
		/* dovecot: a boundary ends a header that has no blank line */
		if (x->nb && (st.level = mime_bnd_match(x, x->pos, e, &st.close)) >= 0) {
			st.pos = x->pos;
			st.vpos = x->vpos;
			break;
		}
		mime_consume(x, e);
	}
	p->body_off = x->pos;
	p->vbody_off = x->vpos;
	mime_type(x, p, digest, &push);
	if (st.level >= 0) {
		if (p->kind == MIME_MESSAGE)
			p->kind = MIME_LEAF;
		mime_part_end(x, p, &st, last);
		return st;
	}
	if (p->kind == MIME_MESSAGE) {
		uint16_t c = mime_new_child(x, idx, &last);

		st = mime_entity(x, c, false);
		p = &x->m->parts[idx];
		mime_part_end(x, p, &st, last);
		return st;
	}
	if (p->kind == MIME_LEAF || !push) {
		st = mime_scan(x);
		mime_part_end(x, p, &st, last);
		return st;
	}
	/* multipart: preamble, parts, epilogue (RFC 2046 5.1.1) */
	in_digest = mime_span_eq(x->m, p->subtype, "digest");
	x->nb++;
	st = mime_scan(x);
	while (st.level == (int)x->nb - 1 && !st.close) {
		mime_consume(x, mime_line_end(x->b, x->pos, x->n));
		if (x->m->nparts >= MIME_PARTS_MAX) {
			x->m->truncated = true;
			st = mime_scan(x);
			continue;
		}
		st = mime_entity(x, mime_new_child(x, idx, &last), in_digest);
	}
	x->nb--;
	if (st.level == (int)x->nb && st.close) {
		/* the close delimiter; what follows up to an outer boundary is the epilogue */
		mime_consume(x, mime_line_end(x->b, x->pos, x->n));
		st = mime_scan(x);
	}
	p = &x->m->parts[idx];
	mime_part_end(x, p, &st, last);
	return st;
}

static uint32_t mime_count_lf(const uint8_t *b, uint32_t from, uint32_t to)
{
	uint32_t n = 0;
	const uint8_t *p = b + from, *end = b + to, *lf;

	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p = lf + 1;
	}
	return n;
}

void mime_parse(struct mime_msg *m, const uint8_t *buf, size_t len)
{
	struct mime_ctx x;
	struct mime_stop st;

	memset(&x, 0, sizeof(x));
	m->buf = buf;
	m->len = len > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)len;
	m->nparts = 1;
	m->truncated = false;
	memset(&m->parts[0], 0, sizeof(m->parts[0]));
	x.m = m;
	x.b = buf;
	x.n = m->len;
	st = mime_entity(&x, 0, false);
	(void)st; /* with no boundary open, the scan always stops at the end */
	for (uint16_t i = 0; i < m->nparts; i++) {
		struct mime_part *p = &m->parts[i];

		p->lines = mime_count_lf(buf, p->body_off, p->end_off);
		if (p->end_off == m->len && m->len > 0 && buf[m->len - 1] != '\n' &&
		    p->vend_off > p->vbody_off)
			p->lines++; /* the final CR LF of the CRLF form */
	}
}

/* ---- output, unfolding ------------------------------------------------------------- */

void mime_out_put(struct mime_out *o, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (n > o->cap - o->len || o->len > o->cap) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

void mime_out_c(struct mime_out *o, char c)
{
	mime_out_put(o, &c, 1);
}

void mime_unfold(const uint8_t *buf, struct mime_span s, struct mime_out *o)
{
	const uint8_t *p = buf + s.off;

	for (uint32_t i = 0; i < s.len; i++)
		if (p[i] != '\r' && p[i] != '\n')
			mime_out_c(o, (char)p[i]);
}

/* ---- charsets ------------------------------------------------------------------- */

static size_t mime_utf8_put(uint32_t cp, uint8_t *out)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xc0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	out[0] = (uint8_t)(0xe0 | cp >> 12);
	out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	out[2] = (uint8_t)(0x80 | (cp & 0x3f));
	return 3;
}

enum mime_cs mime_cs_of(const uint8_t *name, size_t n)
{
	static const struct {
		const char *name;
		enum mime_cs cs;
	} tab[] = {
	    {"utf-8", MIME_CS_UTF8},	      {"utf8", MIME_CS_UTF8},
	    {"us-ascii", MIME_CS_UTF8},	      {"ascii", MIME_CS_UTF8},
	    {"iso-8859-1", MIME_CS_LATIN1},   {"iso8859-1", MIME_CS_LATIN1},
	    {"iso_8859-1", MIME_CS_LATIN1},   {"latin1", MIME_CS_LATIN1},
	    {"iso-8859-15", MIME_CS_LATIN9},  {"iso8859-15", MIME_CS_LATIN9},
	    {"iso_8859-15", MIME_CS_LATIN9},  {"latin9", MIME_CS_LATIN9},
	    {"windows-1252", MIME_CS_CP1252}, {"cp1252", MIME_CS_CP1252},
	};
	const uint8_t *star = memchr(name, '*', n);

	if (star)
		n = (size_t)(star - name); /* RFC 2231 5: charset*language */
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strlen(tab[i].name) == n &&
		    strncasecmp(tab[i].name, (const char *)name, n) == 0)
			return tab[i].cs;
	return MIME_CS_UNKNOWN;
}

size_t mime_cs_utf8(enum mime_cs cs, const uint8_t *in, size_t n, uint8_t *out)
{
	/* Windows-1252 0x80..0x9f; 0xfffd where it defines nothing */
	static const uint16_t cp1252[32] = {
	    0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
	    0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd, 0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
	    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178};
	size_t o = 0;

	if (cs == MIME_CS_UTF8 || cs == MIME_CS_UNKNOWN) {
		memcpy(out, in, n);
		return n;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t cp = in[i];

		if (cs == MIME_CS_CP1252 && cp >= 0x80 && cp < 0xa0)
			cp = cp1252[cp - 0x80];
		else if (cs == MIME_CS_LATIN9)
			switch (cp) {
			case 0xa4:
				cp = 0x20ac;
				break;
			case 0xa6:
				cp = 0x0160;
				break;
			case 0xa8:
				cp = 0x0161;
				break;
			case 0xb4:
				cp = 0x017d;
				break;
			case 0xb8:
				cp = 0x017e;
				break;
			case 0xbc:
				cp = 0x0152;
				break;
			case 0xbd:
				cp = 0x0153;
				break;
			case 0xbe:
				cp = 0x0178;
				break;
			default:
				break;
			}
		o += mime_utf8_put(cp, out + o);
	}
	return o;
}

/* ---- RFC 2047 encoded-words ------------------------------------------------------ */

/* An encoded-word at p (RFC 2047 2): its length when it is one we decode, and the
 * decoded UTF-8 in o; 0 (o untouched) otherwise. */
static size_t mime_ew_one(const uint8_t *p, const uint8_t *end, struct mime_out *o)
{
	const uint8_t *cs, *q1, *q2, *txt, *te;
	uint8_t raw[256], u[3 * sizeof(raw)];
	size_t rn = 0;
	enum mime_cs c;
	uint8_t enc;

	if (end - p < 8 || p[0] != '=' || p[1] != '?')
		return 0;
	cs = p + 2;
	q1 = memchr(cs, '?', (size_t)(end - cs));
	if (q1 == NULL || q1 == cs || end - q1 < 5 || q1[2] != '?')
		return 0;
	enc = q1[1] | 0x20;
	q2 = q1 + 2;
	txt = q2 + 1;
	for (te = txt; te + 1 < end && !(te[0] == '?' && te[1] == '='); te++)
		if (*te == ' ' || *te == '\t' || *te == '\r' || *te == '\n')
			return 0;
	if (te + 1 >= end || (size_t)(te - txt) > 2 * sizeof(raw))
		return 0;
	c = mime_cs_of(cs, (size_t)(q1 - cs));
	if (c == MIME_CS_UNKNOWN || (enc != 'b' && enc != 'q'))
		return 0;
	if (enc == 'b') {
		uint32_t acc = 0;
		unsigned nb = 0;

		for (const uint8_t *t = txt; t < te && rn < sizeof(raw); t++) {
			int v = base64_value(*t);

			if (v < 0)
				continue; /* '=' padding and stray bytes */
			acc = acc << 6 | (uint32_t)v;
			nb += 6;
			if (nb >= 8) {
				nb -= 8;
				raw[rn++] = (uint8_t)(acc >> nb);
			}
		}
	} else {
		for (const uint8_t *t = txt; t < te && rn < sizeof(raw); t++) {
			if (*t == '_')
				raw[rn++] = ' ';
			else if (*t == '=' && te - t > 2 && mime_hex(t[1]) >= 0 &&
				 mime_hex(t[2]) >= 0) {
				raw[rn++] = (uint8_t)(mime_hex(t[1]) << 4 | mime_hex(t[2]));
				t += 2;
			} else
				raw[rn++] = *t;
		}
	}
	mime_out_put(o, u, mime_cs_utf8(c, raw, rn, u));
	return (size_t)(te + 2 - p);
}

void mime_ew_decode(const uint8_t *p, size_t n, struct mime_out *o)
{
	const uint8_t *end = p + n;
	bool after_ew = false;

	while (p < end) {
		size_t k = mime_ew_one(p, end, o);

		if (k) {
			p += k;
			after_ew = true;
			continue;
		}
		if (after_ew && (*p == ' ' || *p == '\t')) {
			/* RFC 2047 6.2: blanks between two encoded-words are not displayed */
			const uint8_t *q = p;
			struct mime_out probe = {.p = NULL, .cap = 0};

			while (q < end && (*q == ' ' || *q == '\t'))
				q++;
			if (q < end && mime_ew_one(q, end, &probe)) {
				p = q;
				continue;
			}
		}
		after_ew = false;
		mime_out_c(o, (char)*p++);
	}
}

/* ---- transfer decodings --------------------------------------------------------- */

enum mime_cte mime_cte_of(const struct mime_msg *m, const struct mime_part *part)
{
	struct mime_span v, t;
	struct mime_params ps;

	if (!mime_hdr_find(m, part, "Content-Transfer-Encoding", &v))
		return MIME_CTE_IDENTITY;
	t = mime_value_first(m, v, &ps);
	if (mime_span_eq(m, t, "base64"))
		return MIME_CTE_BASE64;
	if (mime_span_eq(m, t, "quoted-printable"))
		return MIME_CTE_QP;
	return MIME_CTE_IDENTITY;
}

size_t mime_dec_run(struct mime_dec *d, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0;

	if (d->kind == MIME_CTE_IDENTITY) {
		memcpy(out, in, n);
		return n;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];
		int v;

		if (d->kind == MIME_CTE_BASE64) {
			if (c == '=' && d->nq >= 2) {
				/* padding: the bytes of a partial quantum */
				out[o++] = (uint8_t)(d->q >> (d->nq == 2 ? 4 : 10));
				if (d->nq == 3)
					out[o++] = (uint8_t)(d->q >> 2);
				d->nq = 0;
				d->q = 0;
			}
			if ((v = base64_value(c)) < 0)
				continue;
			d->q = d->q << 6 | (uint32_t)v;
			if (++d->nq == 4) {
				out[o++] = (uint8_t)(d->q >> 16);
				out[o++] = (uint8_t)(d->q >> 8);
				out[o++] = (uint8_t)d->q;
				d->nq = 0;
				d->q = 0;
			}
			continue;
		}
		/* quoted-printable, RFC 2045 6.7: =XX, soft line breaks "=" CRLF */
		switch (d->st) {
		case 1:
			if ((v = mime_hex(c)) >= 0) {
				d->q = (uint32_t)v;
				d->st = 2;
				continue;
			}
			d->st = 0;
			if (c == '\r') {
				d->st = 3;
				continue;
			}
			if (c == '\n')
				continue;
			out[o++] = '=';
			break;
		case 2:
			d->st = 0;
			if ((v = mime_hex(c)) >= 0) {
				out[o++] = (uint8_t)(d->q << 4 | (uint32_t)v);
				continue;
			}
			out[o++] = '=';
			out[o++] = (uint8_t)(d->q < 10 ? '0' + d->q : 'A' + d->q - 10);
			break;
		case 3:
			d->st = 0;
			if (c == '\n')
				continue;
			break;
		default:
			break;
		}
		if (c == '=')
			d->st = 1;
		else
			out[o++] = c;
	}
	return o;
}

/* ---- case folding ----------------------------------------------------------------- */

static uint32_t mime_fold_cp(uint32_t cp)
{
	if ((cp >= 0xc0 && cp <= 0xde && cp != 0xd7) ||
	    (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2) || (cp >= 0x410 && cp <= 0x42f))
		return cp + 0x20;
	if (cp >= 0x400 && cp <= 0x40f)
		return cp + 0x50;
	if (((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177)) && !(cp & 1))
		return cp + 1;
	if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e)) && (cp & 1))
		return cp + 1;
	switch (cp) {
	case 0x178:
		return 0xff;
	case 0x386:
		return 0x3ac;
	case 0x388:
	case 0x389:
	case 0x38a:
		return cp + 0x25;
	case 0x38c:
		return 0x3cc;
	case 0x38e:
	case 0x38f:
		return cp + 0x3f;
	case 0x3c2:
		return 0x3c3; /* final sigma */
	default:
		return cp;
	}
}

void mime_utf8_fold(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 'A' && p[i] <= 'Z') {
			p[i] |= 0x20;
		} else if ((p[i] & 0xe0) == 0xc0 && i + 1 < n && (p[i + 1] & 0xc0) == 0x80) {
			uint32_t cp = (uint32_t)(p[i] & 0x1f) << 6 | (p[i + 1] & 0x3f);
			uint32_t f = mime_fold_cp(cp);

			if (f != cp && f >= 0x80 && f < 0x800)
				mime_utf8_put(f, p + i);
			i++;
		}
	}
}
