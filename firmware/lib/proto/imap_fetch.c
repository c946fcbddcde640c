/*
 * imap_fetch.c - ENVELOPE, BODYSTRUCTURE, BODY, BODY[part.section] and decoded SEARCH on
 * a mapped message (see imap_fetch.h). Renderers write into a bounded struct mime_out
 * and are run again with a larger buffer when it was too small; recursion follows the
 * parts, bounded by MIME_DEPTH_MAX.
 */
#include "proto/imap_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "store/maildir.h"

#define IMAP_SEARCH_WIN (16 * 1024) /* decoded body text searched at a time */

/* The scratch for one header's values: as long as the header, at most
 * IMAP_FETCH_VALUE_MAX (a longer field is cut there). */
static size_t fx_value_cap(uint32_t hdrlen)
{
	return hdrlen < IMAP_FETCH_VALUE_MAX ? hdrlen : IMAP_FETCH_VALUE_MAX;
}

int imap_mime_load(struct imap_mime *im, int fd)
{
	struct stat st;

	imap_mime_unload(im);
	if (fstat(fd, &st) < 0)
		return -MGW_EIO;
	if ((uint64_t)st.st_size >= UINT32_MAX)
		return -MGW_ELIMIT;
	if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED)
			return -MGW_EIO;
		im->map = p;
		im->maplen = (size_t)st.st_size;
	}
	imap_mime_use(im, im->map, im->maplen);
	return 0;
}

void imap_mime_use(struct imap_mime *im, const uint8_t *buf, size_t len)
{
	im->buf = buf ? buf : (const uint8_t *)"";
	im->len = len;
	im->parsed = false;
}

/* The structure, parsed on first use: a header SEARCH never needs it (nor the pages of
 * the body it would read). */
static const struct mime_msg *fx_msg(struct imap_mime *im)
{
	if (!im->parsed)
		mime_parse(&im->msg, im->buf, im->len);
	im->parsed = true;
	return &im->msg;
}

void imap_mime_unload(struct imap_mime *im)
{
	if (im->map)
		munmap(im->map, im->maplen);
	im->map = NULL;
	im->maplen = 0;
	im->loaded = false;
	imap_mime_use(im, NULL, 0);
}

int imap_mime_get(struct imap_mime **imp, struct maildir_box *box, size_t i)
{
	struct imap_mime *im = *imp;
	int fd = -1, rc;

	if (im == NULL) {
		im = *imp = calloc(1, sizeof(*im));
		if (im == NULL)
			return -MGW_ENOMEM;
	}
	if (im->loaded && im->idx == i)
		return 0;
	imap_mime_unload(im);
	rc = maildir_msg_open(box, i, &fd);
	if (rc < 0)
		return rc;
	rc = imap_mime_load(im, fd);
	close(fd);
	im->loaded = rc == 0;
	im->idx = i;
	return rc;
}

void imap_mime_free(struct imap_mime **imp)
{
	if (*imp)
		imap_mime_unload(*imp);
	free(*imp);
	*imp = NULL;
}

/* ---- IMAP strings ------------------------------------------------------------------ */

static void fx_puts(struct mime_out *o, const char *s)
{
	mime_out_put(o, s, strlen(s));
}

/* A string (RFC 3501 4.3): quoted when it can be, else a literal (8-bit, NUL). CR and
 * LF are left out (a folded quoted local part; the session would turn a lone LF into CR
 * LF and break a literal's count) and tabs become spaces, as dovecot sends them. */
static void fx_str(struct mime_out *o, const uint8_t *p, size_t n)
{
	bool lit = false;
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		lit |= p[i] >= 0x80 || p[i] == 0;
		len += p[i] != '\r' && p[i] != '\n';
	}
	if (lit) {
		char h[32];

		snprintf(h, sizeof(h), "{%zu}\r\n", len);
		fx_puts(o, h);
	} else {
		mime_out_c(o, '"');
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n')
			continue;
		if (!lit && (p[i] == '"' || p[i] == '\\'))
			mime_out_c(o, '\\');
		mime_out_c(o, p[i] == '\t' ? ' ' : (char)p[i]);
	}
	if (!lit)
		mime_out_c(o, '"');
}

/* The unfolded value of a header field as a string, or NIL. */
static void fx_field(struct mime_out *o, const struct mime_msg *m, const struct mime_part *part,
		     const char *name, struct mime_out *tmp)
{
	struct mime_span v;

	if (!mime_hdr_find(m, part, name, &v)) {
		fx_puts(o, "NIL");
		return;
	}
	tmp->len = 0;
	mime_unfold(m->buf, v, tmp);
	fx_str(o, (const uint8_t *)tmp->p, tmp->len);
}

