/*
 * fuzz_imap_parse.c - libFuzzer target for the IMAP command parser: any bytes as one
 * command buffer. Checks the parser's contract: the same answer twice, strings inside the
 * input (or the parser's own header names), pools within their limits, sequence ranges
 * ordered, search programs whose spans nest.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "proto/imap_parse.h"

static const uint8_t *g_data;
static size_t g_size;

static void check_str(const struct imap_str *s, bool static_ok)
{
	char out[IMAP_CMD_MAX + 1];
	size_t n;

	if (s->kind == IMAP_STR_NONE || s->kind == IMAP_STR_NIL)
		return;
	assert(s->kind <= IMAP_STR_NIL);
	if (!(static_ok && (s->p < g_data || s->p > g_data + g_size)))
		assert(s->p >= g_data && s->p + s->len <= g_data + g_size);
	assert(imap_str_get(s, out, sizeof(out), &n) == MGW_PARSE_OK && n <= s->len);
	assert(imap_str_eq_ci(s, out) || s->kind != IMAP_STR_LITERAL || memchr(out, 0, n));
}

static void check_set(const struct imap_cmd *c, const struct imap_seqset *set)
{
	assert((size_t)set->first + set->count <= c->nranges);
	for (unsigned i = 0; i < set->count; i++) {
		const struct imap_seq_range *r = &c->ranges[set->first + i];

		assert(r->lo == IMAP_SEQ_STAR ? r->hi == IMAP_SEQ_STAR
					      : r->hi == IMAP_SEQ_STAR || r->lo <= r->hi);
	}
}

/* The subtree at i ends at i + span; children tile it exactly. */
static void check_skey(const struct imap_cmd *c, unsigned i)
{
	const struct imap_skey *k = &c->skeys[i];
	unsigned end = i + k->span, j = i + 1, nchild = 0;

	assert(k->span >= 1 && end <= c->nskeys);
	while (j < end) {
		check_skey(c, j);
		j += c->skeys[j].span;
		nchild++;
	}
	assert(j == end);
	if (k->op == IMAP_SK_NOT)
		assert(nchild == 1);
	else if (k->op == IMAP_SK_OR)
		assert(nchild == 2);
	else if (k->op == IMAP_SK_AND)
		assert(nchild >= 1);
	else
		assert(nchild == 0);
	if (k->set.count)
		check_set(c, &k->set);
	check_str(&k->str, false);
	check_str(&k->str2, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct imap_cmd a, b;
	uint32_t n;
	bool plus;
	int rc = imap_cmd_parse(data, size, &a);

	g_data = data;
	g_size = size;
	assert(rc == MGW_PARSE_OK || rc == MGW_PARSE_NEED_MORE || rc == MGW_PARSE_SYNTAX ||
	       rc == MGW_PARSE_TOO_LONG || rc == MGW_PARSE_LIMIT);
	assert(imap_cmd_parse(data, size, &b) == rc && a.id == b.id && a.taglen == b.taglen);
	assert(a.id < IMAP_CMD_COUNT && a.taglen <= IMAP_TAG_MAX);
	if (a.taglen)
		assert(a.tag == data && memchr(a.tag, ' ', a.taglen) == NULL);
	if (rc != MGW_PARSE_OK && rc != MGW_PARSE_NEED_MORE)
		assert(a.err != NULL);
	if (rc == MGW_PARSE_NEED_MORE)
		assert(size > 0 && data[size - 1] == '}' && a.lit_len <= IMAP_CMD_MAX);
	if (rc == MGW_PARSE_OK) {
		assert(a.taglen > 0);
		for (int i = 0; i < 2; i++)
			check_str(&a.a[i], false);
		assert(a.nranges <= IMAP_SEQ_RANGES_MAX && a.nfatts <= IMAP_FETCH_ATTS_MAX &&
		       a.nfields <= IMAP_HDR_FIELDS_MAX && a.nskeys <= IMAP_SEARCH_KEYS_MAX &&
		       a.nenable <= IMAP_ENABLE_MAX && a.flags.nkeywords <= IMAP_FLAGS_MAX);
		check_set(&a, &a.set);
		for (unsigned i = 0; i < a.nfatts; i++) {
			const struct imap_fatt *f = &a.fatts[i];

			assert(f->nparts <= IMAP_PART_DEPTH_MAX);
			assert((size_t)f->field0 + f->nfields <= a.nfields);
			assert(!f->partial || f->count > 0);
			assert(f->text != IMAP_SECT_MIME || f->nparts > 0);
		}
		for (unsigned i = 0; i < a.nfields; i++)
			check_str(&a.fields[i], false);
		for (unsigned i = 0; i < a.flags.nkeywords; i++)
			check_str(&a.flags.kw[i], false);
		for (unsigned i = 0; i < a.nenable; i++)
			check_str(&a.enable[i], false);
		if (a.id == IMAP_CMD_SEARCH) {
			assert(a.nskeys >= 2 && a.skeys[0].op == IMAP_SK_AND &&
			       a.skeys[0].span == a.nskeys);
			check_skey(&a, 0);
		}
		if (a.id == IMAP_CMD_APPEND)
			assert(data[size - 1] == '}');
	}
	if (imap_line_literal(data, size, &n, &plus))
		assert(size >= 3 && data[size - 1] == '}');
	return 0;
}
