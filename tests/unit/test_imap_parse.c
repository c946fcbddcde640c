/*
 * test_imap_parse.c - the IMAP command parser, table-driven: each command is parsed and
 * its result rendered into one canonical text, compared with the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/imap_parse.h"

struct out {
	char s[2048];
	size_t n;
};

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(o->s + o->n, sizeof(o->s) - o->n, fmt, ap);
	va_end(ap);
	assert_true(k >= 0 && (size_t)k < sizeof(o->s) - o->n);
	o->n += (size_t)k;
}

/* A string as kind:value, the value unescaped. */
static void put_str(struct out *o, const struct imap_str *s)
{
	static const char kinds[] = "-AQLN";
	char v[256];
	size_t n;

	assert_int_equal(imap_str_get(s, v, sizeof(v), &n), MGW_PARSE_OK);
	put(o, "%c:%s", kinds[s->kind], v);
}

static void put_set(struct out *o, const struct imap_cmd *c, const struct imap_seqset *set)
{
	for (unsigned i = 0; i < set->count; i++) {
		const struct imap_seq_range *r = &c->ranges[set->first + i];

		if (i > 0)
			put(o, ",");
		if (r->lo == IMAP_SEQ_STAR)
			put(o, "*");
		else
			put(o, "%u", r->lo);
		if (r->hi != r->lo)
			r->hi == IMAP_SEQ_STAR ? put(o, ":*") : put(o, ":%u", r->hi);
	}
}

static void put_flags(struct out *o, const struct imap_flags *f)
{
	put(o, " flags=%x", f->bits);
	for (unsigned i = 0; i < f->nkeywords; i++)
		put(o, ",%.*s", (int)f->kw[i].len, (const char *)f->kw[i].p);
	if (f->has_extension)
		put(o, ",ext");
}

static void put_fatts(struct out *o, const struct imap_cmd *c)
{
	static const char *const kinds[] = {
	    "?",	   "FLAGS",    "UID",		"IDATE", "SIZE", "RFC822", "RFC822.HEADER",
	    "RFC822.TEXT", "ENVELOPE", "BODYSTRUCTURE", "BODY",	 "SECT"};
	static const char *const texts[] = {"", "HEADER", "FIELDS", "FIELDS.NOT", "TEXT", "MIME"};

	for (unsigned i = 0; i < c->nfatts; i++) {
		const struct imap_fatt *f = &c->fatts[i];

		put(o, " %s", kinds[f->kind]);
		if (f->kind != IMAP_FATT_BODY_SECTION)
			continue;
		put(o, "%s[", f->peek ? ".PEEK" : "");
		for (unsigned j = 0; j < f->nparts; j++)
			put(o, "%u.", f->part[j]);
		put(o, "%s", texts[f->text]);
		for (unsigned j = 0; j < f->nfields; j++) {
			put(o, j == 0 ? " " : ",");
			put_str(o, &c->fields[f->field0 + j]);
		}
		put(o, "]");
		if (f->partial)
			put(o, "<%u.%u>", f->origin, f->count);
	}
}

static void put_search(struct out *o, const struct imap_cmd *c)
{
	static const char *const ops[] = {"?",	    "AND",    "OR",	"NOT",	 "ALL",	    "FLAGS",
					  "KW",	    "UNKW",   "SEQ",	"UID",	 "HDR",	    "BODY",
					  "TEXT",   "BEFORE", "ON",	"SINCE", "SBEFORE", "SON",
					  "SSINCE", "LARGER", "SMALLER"};

	for (unsigned i = 0; i < c->nskeys; i++) {
		const struct imap_skey *k = &c->skeys[i];

		put(o, " %s/%u", ops[k->op], k->span);
		if (k->op == IMAP_SK_FLAGS)
			put(o, "+%x-%x", k->num, k->num2);
		else if (k->num)
			put(o, "=%u", k->num);
		if (k->set.count) {
			put(o, "#");
			put_set(o, c, &k->set);
		}
		if (k->str2.kind) {
			put(o, "@");
			put_str(o, &k->str2);
		}
		if (k->str.kind) {
			put(o, "@");
			put_str(o, &k->str);
		}
	}
}

