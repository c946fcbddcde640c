/*
 * test_mime.c - the MIME parser and its renderers on hand-written edge cases: the
 * BODYSTRUCTURE each message gets (the expected strings are what Debian's dovecot 2.3
 * answers for the same bytes, except where a comment says why not), limits, RFC 2047
 * words, RFC 2231 values, transfer decodings over any chunking, case folding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime/mime.h"
#include "proto/imap_fetch.h"
#include "proto/imap_parse.h"

static struct imap_mime im;

static void parse(const char *msg, size_t len)
{
	imap_mime_use(&im, (const uint8_t *)msg, len);
	mime_parse(&im.msg, (const uint8_t *)msg, len);
	im.parsed = true;
}

static char *render(enum imap_fatt_kind kind)
{
	uint8_t *out;
	size_t n;
	char *s;

	assert_int_equal(imap_fetch_render(&im, kind, "", &out, &n), 0);
	s = malloc(n + 1);
	assert_non_null(s);
	memcpy(s, out, n);
	s[n] = '\0';
	free(out);
	return s;
}

static const struct {
	const char *name, *msg, *want;
} bs_cases[] = {
    {"nested mixed/alternative, RFC 2231 name, message/rfc822",
     "From: a@b\r\nContent-Type: multipart/mixed; boundary=\"AAA\"\r\n\r\npreamble\r\n--AAA\r\n"
     "Content-Type: multipart/alternative; boundary=BBB\r\n\r\n--BBB\r\n"
     "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
     "\r\nh=C3=A9llo\r\nline2\r\n--BBB\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--BBB--\r\n"
     "--AAA\r\nContent-Type: application/pdf; name*0*=utf-8''%E2%82%AC; name*1=\"rest.pdf\"\r\n"
     "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.pdf\r\n"
     "Content-Transfer-Encoding: base64\r\nContent-ID: <cid1>\r\n"
     "Content-Description: =?utf-8?q?d=C3=A9sc?=\r\nContent-Language: en, de\r\n"
     "Content-Location: http://x/y\r\nContent-MD5: abc\r\n\r\naGVsbG8=\r\n"
     "--AAA\r\nContent-Type: message/rfc822\r\n\r\nFrom: in@x.org\r\nSubject: inner\r\n"
     "Content-Type: text/plain\r\n\r\ninner body\r\n--AAA--\r\nepilogue\r\n",
     "BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 17 "
     "1 "
     "NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 9 0 NIL NIL "
     "NIL NIL) \"alternative\" (\"boundary\" \"BBB\") NIL NIL NIL)(\"application\" \"pdf\" "
     "(\"name*\" \"utf-8''%E2%82%ACrest.pdf\") \"<cid1>\" \"=?utf-8?q?d=C3=A9sc?=\" \"base64\" 8 "
     "\"abc\" (\"attachment\" (\"filename*\" \"utf-8''%E2%82%AC.pdf\")) (\"en\" \"de\") "
     "\"http://x/y\")(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 70 (NIL \"inner\" ((NIL NIL "
     "\"in\" \"x.org\")) ((NIL NIL \"in\" \"x.org\")) ((NIL NIL \"in\" \"x.org\")) NIL NIL NIL "
     "NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL "
     "NIL) 4 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"AAA\") NIL NIL NIL)"},
    /* dovecot: 12 0 for the last part; the store's CRLF form adds a final CR LF to a
     * message that does not end in LF (store/crlf.h), which the part holds: 14 1 */
    {"LF line ends, a part without header, an unterminated last part",
     "Subject: lf\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\n\nno header part\n--zz\n"
     "Content-Type: text/plain\n\nunterminated",
     "BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 0 NIL NIL "
     "NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 1 NIL NIL NIL "
     "NIL) \"mixed\" (\"boundary\" \"zz\") NIL NIL NIL)"},
    {"no blank line after the header", "Subject: nohdrend",
     "BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL "
     "NIL NIL)"},
    {"a boundary that never comes",
     "Content-Type: multipart/mixed; boundary=nope\r\n\r\nno boundary here\r\n",
     "BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL "
     "NIL NIL) \"mixed\" (\"boundary\" \"nope\") NIL NIL NIL)"},
    {"multipart without a boundary parameter", "Content-Type: multipart/mixed\r\n\r\nx\r\n",
     "BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL "
     "NIL NIL) \"mixed\" NIL NIL NIL NIL)"},
    {"RFC 2231 continuations out of order, plain parameters first",
     "Content-Type: application/x; b*1=two; a=1; b*0=one; c*=us-ascii'en'x%41\r\n"
     "Content-Language: en\r\nContent-Disposition: inline\r\n"
     "Content-Transfer-Encoding: BASE64\r\n\r\nQUJD\r\n",
     "BODYSTRUCTURE (\"application\" \"x\" (\"a\" \"1\" \"b\" \"onetwo\" \"c*\" "
     "\"us-ascii'en'x%41\") NIL NIL \"BASE64\" 6 NIL (\"inline\" NIL) (\"en\") NIL)"},
    {"multipart/digest: parts default to message/rfc822",
     "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in digest\r\n\r\n"
     "x\r\n--d--\r\n",
     "BODYSTRUCTURE ((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 23 (NIL \"in digest\" NIL NIL "
     "NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 "
     "0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)"},
    {"the first Content-Type counts, case kept",
     "Content-Type: Text/HTML\r\nContent-Type: text/plain\r\n\r\nx\r\n",
     "BODYSTRUCTURE (\"Text\" \"HTML\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL "
     "NIL)"},
    {"a boundary matched as a prefix, innermost first; outer boundary closes inner parts",
     "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
     "Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\n\r\none\r\n--a\r\n\r\ntwo\r\n"
     "--a--\r\n",
     "BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL "
     "NIL NIL) \"mixed\" (\"boundary\" \"ab\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"a\") NIL NIL "
     "NIL)"},
};

