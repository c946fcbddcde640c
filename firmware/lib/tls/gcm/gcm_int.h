/*
 * gcm_int.h - what the AES-GCM paths share (gcm.c: the streaming API and the portable
 * path; gcm_x86.c, gcm_arm64.c: the accelerated ones). Internal to this folder.
 *
 * Every path works on whole 16-byte blocks; gcm.c keeps partial blocks. The GHASH
 * accumulator ctx->x and the powers of H hold a block as one 128-bit number made by
 * reading its 16 bytes in reverse order ({low, high} 64-bit halves, so that a vector
 * load of them on a little-endian CPU gives that number), which is how the carry-less
 * multiply instructions want GCM's bit-reflected field elements.
 */
#ifndef MAILGW_GCM_INT_H
#define MAILGW_GCM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mbedtls/gcm.h"

enum gcm_impl {
	GCM_IMPL_NONE = 0,
	GCM_IMPL_PORTABLE,
	GCM_IMPL_X86,
	GCM_IMPL_ARM64,
};

/* The operations a path provides; ctx is keyed (setkey returned 0). */
struct gcm_ops {
	const char *name;
	/* expand key (bits 128/192/256) into ctx and compute the powers of H; 0 or error */
	int (*setkey)(mbedtls_gcm_context *ctx, const uint8_t *key, unsigned bits);
	/* out = E(K, in) */
	void (*block)(const mbedtls_gcm_context *ctx, const uint8_t in[16], uint8_t out[16]);
	/* fold n blocks of data into ctx->x */
	void (*ghash)(mbedtls_gcm_context *ctx, const uint8_t *data, size_t n);
	/* counter mode over n blocks: counter inc32(ctx->y) onwards (ctx->y ends as the last
	 * one used), out = in ^ key stream, and the ciphertext (out when encrypting, in when
	 * decrypting) folded into ctx->x. in == out allowed; out must not be above in. */
	void (*ctr)(mbedtls_gcm_context *ctx, const uint8_t *in, uint8_t *out, size_t n);
};

extern const struct gcm_ops gcm_ops_portable;
#if defined(__x86_64__)
extern const struct gcm_ops gcm_ops_x86;
bool gcm_x86_supported(void);
#endif
#if defined(__aarch64__)
extern const struct gcm_ops gcm_ops_arm64;
bool gcm_arm64_supported(void);
#endif

/* The reduction modulo GCM's polynomial of a 256-bit carry-less product (before its
 * one-bit shift) of two numbers as above, given as four 64-bit words, lowest first;
 * r gets {low, high} of the reduced product. */
static inline void gcm_reduce(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t r[2])
{
	uint64_t d;

	/* The product of two bit-reflected numbers comes out shifted right by one. */
	x3 = x3 << 1 | x2 >> 63;
	x2 = x2 << 1 | x1 >> 63;
	x1 = x1 << 1 | x0 >> 63;
	x0 <<= 1;
	/* Fold the low half (the terms of degree 128 and up, reflected) into the high one,
	 * x^128 = x^7 + x^2 + x + 1, in two steps (Gueron and Kounavis, "Intel Carry-Less
	 * Multiplication Instruction and its Usage for Computing the GCM Mode", algorithm 5). */
	d = x1 ^ x0 << 63 ^ x0 << 62 ^ x0 << 57;
	r[0] = x2 ^ x0 ^ (x0 >> 1 | d << 63) ^ (x0 >> 2 | d << 62) ^ (x0 >> 7 | d << 57);
	r[1] = x3 ^ d ^ d >> 1 ^ d >> 2 ^ d >> 7;
}

/* Before a loop over the blocks of a group: unrolled, the blocks stay in registers
 * (the groups of GCM_ALT_HPOW = 8 blocks are inlined with k constant). */
#define GCM_UNROLL _Pragma("GCC unroll 8")

/* The 32-bit counter of the counter block ctx->y (its last four bytes, big-endian). */
static inline uint32_t gcm_ctr_get(const mbedtls_gcm_context *ctx)
{
	return (uint32_t)ctx->y[12] << 24 | (uint32_t)ctx->y[13] << 16 | (uint32_t)ctx->y[14] << 8 |
	       ctx->y[15];
}

static inline void gcm_ctr_set(mbedtls_gcm_context *ctx, uint32_t c)
{
	ctx->y[12] = (uint8_t)(c >> 24);
	ctx->y[13] = (uint8_t)(c >> 16);
	ctx->y[14] = (uint8_t)(c >> 8);
	ctx->y[15] = (uint8_t)c;
}

/* FIPS-197 key expansion (bits 128/192/256) into ctx->rk and ctx->nr, with SubWord
 * given by the path (its AES instruction: no table indexed by key bytes). */
void gcm_key_expand(mbedtls_gcm_context *ctx, const uint8_t *key, unsigned bits,
		    uint32_t (*sub_word)(uint32_t w));

#endif
