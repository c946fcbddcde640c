/*
 * fuzz_smtp_data.c - libFuzzer target: the DATA state machine.
 *
 * Differential check: the input is fed once in one piece through a large output buffer
 * and once in pieces (sizes taken from the input) through a tiny one; the result (where
 * the terminator is, the faults, the unstuffed bytes) must be the same. Also: output is
 * never longer than the input, and a message with faults produces no output after them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/smtp_data.h"

#define FUZZ_MAX 65536

struct fuzz_run {
	int rc;
	size_t consumed;
	unsigned faults;
	size_t outlen;
	uint8_t out[FUZZ_MAX + 2];
};

static void fuzz_feed(const uint8_t *in, size_t len, uint64_t max, const uint8_t *steps,
		      size_t nsteps, size_t outcap, struct fuzz_run *r)
{
	struct smtp_data d;
	uint8_t ob[FUZZ_MAX + 2];
	size_t pos = 0, k = 0;

	smtp_data_init(&d, max);
	r->rc = MGW_PARSE_NEED_MORE;
	r->outlen = 0;
	while (pos < len && r->rc != MGW_PARSE_OK) {
		size_t n = nsteps ? (size_t)steps[k++ % nsteps] + 1 : len - pos, used = 0, ol = 0;

		if (n > len - pos)
			n = len - pos;
		r->rc = smtp_data_feed(&d, in + pos, n, &used, ob, outcap, &ol);
		if (used > n || ol > outcap)
			abort();
		memcpy(r->out + r->outlen, ob, ol);
		r->outlen += ol;
		pos += used;
	}
	r->consumed = pos;
	r->faults = d.faults;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_run a, b;
	uint64_t max;

	if (size < 4 || size > FUZZ_MAX)
		return 0;
	/* Byte 0: size limit (0 = none); bytes 1..3: chunk sizes; rest: the wire. */
	max = data[0] < 128 ? 0 : (uint64_t)(data[0] - 127) * 8;
	fuzz_feed(data + 4, size - 4, max, NULL, 0, FUZZ_MAX + 2, &a);
	fuzz_feed(data + 4, size - 4, max, data + 1, 3, 2 + data[1] % 5, &b);
	if (a.rc != b.rc || a.consumed != b.consumed || a.faults != b.faults ||
	    a.outlen != b.outlen || memcmp(a.out, b.out, a.outlen) != 0)
		abort();
	if (a.outlen > a.consumed)
		abort();
	if (max && a.faults == 0 && a.outlen > max)
		abort();
	return 0;
}
