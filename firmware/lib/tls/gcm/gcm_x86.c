/*
 * gcm_x86.c - the AES-GCM path for x86-64 CPUs with AES-NI, PCLMULQDQ and SSE4.1
 * (gcm_int.h), compiled for them function by function (target attributes) and chosen at
 * run time from cpuid, so the same binary runs on a CPU without them (portable path).
 *
 * Counter mode encrypts eight counter blocks at a time, round by round, so the AES unit
 * works on eight independent blocks; GHASH multiplies those eight ciphertext blocks by
 * H^8..H^1 (precomputed at setkey) and reduces their sum once. No table lookups and no
 * branches depend on the key or the data.
 */
#include "gcm_int.h"

#if defined(__x86_64__)

#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#include "mbedtls/platform_util.h"

#define GCM_X86 __attribute__((target("aes,pclmul,sse2,ssse3,sse4.1")))
#define GCM_X86_INLINE GCM_X86 __attribute__((always_inline)) static inline

bool gcm_x86_supported(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	return (c & bit_AES) && (c & bit_PCLMUL) && (c & bit_SSE4_1) && (c & bit_SSSE3);
}

GCM_X86_INLINE __m128i gcm_x86_bswap(__m128i v)
{
	return _mm_shuffle_epi8(v,
				_mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

/* Carry-less product of a and h added into three partial sums, Karatsuba's way: lo and hi
 * get the products of the low and of the high halves, mid that of the halves' sums; the
 * middle term is mid + lo + hi, recovered once per reduction (gcm_x86_reduce). */
GCM_X86_INLINE void gcm_x86_mul_acc(__m128i a, __m128i h, __m128i *lo, __m128i *mid, __m128i *hi)
{
	*lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, h, 0x00));
	*hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, h, 0x11));
	*mid =
	    _mm_xor_si128(*mid, _mm_clmulepi64_si128(_mm_xor_si128(a, _mm_srli_si128(a, 8)),
						     _mm_xor_si128(h, _mm_srli_si128(h, 8)), 0x00));
}

GCM_X86_INLINE __m128i gcm_x86_reduce(__m128i lo, __m128i mid, __m128i hi)
{
	uint64_t r[2];

	mid = _mm_xor_si128(mid, _mm_xor_si128(lo, hi));
	lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
	hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
	gcm_reduce((uint64_t)_mm_cvtsi128_si64(lo), (uint64_t)_mm_extract_epi64(lo, 1),
		   (uint64_t)_mm_cvtsi128_si64(hi), (uint64_t)_mm_extract_epi64(hi, 1), r);
	return _mm_set_epi64x((long long)r[1], (long long)r[0]);
}

GCM_X86_INLINE __m128i gcm_x86_hpow(const mbedtls_gcm_context *ctx, size_t i)
{
	return _mm_loadu_si128((const __m128i *)ctx->h.hpow[i]);
}

GCM_X86_INLINE __m128i gcm_x86_aes(const mbedtls_gcm_context *ctx, __m128i b)
{
	const __m128i *rk = (const __m128i *)ctx->rk;
	unsigned r;

	b = _mm_xor_si128(b, _mm_loadu_si128(rk));
	for (r = 1; r < ctx->nr; r++)
		b = _mm_aesenc_si128(b, _mm_loadu_si128(rk + r));
	return _mm_aesenclast_si128(b, _mm_loadu_si128(rk + r));
}

GCM_X86 static uint32_t gcm_x86_sub_word(uint32_t w)
{
	/* aeskeygenassist's lowest word is SubWord of its second word */
	return (uint32_t)_mm_cvtsi128_si32(
	    _mm_aeskeygenassist_si128(_mm_set_epi32(0, 0, (int)w, 0), 0));
}

GCM_X86 static void gcm_x86_block(const mbedtls_gcm_context *ctx, const uint8_t in[16],
				  uint8_t out[16])
{
	_mm_storeu_si128((__m128i *)out, gcm_x86_aes(ctx, _mm_loadu_si128((const __m128i *)in)));
}

GCM_X86 static int gcm_x86_setkey(mbedtls_gcm_context *ctx, const uint8_t *key, unsigned bits)
{
	__m128i h, p, lo, mid, hi;

	gcm_key_expand(ctx, key, bits, gcm_x86_sub_word);
	h = gcm_x86_bswap(gcm_x86_aes(ctx, _mm_setzero_si128()));
	p = h;
	_mm_storeu_si128((__m128i *)ctx->h.hpow[0], p);
	for (int i = 1; i < GCM_ALT_HPOW; i++) {
		lo = mid = hi = _mm_setzero_si128();
		gcm_x86_mul_acc(p, h, &lo, &mid, &hi);
		p = gcm_x86_reduce(lo, mid, hi);
		_mm_storeu_si128((__m128i *)ctx->h.hpow[i], p);
	}
	return 0;
}

