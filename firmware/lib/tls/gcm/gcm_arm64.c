/*
 * gcm_arm64.c - the AES-GCM path for aarch64 CPUs with the Armv8 cryptographic
 * extension (AESE/AESMC and PMULL: Cortex-A53 and A72 boards differ, the Pi 4's A72 has
 * none), compiled for it function by function (target attribute) and chosen at run time
 * from the kernel's HWCAP_AES and HWCAP_PMULL, so the same binary runs without it
 * (portable path). The structure is gcm_x86.c's: eight counter blocks through AES round by
 * round, their GHASH against H^8..H^1 with one reduction. No table lookups and no branches
 * depend on the key or the data.
 */
#include "gcm_int.h"

#if defined(__aarch64__)

#include <arm_neon.h>
#include <sys/auxv.h>

#include <asm/hwcap.h>

#define GCM_ARM __attribute__((target("+crypto")))
#define GCM_ARM_INLINE GCM_ARM __attribute__((always_inline)) static inline

bool gcm_arm64_supported(void)
{
	unsigned long hw = getauxval(AT_HWCAP);

	return (hw & HWCAP_AES) && (hw & HWCAP_PMULL);
}

GCM_ARM_INLINE uint64x2_t gcm_arm_bswap(uint8x16_t v)
{
	v = vrev64q_u8(v);
	return vreinterpretq_u64_u8(vextq_u8(v, v, 8));
}

GCM_ARM_INLINE uint64x2_t gcm_arm_pmull(uint64_t a, uint64_t b)
{
	return vreinterpretq_u64_p128(vmull_p64((poly64_t)a, (poly64_t)b));
}

GCM_ARM_INLINE void gcm_arm_mul_acc(uint64x2_t a, uint64x2_t h, uint64x2_t *lo, uint64x2_t *mid,
				    uint64x2_t *hi)
{
	uint64_t a0 = vgetq_lane_u64(a, 0), a1 = vgetq_lane_u64(a, 1);
	uint64_t h0 = vgetq_lane_u64(h, 0), h1 = vgetq_lane_u64(h, 1);

	*lo = veorq_u64(*lo, gcm_arm_pmull(a0, h0));
	*hi = veorq_u64(*hi, gcm_arm_pmull(a1, h1));
	*mid = veorq_u64(*mid, veorq_u64(gcm_arm_pmull(a0, h1), gcm_arm_pmull(a1, h0)));
}

GCM_ARM_INLINE uint64x2_t gcm_arm_reduce(uint64x2_t lo, uint64x2_t mid, uint64x2_t hi)
{
	uint64_t m0 = vgetq_lane_u64(mid, 0), m1 = vgetq_lane_u64(mid, 1), r[2];

	gcm_reduce(vgetq_lane_u64(lo, 0), vgetq_lane_u64(lo, 1) ^ m0, vgetq_lane_u64(hi, 0) ^ m1,
		   vgetq_lane_u64(hi, 1), r);
	return vld1q_u64(r);
}

GCM_ARM_INLINE uint8x16_t gcm_arm_aes(const mbedtls_gcm_context *ctx, uint8x16_t b)
{
	unsigned r;

	for (r = 0; r + 1 < ctx->nr; r++)
		b = vaesmcq_u8(vaeseq_u8(b, vld1q_u8(ctx->rk[r])));
	b = vaeseq_u8(b, vld1q_u8(ctx->rk[r]));
	return veorq_u8(b, vld1q_u8(ctx->rk[r + 1]));
}

GCM_ARM static uint32_t gcm_arm_sub_word(uint32_t w)
{
	/* four equal columns: ShiftRows leaves them, so every lane is SubWord(w) */
	uint8x16_t v = vaeseq_u8(vreinterpretq_u8_u32(vdupq_n_u32(w)), vdupq_n_u8(0));

	return vgetq_lane_u32(vreinterpretq_u32_u8(v), 0);
}

GCM_ARM static void gcm_arm_block(const mbedtls_gcm_context *ctx, const uint8_t in[16],
				  uint8_t out[16])
{
	vst1q_u8(out, gcm_arm_aes(ctx, vld1q_u8(in)));
}

GCM_ARM static int gcm_arm_setkey(mbedtls_gcm_context *ctx, const uint8_t *key, unsigned bits)
{
	uint64x2_t h, p, lo, mid, hi;

	gcm_key_expand(ctx, key, bits, gcm_arm_sub_word);
	h = gcm_arm_bswap(gcm_arm_aes(ctx, vdupq_n_u8(0)));
	p = h;
	vst1q_u64(ctx->h.hpow[0], p);
	for (int i = 1; i < GCM_ALT_HPOW; i++) {
		lo = mid = hi = vdupq_n_u64(0);
		gcm_arm_mul_acc(p, h, &lo, &mid, &hi);
		p = gcm_arm_reduce(lo, mid, hi);
		vst1q_u64(ctx->h.hpow[i], p);
	}
	return 0;
}