/* Closes a list opened at start: ")" after its items, or NIL instead of an empty one. */
static void fx_list_end(struct mime_out *o, size_t start, bool any)
{
	if (any) {
		mime_out_c(o, ')');
		return;
	}
	o->len = start;
	fx_puts(o, "NIL");
}

/* ---- addresses (RFC 5322 3.4, ENVELOPE in RFC 3501 7.4.2) ------------------------- */

enum fx_tok_kind { FX_END = 0, FX_ATOM, FX_QS, FX_SPECIAL };

struct fx_tok {
	enum fx_tok_kind kind;
	const uint8_t *p; /* raw text (a quoted string with its quotes) */
	size_t n;
	char c; /* FX_SPECIAL */
};

/* The next token of an address list; comments are skipped, the last one kept in *cm. */
static const uint8_t *fx_next(const uint8_t *p, const uint8_t *end, struct fx_tok *t,
			      struct fx_tok *cm)
{
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			p++;
		if (p == end) {
			t->kind = FX_END;
			return p;
		}
		if (*p != '(')
			break;
		cm->kind = FX_QS;
		cm->p = p + 1;
		p = mime_comment_end(p, end);
		cm->n = (size_t)(p - cm->p) - (p[-1] == ')');
	}
	t->p = p;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++)
			if (*p == '\\' && p + 1 < end)
				p++;
		if (p < end)
			p++;
		t->kind = FX_QS;
	} else if (*p == '[') {
		while (p < end && *p != ']')
			p++;
		if (p < end)
			p++;
		t->kind = FX_ATOM; /* a domain literal */
	} else if (*p && strchr("<>@,;:", *p)) {
		t->kind = FX_SPECIAL;
		t->c = (char)*p++;
	} else {
		/* at least one octet: a stray ')' is an atom of its own */
		do
			p++;
		while (p < end && (*p == 0 || !strchr(" \t\r\n()<>@,;:\"[", *p)));
		t->kind = FX_ATOM;
	}
	t->n = (size_t)(p - t->p);
	return p;
}

/* Appends a word to tmp: a quoted string without its quotes and escapes. */
static void fx_word(struct mime_out *tmp, const struct fx_tok *t, bool space)
{
	size_t e = t->n;

	if (space && tmp->len)
		mime_out_c(tmp, ' ');
	if (t->kind != FX_QS) {
		mime_out_put(tmp, t->p, t->n);
		return;
	}
	if (e >= 2 && t->p[e - 1] == '"')
		e--;
	for (size_t i = 1; i < e; i++) {
		if (t->p[i] == '\\' && i + 1 < e)
			i++;
		if (t->p[i] != '\r' && t->p[i] != '\n')
			mime_out_c(tmp, (char)t->p[i]);
	}
}

static void fx_nstr(struct mime_out *o, const struct mime_out *s, bool nil_if_empty)
{
	if (s == NULL || (nil_if_empty && s->len == 0))
		fx_puts(o, "NIL");
	else
		fx_str(o, (const uint8_t *)s->p, s->len);
}

/* One address: (name adl mailbox host); empty mailbox or host as dovecot fills them. */
static void fx_addr(struct mime_out *o, const struct mime_out *name, const struct mime_out *adl,
		    const struct mime_out *box, const struct mime_out *host)
{
	static const struct mime_out missing_box = {.p = (char *)"MISSING_MAILBOX", .len = 15},
				     missing_host = {.p = (char *)"MISSING_DOMAIN", .len = 14};

	mime_out_c(o, '(');
	fx_nstr(o, name, true);
	mime_out_c(o, ' ');
	fx_nstr(o, adl, true);
	mime_out_c(o, ' ');
	fx_nstr(o, box->len ? box : &missing_box, false);
	mime_out_c(o, ' ');
	fx_nstr(o, host->len ? host : &missing_host, false);
	mime_out_c(o, ')');
}

/* An address list, or NIL when the field is absent or holds no address. tmp is scratch
 * as long as the value (four strings share it). */
