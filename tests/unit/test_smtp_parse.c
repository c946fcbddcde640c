/* test_smtp_parse.c - the SMTP command grammar, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/smtp_parse.h"

struct parse_case {
	const char *line;
	int rc;
	enum smtp_verb verb;
	enum smtp_why why;
	const char *local;  /* expected local part, NULL: not checked */
	const char *domain; /* expected domain, NULL: not checked */
	enum smtp_fwd fwd;  /* forward check for RCPT */
};

#define OK_(l, v) { l, MGW_PARSE_OK, v, SMTP_WHY_NONE, NULL, NULL, SMTP_FWD_OK }
#define BAD(l, v, w) { l, MGW_PARSE_SYNTAX, v, w, NULL, NULL, SMTP_FWD_OK }
#define RCPT(l, lp, d, f) { l, MGW_PARSE_OK, SMTP_V_RCPT, SMTP_WHY_NONE, lp, d, f }

static const struct parse_case cases[] = {
	OK_("EHLO client.example", SMTP_V_EHLO),
	OK_("ehlo [192.0.2.1]", SMTP_V_EHLO),
	OK_("HELO host.example.", SMTP_V_HELO),
	BAD("EHLO", SMTP_V_EHLO, SMTP_WHY_ARGS),
	BAD("EHLO bad_host!", SMTP_V_EHLO, SMTP_WHY_ARGS),
	BAD("EHLO b\xc3\xa4r.example", SMTP_V_EHLO, SMTP_WHY_ARGS),
	BAD("EHLO -bad.example", SMTP_V_EHLO, SMTP_WHY_ARGS),
	OK_("MAIL FROM:<>", SMTP_V_MAIL),
	OK_("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME", SMTP_V_MAIL),
	OK_("mail from: <a@b.example>", SMTP_V_MAIL),
	OK_("MAIL FROM:<\"quoted local\"@b.example>", SMTP_V_MAIL),
	OK_("MAIL FROM:<@relay.example:a@b.example>", SMTP_V_MAIL),
	OK_("MAIL FROM:<a@[192.0.2.1]>", SMTP_V_MAIL),
	OK_("MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8", SMTP_V_MAIL),
	BAD("MAIL FROM:<j\xc3\xb6rg@b.example>", SMTP_V_MAIL, SMTP_WHY_UTF8),
	BAD("MAIL FROM:<j\xc3rg@b.example> SMTPUTF8", SMTP_V_MAIL, SMTP_WHY_PATH),
	BAD("MAIL FROM:a@b.example", SMTP_V_MAIL, SMTP_WHY_PATH),
	BAD("MAIL FROM:<a@b.example", SMTP_V_MAIL, SMTP_WHY_PATH),
	BAD("MAIL FROM:<a@b.example>x", SMTP_V_MAIL, SMTP_WHY_PARAM),
	BAD("MAIL FROM:<a@b.example> SIZE=abc", SMTP_V_MAIL, SMTP_WHY_PARAM),
	BAD("MAIL FROM:<a@b.example> SIZE=123456789012345678901", SMTP_V_MAIL, SMTP_WHY_PARAM),
	BAD("MAIL FROM:<a@b.example> BODY=BINARYMIME", SMTP_V_MAIL, SMTP_WHY_PARAM),
	BAD("MAIL FROM:<a@b.example> SIZE=1 SIZE=2", SMTP_V_MAIL, SMTP_WHY_PARAM),
	BAD("MAIL FROM:<a@b.example> FOO=bar", SMTP_V_MAIL, SMTP_WHY_PARAM),
	BAD("MAIL TO:<a@b.example>", SMTP_V_MAIL, SMTP_WHY_ARGS),
	BAD("MAIL FROM:<a..b@b.example>", SMTP_V_MAIL, SMTP_WHY_PATH),
	BAD("MAIL FROM:<a@b..example>", SMTP_V_MAIL, SMTP_WHY_PATH),
	BAD("MAIL FROM:<a@-b.example>", SMTP_V_MAIL, SMTP_WHY_PATH),
	RCPT("RCPT TO:<alice@example.com>", "alice", "example.com", SMTP_FWD_OK),
	RCPT("rcpt to:<Alice@Example.COM>", "Alice", "Example.COM", SMTP_FWD_OK),
	RCPT("RCPT TO:<postmaster>", "postmaster", NULL, SMTP_FWD_OK),
	RCPT("RCPT TO:<PostMaster>", "PostMaster", NULL, SMTP_FWD_OK),
	RCPT("RCPT TO:<@a.example,@b.example:alice@c.example>", "alice", "c.example", SMTP_FWD_ROUTE),
	RCPT("RCPT TO:<alice%evil.example@example.com>", "alice%evil.example", "example.com",
	     SMTP_FWD_PERCENT),
	RCPT("RCPT TO:<\"alice\"@example.com>", "\"alice\"", "example.com", SMTP_FWD_QUOTED),
	RCPT("RCPT TO:<\"a@evil\"@example.com>", "\"a@evil\"", "example.com", SMTP_FWD_QUOTED),
	RCPT("RCPT TO:<user@[127.0.0.1]>", "user", "[127.0.0.1]", SMTP_FWD_LITERAL),
	RCPT("RCPT TO:<user@[IPv6:::1]>", "user", "[IPv6:::1]", SMTP_FWD_LITERAL),
	BAD("RCPT TO:<>", SMTP_V_RCPT, SMTP_WHY_PATH),
	BAD("RCPT TO:<alice>", SMTP_V_RCPT, SMTP_WHY_PATH),
	BAD("RCPT TO:<alice@example.com> NOTIFY=NEVER", SMTP_V_RCPT, SMTP_WHY_PARAM),
	BAD("RCPT TO:<alice@example.com> SIZE=10", SMTP_V_RCPT, SMTP_WHY_PARAM),
	BAD("RCPT TO:<a@b@example.com>", SMTP_V_RCPT, SMTP_WHY_PATH),
	BAD("RCPT TO:<a b@example.com>", SMTP_V_RCPT, SMTP_WHY_PATH),
	BAD("RCPT TO:<user@[]>", SMTP_V_RCPT, SMTP_WHY_PATH),
	OK_("DATA", SMTP_V_DATA),
	OK_("data ", SMTP_V_DATA),
	BAD("DATA now", SMTP_V_DATA, SMTP_WHY_ARGS),
	OK_("RSET", SMTP_V_RSET),
	OK_("NOOP", SMTP_V_NOOP),
	OK_("NOOP anything at all", SMTP_V_NOOP),
	OK_("QUIT", SMTP_V_QUIT),
	OK_("HELP", SMTP_V_HELP),
	OK_("VRFY alice", SMTP_V_VRFY),
	OK_("EXPN staff", SMTP_V_EXPN),
	BAD("VRFY", SMTP_V_VRFY, SMTP_WHY_ARGS),
	OK_("STARTTLS", SMTP_V_STARTTLS),
	BAD("STARTTLS x", SMTP_V_STARTTLS, SMTP_WHY_ARGS),
	BAD("GET / HTTP/1.1", SMTP_V_UNKNOWN, SMTP_WHY_VERB),
	BAD("", SMTP_V_UNKNOWN, SMTP_WHY_VERB),
	BAD("MAILFROM:<a@b>", SMTP_V_UNKNOWN, SMTP_WHY_VERB),
	BAD("BDAT 10 LAST", SMTP_V_UNKNOWN, SMTP_WHY_VERB),
	BAD("NOOP\tx", SMTP_V_UNKNOWN, SMTP_WHY_BYTES),
	BAD("NOOP \rx", SMTP_V_UNKNOWN, SMTP_WHY_BYTES),
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		const uint8_t *p = (const uint8_t *)c->line;
		struct smtp_cmd cmd;
		int rc = smtp_parse_cmd(p, p + strlen(c->line), &cmd);

		if (rc != c->rc || (c->rc == MGW_PARSE_OK ? 0 : cmd.why != c->why) ||
		    (c->verb != SMTP_V_UNKNOWN && cmd.verb != c->verb))
			fail_msg("case %zu '%s': rc %d why %d verb %d", i, c->line, rc, cmd.why, cmd.verb);
		if (c->local) {
			assert_int_equal(cmd.path.local_len, strlen(c->local));
			assert_memory_equal(cmd.path.local, c->local, strlen(c->local));
		}
		if (c->domain) {
			assert_int_equal(cmd.path.domain_len, strlen(c->domain));
			assert_memory_equal(cmd.path.domain, c->domain, strlen(c->domain));
		}
		if (c->rc == MGW_PARSE_OK && c->verb == SMTP_V_RCPT)
			assert_int_equal(smtp_path_forward_check(&cmd.path), c->fwd);
	}
}