static void render(const struct imap_cmd *c, struct out *o)
{
	o->n = 0;
	o->s[0] = '\0';
	put(o, "%.*s %s%s", (int)c->taglen, (const char *)c->tag, c->uid ? "UID " : "",
	    imap_cmd_name(c->id));
	for (int i = 0; i < 2; i++)
		if (c->a[i].kind) {
			put(o, " ");
			put_str(o, &c->a[i]);
		}
	if (c->set.count) {
		put(o, " set=");
		put_set(o, c, &c->set);
	}
	if (c->id == IMAP_CMD_FETCH)
		put_fatts(o, c);
	if (c->id == IMAP_CMD_STORE)
		put(o, " mode=%d%s", c->store_mode, c->store_silent ? ".SILENT" : "");
	if (c->id == IMAP_CMD_STORE || c->id == IMAP_CMD_APPEND)
		put_flags(o, &c->flags);
	if (c->id == IMAP_CMD_APPEND) {
		put(o, " size=%u%s", c->append.size, c->append.plus ? "+" : "");
		if (c->append.has_date)
			put(o, " date=%lld", (long long)c->append.date);
	}
	if (c->id == IMAP_CMD_SEARCH)
		put_search(o, c);
	if (c->id == IMAP_CMD_STATUS)
		put(o, " items=%x", c->items);
	for (unsigned i = 0; i < c->nenable; i++) {
		put(o, " ");
		put_str(o, &c->enable[i]);
	}
}

struct pcase {
	const char *in;
	int rc;
	const char *want; /* rendered result (OK), or the tag (errors) */
};

#define C(in, want)                                                                                \
	{                                                                                          \
		in, MGW_PARSE_OK, want                                                             \
	}
#define E(in, rc, tag)                                                                             \
	{                                                                                          \
		in, rc, tag                                                                        \
	}