static void fx_addrs(struct mime_out *o, const struct mime_msg *m, const struct mime_part *part,
		     const char *field, struct mime_out *tmp)
{
	struct mime_span v;
	const uint8_t *p, *end;
	size_t start = o->len, q = tmp->cap / 4;
	struct mime_out name = {.p = tmp->p, .cap = q}, adl = {.p = tmp->p + q, .cap = q},
			box = {.p = tmp->p + 2 * q, .cap = q},
			host = {.p = tmp->p + 3 * q, .cap = q};
	bool any = false, group = false, after_group = false;
	unsigned naddr = 0;

	if (!mime_hdr_find(m, part, field, &v)) {
		fx_puts(o, "NIL");
		return;
	}
	p = m->buf + v.off;
	end = p + v.len;
	mime_out_c(o, '(');
	while (p < end && naddr < IMAP_ENVELOPE_ADDRS_MAX) {
		struct fx_tok t, cm = {.kind = FX_END};
		bool words = false, comma_ok = after_group; /* "g: a@b;, c@d" */

		name.len = adl.len = box.len = host.len = 0;
		/* a phrase (display name, group name) or a local part */
		while ((p = fx_next(p, end, &t, &cm)), t.kind == FX_ATOM || t.kind == FX_QS) {
			fx_word(&name, &t, true);
			fx_word(&box, &t, false); /* a quoted local part unquoted, as dovecot */
			words = true;
		}
		if (t.kind == FX_SPECIAL && t.c == ':' && !group) {
			/* RFC 5322 3.4 group: (NIL NIL name NIL) ... (NIL NIL NIL NIL) */
			fx_puts(o, "(NIL NIL ");
			fx_nstr(o, &name, false);
			fx_puts(o, " NIL)");
			group = any = true;
			naddr++;
			continue;
		}
		if (t.kind == FX_SPECIAL && t.c == '<') {
			box.len = 0;
			p = fx_next(p, end, &t, &cm);
			if (t.kind == FX_SPECIAL && t.c == '@') {
				/* obsolete route "@a,@b:" */
				const uint8_t *rs = t.p;

				while (t.kind != FX_END &&
				       !(t.kind == FX_SPECIAL && (t.c == ':' || t.c == '>')))
					p = fx_next(p, end, &t, &cm);
				mime_out_put(&adl, rs, (size_t)(t.p - rs));
				while (adl.len &&
				       (adl.p[adl.len - 1] == ' ' || adl.p[adl.len - 1] == '\t'))
					adl.len--;
				if (t.kind == FX_SPECIAL && t.c == ':')
					p = fx_next(p, end, &t, &cm);
			}
			while (t.kind == FX_ATOM || t.kind == FX_QS) {
				fx_word(&box, &t, false);
				p = fx_next(p, end, &t, &cm);
			}
			if (t.kind == FX_SPECIAL && t.c == '@')
				while ((p = fx_next(p, end, &t, &cm)), t.kind == FX_ATOM)
					mime_out_put(&host, t.p, t.n);
			while (t.kind != FX_END && !(t.kind == FX_SPECIAL && t.c == '>'))
				p = fx_next(p, end, &t, &cm);
			if (!words)
				name.len = 0;
			while (t.kind != FX_END &&
			       !(t.kind == FX_SPECIAL && (t.c == ',' || t.c == ';')))
				p = fx_next(p, end, &t, &cm);
			fx_addr(o, &name, &adl, &box, &host);
			any = true;
			naddr++;
		} else if (t.kind == FX_SPECIAL && t.c == '@') {
			cm.kind = FX_END; /* dovecot: only a comment after the address names it */
			while ((p = fx_next(p, end, &t, &cm)), t.kind == FX_ATOM)
				mime_out_put(&host, t.p, t.n);
			name.len = 0;
			if (cm.kind == FX_QS)
				fx_word(&name,
					&(struct fx_tok){.kind = FX_ATOM, .p = cm.p, .n = cm.n},
					false);
			while (t.kind != FX_END &&
			       !(t.kind == FX_SPECIAL && (t.c == ',' || t.c == ';')))
				p = fx_next(p, end, &t, &cm);
			fx_addr(o, &name, &adl, &box, &host);
			any = true;
			naddr++;
		} else if (words || (t.kind == FX_SPECIAL && t.c == ',' && !group && !comma_ok)) {
			/* a mailbox without a domain, or nothing between two commas */
			name.len = 0;
			fx_addr(o, &name, &adl, &box, &host);
			any = true;
			naddr++;
		}
		after_group = false;
		if (t.kind == FX_SPECIAL && t.c == ';' && group) {
			fx_puts(o, "(NIL NIL NIL NIL)");
			group = false;
			after_group = true;
		}
		if (t.kind == FX_END)
			break;
	}
	if (group)
		fx_puts(o, "(NIL NIL NIL NIL)");
	fx_list_end(o, start, any);
}

