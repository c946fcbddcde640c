/*
 * chacha20.c - ChaCha20 (RFC 8439 section 2.4) for mbedTLS as MBEDTLS_CHACHA20_ALT: the
 * mbedtls_chacha20_* API over the paths of chacha_int.h, the choice of path, and the
 * portable path (one block at a time, plain C).
 *
 * Limits and errors are mbedTLS 3.6's own (library/chacha20.c): a key of 32 bytes, a
 * nonce of 12, a 32-bit block counter whose last block is 0xffffffff; an update that would
 * need a block past it is refused before anything is written, and once that block is used
 * up every update but an empty one is. Input and output are equal or apart.
 *
 * Constant time: ChaCha20 is additions, XORs and rotations of 32-bit words on every path;
 * no table and no branch depends on the key, the nonce or the data (the branches depend on
 * lengths only).
 */
#include <stdlib.h>
#include <string.h>

#include "mbedtls/platform_util.h"

#include "chacha_int.h"

/* ---- the portable path ---------------------------------------------------------- */

static uint32_t chacha_rotl(uint32_t v, int n)
{
	return v << n | v >> (32 - n);
}

/* The key stream block of counter ctr (RFC 8439 section 2.3), little-endian words. */
static void chacha_port_block(const uint32_t st[16], uint32_t ctr, uint8_t ks[64])
{
	uint32_t x[16];

	memcpy(x, st, sizeof(x));
	x[12] = ctr;
	for (int i = 0; i < 10; i++) {
		CHACHA_DOUBLE_ROUND(chacha_rotl, x);
	}
	for (int i = 0; i < 16; i++) {
		uint32_t v = x[i] + (i == 12 ? ctr : st[i]);

		ks[4 * i] = (uint8_t)v;
		ks[4 * i + 1] = (uint8_t)(v >> 8);
		ks[4 * i + 2] = (uint8_t)(v >> 16);
		ks[4 * i + 3] = (uint8_t)(v >> 24);
	}
	mbedtls_platform_zeroize(x, sizeof(x));
}

static void chacha_port_xor(const uint32_t st[16], const uint8_t *in, uint8_t *out, size_t len,
			    uint8_t ks[64])
{
	uint8_t blk[64];
	uint32_t ctr = st[12];

	for (; len >= 64; len -= 64, in += 64, out += 64, ctr++) {
		chacha_port_block(st, ctr, blk);
		for (int i = 0; i < 64; i++)
			out[i] = in[i] ^ blk[i];
	}
	if (len > 0) {
		chacha_port_block(st, ctr, ks);
		for (size_t i = 0; i < len; i++)
			out[i] = in[i] ^ ks[i];
	}
	mbedtls_platform_zeroize(blk, sizeof(blk));
}

const struct chacha_ops chacha_ops_portable = {
    .name = "portable",
    .xor = chacha_port_xor,
};

/* ---- choosing the path ---------------------------------------------------------- */

const struct chacha_ops *const chacha_ops_all[CHACHA_IMPL_COUNT] = {
    [CHACHA_IMPL_PORTABLE] = &chacha_ops_portable,
#if defined(__x86_64__)
    [CHACHA_IMPL_SSE2] = &chacha_ops_sse2,	   [CHACHA_IMPL_SSSE3] = &chacha_ops_ssse3,
    [CHACHA_IMPL_AVX2] = &chacha_ops_avx2,
#endif
#if defined(__aarch64__)
    [CHACHA_IMPL_ASIMD] = &chacha_ops_asimd,
#endif
#if defined(__arm__)
    [CHACHA_IMPL_NEON] = &chacha_ops_neon,
#endif
};

/* Fastest first. */
static const enum chacha_impl chacha_pref[] = {
    CHACHA_IMPL_AVX2, CHACHA_IMPL_SSSE3, CHACHA_IMPL_SSE2, CHACHA_IMPL_ASIMD, CHACHA_IMPL_NEON,
};

/* 0: not decided yet; else 1 + enum chacha_impl. Decided once per process (cpuid, the
 * auxiliary vector and the environment do not change); racing first callers compute the
 * same value. chacha_forced (the same encoding, 0: none) overrides it. */
static int chacha_best_impl;
static int chacha_forced;

static bool chacha_usable(enum chacha_impl impl)
{
	const struct chacha_ops *ops = chacha_ops_all[impl];

	return ops && (!ops->supported || ops->supported());
}

static enum chacha_impl chacha_detect(void)
{
	const char *env = getenv("MAILGW_CHACHA_PORTABLE");

	if (env && strcmp(env, "1") == 0)
		return CHACHA_IMPL_PORTABLE;
	for (size_t i = 0; i < sizeof(chacha_pref) / sizeof(chacha_pref[0]); i++)
		if (chacha_usable(chacha_pref[i]))
			return chacha_pref[i];
	return CHACHA_IMPL_PORTABLE;
}

static enum chacha_impl chacha_choose(void)
{
	int v = __atomic_load_n(&chacha_forced, __ATOMIC_RELAXED);

	if (v != 0)
		return (enum chacha_impl)(v - 1);
	v = __atomic_load_n(&chacha_best_impl, __ATOMIC_RELAXED);
	if (v == 0) {
		v = 1 + (int)chacha_detect();
		__atomic_store_n(&chacha_best_impl, v, __ATOMIC_RELAXED);
	}
	return (enum chacha_impl)(v - 1);
}

