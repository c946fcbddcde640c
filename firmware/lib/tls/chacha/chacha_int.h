/*
 * chacha_int.h - what the ChaCha20 paths share (chacha20.c: the mbedtls_chacha20_* API and
 * the portable path; chacha_x86.c, chacha_neon.c: the SIMD ones, built from the template
 * chacha_vec.h). Internal to this folder.
 *
 * A path turns a state (RFC 8439 section 2.3: constants, key, block counter, nonce) and a
 * run of bytes into those bytes XORed with the key stream, from the state's block counter
 * on; chacha20.c keeps the counter, the partial block and mbedTLS's limits.
 */
#ifndef MAILGW_CHACHA_INT_H
#define MAILGW_CHACHA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mbedtls/chacha20.h"

enum chacha_impl {
	CHACHA_IMPL_NONE = 0,
	CHACHA_IMPL_PORTABLE,
	CHACHA_IMPL_SSE2,
	CHACHA_IMPL_SSSE3,
	CHACHA_IMPL_AVX2,
	CHACHA_IMPL_ASIMD,
	CHACHA_IMPL_NEON,
	CHACHA_IMPL_COUNT,
};

/*
 * out = in ^ key stream for len > 0 bytes, block counter st[12] for the first block and
 * one more (mod 2^32) for each next one. When len % 64 != 0 the last block is partial:
 * its whole key stream block goes to ks (the caller uses the rest of it later). in == out
 * allowed, else the buffers must not overlap. The caller advances st[12].
 */
typedef void chacha_xor_fn(const uint32_t st[16], const uint8_t *in, uint8_t *out, size_t len,
			   uint8_t ks[64]);

struct chacha_ops {
	const char *name;
	bool (*supported)(void); /* NULL: every CPU the build runs on */
	chacha_xor_fn * xor ;
};

/* Indexed by enum chacha_impl; NULL where this build has no such path. */
extern const struct chacha_ops *const chacha_ops_all[CHACHA_IMPL_COUNT];

extern const struct chacha_ops chacha_ops_portable;
#if defined(__x86_64__)
extern const struct chacha_ops chacha_ops_sse2, chacha_ops_ssse3, chacha_ops_avx2;
#endif
#if defined(__aarch64__)
extern const struct chacha_ops chacha_ops_asimd;
#endif
#if defined(__arm__)
extern const struct chacha_ops chacha_ops_neon;
#endif

#endif
