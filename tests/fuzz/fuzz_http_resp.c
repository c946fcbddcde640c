/*
 * fuzz_http_resp.c - libFuzzer target for crlwatch's HTTP response parser: any bytes as
 * a response received in one piece, and again split at every point the first byte
 * chooses (the client calls the parser as bytes arrive). Checks the contract: the body
 * lies inside the input or the output buffer and within the limit, a complete response
 * stays complete with more of the same bytes, the same answer twice.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "proto/http_resp.h"

#define FUZZ_BODY_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[FUZZ_BODY_MAX], out2[FUZZ_BODY_MAX];
	struct http_resp r, r2;
	size_t cut;
	int rc, rc2;

	if (size == 0)
		return 0;
	cut = data[0] % size;
	data++;
	size--;
	if (cut > size)
		cut = size;
	rc = http_resp_parse(data, size, true, FUZZ_BODY_MAX, out, sizeof(out), &r);
	assert(rc == MGW_PARSE_OK || rc == MGW_PARSE_SYNTAX || rc == MGW_PARSE_TOO_LONG ||
	       rc == MGW_PARSE_LIMIT);
	rc2 = http_resp_parse(data, size, true, FUZZ_BODY_MAX, out2, sizeof(out2), &r2);
	assert(rc2 == rc);
	if (rc == MGW_PARSE_OK) {
		assert(r.status >= 100 && r.status <= 999);
		assert(r.head_len <= size);
		assert(r.body_len <= FUZZ_BODY_MAX);
		assert(r.body_len == r2.body_len);
		assert(r.etag[sizeof(r.etag) - 1] == '\0' || strlen(r.etag) < sizeof(r.etag));
		if (r.body == NULL)
			assert(r.body_len == 0 &&
			       (r.status < 200 || r.status == 204 || r.status == 304));
		else if (r.chunked)
			assert(r.body == out && memcmp(out, out2, r.body_len) == 0);
		else
			assert(r.body >= data && r.body + r.body_len <= data + size);
	}
	/* a prefix, not at the end of the stream: never more than "complete" */
	rc2 = http_resp_parse(data, cut, false, FUZZ_BODY_MAX, out2, sizeof(out2), &r2);
	assert(rc2 == MGW_PARSE_OK || rc2 == MGW_PARSE_NEED_MORE || rc2 == MGW_PARSE_SYNTAX ||
	       rc2 == MGW_PARSE_TOO_LONG || rc2 == MGW_PARSE_LIMIT);
	if (rc2 == MGW_PARSE_OK)
		assert(r2.head_len <= cut && r2.body_len <= FUZZ_BODY_MAX);
	return 0;
}