/* ENVELOPE of the message at part (RFC 3501 7.4.2); Sender and Reply-To default to
 * From. */
static void fx_envelope(struct mime_out *o, const struct mime_msg *m, const struct mime_part *p,
			struct mime_out *tmp)
{
	static const struct {
		const char *name, *dflt; /* dflt: the field used when name is absent */
		bool addrs;
	} env[] = {
	    {"Date", NULL, false},	 {"Subject", NULL, false},   {"From", NULL, true},
	    {"Sender", "From", true},	 {"Reply-To", "From", true}, {"To", NULL, true},
	    {"Cc", NULL, true},		 {"Bcc", NULL, true},	     {"In-Reply-To", NULL, false},
	    {"Message-ID", NULL, false},
	};
	struct mime_span v;

	for (size_t k = 0; k < sizeof(env) / sizeof(env[0]); k++) {
		const char *name = env[k].name;

		mime_out_c(o, k ? ' ' : '(');
		if (env[k].dflt && !mime_hdr_find(m, p, name, &v))
			name = env[k].dflt;
		if (env[k].addrs)
			fx_addrs(o, m, p, name, tmp);
		else
			fx_field(o, m, p, name, tmp);
	}
	mime_out_c(o, ')');
}

/* ---- BODYSTRUCTURE (RFC 3501 7.4.2) ------------------------------------------------ */

static void fx_param_out(struct mime_out *o, const char *name, const struct mime_out *val,
			 bool *any)
{
	if (*any)
		mime_out_c(o, ' ');
	fx_str(o, (const uint8_t *)name, strlen(name));
	mime_out_c(o, ' ');
	fx_str(o, (const uint8_t *)val->p, val->len);
	*any = true;
}

/*
 * The parameter list of a Content-Type/-Disposition value: dovecot's order (plain
 * parameters as they stand, then the RFC 2231 ones by name), "NIL" when empty; a text
 * part gets ("charset" "us-ascii") when it names no charset.
 */
static void fx_params(struct mime_out *o, const struct mime_msg *m, struct mime_span value,
		      bool add_charset, struct mime_out *tmp)
{
	struct mime_params ps;
	char name[64], last[64] = "";
	size_t start = o->len;
	bool any = false, charset = false;

	mime_out_c(o, '(');
	for (int pass = 0; pass < 2; pass++) {
		for (;;) {
			char best[64] = "";
			struct mime_params bp;

			mime_value_first(m, value, &ps);
			bp.p = NULL;
			while (true) {
				struct mime_params at = ps;

				if (!mime_params_next(&ps, name, sizeof(name), tmp))
					break;
				if (ps.is_2231 != (pass == 1))
					continue;
				if (pass == 0) {
					/* in order: each plain parameter once */
					fx_param_out(o, name, tmp, &any);
					charset |= strcmp(name, "charset") == 0;
					continue;
				}
				if (strcmp(name, last) > 0 &&
				    (best[0] == '\0' || strcmp(name, best) < 0)) {
					strcpy(best, name);
					bp = at;
				}
			}
			if (pass == 0 || bp.p == NULL)
				break;
			mime_params_next(&bp, name, sizeof(name), tmp);
			fx_param_out(o, name, tmp, &any);
			strcpy(last, best);
		}
	}
	if (add_charset && !charset) {
		if (any)
			mime_out_c(o, ' ');
		fx_puts(o, "\"charset\" \"us-ascii\"");
		any = true;
	}
	fx_list_end(o, start, any);
}

/* " (disposition params) language location": the extension data common to all bodies. */
static void fx_ext_tail(struct mime_out *o, const struct mime_msg *m, const struct mime_part *p,
			struct mime_out *tmp)
{
	struct mime_span v, t;
	struct mime_params ps;