static void test_params(void **state)
{
	const char *l = "MAIL FROM:<a@b.example> SIZE=12345 BODY=7bit SMTPUTF8";
	struct smtp_cmd cmd;

	(void)state;
	assert_int_equal(smtp_parse_cmd((const uint8_t *)l, (const uint8_t *)l + strlen(l), &cmd),
			 MGW_PARSE_OK);
	assert_true(cmd.has_size);
	assert_int_equal(cmd.size, 12345);
	assert_int_equal(cmd.body, SMTP_BODY_7BIT);
	assert_true(cmd.smtputf8);
}

/* RFC 5321 4.5.3.1: 64 octets of local part, 255 of domain, 256 of path, 512 of line. */
static void test_lengths(void **state)
{
	char line[1200], local[80], label[70];
	struct smtp_cmd cmd;
	int rc;

	(void)state;
	memset(local, 'a', 64);
	local[64] = '\0';
	snprintf(line, sizeof(line), "RCPT TO:<%s@example.com>", local);
	rc = smtp_parse_cmd((uint8_t *)line, (uint8_t *)line + strlen(line), &cmd);
	assert_int_equal(rc, MGW_PARSE_OK);
	local[64] = 'a';
	local[65] = '\0';
	snprintf(line, sizeof(line), "RCPT TO:<%s@example.com>", local);
	rc = smtp_parse_cmd((uint8_t *)line, (uint8_t *)line + strlen(line), &cmd);
	assert_int_equal(rc, MGW_PARSE_TOO_LONG);
	assert_int_equal(cmd.why, SMTP_WHY_TOO_LONG);
	/* A label of 64 characters is no label (RFC 1035). */
	memset(label, 'b', 64);
	label[64] = '\0';
	snprintf(line, sizeof(line), "RCPT TO:<a@%s.example>", label);
	rc = smtp_parse_cmd((uint8_t *)line, (uint8_t *)line + strlen(line), &cmd);
	assert_int_equal(rc, MGW_PARSE_SYNTAX);
	/* A domain of 4 x 63 + 4 labels: over 255. */
	label[63] = '\0';
	snprintf(line, sizeof(line), "RCPT TO:<a@%s.%s.%s.%s.ex>", label, label, label, label);
	rc = smtp_parse_cmd((uint8_t *)line, (uint8_t *)line + strlen(line), &cmd);
	assert_int_equal(rc, MGW_PARSE_TOO_LONG);
	/* 511 octets of command: over the 512 incl. CRLF. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	assert_int_equal(smtp_parse_cmd((uint8_t *)line, (uint8_t *)line + 510, &cmd), MGW_PARSE_OK);
	assert_int_equal(smtp_parse_cmd((uint8_t *)line, (uint8_t *)line + 511, &cmd),
			 MGW_PARSE_TOO_LONG);
}

static void test_too_many_params(void **state)
{
	const char *l = "MAIL FROM:<a@b> A B C D E F G H I";
	struct smtp_cmd cmd;

	(void)state;
	assert_int_equal(smtp_parse_cmd((const uint8_t *)l, (const uint8_t *)l + strlen(l), &cmd),
			 MGW_PARSE_LIMIT);
}

/* A NUL in the middle of a line is refused, not treated as the end. */
static void test_nul(void **state)
{
	const char l[] = "RCPT TO:<alice@example.com>\0<evil@example.net>";
	struct smtp_cmd cmd;

	(void)state;
	assert_int_equal(smtp_parse_cmd((const uint8_t *)l, (const uint8_t *)l + sizeof(l) - 1, &cmd),
			 MGW_PARSE_SYNTAX);
	assert_int_equal(cmd.why, SMTP_WHY_BYTES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_too_many_params),
		cmocka_unit_test(test_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
