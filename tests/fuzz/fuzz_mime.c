/*
 * fuzz_mime.c - libFuzzer target for the MIME parser (lib/mime) and what IMAP renders
 * from it (proto/imap_fetch.h): any bytes as one stored message. Checks the parser's
 * contract: parts within their limits, nested in their parents in document order, every
 * offset in the CRLF form equal to what store/crlf.h counts for the same bytes; and that
 * ENVELOPE, BODYSTRUCTURE and BODY render as balanced IMAP lists, sections stay inside the
 * message, and the decoding SEARCH runs over everything without a sanitizer report.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mime/mime.h"
#include "proto/imap_fetch.h"
#include "proto/imap_parse.h"
#include "store/crlf.h"

/* The CRLF-form offset of raw offset off (a line start, a line's end, or the end). */
static uint64_t voff(const uint8_t *b, size_t n, uint32_t off)
{
	struct crlf_count c = {0};

	crlf_count_add(&c, b, off);
	return off == n ? crlf_count_total(&c) : c.n;
}

/* Parentheses balance outside quoted strings and literals. */
static void check_list(const uint8_t *p, size_t n)
{
	long depth = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"') {
			for (i++; i < n && p[i] != '"'; i++)
				if (p[i] == '\\')
					i++;
			assert(i < n);
		} else if (p[i] == '{') {
			size_t len = 0;

			for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++)
				len = len * 10 + (size_t)(p[i] - '0');
			assert(i + 2 < n + 1 && p[i] == '}' && p[i + 1] == '\r' &&
			       p[i + 2] == '\n');
			/* no line break inside: the session sends a lone LF as CR LF */
			assert(i + 2 + len < n && memchr(p + i + 3, '\n', len) == NULL &&
			       memchr(p + i + 3, '\r', len) == NULL);
			i += 2 + len;
		} else if (p[i] == '(') {
			depth++;
		} else if (p[i] == ')') {
			assert(--depth >= 0);
		} else {
			assert(p[i] != '\r' && p[i] != '\n');
		}
	}
	assert(depth == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char fetch[] =
	    "a FETCH 1 (BODY[1] BODY[1.MIME] BODY[2.HEADER] BODY[2.TEXT] BODY[1.2.3] "
	    "BODY[2.HEADER.FIELDS (From Subject)] BODY[2.1.HEADER.FIELDS.NOT (To)] BODY[3.1.2])";
	static struct imap_cmd cmd;
	static struct imap_mime im;
	const struct mime_msg *m = &im.msg;
	struct crlf_count all = {0};
	uint64_t vsize;

	if (size > 1 << 20)
		return 0;
	if (cmd.nfatts == 0)
		assert(imap_cmd_parse((const uint8_t *)fetch, sizeof(fetch) - 1, &cmd) ==
		       MGW_PARSE_OK);
	crlf_count_add(&all, data, size);
	vsize = crlf_count_total(&all);
	imap_mime_use(&im, data, size);
	mime_parse(&im.msg, data, size);
	im.parsed = true;

	assert(m->nparts >= 1 && m->nparts <= MIME_PARTS_MAX && m->len == size);
	for (uint16_t i = 0; i < m->nparts; i++) {
		const struct mime_part *p = &m->parts[i];
		unsigned nc = 0;

		assert(p->hdr_off <= p->body_off && p->body_off <= p->end_off &&
		       p->end_off <= size);
		assert(p->vhdr_off == voff(data, size, p->hdr_off));
		assert(p->vbody_off == voff(data, size, p->body_off));
		assert(p->vend_off == voff(data, size, p->end_off) && p->vend_off <= vsize);
		assert(p->depth < MIME_DEPTH_MAX && p->kind <= MIME_MESSAGE);
		if (i > 0) {
			const struct mime_part *up = &m->parts[p->parent];

			assert(p->parent < i && p->depth == up->depth + 1);
			assert(p->hdr_off >= up->body_off && p->end_off <= up->end_off);
		}
		for (uint16_t c = p->first_child, prev = 0; c; prev = c, c = m->parts[c].next) {
			assert(c > i && c < m->nparts && m->parts[c].parent == i);
			if (prev)
				assert(m->parts[c].hdr_off >= m->parts[prev].end_off);
			nc++;
		}
		assert(nc == p->nchildren);
		assert(p->kind != MIME_MESSAGE || nc == 1);
		assert(p->kind != MIME_LEAF || nc == 0);
	}

	for (int k = 0; k < 3; k++) {
		static const enum imap_fatt_kind kinds[] = {
		    IMAP_FATT_ENVELOPE, IMAP_FATT_BODYSTRUCTURE, IMAP_FATT_BODY};
		uint8_t *out;
		size_t n;

		assert(imap_fetch_render(&im, kinds[k], "", &out, &n) == 0);
		check_list(out, n);
		free(out);
	}
	for (unsigned k = 0; k < cmd.nfatts; k++) {
		uint64_t start, len;
		uint8_t *mem;
		size_t ml;

		assert(imap_fetch_section(&im, &cmd, &cmd.fatts[k], &start, &len, &mem, &ml) == 0);
		assert(start + len <= vsize);
		if (mem) {
			assert(len == 0 && ml >= 2 && mem[ml - 2] == '\r' && mem[ml - 1] == '\n');
			free(mem);
		}
	}
	if (size > 2) {
		/* a needle taken from the input: the bytes after the first one */
		size_t nl = size - 1 < 8 ? size - 1 : 8;

		(void)imap_search_text(&im, data + 1, nl, true);
		(void)imap_search_hdr(&im, "subject", data + 1, nl);
	}
	return 0;
}
