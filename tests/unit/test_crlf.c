/* test_crlf.c - the size of a stored message in its CRLF form, over any chunking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/crlf.h"

static const struct {
	const char *in;
	uint64_t want;
} cases[] = {
    {"", 0},
    {"a\r\nb\r\n", 6},	  /* CRLF kept */
    {"a\nb\n", 6},	  /* LF becomes CRLF */
    {"a\r\nb\nc\r\n", 9}, /* mixed */
    {"a\nlast", 9},	  /* a final CRLF after a last line without one */
    {"x\r", 1 + 1 + 2},	  /* a lone CR stays, then the final CRLF */
    {"\n\n\n", 6},	  /* empty lines */
    {"a\r\rb\n", 6},	  /* CR CR LF: only the LF's neighbour counts */
    {".\n..\n", 7},	  /* stuffing is the reader's business, not counted */
};

static void test_crlf_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);

		/* Whole, and split at every point (a CR at the end of one chunk, LF next). */
		for (size_t cut = 0; cut <= len; cut++) {
			struct crlf_count c = {0};

			crlf_count_add(&c, cases[i].in, cut);
			crlf_count_add(&c, cases[i].in + cut, len - cut);
			if (crlf_count_total(&c) != cases[i].want)
				fail_msg("case %zu (\"%s\") cut %zu: %llu, want %llu", i,
					 cases[i].in, cut, (unsigned long long)crlf_count_total(&c),
					 (unsigned long long)cases[i].want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_crlf_table)};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