int chacha20_alt_force(const char *name)
{
	if (name == NULL) {
		__atomic_store_n(&chacha_forced, 0, __ATOMIC_RELAXED);
		return 0;
	}
	for (int i = CHACHA_IMPL_PORTABLE; i < CHACHA_IMPL_COUNT; i++)
		if (chacha_ops_all[i] && strcmp(chacha_ops_all[i]->name, name) == 0 &&
		    chacha_usable((enum chacha_impl)i)) {
			__atomic_store_n(&chacha_forced, 1 + i, __ATOMIC_RELAXED);
			return 0;
		}
	return -1;
}

static const struct chacha_ops *chacha_ops_of(const mbedtls_chacha20_context *ctx)
{
	const struct chacha_ops *ops = NULL;

	if (ctx->impl < CHACHA_IMPL_COUNT)
		ops = chacha_ops_all[ctx->impl];
	return ops ? ops : &chacha_ops_portable;
}

const char *chacha20_alt_impl_name(const mbedtls_chacha20_context *ctx)
{
	if (ctx && ctx->impl != CHACHA_IMPL_NONE)
		return chacha_ops_of(ctx)->name;
	return chacha_ops_all[chacha_choose()]->name;
}

/* ---- the mbedtls_chacha20_* API ------------------------------------------------- */

static uint32_t chacha_load32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void mbedtls_chacha20_init(mbedtls_chacha20_context *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->ks_used = 64;
}

void mbedtls_chacha20_free(mbedtls_chacha20_context *ctx)
{
	if (ctx != NULL)
		mbedtls_platform_zeroize(ctx, sizeof(*ctx));
}

int mbedtls_chacha20_setkey(mbedtls_chacha20_context *ctx, const unsigned char key[32])
{
	/* "expand 32-byte k" */
	ctx->state[0] = 0x61707865;
	ctx->state[1] = 0x3320646e;
	ctx->state[2] = 0x79622d32;
	ctx->state[3] = 0x6b206574;
	for (int i = 0; i < 8; i++)
		ctx->state[4 + i] = chacha_load32le(key + 4 * i);
	ctx->impl = (uint8_t)chacha_choose();
	return 0;
}

int mbedtls_chacha20_starts(mbedtls_chacha20_context *ctx, const unsigned char nonce[12],
			    uint32_t counter)
{
	ctx->state[12] = counter;
	for (int i = 0; i < 3; i++)
		ctx->state[13 + i] = chacha_load32le(nonce + 4 * i);
	mbedtls_platform_zeroize(ctx->ks, sizeof(ctx->ks));
	ctx->ks_used = 64;
	return 0;
}

/* Would size more bytes need a block past counter 0xffffffff? (mbedTLS's
 * mbedtls_chacha20_check_counter_wrap, which its chachapoly.c calls only without
 * MBEDTLS_CHACHA20_ALT: here mbedtls_chacha20_update checks it itself.) */
static bool chacha_would_wrap(const mbedtls_chacha20_context *ctx, size_t size)
{
	uint64_t blocks;

	if (ctx->ks_used == CHACHA20_ALT_EXHAUSTED)
		return size != 0;
	if (ctx->ks_used < 64) {
		if (size <= 64 - ctx->ks_used)
			return false;
		/* the partial block was the one numbered 0xffffffff */
		if (ctx->state[12] == 0)
			return true;
		size -= 64 - ctx->ks_used;
	}
	blocks = (uint64_t)size / 64 + (size % 64 != 0);
	return blocks > ((uint64_t)1 << 32) - ctx->state[12];
}

int mbedtls_chacha20_update(mbedtls_chacha20_context *ctx, size_t size, const unsigned char *input,
			    unsigned char *output)
{
	size_t use, blocks;

	if (chacha_would_wrap(ctx, size))
		return MBEDTLS_ERR_CHACHA20_BAD_INPUT_DATA;
	if (size == 0)
		return 0;
	if (ctx->ks_used < 64) {
		/* the rest of the partial block's key stream */
		use = 64 - ctx->ks_used < size ? 64 - ctx->ks_used : size;
		for (size_t i = 0; i < use; i++)
			output[i] = input[i] ^ ctx->ks[ctx->ks_used + i];
		ctx->ks_used += (uint32_t)use;
		input += use;
		output += use;
		size -= use;
		if (ctx->ks_used == 64 && ctx->state[12] == 0)
			ctx->ks_used = CHACHA20_ALT_EXHAUSTED;
		if (size == 0)
			return 0;
	}
	chacha_ops_of(ctx)->xor (ctx->state, input, output, size, ctx->ks);
	blocks = size / 64 + (size % 64 != 0);
	ctx->state[12] += (uint32_t)blocks;
	if (size % 64 != 0)
		ctx->ks_used = (uint32_t)(size % 64);
	else if (ctx->state[12] == 0)
		ctx->ks_used = CHACHA20_ALT_EXHAUSTED;
	return 0;
}

int mbedtls_chacha20_crypt(const unsigned char key[32], const unsigned char nonce[12],
			   uint32_t counter, size_t size, const unsigned char *input,
			   unsigned char *output)
{
	mbedtls_chacha20_context ctx;
	int rc;

	mbedtls_chacha20_init(&ctx);
	rc = mbedtls_chacha20_setkey(&ctx, key);
	if (rc == 0)
		rc = mbedtls_chacha20_starts(&ctx, nonce, counter);
	if (rc == 0)
		rc = mbedtls_chacha20_update(&ctx, size, input, output);
	mbedtls_chacha20_free(&ctx);
	return rc;
}
