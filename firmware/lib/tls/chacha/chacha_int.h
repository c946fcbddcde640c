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

/*
 * ChaCha20's rounds (RFC 8439 sections 2.1, 2.3) on 16 words x[0..15] of any type that has
 * +, ^ and a rotate-left ROT(v, n): a 32-bit word (the portable path) or a vector of the
 * same word of several blocks (chacha_vec.h). One double round: the column round, then
 * the diagonal round.
 */
#define CHACHA_QR(ROT, a, b, c, d)                                                                 \
	do {                                                                                       \
		a += b;                                                                            \
		d = ROT(d ^ a, 16);                                                                \
		c += d;                                                                            \
		b = ROT(b ^ c, 12);                                                                \
		a += b;                                                                            \
		d = ROT(d ^ a, 8);                                                                 \
		c += d;                                                                            \
		b = ROT(b ^ c, 7);                                                                 \
	} while (0)

#define CHACHA_DOUBLE_ROUND(ROT, x)                                                                \
	do {                                                                                       \
		CHACHA_QR(ROT, x[0], x[4], x[8], x[12]);                                           \
		CHACHA_QR(ROT, x[1], x[5], x[9], x[13]);                                           \
		CHACHA_QR(ROT, x[2], x[6], x[10], x[14]);                                          \
		CHACHA_QR(ROT, x[3], x[7], x[11], x[15]);                                          \
		CHACHA_QR(ROT, x[0], x[5], x[10], x[15]);                                          \
		CHACHA_QR(ROT, x[1], x[6], x[11], x[12]);                                          \
		CHACHA_QR(ROT, x[2], x[7], x[8], x[13]);                                           \
		CHACHA_QR(ROT, x[3], x[4], x[9], x[14]);                                           \
	} while (0)

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