/* x = (x + d_0) H^k + d_1 H^(k-1) + ... + d_(k-1) H, for k <= GCM_ALT_HPOW blocks. */
GCM_X86_INLINE __m128i gcm_x86_ghash_group(const mbedtls_gcm_context *ctx, __m128i x,
					   const __m128i *d, size_t k)
{
	__m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;

	GCM_UNROLL
	for (size_t i = 0; i < k; i++) {
		__m128i b = gcm_x86_bswap(d[i]);

		if (i == 0)
			b = _mm_xor_si128(b, x);
		gcm_x86_mul_acc(b, gcm_x86_hpow(ctx, k - 1 - i), &lo, &mid, &hi);
	}
	return gcm_x86_reduce(lo, mid, hi);
}

GCM_X86 static void gcm_x86_ghash(mbedtls_gcm_context *ctx, const uint8_t *data, size_t n)
{
	__m128i x = _mm_loadu_si128((const __m128i *)ctx->x), d[GCM_ALT_HPOW] = {0};
	size_t k;

	for (; n > 0; n -= k, data += 16 * k) {
		k = n < GCM_ALT_HPOW ? n : GCM_ALT_HPOW;
		GCM_UNROLL
		for (size_t i = 0; i < k; i++)
			d[i] = _mm_loadu_si128((const __m128i *)(data + 16 * i));
		x = gcm_x86_ghash_group(ctx, x, d, k);
	}
	_mm_storeu_si128((__m128i *)ctx->x, x);
}

/* k <= GCM_ALT_HPOW blocks of counter mode from counter c + 1, then their GHASH. */
GCM_X86_INLINE __m128i gcm_x86_ctr_group(const mbedtls_gcm_context *ctx, __m128i x, __m128i base,
					 uint32_t c, bool enc, const uint8_t *in, uint8_t *out,
					 size_t k)
{
	const __m128i *rk = (const __m128i *)ctx->rk;
	__m128i b[GCM_ALT_HPOW] = {0}, t, d;
	unsigned r;

	t = _mm_loadu_si128(rk);
	GCM_UNROLL
	for (size_t i = 0; i < k; i++)
		b[i] = _mm_xor_si128(
		    _mm_insert_epi32(base, (int)__builtin_bswap32(c + 1 + (uint32_t)i), 3), t);
	for (r = 1; r < ctx->nr; r++) {
		t = _mm_loadu_si128(rk + r);
		GCM_UNROLL
		for (size_t i = 0; i < k; i++)
			b[i] = _mm_aesenc_si128(b[i], t);
	}
	t = _mm_loadu_si128(rk + r);
	GCM_UNROLL
	for (size_t i = 0; i < k; i++) {
		/* load before store: in == out, or out below in, stays right */
		d = _mm_loadu_si128((const __m128i *)(in + 16 * i));
		b[i] = _mm_xor_si128(_mm_aesenclast_si128(b[i], t), d);
		_mm_storeu_si128((__m128i *)(out + 16 * i), b[i]);
		if (!enc)
			b[i] = d;
	}
	return gcm_x86_ghash_group(ctx, x, b, k);
}

GCM_X86 static void gcm_x86_ctr(mbedtls_gcm_context *ctx, const uint8_t *in, uint8_t *out, size_t n)
{
	__m128i x = _mm_loadu_si128((const __m128i *)ctx->x);
	__m128i base = _mm_loadu_si128((const __m128i *)ctx->y);
	uint32_t c = gcm_ctr_get(ctx);
	bool enc = ctx->mode == MBEDTLS_GCM_ENCRYPT;

	for (; n >= GCM_ALT_HPOW; n -= GCM_ALT_HPOW) {
		x = gcm_x86_ctr_group(ctx, x, base, c, enc, in, out, GCM_ALT_HPOW);
		c += GCM_ALT_HPOW;
		in += 16 * GCM_ALT_HPOW;
		out += 16 * GCM_ALT_HPOW;
	}
	if (n > 0) {
		x = gcm_x86_ctr_group(ctx, x, base, c, enc, in, out, n);
		c += (uint32_t)n;
	}
	_mm_storeu_si128((__m128i *)ctx->x, x);
	gcm_ctr_set(ctx, c);
}

const struct gcm_ops gcm_ops_x86 = {
    .name = "aesni-pclmul",
    .setkey = gcm_x86_setkey,
    .block = gcm_x86_block,
    .ghash = gcm_x86_ghash,
    .ctr = gcm_x86_ctr,
};

#endif
