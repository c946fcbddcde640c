/* test_buf.c - buffers and the line reader, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "net/buf.h"

static void test_append_limit(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "abcde", 5), 0);
	assert_int_equal(buf_append(&b, "fghij", 5), -MGW_ELIMIT);
	assert_int_equal(buf_len(&b), 5); /* nothing partial was added */
	buf_consume(&b, 3);
	assert_int_equal(buf_append(&b, "fghij", 5), 0);
	assert_memory_equal(buf_data(&b), "defghij", 7);
	buf_free(&b);
}

static void test_printf_large(void **state)
{
	struct buf b;
	char big[2000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 4096);
	assert_int_equal(buf_printf(&b, "<%s>", big), 0);
	assert_int_equal(buf_len(&b), sizeof(big) + 1);
	assert_int_equal(buf_data(&b)[0], '<');
	assert_int_equal(buf_data(&b)[sizeof(big)], '>');
	buf_free(&b);
}

struct lr_case {
	const char *name;
	const char *input;  /* fed one byte at a time and all at once */
	size_t max;
	const char *expect; /* results joined: "L:text" for lines (C=crlf), "T" too long */
};

static const struct lr_case lr_cases[] = {
	{ "crlf lines", "AB\r\nCD\r\n", 16, "C:AB|C:CD|" },
	{ "bare lf", "AB\nCD\r\n", 16, "L:AB|C:CD|" },
	{ "partial", "AB\r\nC", 16, "C:AB|" },
	{ "empty line", "\r\n\n", 16, "C:|L:|" },
	{ "exact max", "ABCDEF\r\n", 8, "C:ABCDEF|" },
	{ "over max", "ABCDEFG\r\nOK\r\n", 8, "T|C:OK|" },
	{ "long, no lf", "ABCDEFGHIJKLMNOP", 8, "T|" },
	{ "long then ok", "ABCDEFGHIJKLMNOPQRS\nX\r\n", 8, "T|C:X|" },
	{ "bare cr inside", "A\rB\r\n", 16, "C:A\rB|" },
};

static void lr_run(const struct lr_case *tc, size_t chunk, char *out, size_t outsz)
{
	struct buf b;
	struct buf_lr lr;
	size_t pos = 0, n = strlen(tc->input);

	out[0] = '\0';
	buf_init(&b, 64);
	buf_lr_init(&lr, tc->max);
	while (pos < n) {
		size_t take = n - pos < chunk ? n - pos : chunk;
		struct buf_line line;
		int r;

		assert_int_equal(buf_append(&b, tc->input + pos, take), 0);
		pos += take;
		while ((r = buf_lr_next(&lr, &b, &line)) != MGW_PARSE_NEED_MORE) {
			if (r == MGW_PARSE_TOO_LONG) {
				strncat(out, "T|", outsz - strlen(out) - 1);
				continue;
			}
			assert_int_equal(r, MGW_PARSE_OK);
			strncat(out, line.crlf ? "C:" : "L:", outsz - strlen(out) - 1);
			strncat(out, (const char *)line.text,
				line.len < outsz - strlen(out) - 1 ? line.len : outsz - strlen(out) - 1);
			strncat(out, "|", outsz - strlen(out) - 1);
			buf_lr_done(&lr, &b, &line);
		}
	}
	buf_free(&b);
}

static void test_line_reader(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lr_cases) / sizeof(lr_cases[0]); i++) {
		char got[256];

		lr_run(&lr_cases[i], 1, got, sizeof(got));
		if (strcmp(got, lr_cases[i].expect) != 0)
			fail_msg("%s (bytewise): got '%s' want '%s'", lr_cases[i].name, got, lr_cases[i].expect);
		lr_run(&lr_cases[i], 1000, got, sizeof(got));
		if (strcmp(got, lr_cases[i].expect) != 0)
			fail_msg("%s (whole): got '%s' want '%s'", lr_cases[i].name, got, lr_cases[i].expect);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_limit),
		cmocka_unit_test(test_printf_large),
		cmocka_unit_test(test_line_reader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