static const struct pcase pcases[] = {
    C("a1 CAPABILITY", "a1 CAPABILITY"),
    C("a1 noop", "a1 NOOP"),
    E("* LOGOUT", MGW_PARSE_SYNTAX, ""),
    E("a1 NOOP ", MGW_PARSE_SYNTAX, "a1"),
    E("a1  NOOP", MGW_PARSE_SYNTAX, "a1"),
    E("a1 NOOP x", MGW_PARSE_SYNTAX, "a1"),
    E("a+1 NOOP", MGW_PARSE_SYNTAX, "a"),
    E("", MGW_PARSE_SYNTAX, ""),
    E("a1", MGW_PARSE_SYNTAX, "a1"),
    E("(a NOOP", MGW_PARSE_SYNTAX, ""),
    C("a1 XYZZY whatever (it) is", "a1 ?"),
    C("]x] NOOP", "]x] NOOP"),
    /* LOGIN: atoms, quoted strings with escapes, literals, LITERAL+ */
    C("a LOGIN joe@example.test s3cret", "a LOGIN A:joe@example.test A:s3cret"),
    C("a LOGIN \"joe\" \"p a\\\"s\\\\s\"", "a LOGIN Q:joe Q:p a\"s\\s"),
    C("a LOGIN {3}\r\njoe {4+}\r\np w)", "a LOGIN L:joe L:p w)"),
    E("a LOGIN {3}", MGW_PARSE_NEED_MORE, "a"),
    E("a LOGIN {3}\r\njoe {4+}", MGW_PARSE_NEED_MORE, "a"),
    E("a LOGIN {3}\r\njo", MGW_PARSE_SYNTAX, "a"),
    E("a LOGIN {3} x", MGW_PARSE_SYNTAX, "a"),
    E("a LOGIN {99999999}", MGW_PARSE_TOO_LONG, "a"),
    E("a LOGIN {99999999999}", MGW_PARSE_SYNTAX, "a"),
    E("a LOGIN \"joe pw", MGW_PARSE_SYNTAX, "a"),
    E("a LOGIN \"j\\oe\" pw", MGW_PARSE_SYNTAX, "a"),
    E("a LOGIN joe", MGW_PARSE_SYNTAX, "a"),
    E("a LOGIN joe pw x", MGW_PARSE_SYNTAX, "a"),
    E("a LOGIN jo(e pw", MGW_PARSE_SYNTAX, "a"),
    E("a LOGIN joe\rx pw", MGW_PARSE_SYNTAX, "a"),
    E("a LOGIN joe \"p\nw\"", MGW_PARSE_SYNTAX, "a"),
    C("a AUTHENTICATE PLAIN", "a AUTHENTICATE A:PLAIN"),
    C("a AUTHENTICATE PLAIN AGpvZQBwdw==", "a AUTHENTICATE A:PLAIN A:AGpvZQBwdw=="),
    C("a AUTHENTICATE PLAIN =", "a AUTHENTICATE A:PLAIN A:="),
    E("a AUTHENTICATE", MGW_PARSE_SYNTAX, "a"),
    /* mailboxes */
    C("a SELECT INBOX", "a SELECT A:INBOX"),
    C("a EXAMINE \"Sent Items\"", "a EXAMINE Q:Sent Items"),
    C("a CREATE Archive.2026", "a CREATE A:Archive.2026"),
    C("a DELETE {5}\r\nTrash", "a DELETE L:Trash"),
    C("a RENAME Old New", "a RENAME A:Old A:New"),
    C("a SUBSCRIBE Sent", "a SUBSCRIBE A:Sent"),
    C("a UNSUBSCRIBE Sent", "a UNSUBSCRIBE A:Sent"),
    C("a LIST \"\" *", "a LIST Q: A:*"),
    C("a LIST \"\" %", "a LIST Q: A:%"),
    C("a LSUB \"\" \"*\"", "a LSUB Q: Q:*"),
    E("a SELECT", MGW_PARSE_SYNTAX, "a"),
    E("a SELECT *", MGW_PARSE_SYNTAX, "a"),
    E("a LIST \"\" (x)", MGW_PARSE_SYNTAX, "a"),
    C("a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)", "a STATUS A:INBOX items=1f"),
    C("a STATUS Sent (size)", "a STATUS A:Sent items=20"),
    E("a STATUS INBOX (MESSAGESX)", MGW_PARSE_SYNTAX, "a"),
    E("a STATUS INBOX ()", MGW_PARSE_SYNTAX, "a"),
    E("a STATUS INBOX MESSAGES", MGW_PARSE_SYNTAX, "a"),
    /* sequence sets */
    C("a FETCH 1 FLAGS", "a FETCH set=1 FLAGS"),
    C("a FETCH 1:* (UID FLAGS)", "a FETCH set=1:* UID FLAGS"),
    C("a FETCH 5:2,7,*:3,* UID", "a FETCH set=2:5,7,3:*,* UID"),
    C("a FETCH 4294967295 UID", "a FETCH set=4294967295 UID"),
    E("a FETCH 0 UID", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1: UID", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1,,2 UID", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 4294967296 UID", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH $ UID", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH -1 UID", MGW_PARSE_SYNTAX, "a"),
    /* FETCH attributes */
    C("a FETCH 1 ALL", "a FETCH set=1 FLAGS IDATE SIZE ENVELOPE"),
    C("a FETCH 1 FAST", "a FETCH set=1 FLAGS IDATE SIZE"),
    C("a FETCH 1 FULL", "a FETCH set=1 FLAGS IDATE SIZE ENVELOPE BODY"),
    C("a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE INTERNALDATE)",
      "a FETCH set=1 RFC822 RFC822.HEADER RFC822.TEXT SIZE IDATE"),
    C("a FETCH 1 (BODY BODYSTRUCTURE ENVELOPE)", "a FETCH set=1 BODY BODYSTRUCTURE ENVELOPE"),
    C("a FETCH 1 BODY[]", "a FETCH set=1 SECT[]"),
    C("a FETCH 1 body.peek[]<0.1024>", "a FETCH set=1 SECT.PEEK[]<0.1024>"),
    C("a FETCH 1 (BODY.PEEK[HEADER] BODY[TEXT])", "a FETCH set=1 SECT.PEEK[HEADER] SECT[TEXT]"),
    C("a FETCH 1 BODY.PEEK[HEADER.FIELDS (From To \"Subject\")]",
      "a FETCH set=1 SECT.PEEK[FIELDS A:From,A:To,Q:Subject]"),
    C("a FETCH 1 BODY[HEADER.FIELDS.NOT (Received)]<10.20>",
      "a FETCH set=1 SECT[FIELDS.NOT A:Received]<10.20>"),
    C("a FETCH 1 (BODY[1.2.MIME] BODY[3] BODY[2.HEADER] BODY[1.TEXT])",
      "a FETCH set=1 SECT[1.2.MIME] SECT[3.] SECT[2.HEADER] SECT[1.TEXT]"),
    C("a FETCH 1 BODY[HEADER.FIELDS ({4}\r\nDate)]", "a FETCH set=1 SECT[FIELDS L:Date]"),
    E("a FETCH 1 BODY[MIME]", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 BODY[0]", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 BODY[1.2.3.4.5.6.7.8.9]", MGW_PARSE_LIMIT, "a"),
    E("a FETCH 1 BODY[HEADER.FIELDS ()]", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 BODY[HEADER.FIELDS]", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 BODY[]<0.0>", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 BODY[]<1>", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 BODY.PEEK", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 (FLAGS", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 ()", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 FLAGSX", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 (ALL)", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1 (MODSEQ)", MGW_PARSE_SYNTAX, "a"),
    E("a FETCH 1", MGW_PARSE_SYNTAX, "a"),
    /* STORE */
    C("a STORE 1 +FLAGS (\\Seen)", "a STORE set=1 mode=1 flags=1"),
    C("a STORE 1:3 -FLAGS.SILENT (\\Deleted \\flagged $Junk)",
      "a STORE set=1:3 mode=2.SILENT flags=c,$Junk"),
    C("a STORE 2 FLAGS \\Answered \\Draft", "a STORE set=2 mode=0 flags=12"),
    C("a STORE 2 FLAGS ()", "a STORE set=2 mode=0 flags=0"),
    C("a STORE 2 +FLAGS (\\Recent)", "a STORE set=2 mode=1 flags=0,ext"),
    C("a STORE 2 +FLAGS (k k)", "a STORE set=2 mode=1 flags=0,k"),
    E("a STORE 2 *FLAGS (\\Seen)", MGW_PARSE_SYNTAX, "a"),
    E("a STORE 2 +FLAGS", MGW_PARSE_SYNTAX, "a"),
    E("a STORE 2 +FLAGS (\\)", MGW_PARSE_SYNTAX, "a"),
    E("a STORE 2 +FLAGS (\\Seen", MGW_PARSE_SYNTAX, "a"),
    /* UID */
    C("a UID FETCH 1:* (FLAGS)", "a UID FETCH set=1:* FLAGS"),
    C("a uid store 7 +FLAGS.SILENT (\\Deleted)", "a UID STORE set=7 mode=1.SILENT flags=8"),
    C("a UID COPY 1,3 Trash", "a UID COPY A:Trash set=1,3"),
    C("a UID MOVE 1:2 \"Junk\"", "a UID MOVE Q:Junk set=1:2"),
    C("a UID EXPUNGE 4:6", "a UID EXPUNGE set=4:6"),
    C("a UID SEARCH ALL", "a UID SEARCH AND/2 ALL/1"),
    C("a EXPUNGE", "a EXPUNGE"),
    E("a EXPUNGE 1", MGW_PARSE_SYNTAX, "a"),
    E("a UID LOGIN a b", MGW_PARSE_SYNTAX, "a"),
    E("a UID", MGW_PARSE_SYNTAX, "a"),
    E("a UID UID FETCH 1 UID", MGW_PARSE_SYNTAX, "a"),
    C("a COPY 1:* Archive", "a COPY A:Archive set=1:*"),
    /* SEARCH */
    C("a SEARCH UNSEEN", "a SEARCH AND/2 FLAGS/1+0-1"),
    C("a SEARCH NEW", "a SEARCH AND/2 FLAGS/1+20-1"),
    C("a SEARCH CHARSET UTF-8 FROM joe", "a SEARCH A:UTF-8 AND/2 HDR/1@A:FROM@A:joe"),
    C("a SEARCH HEADER X-Spam \"\"", "a SEARCH AND/2 HDR/1@A:X-Spam@Q:"),
    C("a SEARCH OR SEEN (FLAGGED DELETED) NOT 2:4",
      "a SEARCH AND/8 OR/5 FLAGS/1+1-0 AND/3 FLAGS/1+4-0 FLAGS/1+8-0 NOT/2 SEQ/1#2:4"),
    C("a SEARCH SINCE 1-Feb-2026 BEFORE \"28-Feb-2026\"",
      "a SEARCH AND/3 SINCE/1=20485 BEFORE/1=20512"),
    C("a SEARCH ON 1-Jan-1970 LARGER 1000 SMALLER 5",
      "a SEARCH AND/4 ON/1 LARGER/1=1000 SMALLER/1=5"),
    C("a SEARCH UID 1:* BODY {3}\r\nfoo", "a SEARCH AND/3 UID/1#1:* BODY/1@L:foo"),
    C("a SEARCH subject \"h\xc3\xa9\" text x keyword $Junk unkeyword k",
      "a SEARCH AND/5 HDR/1@A:SUBJECT@Q:h\xc3\xa9 TEXT/1@A:x KW/1@A:$Junk UNKW/1@A:k"),
    C("a SEARCH SENTON 29-Feb-2024", "a SEARCH AND/2 SON/1=19782"),
    E("a SEARCH SENTON 29-Feb-2025", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH SINCE 1-Fob-2026", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH SINCE 123-Feb-2026", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH ()", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH (SEEN", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH OR SEEN", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH NOT", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH FOO", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH SEEN  FLAGGED", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH SEEN ", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH LARGER x", MGW_PARSE_SYNTAX, "a"),
    E("a SEARCH FROM {3}", MGW_PARSE_NEED_MORE, "a"),
    E("a SEARCH NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT ALL",
      MGW_PARSE_LIMIT, "a"),
    /* APPEND */
    C("a APPEND Sent {310}", "a APPEND A:Sent flags=0 size=310"),
    C("a APPEND Drafts (\\Draft \\Seen) {5+}", "a APPEND A:Drafts flags=11 size=5+"),
    C("a APPEND INBOX () \" 1-Jan-2026 00:00:00 +0100\" {1}",
      "a APPEND A:INBOX flags=0 size=1 date=1767222000"),
    C("a APPEND INBOX \"31-Dec-2025 23:30:00 -0030\" {0}",
      "a APPEND A:INBOX flags=0 size=0 date=1767225600"),
    E("a APPEND {4}", MGW_PARSE_NEED_MORE, "a"),
    C("a APPEND INBOX {4294967295}", "a APPEND A:INBOX flags=0 size=4294967295"),
    E("a APPEND {65537}", MGW_PARSE_TOO_LONG, "a"),
    C("a APPEND {4}\r\nSent {9}", "a APPEND L:Sent flags=0 size=9"),
    E("a APPEND INBOX {3}\r\nabc", MGW_PARSE_SYNTAX, "a"),
    E("a APPEND INBOX", MGW_PARSE_SYNTAX, "a"),
    E("a APPEND INBOX \"1-Jan-2026 00:00:00 +0100\" {1}", MGW_PARSE_SYNTAX, "a"),
    E("a APPEND INBOX \"01-Jan-2026 24:00:00 +0100\" {1}", MGW_PARSE_SYNTAX, "a"),
    E("a APPEND INBOX {1} {2}", MGW_PARSE_SYNTAX, "a"),
    /* the rest */
    C("a ID NIL", "a ID"),
    C("a ID (\"name\" \"mutt\" \"version\" NIL)", "a ID"),
    C("a ID ()", "a ID"),
    E("a ID (\"name\")", MGW_PARSE_SYNTAX, "a"),
    E("a ID", MGW_PARSE_SYNTAX, "a"),
    C("a ENABLE UTF8=ACCEPT CONDSTORE", "a ENABLE A:UTF8=ACCEPT A:CONDSTORE"),
    E("a ENABLE", MGW_PARSE_SYNTAX, "a"),
    C("a IDLE", "a IDLE"),
    C("a NAMESPACE", "a NAMESPACE"),
    C("a UNSELECT", "a UNSELECT"),
    C("a CHECK", "a CHECK"),
    C("a CLOSE", "a CLOSE"),
    C("a STARTTLS", "a STARTTLS"),
};

static void test_parse_table(void **state)
{
	static struct imap_cmd cmd;
	struct out o;

	(void)state;
	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *t = &pcases[i];
		int rc = imap_cmd_parse((const uint8_t *)t->in, strlen(t->in), &cmd);

		if (rc != t->rc)
			fail_msg("'%s': rc %d, want %d (%s)", t->in, rc, t->rc,
				 cmd.err ? cmd.err : "no error");
		if (rc != MGW_PARSE_OK) {
			if (rc != MGW_PARSE_NEED_MORE && cmd.err == NULL)
				fail_msg("'%s': no error text", t->in);
			if (cmd.taglen != strlen(t->want) ||
			    (cmd.taglen && memcmp(cmd.tag, t->want, cmd.taglen) != 0))
				fail_msg("'%s': tag length %zu, want '%s'", t->in, cmd.taglen,
					 t->want);
			continue;
		}
		render(&cmd, &o);
		if (strcmp(o.s, t->want) != 0)
			fail_msg("'%s':\n  got  '%s'\n  want '%s'", t->in, o.s, t->want);
	}
}

/* The literal asked for at the end of the buffer, and the literal helper for lines. */
static void test_literals(void **state)
{
	static struct imap_cmd cmd;
	static const uint8_t nul[] = "a LOGIN {3}\r\nj\0e pw";
	uint32_t n;
	bool plus;

	(void)state;
	assert_int_equal(imap_cmd_parse((const uint8_t *)"a LOGIN {12+}", 13, &cmd),
			 MGW_PARSE_NEED_MORE);
	assert_int_equal(cmd.lit_len, 12);
	assert_true(cmd.lit_plus);
	assert_int_equal(imap_cmd_parse((const uint8_t *)"a LOGIN x {7}", 13, &cmd),
			 MGW_PARSE_NEED_MORE);
	assert_int_equal(cmd.lit_len, 7);
	assert_false(cmd.lit_plus);
	assert_int_equal(imap_cmd_parse(nul, sizeof(nul) - 1, &cmd), MGW_PARSE_SYNTAX);
	assert_int_equal(imap_cmd_parse((const uint8_t *)"a NOOP {3}", 10, &cmd), MGW_PARSE_SYNTAX);

	assert_true(imap_line_literal((const uint8_t *)"a NOOP {3}", 10, &n, &plus));
	assert_int_equal(n, 3);
	assert_false(plus);
	assert_true(imap_line_literal((const uint8_t *)"x {4294967295+}", 15, &n, &plus));
	assert_int_equal(n, 4294967295u);
	assert_true(plus);
	assert_false(imap_line_literal((const uint8_t *)"x {4294967296}", 14, &n, &plus));
	assert_false(imap_line_literal((const uint8_t *)"x {}", 4, &n, &plus));
	assert_false(imap_line_literal((const uint8_t *)"x {+}", 5, &n, &plus));
	assert_false(imap_line_literal((const uint8_t *)"x 3}", 4, &n, &plus));
	assert_false(imap_line_literal((const uint8_t *)"{3} x", 5, &n, &plus));
}

static void test_limits(void **state)
{
	static struct imap_cmd cmd;
	static uint8_t big[IMAP_CMD_MAX + 16];
	size_t n;

	(void)state;
	/* IMAP_SEQ_RANGES_MAX ranges fit, one more does not */
	n = (size_t)snprintf((char *)big, sizeof(big), "a FETCH 1");
	for (int i = 1; i < IMAP_SEQ_RANGES_MAX; i++)
		n += (size_t)snprintf((char *)big + n, sizeof(big) - n, ",%d", i + 1);
	memcpy(big + n, " UID", 4);
	assert_int_equal(imap_cmd_parse(big, n + 4, &cmd), MGW_PARSE_OK);
	assert_int_equal(cmd.set.count, IMAP_SEQ_RANGES_MAX);
	memcpy(big + n, ",9 UID", 6);
	assert_int_equal(imap_cmd_parse(big, n + 6, &cmd), MGW_PARSE_LIMIT);
	assert_non_null(cmd.err);

	/* the tag */
	memset(big, 'T', IMAP_TAG_MAX + 1);
	memcpy(big + IMAP_TAG_MAX, " NOOP", 5);
	assert_int_equal(imap_cmd_parse(big, IMAP_TAG_MAX + 5, &cmd), MGW_PARSE_OK);
	memset(big, 'T', IMAP_TAG_MAX + 1);
	memcpy(big + IMAP_TAG_MAX + 1, " NOOP", 5);
	assert_int_equal(imap_cmd_parse(big, IMAP_TAG_MAX + 6, &cmd), MGW_PARSE_TOO_LONG);
	assert_int_equal(cmd.taglen, 0);

	/* the whole command */
	memset(big, 'x', sizeof(big));
	memcpy(big, "a LOGIN x ", 10);
	assert_int_equal(imap_cmd_parse(big, IMAP_CMD_MAX, &cmd), MGW_PARSE_OK);
	assert_int_equal(imap_cmd_parse(big, IMAP_CMD_MAX + 1, &cmd), MGW_PARSE_TOO_LONG);

	/* too many fetch attributes, header fields, search keys, ID pairs */
	n = (size_t)snprintf((char *)big, sizeof(big), "a FETCH 1 (UID");
	for (int i = 1; i <= IMAP_FETCH_ATTS_MAX; i++)
		n += (size_t)snprintf((char *)big + n, sizeof(big) - n, " UID");
	big[n++] = ')';
	assert_int_equal(imap_cmd_parse(big, n, &cmd), MGW_PARSE_LIMIT);
	n = (size_t)snprintf((char *)big, sizeof(big), "a FETCH 1 BODY[HEADER.FIELDS (A");
	for (int i = 1; i <= IMAP_HDR_FIELDS_MAX; i++)
		n += (size_t)snprintf((char *)big + n, sizeof(big) - n, " A");
	n += (size_t)snprintf((char *)big + n, sizeof(big) - n, ")]");
	assert_int_equal(imap_cmd_parse(big, n, &cmd), MGW_PARSE_LIMIT);
	n = (size_t)snprintf((char *)big, sizeof(big), "a SEARCH ALL");
	for (int i = 1; i < IMAP_SEARCH_KEYS_MAX - 1; i++)
		n += (size_t)snprintf((char *)big + n, sizeof(big) - n, " ALL");
	assert_int_equal(imap_cmd_parse(big, n, &cmd), MGW_PARSE_OK);
	assert_int_equal(cmd.nskeys, IMAP_SEARCH_KEYS_MAX);
	assert_int_equal(cmd.skeys[0].span, IMAP_SEARCH_KEYS_MAX);
	memcpy(big + n, " ALL", 4);
	assert_int_equal(imap_cmd_parse(big, n + 4, &cmd), MGW_PARSE_LIMIT);
	n = (size_t)snprintf((char *)big, sizeof(big), "a ID (");
	for (int i = 0; i <= IMAP_ID_PAIRS_MAX; i++)
		n +=
		    (size_t)snprintf((char *)big + n, sizeof(big) - n, "%s\"k\" NIL", i ? " " : "");
	big[n++] = ')';
	assert_int_equal(imap_cmd_parse(big, n, &cmd), MGW_PARSE_LIMIT);
}

static void test_str_helpers(void **state)
{
	struct imap_str q = {(const uint8_t *)"a\\\"b\\\\c", 7, IMAP_STR_QUOTED};
	struct imap_str nil = {NULL, 0, IMAP_STR_NIL};
	char out[8];
	size_t n;

	(void)state;
	assert_int_equal(imap_str_get(&q, out, sizeof(out), &n), MGW_PARSE_OK);
	assert_string_equal(out, "a\"b\\c");
	assert_int_equal(n, 5);
	assert_int_equal(imap_str_get(&q, out, 5, &n), MGW_PARSE_TOO_LONG);
	assert_int_equal(imap_str_get(&nil, out, sizeof(out), &n), MGW_PARSE_OK);
	assert_int_equal(n, 0);
	assert_true(imap_str_eq_ci(&q, "A\"B\\C"));
	assert_false(imap_str_eq_ci(&q, "A\"B\\"));
	assert_false(imap_str_eq_ci(&q, "A\"B\\CD"));
	assert_int_equal(imap_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(imap_days_from_civil(2000, 3, 1), 11017);
	assert_string_equal(imap_cmd_name(IMAP_CMD_FETCH), "FETCH");
	assert_string_equal(imap_cmd_name(IMAP_CMD_UNKNOWN), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_literals),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_str_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
