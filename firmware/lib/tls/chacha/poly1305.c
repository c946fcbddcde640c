/*
 * poly1305.c - Poly1305 (RFC 8439 section 2.5) for mbedTLS as MBEDTLS_POLY1305_ALT.
 *
 * The accumulator h and r are numbers modulo p = 2^130 - 5 in limbs (poly1305_alt.h):
 * radix 2^64 where the compiler has 128-bit products (h = h0 + h1 2^64 + h2 2^128 with h2
 * a few bits; r = r0 + r1 2^64), else five 26-bit limbs with 32x32->64-bit products.
 * Blocks are folded in whole runs (one loop over the limbs in registers); partial
 * blocks are kept in the context until 16 bytes or finish.
 *
 * Constant time: the limbs are reduced only partly after each block (carries by shifts
 * and masks, never a comparison), and finish takes h mod p by computing h + 5 - 2^130
 * and selecting it with a mask made from its sign; the only branches depend on lengths.
 */
#include <string.h>

#include "mbedtls/platform_util.h"
#include "mbedtls/poly1305.h"

static uint32_t poly_load32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void poly_store32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

#if POLY1305_ALT_LIMBS == 3

typedef unsigned __int128 poly_u128;

static uint64_t poly_load64le(const uint8_t *p)
{
	return (uint64_t)poly_load32le(p) | (uint64_t)poly_load32le(p + 4) << 32;
}

/* (r0, r1, r2) = (h0, h1, h2) + c, the carries through the words */
static inline void poly_addc(uint64_t *r0, uint64_t *r1, uint64_t *r2, uint64_t h0, uint64_t h1,
			     uint64_t h2, uint64_t c)
{
	poly_u128 t = (poly_u128)h0 + c;

	*r0 = (uint64_t)t;
	t = (poly_u128)h1 + (uint64_t)(t >> 64);
	*r1 = (uint64_t)t;
	*r2 = h2 + (uint64_t)(t >> 64);
}

static void poly_setr(mbedtls_poly1305_context *ctx, const uint8_t key[16])
{
	/* clamp (RFC 8439 2.5.1): r &= 0x0ffffffc0ffffffc0ffffffc0fffffff */
	ctx->r[0] = poly_load64le(key) & 0x0ffffffc0fffffffULL;
	ctx->r[1] = poly_load64le(key + 8) & 0x0ffffffc0ffffffcULL;
	ctx->r[2] = 0;
}

/*
 * h = (h + m) r for n blocks m of 16 bytes, m + hibit 2^128 each (hibit 1 for whole
 * blocks, 0 for the padded last one). r1 is a multiple of 4 (clamped), so the term
 * h1 r1 2^128 = h1 (r1 / 4) 2^130 = 5 (r1 / 4) h1 mod p: with s1 = r1 + r1 / 4 every
 * product at 2^128 and 2^192 folds down by 2^128 times s1. Bounds: r0, r1 < 2^60,
 * s1 < 2^61, h2 <= 7 on entry, so every sum of products stays below 2^127 and the part
 * above 2^128 below 2^64; after the step h2 <= 4.
 */