	mime_out_c(o, ' ');
	if (mime_hdr_find(m, p, "Content-Disposition", &v) &&
	    (t = mime_value_first(m, v, &ps)).len) {
		mime_out_c(o, '(');
		fx_str(o, m->buf + t.off, t.len);
		mime_out_c(o, ' ');
		fx_params(o, m, v, false, tmp);
		mime_out_c(o, ')');
	} else {
		fx_puts(o, "NIL");
	}
	mime_out_c(o, ' ');
	if (mime_hdr_find(m, p, "Content-Language", &v)) {
		/* RFC 3066 tags separated by commas */
		const uint8_t *q = m->buf + v.off, *end = q + v.len;
		size_t start = o->len;
		bool any = false;

		mime_out_c(o, '(');
		while (q < end) {
			const uint8_t *s;

			while (q < end &&
			       (*q == ',' || *q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
				q++;
			s = q;
			while (q < end && *q != ',' && *q != ' ' && *q != '\t' && *q != '\r' &&
			       *q != '\n')
				q++;
			if (q > s) {
				if (any)
					mime_out_c(o, ' ');
				fx_str(o, s, (size_t)(q - s));
				any = true;
			}
		}
		fx_list_end(o, start, any);
	} else {
		fx_puts(o, "NIL");
	}
	mime_out_c(o, ' ');
	fx_field(o, m, p, "Content-Location", tmp);
}

static void fx_body(struct mime_out *o, const struct mime_msg *m, uint16_t idx, bool ext,
		    struct mime_out *tmp)
{
	const struct mime_part *p = &m->parts[idx];
	bool text;
	char num[48];

	mime_out_c(o, '(');
	if (p->kind == MIME_MULTIPART) {
		for (uint16_t c = p->first_child; c; c = m->parts[c].next)
			fx_body(o, m, c, ext, tmp);
		if (p->first_child == 0)
			/* dovecot: a multipart without parts shows an empty text part */
			fx_puts(o, ext ? "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
					 "\"7bit\" 0 0 "
					 "NIL NIL NIL NIL)"
				       : "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
					 "\"7bit\" 0 0)");
		mime_out_c(o, ' ');
		fx_str(o, m->buf + p->subtype.off, p->subtype.len);
		if (ext) {
			mime_out_c(o, ' ');
			fx_params(o, m, p->ctype, false, tmp);
			fx_ext_tail(o, m, p, tmp);
		}
		mime_out_c(o, ')');
		return;
	}
	if (p->ctype_given) {
		fx_str(o, m->buf + p->type.off, p->type.len);
		mime_out_c(o, ' ');
		fx_str(o, m->buf + p->subtype.off, p->subtype.len);
		text = mime_span_eq(m, p->type, "text");
	} else {
		fx_puts(o,
			p->kind == MIME_MESSAGE ? "\"message\" \"rfc822\"" : "\"text\" \"plain\"");
		text = p->kind != MIME_MESSAGE;
	}
	mime_out_c(o, ' ');
	if (p->ctype_given)
		fx_params(o, m, p->ctype, text, tmp);
	else
		fx_puts(o, text ? "(\"charset\" \"us-ascii\")" : "NIL");
	mime_out_c(o, ' ');
	fx_field(o, m, p, "Content-ID", tmp);
	mime_out_c(o, ' ');
	fx_field(o, m, p, "Content-Description", tmp);
	mime_out_c(o, ' ');
	{
		struct mime_span v, t;
		struct mime_params ps;

		if (mime_hdr_find(m, p, "Content-Transfer-Encoding", &v) &&
		    (t = mime_value_first(m, v, &ps)).len)
			fx_str(o, m->buf + t.off, t.len);
		else
			fx_puts(o, "\"7bit\"");
	}
	snprintf(num, sizeof(num), " %llu", (unsigned long long)(p->vend_off - p->vbody_off));
	fx_puts(o, num);
	if (p->kind == MIME_MESSAGE && p->first_child) {
		mime_out_c(o, ' ');
		fx_envelope(o, m, &m->parts[p->first_child], tmp);
		mime_out_c(o, ' ');
		fx_body(o, m, p->first_child, ext, tmp);
	}
	if (text || (p->kind == MIME_MESSAGE && p->first_child)) {
		snprintf(num, sizeof(num), " %u", p->lines);
		fx_puts(o, num);
	}
	if (ext) {
		mime_out_c(o, ' ');
		fx_field(o, m, p, "Content-MD5", tmp);
		fx_ext_tail(o, m, p, tmp);
	}
	mime_out_c(o, ')');
}

/* An answer past IMAP_FETCH_RENDER_MAX: still a valid one, so the session goes on and
 * the client can fetch the message whole (BODY[]): an empty ENVELOPE, the message's body
 * as one application/octet-stream part. */
static int fx_render_fallback(const struct mime_msg *m, enum imap_fatt_kind kind, const char *sep,
			      uint8_t **out, size_t *outlen)
{
	char *p = malloc(256);
	int n;

	if (p == NULL)
		return -MGW_ENOMEM;
	if (kind == IMAP_FATT_ENVELOPE)
		n = snprintf(p, 256, "%sENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)", sep);
	else
		n = snprintf(p, 256,
			     "%s%s (\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" %llu%s)",
			     sep, kind == IMAP_FATT_BODY ? "BODY" : "BODYSTRUCTURE",
			     (unsigned long long)(m->parts[0].vend_off - m->parts[0].vbody_off),
			     kind == IMAP_FATT_BODY ? "" : " NIL NIL NIL NIL");
	*out = (uint8_t *)p;
	*outlen = (size_t)n;
	return 0;
}

int imap_fetch_render(struct imap_mime *im, enum imap_fatt_kind kind, const char *sep,
		      uint8_t **out, size_t *outlen)
{
	const struct mime_msg *m = fx_msg(im);
	size_t cap = 16 * 1024, tcap = 0;
	char *tbuf;

	/* scratch for one header value, four times (fx_addrs splits it) */
	for (uint16_t i = 0; i < m->nparts; i++)
		if (m->parts[i].body_off - m->parts[i].hdr_off > tcap)
			tcap = m->parts[i].body_off - m->parts[i].hdr_off;
	tcap = 4 * (fx_value_cap((uint32_t)tcap) + MIME_PARAM_MAX);
	tbuf = malloc(tcap);
	if (tbuf == NULL)
		return -MGW_ENOMEM;
	for (;;) {
		struct mime_out o = {.p = malloc(cap), .cap = cap}, tmp = {.p = tbuf, .cap = tcap};

		if (o.p == NULL) {
			free(tbuf);
			return -MGW_ENOMEM;
		}
		fx_puts(&o, sep);
		if (kind == IMAP_FATT_ENVELOPE) {
			fx_puts(&o, "ENVELOPE ");
			fx_envelope(&o, m, &m->parts[0], &tmp);
		} else {
			fx_puts(&o, kind == IMAP_FATT_BODY ? "BODY " : "BODYSTRUCTURE ");
			fx_body(&o, m, 0, kind != IMAP_FATT_BODY, &tmp);
		}
		if (!o.over) {
			free(tbuf);
			*out = (uint8_t *)o.p;
			*outlen = o.len;
			return 0;
		}
		free(o.p);
		if (cap >= IMAP_FETCH_RENDER_MAX) {
			free(tbuf);
			return fx_render_fallback(m, kind, sep, out, outlen);
		}
		cap = 8 * cap < IMAP_FETCH_RENDER_MAX ? 8 * cap : IMAP_FETCH_RENDER_MAX;
	}
}

/* ---- BODY[part.section] (RFC 3501 6.4.5) ------------------------------------------ */

/* The part a part number names, or -1. A message that is not multipart has its body as
 * part 1; in a message/rfc822 part the numbers go on in the message inside. */
static int fx_resolve(const struct mime_msg *m, const struct imap_fatt *f)
{
	uint16_t cur = 0; /* an entity whose parts the next number counts */

	for (unsigned k = 0; k < f->nparts; k++) {
		const struct mime_part *e = &m->parts[cur];
		uint16_t p = 0;

		if (e->kind == MIME_MULTIPART) {
			uint32_t n = 1;

			for (p = e->first_child; p && n < f->part[k]; p = m->parts[p].next)
				n++;
			if (p == 0)
				return -1;
		} else if (f->part[k] == 1 &&
			   (cur == 0 || m->parts[e->parent].kind == MIME_MESSAGE)) {
			p = cur;
		} else {
			return -1;
		}
		if (k + 1 < f->nparts) {
			if (m->parts[p].kind == MIME_MESSAGE && m->parts[p].first_child)
				cur = m->parts[p].first_child;
			else if (m->parts[p].kind == MIME_MULTIPART)
				cur = p;
			else
				return -1;
		} else {
			return p;
		}
	}
	return -1;
}

bool imap_fetch_field_listed(const struct imap_cmd *c, const struct imap_fatt *f, const uint8_t *p,
			     size_t n)
{
	for (unsigned j = 0; j < f->nfields; j++) {
		char v[128];
		size_t vl;

		if (imap_str_get(&c->fields[f->field0 + j], v, sizeof(v), &vl) == 0 && vl == n &&
		    strncasecmp(v, (const char *)p, n) == 0)
			return true;
	}
	return false;
}

/* HEADER.FIELDS (.NOT) of the header of entity e, in CRLF form with the blank line. */
static int fx_hdr_fields(const struct mime_msg *m, const struct mime_part *e,
			 const struct imap_cmd *c, const struct imap_fatt *f, uint8_t **mem,
			 size_t *memlen)
{
	size_t cap = 2 * fx_value_cap(e->body_off - e->hdr_off) + 6;
	uint32_t pos = e->hdr_off;
	struct mime_span name, val;
	uint8_t *o = malloc(cap);
	size_t on = 0;

	if (o == NULL)
		return -MGW_ENOMEM;
	for (;;) {
		uint32_t at = pos;

		if (!mime_hdr_next(m->buf, &pos, e->body_off, &name, &val))
			break;
		if (imap_fetch_field_listed(c, f, m->buf + name.off, name.len) !=
		    (f->text == IMAP_SECT_HEADER_FIELDS))
			continue;
		/* the field's lines as stored from its name to the line break after it */
		at = name.off;
		if (on + 2 * (size_t)(pos - at) + 4 > cap)
			break; /* past IMAP_FETCH_VALUE_MAX */
		for (uint32_t i = at; i < pos; i++) {
			if (m->buf[i] == '\n' && (i == at || m->buf[i - 1] != '\r'))
				o[on++] = '\r';
			o[on++] = m->buf[i];
		}
		if (pos == e->body_off && (on == 0 || o[on - 1] != '\n')) {
			o[on++] = '\r';
			o[on++] = '\n';
		}
	}
	o[on++] = '\r';
	o[on++] = '\n';
	*mem = o;
	*memlen = on;
	return 0;
}

int imap_fetch_section(struct imap_mime *im, const struct imap_cmd *c, const struct imap_fatt *f,
		       uint64_t *start, uint64_t *len, uint8_t **mem, size_t *memlen)
{
	const struct mime_msg *m = fx_msg(im);
	const struct mime_part *p, *e;
	int idx = fx_resolve(m, f);

	*start = 0;
	*len = 0;
	*mem = NULL;
	if (idx < 0)
		return 0;
	p = &m->parts[idx];
	switch (f->text) {
	case IMAP_SECT_ALL:
		*start = p->vbody_off;
		*len = p->vend_off - p->vbody_off;
		return 0;
	case IMAP_SECT_MIME:
		*start = p->vhdr_off;
		*len = p->vbody_off - p->vhdr_off;
		return 0;
	default:
		break;
	}
	/* HEADER, TEXT, HEADER.FIELDS: of the message inside a message/rfc822 part */
	if (p->kind != MIME_MESSAGE || p->first_child == 0)
		return 0;
	e = &m->parts[p->first_child];
	if (f->text == IMAP_SECT_HEADER) {
		*start = e->vhdr_off;
		*len = e->vbody_off - e->vhdr_off;
		return 0;
	}
	if (f->text == IMAP_SECT_TEXT) {
		*start = e->vbody_off;
		*len = e->vend_off - e->vbody_off;
		return 0;
	}
	return fx_hdr_fields(m, e, c, f, mem, memlen);
}

/* ---- SEARCH ---------------------------------------------------------------------- */

/* Case-folded substring search (the needle is folded already). */
static bool fx_find(uint8_t *h, size_t n, const uint8_t *nd, size_t nl)
{
	if (nl == 0)
		return true;
	mime_utf8_fold(h, n);
	for (size_t i = 0; i + nl <= n; i++)
		if (h[i] == nd[0] && memcmp(h + i, nd, nl) == 0)
			return true;
	return false;
}

/* Whether a field called name has text in its decoded value; name NULL: any field, its
 * name included. */
static bool fx_hdr_has(const uint8_t *buf, uint32_t pos, uint32_t end, const char *name,
		       const uint8_t *nd, size_t nl, uint8_t *a, uint8_t *b, size_t cap)
{
	struct mime_span fn, v;

	while (mime_hdr_next(buf, &pos, end, &fn, &v)) {
		struct mime_out u = {.p = (char *)a, .cap = cap}, d = {.p = (char *)b, .cap = cap};

		if (name && (strlen(name) != fn.len ||
			     strncasecmp((const char *)buf + fn.off, name, fn.len) != 0))
			continue;
		if (name == NULL) {
			/* TEXT: the whole field, "Name: value" */
			mime_out_put(&d, buf + fn.off, fn.len);
			mime_out_put(&d, ": ", 2);
		}
		mime_unfold(buf, v, &u);
		mime_ew_decode(a, u.len, &d);
		if (fx_find(b, d.len, nd, nl))
			return true;
	}
	return false;
}

static bool fx_fold_needle(const uint8_t *text, size_t n, uint8_t **nd)
{
	*nd = malloc(n + 1);
	if (*nd == NULL)
		return false;
	memcpy(*nd, text, n);
	mime_utf8_fold(*nd, n);
	return true;
}

bool imap_search_hdr(struct imap_mime *im, const char *name, const uint8_t *text, size_t n)
{
	uint32_t len = im->len > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)im->len, end = 0;
	struct mime_span fn, v;
	size_t cap;
	uint8_t *nd, *a, *b;
	bool hit = false;