/* x = (x + d_0) H^k + d_1 H^(k-1) + ... + d_(k-1) H, for k <= GCM_ALT_HPOW blocks. */
GCM_ARM_INLINE uint64x2_t gcm_arm_ghash_group(const mbedtls_gcm_context *ctx, uint64x2_t x,
					      const uint8x16_t *d, size_t k)
{
	uint64x2_t lo = vdupq_n_u64(0), mid = lo, hi = lo;

	GCM_UNROLL
	for (size_t i = 0; i < k; i++) {
		uint64x2_t b = gcm_arm_bswap(d[i]);

		if (i == 0)
			b = veorq_u64(b, x);
		gcm_arm_mul_acc(b, vld1q_u64(ctx->h.hpow[k - 1 - i]), &lo, &mid, &hi);
	}
	return gcm_arm_reduce(lo, mid, hi);
}

GCM_ARM static void gcm_arm_ghash(mbedtls_gcm_context *ctx, const uint8_t *data, size_t n)
{
	uint64x2_t x = vld1q_u64(ctx->x);
	uint8x16_t d[GCM_ALT_HPOW] = {0};
	size_t k;

	for (; n > 0; n -= k, data += 16 * k) {
		k = n < GCM_ALT_HPOW ? n : GCM_ALT_HPOW;
		GCM_UNROLL
		for (size_t i = 0; i < k; i++)
			d[i] = vld1q_u8(data + 16 * i);
		x = gcm_arm_ghash_group(ctx, x, d, k);
	}
	vst1q_u64(ctx->x, x);
}

/* k <= GCM_ALT_HPOW blocks of counter mode from counter c + 1, then their GHASH. */
GCM_ARM_INLINE uint64x2_t gcm_arm_ctr_group(const mbedtls_gcm_context *ctx, uint64x2_t x,
					    uint32x4_t base, uint32_t c, bool enc,
					    const uint8_t *in, uint8_t *out, size_t k)
{
	uint8x16_t b[GCM_ALT_HPOW] = {0}, t, d;
	unsigned r;

	GCM_UNROLL
	for (size_t i = 0; i < k; i++)
		b[i] = vreinterpretq_u8_u32(
		    vsetq_lane_u32(__builtin_bswap32(c + 1 + (uint32_t)i), base, 3));
	for (r = 0; r + 1 < ctx->nr; r++) {
		t = vld1q_u8(ctx->rk[r]);
		GCM_UNROLL
		for (size_t i = 0; i < k; i++)
			b[i] = vaesmcq_u8(vaeseq_u8(b[i], t));
	}
	t = vld1q_u8(ctx->rk[r]);
	GCM_UNROLL
	for (size_t i = 0; i < k; i++)
		b[i] = vaeseq_u8(b[i], t);
	t = vld1q_u8(ctx->rk[r + 1]);
	GCM_UNROLL
	for (size_t i = 0; i < k; i++) {
		/* load before store: in == out, or out below in, stays right */
		d = vld1q_u8(in + 16 * i);
		b[i] = veorq_u8(veorq_u8(b[i], t), d);
		vst1q_u8(out + 16 * i, b[i]);
		if (!enc)
			b[i] = d;
	}
	return gcm_arm_ghash_group(ctx, x, b, k);
}

GCM_ARM static void gcm_arm_ctr(mbedtls_gcm_context *ctx, const uint8_t *in, uint8_t *out, size_t n)
{
	uint64x2_t x = vld1q_u64(ctx->x);
	uint32x4_t base = vreinterpretq_u32_u8(vld1q_u8(ctx->y));
	uint32_t c = gcm_ctr_get(ctx);
	bool enc = ctx->mode == MBEDTLS_GCM_ENCRYPT;

	for (; n >= GCM_ALT_HPOW; n -= GCM_ALT_HPOW) {
		x = gcm_arm_ctr_group(ctx, x, base, c, enc, in, out, GCM_ALT_HPOW);
		c += GCM_ALT_HPOW;
		in += 16 * GCM_ALT_HPOW;
		out += 16 * GCM_ALT_HPOW;
	}
	if (n > 0) {
		x = gcm_arm_ctr_group(ctx, x, base, c, enc, in, out, n);
		c += (uint32_t)n;
	}
	vst1q_u64(ctx->x, x);
	gcm_ctr_set(ctx, c);
}

const struct gcm_ops gcm_ops_arm64 = {
    .name = "armv8-ce",
    .setkey = gcm_arm_setkey,
    .block = gcm_arm_block,
    .ghash = gcm_arm_ghash,
    .ctr = gcm_arm_ctr,
};

#endif