static void test_bodystructure_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bs_cases) / sizeof(bs_cases[0]); i++) {
		char *got;

		parse(bs_cases[i].msg, strlen(bs_cases[i].msg));
		got = render(IMAP_FATT_BODYSTRUCTURE);
		if (strcmp(got, bs_cases[i].want) != 0)
			fail_msg("%s:\n got  %s\n want %s", bs_cases[i].name, got,
				 bs_cases[i].want);
		free(got);
	}
}

static void test_envelope_addresses(void **state)
{
	static const char msg[] =
	    "From: foo\r\nTo: <>, a@b (Real Name), \"q\\\"x\" <@r1,@r2:u@h>\r\n"
	    "Cc: Joe   Q.  Public <jqp@x.org>\r\nBcc: undisclosed-recipients:;\r\n"
	    "Reply-To: grp: a@b.c, d@e.f;\r\nSubject:\r\nIn-Reply-To: <a@b>\r\n"
	    "Message-ID: \r\n  <id@x>\r\n\r\nx\r\n";
	/* dovecot 2.3's answer for the same header */
	static const char want[] =
	    "ENVELOPE (NIL \"\" ((NIL NIL \"foo\" \"MISSING_DOMAIN\")) ((NIL NIL \"foo\" "
	    "\"MISSING_DOMAIN\")) ((NIL NIL \"grp\" NIL)(NIL NIL \"a\" \"b.c\")(NIL NIL \"d\" "
	    "\"e.f\")(NIL NIL NIL NIL)) ((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")(\"Real "
	    "Name\" NIL \"a\" \"b\")(\"q\\\"x\" \"@r1,@r2\" \"u\" \"h\")) ((\"Joe Q. Public\" NIL "
	    "\"jqp\" "
	    "\"x.org\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) \"<a@b>\" \"  "
	    "<id@x>\")";
	char *got;

	(void)state;
	parse(msg, sizeof(msg) - 1);
	got = render(IMAP_FATT_ENVELOPE);
	assert_string_equal(got, want);
	free(got);
}

