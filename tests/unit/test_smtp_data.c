/* test_smtp_data.c - DATA: dot-unstuffing, terminator, smuggling sequences, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/smtp_data.h"

struct data_case {
	const char *name;
	const char *in; /* wire bytes after "DATA\r\n" */
	size_t in_len;  /* 0: strlen */
	const char *out; /* unstuffed message, if accepted */
	unsigned faults;
	size_t rest; /* bytes left after the terminator */
	uint64_t max;
};

#define S(x) x, sizeof(x) - 1

static const struct data_case cases[] = {
	{ "empty message", S(".\r\n"), "", 0, 0, 0 },
	{ "one line", S("Subject: x\r\n\r\nhi\r\n.\r\n"), "Subject: x\r\n\r\nhi\r\n", 0, 0, 0 },
	{ "stuffed dots", S("..x\r\n...\r\n. \r\n.\r\n"), ".x\r\n..\r\n \r\n", 0, 0, 0 },
	{ "pipelined after", S("a\r\n.\r\nQUIT\r\n"), "a\r\n", 0, 6, 0 },
	{ "dot mid-line", S("a.b\r\n.\r\n"), "a.b\r\n", 0, 0, 0 },
	/* The 2023 smuggling sequences: never a terminator, always refused. */
	{ "lf dot lf", S("a\n.\nMAIL FROM:<x@y>\r\n.\r\n"), NULL, SMTP_DATA_F_BARE_LF, 0, 0 },
	{ "crlf dot lf", S("a\r\n.\nMAIL FROM:<x@y>\r\n.\r\n"), NULL, SMTP_DATA_F_BARE_LF, 0, 0 },
	{ "lf dot crlf", S("a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n"), NULL, SMTP_DATA_F_BARE_LF, 0, 0 },
	{ "cr dot cr", S("a\r.\rMAIL\r\n.\r\n"), NULL, SMTP_DATA_F_BARE_CR, 0, 0 },
	{ "crlf dot cr", S("a\r\n.\rMAIL\r\n.\r\n"), NULL, SMTP_DATA_F_BARE_CR, 0, 0 },
	{ "cr cr lf", S("a\r\r\n.\r\n"), NULL, SMTP_DATA_F_BARE_CR, 0, 0 },
	{ "bare lf at start", S("\n.\r\n.\r\n"), NULL, SMTP_DATA_F_BARE_LF, 0, 0 },
	{ "nul", S("a\0b\r\n.\r\n"), NULL, SMTP_DATA_F_NUL, 0, 0 },
	{ "too big", S("0123456789\r\n.\r\n"), NULL, SMTP_DATA_F_TOO_BIG, 0, 10 },
	{ "just fits", S("01234567\r\n.\r\n"), "01234567\r\n", 0, 0, 10 },
	{ "unterminated", S("abc\r\n.\r"), NULL, 0, 0, 0 },
};

/* Feeds in chunks of `step` bytes through an output buffer of `outcap`. */
static int run(const struct data_case *c, size_t step, size_t outcap, char *out, size_t *outlen,
	       size_t *consumed, unsigned *faults)
{
	struct smtp_data d;
	uint8_t ob[64];
	size_t pos = 0;
	int r = MGW_PARSE_NEED_MORE;

	smtp_data_init(&d, c->max);
	*outlen = 0;
	while (pos < c->in_len && r != MGW_PARSE_OK) {
		size_t n = c->in_len - pos < step ? c->in_len - pos : step, used = 0, ol = 0;

		r = smtp_data_feed(&d, (const uint8_t *)c->in + pos, n, &used, ob, outcap, &ol);
		memcpy(out + *outlen, ob, ol);
		*outlen += ol;
		pos += used;
	}
	*consumed = pos;
	*faults = d.faults;
	return r;
}

static void test_cases(void **state)
{
	static const size_t steps[] = { 1, 2, 3, 7, 1000 };
	static const size_t caps[] = { 2, 3, 64 };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct data_case *c = &cases[i];

		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
				char out[256];
				size_t outlen, consumed;
				unsigned faults;
				int r = run(c, steps[s], caps[k], out, &outlen, &consumed, &faults);

				if (strcmp(c->name, "unterminated") == 0) {
					assert_int_equal(r, MGW_PARSE_NEED_MORE);
					continue;
				}
				if (r != MGW_PARSE_OK || faults != c->faults ||
				    consumed != c->in_len - c->rest)
					fail_msg("%s step %zu cap %zu: r %d faults %x consumed %zu",
						 c->name, steps[s], caps[k], r, faults, consumed);
				if (c->out) {
					assert_int_equal(outlen, strlen(c->out));
					assert_memory_equal(out, c->out, outlen);
				}
			}
		}
	}
}

/* RFC 5321 4.5.3.1.6: 1000 octets incl. CRLF pass, 1001 do not. */
static void test_line_length(void **state)
{
	static char in[2100];
	struct smtp_data d;
	static uint8_t out[4096];
	size_t used, ol;

	(void)state;
	memset(in, 'x', sizeof(in));
	memcpy(in + 998, "\r\n.\r\n", 5);
	smtp_data_init(&d, 0);
	ol = 0;
	assert_int_equal(smtp_data_feed(&d, (uint8_t *)in, 1003, &used, out, sizeof(out), &ol),
			 MGW_PARSE_OK);
	assert_int_equal(d.faults, 0);
	assert_int_equal(ol, 1000);
	memset(in, 'x', sizeof(in));
	memcpy(in + 999, "\r\n.\r\n", 5);
	smtp_data_init(&d, 0);
	ol = 0;
	assert_int_equal(smtp_data_feed(&d, (uint8_t *)in, 1004, &used, out, sizeof(out), &ol),
			 MGW_PARSE_OK);
	assert_int_equal(d.faults, SMTP_DATA_F_LONG_LINE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_line_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