static void poly_blocks(mbedtls_poly1305_context *ctx, const uint8_t *m, size_t n, uint64_t hibit)
{
	const uint64_t r0 = ctx->r[0], r1 = ctx->r[1], s1 = r1 + (r1 >> 2);
	uint64_t h0 = ctx->h[0], h1 = ctx->h[1], h2 = ctx->h[2], c;
	poly_u128 d0, d1, t;

	for (; n > 0; n--, m += 16) {
		/* h += m */
		t = (poly_u128)h0 + poly_load64le(m);
		h0 = (uint64_t)t;
		t = (poly_u128)h1 + poly_load64le(m + 8) + (uint64_t)(t >> 64);
		h1 = (uint64_t)t;
		h2 += (uint64_t)(t >> 64) + hibit;
		/* d = h r, folded: d0 + d1 2^64 + d2 2^128 */
		d0 = (poly_u128)h0 * r0 + (poly_u128)h1 * s1;
		d1 = (poly_u128)h0 * r1 + (poly_u128)h1 * r0 + (poly_u128)h2 * s1 +
		     (uint64_t)(d0 >> 64);
		h0 = (uint64_t)d0;
		h1 = (uint64_t)d1;
		h2 = h2 * r0 + (uint64_t)(d1 >> 64);
		/* the bits from 2^130 up: c 2^130 = 5 c mod p */
		c = (h2 >> 2) + (h2 & ~(uint64_t)3);
		poly_addc(&h0, &h1, &h2, h0, h1, h2 & 3, c);
	}
	ctx->h[0] = h0;
	ctx->h[1] = h1;
	ctx->h[2] = h2;
}

/* mac = (h mod p + s) mod 2^128 */
static void poly_tag(mbedtls_poly1305_context *ctx, uint8_t mac[16])
{
	uint64_t h0 = ctx->h[0], h1 = ctx->h[1], h2 = ctx->h[2], g0, g1, g2, c, mask;
	poly_u128 t;

	/* fold the bits from 2^130 up once more: h < 2^130 + 2^64, below 2 p */
	c = (h2 >> 2) * 5;
	poly_addc(&h0, &h1, &h2, h0, h1, h2 & 3, c);
	/* g = h + 5 - 2^130; take it where it is not negative (bit 2 of g2 set) */
	poly_addc(&g0, &g1, &g2, h0, h1, h2, 5);
	mask = 0 - (g2 >> 2 & 1);
	h0 = (h0 & ~mask) | (g0 & mask);
	h1 = (h1 & ~mask) | (g1 & mask);
	/* + s */
	t = (poly_u128)h0 + ((uint64_t)ctx->s[1] << 32 | ctx->s[0]);
	h0 = (uint64_t)t;
	h1 += ((uint64_t)ctx->s[3] << 32 | ctx->s[2]) + (uint64_t)(t >> 64);
	poly_store32le(mac, (uint32_t)h0);
	poly_store32le(mac + 4, (uint32_t)(h0 >> 32));
	poly_store32le(mac + 8, (uint32_t)h1);
	poly_store32le(mac + 12, (uint32_t)(h1 >> 32));
}

#else /* five 26-bit limbs */

#define POLY_M26 0x3ffffffu

static void poly_setr(mbedtls_poly1305_context *ctx, const uint8_t key[16])
{
	/* clamp (RFC 8439 2.5.1) while splitting into 26-bit limbs */
	ctx->r[0] = poly_load32le(key) & 0x3ffffff;
	ctx->r[1] = (poly_load32le(key + 3) >> 2) & 0x3ffff03;
	ctx->r[2] = (poly_load32le(key + 6) >> 4) & 0x3ffc0ff;
	ctx->r[3] = (poly_load32le(key + 9) >> 6) & 0x3f03fff;
	ctx->r[4] = (poly_load32le(key + 12) >> 8) & 0x00fffff;
}

/*
 * h = (h + m) r for n blocks, in limbs of 26 bits: a product at 2^130 and up folds down
 * with 5 (s_i = 5 r_i). Limbs of h below 2^27 on entry, r below 2^26, s below 2^29: each
 * column of five products stays below 2^62.
 */