	/* the message's header: up to its blank line */
	while (mime_hdr_next(im->buf, &end, len, &fn, &v))
		;
	cap = 3 * fx_value_cap(end) + 16;
	a = malloc(cap);
	b = malloc(cap);
	if (a && b && fx_fold_needle(text, n, &nd)) {
		hit = fx_hdr_has(im->buf, 0, end, name, nd, n, a, b, cap);
		free(nd);
	}
	free(a);
	free(b);
	return hit;
}

/* The decoded text of leaf part p contains the needle: decoded in windows that overlap
 * by the needle's length, so neither the part nor its decoding is ever held whole. */
static bool fx_body_has(const struct mime_msg *m, const struct mime_part *p, const uint8_t *nd,
			size_t nl, uint8_t *win)
{
	struct mime_dec d = {.kind = (uint8_t)mime_cte_of(m, p)};
	enum mime_cs cs = MIME_CS_UTF8;
	struct mime_span v;
	uint8_t dec[IMAP_SEARCH_WIN / 4 + 2];
	size_t have = 0;

	if (p->ctype_given && mime_span_eq(m, p->type, "text") &&
	    mime_hdr_find(m, p, "Content-Type", &v)) {
		char csb[64];
		struct mime_out o = {.p = csb, .cap = sizeof(csb)};

		if (mime_param_get(m, v, "charset", &o) && !o.over)
			cs = mime_cs_of((const uint8_t *)csb, o.len);
	}
	for (uint32_t off = p->body_off; off < p->end_off;) {
		size_t chunk =
		    p->end_off - off < IMAP_SEARCH_WIN / 4 ? p->end_off - off : IMAP_SEARCH_WIN / 4;
		size_t dn = mime_dec_run(&d, m->buf + off, chunk, dec);

		off += (uint32_t)chunk;
		/* the window holds at most nl - 1 + 3 * (chunk + 2) octets */
		have += mime_cs_utf8(cs, dec, dn, win + have);
		if (fx_find(win, have, nd, nl))
			return true;
		if (have >= nl) {
			size_t keep = nl ? nl - 1 : 0;

			memmove(win, win + have - keep, keep);
			have = keep;
		}
	}
	return nl == 0;
}

