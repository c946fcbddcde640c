/*
 * fuzz_pop3_parse.c - libFuzzer target for the POP3 command parser and the base64
 * decoder of AUTH PLAIN: any bytes as one command line. Checks the parser's contract:
 * results point inside the input, lengths within bounds, the same answer twice.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "proto/base64.h"
#include "proto/pop3_parse.h"

static void check_inside(const uint8_t *data, size_t size, const uint8_t *p, size_t len)
{
	assert(p >= data && p + len <= data + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_cmd a, b;
	uint8_t out[BASE64_DECODED_MAX(POP3_LINE_MAX)];
	size_t outlen;
	int rc = pop3_cmd_parse(data, size, &a);

	assert(rc == MGW_PARSE_OK || rc == MGW_PARSE_SYNTAX || rc == MGW_PARSE_TOO_LONG);
	assert(pop3_cmd_parse(data, size, &b) == rc && a.id == b.id && a.nargs == b.nargs);
	assert(a.id < POP3_CMD_COUNT);
	if (rc == MGW_PARSE_OK) {
		assert(a.nargs <= 2);
		for (unsigned i = 0; i < a.nargs; i++) {
			check_inside(data, size, a.arg[i], a.arglen[i]);
			assert(a.arglen[i] > 0);
			assert(memchr(a.arg[i], ' ', a.arglen[i]) == NULL);
		}
		if (a.pass)
			check_inside(data, size, a.pass, a.passlen);
		assert(memchr(data, '\0', size) == NULL && memchr(data, '\r', size) == NULL);
	}
	rc = base64_decode(data, size, out, sizeof(out), &outlen);
	assert(rc == MGW_PARSE_OK || rc == MGW_PARSE_SYNTAX || rc == MGW_PARSE_TOO_LONG);
	if (rc == MGW_PARSE_OK)
		assert(outlen <= sizeof(out) && outlen <= BASE64_DECODED_MAX(size));
	return 0;
}