static void poly_blocks(mbedtls_poly1305_context *ctx, const uint8_t *m, size_t n, uint32_t hibit)
{
	const uint32_t r0 = ctx->r[0], r1 = ctx->r[1], r2 = ctx->r[2], r3 = ctx->r[3],
		       r4 = ctx->r[4];
	const uint32_t s1 = r1 * 5, s2 = r2 * 5, s3 = r3 * 5, s4 = r4 * 5;
	uint32_t h0 = ctx->h[0], h1 = ctx->h[1], h2 = ctx->h[2], h3 = ctx->h[3], h4 = ctx->h[4];
	uint64_t d0, d1, d2, d3, d4;
	uint32_t c;

	for (; n > 0; n--, m += 16) {
		h0 += poly_load32le(m) & POLY_M26;
		h1 += (poly_load32le(m + 3) >> 2) & POLY_M26;
		h2 += (poly_load32le(m + 6) >> 4) & POLY_M26;
		h3 += (poly_load32le(m + 9) >> 6) & POLY_M26;
		h4 += (poly_load32le(m + 12) >> 8) | hibit << 24;

		d0 = (uint64_t)h0 * r0 + (uint64_t)h1 * s4 + (uint64_t)h2 * s3 + (uint64_t)h3 * s2 +
		     (uint64_t)h4 * s1;
		d1 = (uint64_t)h0 * r1 + (uint64_t)h1 * r0 + (uint64_t)h2 * s4 + (uint64_t)h3 * s3 +
		     (uint64_t)h4 * s2;
		d2 = (uint64_t)h0 * r2 + (uint64_t)h1 * r1 + (uint64_t)h2 * r0 + (uint64_t)h3 * s4 +
		     (uint64_t)h4 * s3;
		d3 = (uint64_t)h0 * r3 + (uint64_t)h1 * r2 + (uint64_t)h2 * r1 + (uint64_t)h3 * r0 +
		     (uint64_t)h4 * s4;
		d4 = (uint64_t)h0 * r4 + (uint64_t)h1 * r3 + (uint64_t)h2 * r2 + (uint64_t)h3 * r1 +
		     (uint64_t)h4 * r0;

		/* carry through the columns, the top one back to the bottom times 5 */
		d1 += d0 >> 26;
		h0 = (uint32_t)d0 & POLY_M26;
		d2 += d1 >> 26;
		h1 = (uint32_t)d1 & POLY_M26;
		d3 += d2 >> 26;
		h2 = (uint32_t)d2 & POLY_M26;
		d4 += d3 >> 26;
		h3 = (uint32_t)d3 & POLY_M26;
		c = (uint32_t)(d4 >> 26);
		h4 = (uint32_t)d4 & POLY_M26;
		h0 += c * 5;
		h1 += h0 >> 26;
		h0 &= POLY_M26;
	}
	ctx->h[0] = h0;
	ctx->h[1] = h1;
	ctx->h[2] = h2;
	ctx->h[3] = h3;
	ctx->h[4] = h4;
}

static void poly_tag(mbedtls_poly1305_context *ctx, uint8_t mac[16])
{
	uint32_t h0 = ctx->h[0], h1 = ctx->h[1], h2 = ctx->h[2], h3 = ctx->h[3], h4 = ctx->h[4];
	uint32_t g0, g1, g2, g3, g4, c, mask, w[4];
	uint64_t f;

	/* full carry: every limb below 2^26, h below 2^130 + 5 * 2^26 */
	c = h1 >> 26;
	h1 &= POLY_M26;
	h2 += c;
	c = h2 >> 26;
	h2 &= POLY_M26;
	h3 += c;
	c = h3 >> 26;
	h3 &= POLY_M26;
	h4 += c;
	c = h4 >> 26;
	h4 &= POLY_M26;
	h0 += c * 5;
	c = h0 >> 26;
	h0 &= POLY_M26;
	h1 += c;
	/* g = h + 5 - 2^130; take it where it is not negative */
	g0 = h0 + 5;
	c = g0 >> 26;
	g0 &= POLY_M26;
	g1 = h1 + c;
	c = g1 >> 26;
	g1 &= POLY_M26;
	g2 = h2 + c;
	c = g2 >> 26;
	g2 &= POLY_M26;
	g3 = h3 + c;
	c = g3 >> 26;
	g3 &= POLY_M26;
	g4 = h4 + c - (1u << 26);
	mask = (g4 >> 31) - 1; /* all ones when g4 did not borrow */
	h0 = (h0 & ~mask) | (g0 & mask);
	h1 = (h1 & ~mask) | (g1 & mask);
	h2 = (h2 & ~mask) | (g2 & mask);
	h3 = (h3 & ~mask) | (g3 & mask);
	h4 = (h4 & ~mask) | (g4 & mask);
	/* to four 32-bit words by additions (h1 may be 2^26 after the carry above), + s
	 * mod 2^128 */
	f = (uint64_t)h0 + ((uint64_t)h1 << 26);
	w[0] = (uint32_t)f;
	f = (f >> 32) + ((uint64_t)h2 << 20);
	w[1] = (uint32_t)f;
	f = (f >> 32) + ((uint64_t)h3 << 14);
	w[2] = (uint32_t)f;
	f = (f >> 32) + ((uint64_t)h4 << 8);
	w[3] = (uint32_t)f;
	f = 0;
	for (int i = 0; i < 4; i++) {
		f = (f >> 32) + w[i] + ctx->s[i];
		poly_store32le(mac + 4 * i, (uint32_t)f);
	}
}