bool imap_search_text(struct imap_mime *im, const uint8_t *text, size_t n, bool with_headers)
{
	const struct mime_msg *m = fx_msg(im);
	size_t hcap = 0, wcap = n + 3 * (IMAP_SEARCH_WIN / 4 + 2);
	uint8_t *nd = NULL, *win = NULL, *a = NULL, *b = NULL;
	bool hit = false;

	for (uint16_t i = 0; i < m->nparts; i++)
		if (3 * fx_value_cap(m->parts[i].body_off - m->parts[i].hdr_off) + 16 > hcap)
			hcap = 3 * fx_value_cap(m->parts[i].body_off - m->parts[i].hdr_off) + 16;
	if (!fx_fold_needle(text, n, &nd))
		return false;
	win = malloc(wcap);
	a = malloc(hcap);
	b = malloc(hcap);
	for (uint16_t i = 0; win && a && b && !hit && i < m->nparts; i++) {
		const struct mime_part *p = &m->parts[i];

		/* RFC 3501 6.4.4 TEXT: "header or body"; the header of every message */
		if (with_headers && (i == 0 || m->parts[p->parent].kind == MIME_MESSAGE))
			hit = fx_hdr_has(m->buf, p->hdr_off, p->body_off, NULL, nd, n, a, b, hcap);
		if (!hit && p->kind == MIME_LEAF)
			hit = fx_body_has(m, p, nd, n, win);
	}
	free(nd);
	free(win);
	free(a);
	free(b);
	return hit;
}
