/*
 * fuzz_tls_hello.c - libFuzzer target for the ClientHello cipher-suite reader
 * (tls/hello.h): any bytes as the first bytes of a connection. Checks its contract: one
 * of its three answers, nothing claimed offered unless OK, and a prefix that ended
 * before the answer was decided never answers OK (monotone: more bytes never turn
 * SYNTAX into OK).
 */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "tls/hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t want[4] = {0x1301, 0x1302, 0x1303, 0xcca9};
	bool off[4], off2[4];
	int rc = tls_hello_offers(data, size, want, 4, off);

	assert(rc == MGW_PARSE_OK || rc == MGW_PARSE_NEED_MORE || rc == MGW_PARSE_SYNTAX);
	if (rc != MGW_PARSE_OK)
		assert(!off[0] && !off[1] && !off[2] && !off[3]);
	if (size > 0) {
		int r2 = tls_hello_offers(data, size - 1, want, 4, off2);

		/* One byte less: the same answer, or NEED_MORE; never OK where this is not. */
		assert(r2 == rc || r2 == MGW_PARSE_NEED_MORE);
		if (r2 == MGW_PARSE_OK)
			for (int i = 0; i < 4; i++)
				assert(off2[i] == off[i]);
	}
	return 0;
}