/* Sections by part number: what BODY[...] sends, as a substring of the CRLF form. */
static void test_sections(void **state)
{
	static const char msg[] =
	    "Subject: s\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: "
	    "text/plain\n\none\n--x\nContent-Type: message/rfc822\n\nSubject: in\nTo: t@x\n\n"
	    "inner\n--x--\n";
	static const struct {
		const char *fetch, *want;
	} sects[] = {
	    {"BODY[1]", "one"},
	    {"BODY[1.MIME]", "Content-Type: text/plain\r\n\r\n"},
	    {"BODY[2]", "Subject: in\r\nTo: t@x\r\n\r\ninner"},
	    {"BODY[2.HEADER]", "Subject: in\r\nTo: t@x\r\n\r\n"},
	    {"BODY[2.TEXT]", "inner"},
	    {"BODY[2.1]", "inner"},
	    {"BODY[2.HEADER.FIELDS (to)]", "To: t@x\r\n\r\n"},
	    {"BODY[2.HEADER.FIELDS.NOT (to)]", "Subject: in\r\n\r\n"},
	    {"BODY[3]", ""},	    /* no such part: empty, as dovecot */
	    {"BODY[1.2]", ""},	    /* a leaf has no parts */
	    {"BODY[1.HEADER]", ""}, /* HEADER only of a message/rfc822 part */
	};
	char crlf[512];
	size_t cn = 0;

	(void)state;
	for (const char *p = msg; *p; p++) {
		if (*p == '\n')
			crlf[cn++] = '\r';
		crlf[cn++] = *p;
	}
	parse(msg, sizeof(msg) - 1);
	for (size_t i = 0; i < sizeof(sects) / sizeof(sects[0]); i++) {
		static struct imap_cmd c;
		char line[128];
		uint64_t start, len;
		uint8_t *mem;
		size_t ml;

		snprintf(line, sizeof(line), "a FETCH 1 (%s)", sects[i].fetch);
		assert_int_equal(imap_cmd_parse((const uint8_t *)line, strlen(line), &c), 0);
		assert_int_equal(imap_fetch_section(&im, &c, &c.fatts[0], &start, &len, &mem, &ml),
				 0);
		if (mem) {
			if (ml != strlen(sects[i].want) || memcmp(mem, sects[i].want, ml) != 0)
				fail_msg("%s: got %.*s", sects[i].fetch, (int)ml, mem);
			free(mem);
			continue;
		}
		assert_true(start + len <= cn);
		if (len != strlen(sects[i].want) || memcmp(crlf + start, sects[i].want, len) != 0)
			fail_msg("%s: got [%.*s]", sects[i].fetch, (int)len, crlf + start);
	}
}

