/* test_tls_hello.c - reading the cipher suites a ClientHello offers (tls/hello.h): a
 * well-formed hello, every truncation of it, and each malformation, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "tls/hello.h"

static const uint16_t want[3] = {0x1301, 0x1302, 0x1303};

/* A ClientHello record: session id of sidlen octets, the suites given, then an
 * extensions block of extlen zero octets; reclen_adj is added to the record length. */
static size_t hello(uint8_t *out, uint8_t ctype, uint8_t htype, size_t sidlen,
		    const uint16_t *suites, size_t nsuites, size_t listlen_adj, int reclen_adj)
{
	size_t n = 0, body, listlen = 2 * nsuites + listlen_adj, reclen;

	out[n++] = ctype;
	out[n++] = 3;
	out[n++] = 1;
	n += 2; /* record length, below */
	out[n++] = htype;
	n += 3; /* handshake length: not read */
	out[n++] = 3;
	out[n++] = 3;
	memset(out + n, 0xab, 32);
	n += 32;
	out[n++] = (uint8_t)sidlen;
	memset(out + n, 0x5a, sidlen);
	n += sidlen;
	out[n++] = (uint8_t)(listlen >> 8);
	out[n++] = (uint8_t)listlen;
	for (size_t i = 0; i < nsuites; i++) {
		out[n++] = (uint8_t)(suites[i] >> 8);
		out[n++] = (uint8_t)suites[i];
	}
	memset(out + n, 0, 40); /* compression methods, extensions: not read */
	n += 40;
	body = n - 5;
	reclen = (size_t)((int)body + reclen_adj);
	out[3] = (uint8_t)(reclen >> 8);
	out[4] = (uint8_t)reclen;
	return n;
}

static void test_offered_suites(void **state)
{
	static const uint16_t suites[] = {0xc02b, 0x1303, 0x00ff, 0x1301};
	uint8_t buf[512];
	bool off[3];
	size_t n;

	(void)state;
	n = hello(buf, 22, 1, 32, suites, 4, 0, 0);
	assert_int_equal(tls_hello_offers(buf, n, want, 3, off), MGW_PARSE_OK);
	assert_true(off[0]);
	assert_false(off[1]);
	assert_true(off[2]);
	/* Every prefix that ends before the list does needs more; none claims a suite. */
	for (size_t len = 0; len < 5 + 4 + 2 + 32 + 1 + 32 + 2 + 8; len++) {
		off[0] = true;
		assert_int_equal(tls_hello_offers(buf, len, want, 3, off), MGW_PARSE_NEED_MORE);
		assert_false(off[0]);
	}
	/* No session id; a list of one suite. */
	n = hello(buf, 22, 1, 0, suites + 1, 1, 0, 0);
	assert_int_equal(tls_hello_offers(buf, n, want, 3, off), MGW_PARSE_OK);
	assert_true(off[2] && !off[0] && !off[1]);
}

static void test_malformed(void **state)
{
	static const uint16_t suites[] = {0x1301, 0x1303};
	static const struct {
		const char *what;
		uint8_t ctype, htype;
		size_t sidlen, listlen_adj;
		int reclen_adj;
	} cases[] = {
	    {"application data, not a handshake", 23, 1, 0, 0, 0},
	    {"a ServerHello", 22, 2, 0, 0, 0},
	    {"a session id of 33 octets", 22, 1, 33, 0, 0},
	    {"an odd list length", 22, 1, 0, 1, 0},
	    {"a record ending inside the list", 22, 1, 0, 0, -42},
	    {"a record ending inside the random", 22, 1, 0, 0, -70},
	};
	static const uint16_t none[1] = {0};
	uint8_t buf[512];
	bool off[3];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = hello(buf, cases[i].ctype, cases[i].htype, cases[i].sidlen, suites, 2,
			  cases[i].listlen_adj, cases[i].reclen_adj);
		if (tls_hello_offers(buf, n, want, 3, off) != MGW_PARSE_SYNTAX)
			fail_msg("%s: not refused", cases[i].what);
		assert_false(off[0] || off[1] || off[2]);
	}
	/* An empty list. */
	n = hello(buf, 22, 1, 0, none, 0, 0, 0);
	assert_int_equal(tls_hello_offers(buf, n, want, 3, off), MGW_PARSE_SYNTAX);
	/* A record length over 2^14. */
	n = hello(buf, 22, 1, 0, suites, 2, 0, 0);
	buf[3] = 0x40;
	buf[4] = 0x01;
	assert_int_equal(tls_hello_offers(buf, n, want, 3, off), MGW_PARSE_SYNTAX);
	/* Not TLS at all (a plaintext POP3 command). */
	assert_int_equal(tls_hello_offers((const uint8_t *)"USER joe\r\n", 10, want, 3, off),
			 MGW_PARSE_SYNTAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_offered_suites),
	    cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