#endif

/* ---- the mbedtls_poly1305_* API ------------------------------------------------- */

void mbedtls_poly1305_init(mbedtls_poly1305_context *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
}

void mbedtls_poly1305_free(mbedtls_poly1305_context *ctx)
{
	if (ctx != NULL)
		mbedtls_platform_zeroize(ctx, sizeof(*ctx));
}

int mbedtls_poly1305_starts(mbedtls_poly1305_context *ctx, const unsigned char key[32])
{
	mbedtls_platform_zeroize(ctx, sizeof(*ctx));
	poly_setr(ctx, key);
	for (int i = 0; i < 4; i++)
		ctx->s[i] = poly_load32le(key + 16 + 4 * i);
	return 0;
}

int mbedtls_poly1305_update(mbedtls_poly1305_context *ctx, const unsigned char *input, size_t ilen)
{
	size_t use, full;

	if (ilen == 0)
		return 0;
	if (ctx->part_len > 0) {
		use = 16 - ctx->part_len < ilen ? 16 - ctx->part_len : ilen;
		memcpy(ctx->part + ctx->part_len, input, use);
		ctx->part_len += (uint32_t)use;
		input += use;
		ilen -= use;
		if (ctx->part_len < 16)
			return 0;
		poly_blocks(ctx, ctx->part, 1, 1);
		ctx->part_len = 0;
	}
	full = ilen / 16;
	if (full > 0)
		poly_blocks(ctx, input, full, 1);
	memcpy(ctx->part, input + 16 * full, ilen % 16);
	ctx->part_len = (uint32_t)(ilen % 16);
	return 0;
}

int mbedtls_poly1305_finish(mbedtls_poly1305_context *ctx, unsigned char mac[16])
{
	if (ctx->part_len > 0) {
		/* the last partial block: its bytes, then 1, then zeros (RFC 8439 2.5.1) */
		ctx->part[ctx->part_len] = 1;
		memset(ctx->part + ctx->part_len + 1, 0, 15 - ctx->part_len);
		poly_blocks(ctx, ctx->part, 1, 0);
		ctx->part_len = 0;
	}
	poly_tag(ctx, mac);
	return 0;
}

int mbedtls_poly1305_mac(const unsigned char key[32], const unsigned char *input, size_t ilen,
			 unsigned char mac[16])
{
	mbedtls_poly1305_context ctx;
	int rc;

	mbedtls_poly1305_init(&ctx);
	rc = mbedtls_poly1305_starts(&ctx, key);
	if (rc == 0)
		rc = mbedtls_poly1305_update(&ctx, input, ilen);
	if (rc == 0)
		rc = mbedtls_poly1305_finish(&ctx, mac);
	mbedtls_poly1305_free(&ctx);
	return rc;
}