/* Past the limits the structure stays sane and bounded. */
static void test_limits(void **state)
{
	size_t cap = 200 * 1024, n = 0;
	char *msg = malloc(cap);

	(void)state;
	assert_non_null(msg);
	/* 40 nested multiparts: deeper than MIME_DEPTH_MAX */
	for (int d = 0; d < 40; d++)
		n += (size_t)snprintf(
		    msg + n, cap - n,
		    "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", d, d);
	n += (size_t)snprintf(msg + n, cap - n, "\r\ndeep\r\n");
	parse(msg, n);
	assert_true(im.msg.truncated);
	for (uint16_t i = 0; i < im.msg.nparts; i++)
		assert_true(im.msg.parts[i].depth < MIME_DEPTH_MAX);
	free(render(IMAP_FATT_BODYSTRUCTURE));
	/* 2000 parts: more than MIME_PARTS_MAX */
	n = (size_t)snprintf(msg, cap, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (int k = 0; k < 2000; k++)
		n += (size_t)snprintf(msg + n, cap - n, "--p\r\n\r\n%d\r\n", k);
	n += (size_t)snprintf(msg + n, cap - n, "--p--\r\n");
	parse(msg, n);
	assert_true(im.msg.truncated);
	assert_int_equal(im.msg.nparts, MIME_PARTS_MAX);
	assert_int_equal(im.msg.parts[0].vend_off, n); /* the rest stays in the message */
	free(render(IMAP_FATT_BODYSTRUCTURE));
	/* 5000 parameters, half of them RFC 2231 sections: at most MIME_PARAMS_MAX are
	 * looked at, so the work stays bounded (each would be joined by a scan of all) */
	n = (size_t)snprintf(msg, cap, "Content-Type: text/plain");
	for (int k = 0; k < 5000; k++)
		n += (size_t)snprintf(msg + n, cap - n, k % 2 ? "; p%d=v" : "; f*%d=v", k / 2);
	n += (size_t)snprintf(msg + n, cap - n, "\r\n\r\nx\r\n");
	parse(msg, n);
	{
		char *bs = render(IMAP_FATT_BODYSTRUCTURE);
		unsigned quotes = 0;

		for (const char *q = bs; *q; q++)
			quotes += *q == '"';
		/* type, subtype, 7bit, charset pair, and the parameters' names and values */
		assert_true(quotes / 2 <= 3 + 2 + 2 * MIME_PARAMS_MAX);
		free(bs);
	}
	free(msg);
	/* 5000 recipients in To: the first IMAP_ENVELOPE_ADDRS_MAX of them */
	msg = malloc(cap);
	assert_non_null(msg);
	n = (size_t)snprintf(msg, cap, "To: ");
	for (int k = 0; k < 5000; k++)
		n += (size_t)snprintf(msg + n, cap - n, "%su%d@x.org", k ? ", " : "", k);
	n += (size_t)snprintf(msg + n, cap - n, "\r\n\r\n");
	parse(msg, n);
	{
		char *env = render(IMAP_FATT_ENVELOPE), want[32];

		snprintf(want, sizeof(want), "\"u%d\"", IMAP_ENVELOPE_ADDRS_MAX - 1);
		assert_non_null(strstr(env, want));
		snprintf(want, sizeof(want), "\"u%d\"", IMAP_ENVELOPE_ADDRS_MAX);
		assert_null(strstr(env, want));
		free(env);
	}
	free(msg);
	/* 500 parts with a 9 KiB description each: a BODYSTRUCTURE past
	 * IMAP_FETCH_RENDER_MAX is sent as one opaque part */
	msg = malloc(6 * 1024 * 1024);
	assert_non_null(msg);
	n = (size_t)sprintf(msg, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (int k = 0; k < 499; k++) {
		n += (size_t)sprintf(msg + n, "--p\r\nContent-Description: ");
		memset(msg + n, 'd', 9 * 1024);
		n += 9 * 1024;
		n += (size_t)sprintf(msg + n, "\r\n\r\n%d\r\n", k);
	}
	n += (size_t)sprintf(msg + n, "--p--\r\n");
	parse(msg, n);
	{
		char *bs = render(IMAP_FATT_BODYSTRUCTURE), want[128];

		snprintf(
		    want, sizeof(want),
		    "BODYSTRUCTURE (\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" %llu NIL "
		    "NIL NIL NIL)",
		    (unsigned long long)(im.msg.parts[0].vend_off - im.msg.parts[0].vbody_off));
		assert_string_equal(bs, want);
		free(bs);
	}
	free(msg);
	/* a 3 MiB Subject: rendered cut, the scratch bounded by IMAP_FETCH_VALUE_MAX */
	n = 3 * 1024 * 1024;
	msg = malloc(n + 64);
	assert_non_null(msg);
	memcpy(msg, "Subject: ", 9);
	memset(msg + 9, 'x', n);
	memcpy(msg + 9 + n, "\r\nTo: a@b\r\n\r\nbody\r\n", 19);
	parse(msg, n + 28);
	{
		char *env = render(IMAP_FATT_ENVELOPE);
		size_t el = strlen(env);

		assert_true(el > IMAP_FETCH_VALUE_MAX && el < 5 * IMAP_FETCH_VALUE_MAX);
		assert_non_null(strstr(env, "((NIL NIL \"a\" \"b\"))"));
		free(env);
	}
	assert_true(imap_search_hdr(&im, "to", (const uint8_t *)"A@B", 3));
	free(msg);
}

static void test_encoded_words(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"=?iso-8859-1?q?caf=E9?= =?utf-8?b?w6k=?= plain", "caf\xc3\xa9\xc3\xa9 plain"},
	    {"=?UTF-8?Q?J=C3=B6rg_B?=", "J\xc3\xb6rg B"},
	    {"=?iso-8859-15?q?=A4?=", "\xe2\x82\xac"},
	    {"=?windows-1252?q?=80=96?=", "\xe2\x82\xac\xe2\x80\x93"},
	    {"=?us-ascii*en?q?a?=", "a"},	      /* RFC 2231 5 language */
	    {"=?koi8-r?q?=C1?=", "=?koi8-r?q?=C1?="}, /* unknown charset: as it is */
	    {"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},   /* unknown encoding */
	    {"=?utf-8?q?a b?=", "=?utf-8?q?a b?="},   /* a blank inside: not a word */
	    {"a =?utf-8?q?b?=  c", "a b  c"},	      /* blanks next to text stay */
	    {"=?utf-8?q?a?=\t =?utf-8?q?b?=", "ab"},  /* RFC 2047 6.2 */
	    {"=?utf-8?b?", "=?utf-8?b?"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[256];
		struct mime_out o = {.p = buf, .cap = sizeof(buf) - 1};

		mime_ew_decode((const uint8_t *)cases[i].in, strlen(cases[i].in), &o);
		buf[o.len] = '\0';
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("%s: got %s want %s", cases[i].in, buf, cases[i].want);
	}
}

static void test_rfc2231_values(void **state)
{
	static const char msg[] =
	    "Content-Disposition: attachment;\r\n filename*0*=iso-8859-1'fr'caf%E9;\r\n"
	    " filename*1=\" menu.pdf\"; size=3\r\n\r\n";
	struct mime_span v;
	char buf[128];
	struct mime_out o = {.p = buf, .cap = sizeof(buf)};

	(void)state;
	parse(msg, sizeof(msg) - 1);
	assert_true(mime_hdr_find(&im.msg, &im.msg.parts[0], "content-disposition", &v));
	assert_true(mime_param_get(&im.msg, v, "filename", &o));
	assert_int_equal(o.len, strlen("caf\xc3\xa9 menu.pdf"));
	assert_memory_equal(buf, "caf\xc3\xa9 menu.pdf", o.len);
	o.len = 0;
	assert_true(mime_param_get(&im.msg, v, "size", &o));
	assert_memory_equal(buf, "3", 1);
	assert_false(mime_param_get(&im.msg, v, "name", &o));
}

/* Decoders give the same bytes however the input is cut into chunks. */
static void test_transfer_decoding(void **state)
{
	static const struct {
		enum mime_cte kind;
		const char *in, *want;
	} cases[] = {
	    {MIME_CTE_BASE64, "aGVs\r\nbG8=", "hello"},
	    {MIME_CTE_BASE64, "aGVsbA==\r\n", "hell"},
	    {MIME_CTE_QP, "h=C3=A9llo=\r\nw=\norld =3D=\r\n",
	     "h\xc3\xa9llow"
	     "orld ="},
	    {MIME_CTE_QP, "a=zz b=4x", "a=zz b=4x"}, /* broken escapes kept */
	    {MIME_CTE_IDENTITY, "as=3Dis", "as=3Dis"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);

		for (size_t cut = 0; cut <= len; cut++) {
			struct mime_dec d = {.kind = (uint8_t)cases[i].kind};
			uint8_t out[64];
			size_t n = mime_dec_run(&d, (const uint8_t *)cases[i].in, cut, out);

			n += mime_dec_run(&d, (const uint8_t *)cases[i].in + cut, len - cut,
					  out + n);
			if (n != strlen(cases[i].want) || memcmp(out, cases[i].want, n) != 0)
				fail_msg("case %zu cut %zu: got %.*s", i, cut, (int)n, out);
		}
	}
}

static void test_fold(void **state)
{
	char s[] = "CAF\xc3\x89 \xc3\x96L \xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91 "
		   "\xd0\x9c\xd0\x98\xd0\xa0 \xc5\x81\xc3\x93"
		   "D\xc5\xb9 \xc3\x97";
	static const char want[] = "caf\xc3\xa9 \xc3\xb6l \xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1 "
				   "\xd0\xbc\xd0\xb8\xd1\x80 \xc5\x82\xc3\xb3"
				   "d\xc5\xba \xc3\x97";

	(void)state;
	mime_utf8_fold((uint8_t *)s, strlen(s));
	assert_string_equal(s, want);
}

/* SEARCH helpers: decoded headers and bodies, folded case. */
static void test_search(void **state)
{
	static const char msg[] =
	    "Subject: =?iso-8859-1?q?Caf=E9_cr=E8me?=\r\nFrom: =?utf-8?b?SsO2cmc=?= <j@x>\r\n"
	    "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
	    "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\nSo=DFe und "
	    "Gr=FC=\r\nnkohl\r\n--q\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nU2VjcmV0IHdv\r\ncmQ=\r\n--q--\r\n";
	(void)state;
	parse(msg, sizeof(msg) - 1);
#define HDR(name, t) imap_search_hdr(&im, name, (const uint8_t *)(t), strlen(t))
#define TXT(t, h) imap_search_text(&im, (const uint8_t *)(t), strlen(t), h)
	assert_true(HDR("subject", "CAF\xc3\x89 CR\xc3\x88ME"));
	assert_true(HDR("SUBJECT", "caf\xc3\xa9"));
	assert_false(HDR("subject", "=E9"));
	assert_true(HDR("from", "j\xc3\xb6rg"));
	assert_true(TXT("so\xc3\x9f"
			"e",
			false));
	assert_true(TXT("GR\xc3\x9cNKOHL", false)); /* a soft line break inside the word */
	assert_true(TXT("secret word", false));	    /* base64 */
	assert_false(TXT("U2VjcmV0", false));	    /* the encoded form is not the text */
	assert_false(TXT("caf\xc3\xa9", false));    /* BODY: not the header */
	assert_true(TXT("caf\xc3\xa9", true));	    /* TEXT: the header too */
#undef HDR
#undef TXT
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bodystructure_table),
	    cmocka_unit_test(test_envelope_addresses),
	    cmocka_unit_test(test_sections),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_encoded_words),
	    cmocka_unit_test(test_rfc2231_values),
	    cmocka_unit_test(test_transfer_decoding),
	    cmocka_unit_test(test_fold),
	    cmocka_unit_test(test_search),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
