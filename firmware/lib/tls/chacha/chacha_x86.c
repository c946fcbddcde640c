/*
 * chacha_x86.c - the ChaCha20 paths for x86-64 (chacha_int.h), built from the kernel
 * chacha_vec.h: "sse2" (4 blocks in 128-bit vectors; every x86-64 CPU has SSE2), "ssse3"
 * (the same with the 16- and 8-bit rotations as one byte shuffle, PSHUFB) and "avx2" (8
 * blocks in 256-bit vectors, the last 1-7 blocks by the SSSE3 kernel). Each is
 * compiled for its instruction set function by function (target attributes) and chosen
 * at run time from cpuid, so the binary runs on any x86-64.
 */
#include "chacha_int.h"

#if defined(__x86_64__)

#include <immintrin.h>

static bool chacha_x86_has_ssse3(void)
{
	return __builtin_cpu_supports("ssse3");
}

static bool chacha_x86_has_avx2(void)
{
	return __builtin_cpu_supports("avx2");
}

/* SSE2: rotations by shifts; by 16 with the 16-bit word shuffles. */
#define CHV_N 4
#define CHV_ATTR __attribute__((target("sse2")))
#define CHV_NAME(x) chacha_sse2_##x
#define CHV_ROT(v, n) chacha_sse2_rot(v, n)
typedef uint32_t chacha_v4 __attribute__((vector_size(16)));
__attribute__((target("sse2"), always_inline)) static inline chacha_v4 chacha_sse2_rot(chacha_v4 v,
										       int n)
{
	if (n == 16)
		return (chacha_v4)_mm_shufflehi_epi16(_mm_shufflelo_epi16((__m128i)v, 0xb1), 0xb1);
	return v << n | v >> (32 - n);
}
#include "chacha_vec.h"

/* SSSE3: rotations by 16 and 8 as byte shuffles. */
#define CHV_N 4
#define CHV_ATTR __attribute__((target("sse2,ssse3")))
#define CHV_NAME(x) chacha_ssse3_##x
#define CHV_ROT(v, n) chacha_ssse3_rot(v, n)
__attribute__((target("sse2,ssse3"), always_inline)) static inline chacha_v4
chacha_ssse3_rot(chacha_v4 v, int n)
{
	if (n == 16)
		return (chacha_v4)_mm_shuffle_epi8(
		    (__m128i)v, _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
	if (n == 8)
		return (chacha_v4)_mm_shuffle_epi8(
		    (__m128i)v, _mm_set_epi8(14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3));
	return v << n | v >> (32 - n);
}
#include "chacha_vec.h"

/* AVX2: 8 blocks, rotations by 16 and 8 as byte shuffles within each 128-bit lane. */
#define CHV_N 8
#define CHV_ATTR __attribute__((target("sse2,ssse3,avx,avx2")))
#define CHV_NAME(x) chacha_avx2_##x
#define CHV_ROT(v, n) chacha_avx2_rot(v, n)
typedef uint32_t chacha_v8 __attribute__((vector_size(32)));
__attribute__((target("sse2,ssse3,avx,avx2"), always_inline)) static inline chacha_v8
chacha_avx2_rot(chacha_v8 v, int n)
{
	if (n == 16)
		return (chacha_v8)_mm256_shuffle_epi8(
		    (__m256i)v,
		    _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12,
				    15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
	if (n == 8)
		return (chacha_v8)_mm256_shuffle_epi8(
		    (__m256i)v,
		    _mm256_set_epi8(14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3, 14, 13,
				    12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3));
	return v << n | v >> (32 - n);
}
#include "chacha_vec.h"

/* Whole groups of 8 blocks in 256-bit vectors, the rest (up to 7 blocks and a partial
 * one) in groups of 4. */
__attribute__((target("sse2,ssse3,avx,avx2"))) static void
chacha_avx2_xor8(const uint32_t st[16], const uint8_t *in, uint8_t *out, size_t len, uint8_t ks[64])
{
	size_t big = len / 512 * 512;
	uint32_t st2[16];

	if (big > 0)
		chacha_avx2_stream(st, in, out, big, ks);
	if (len == big)
		return;
	memcpy(st2, st, sizeof(st2));
	st2[12] += (uint32_t)(big / 64);
	chacha_ssse3_stream(st2, in + big, out + big, len - big, ks);
	mbedtls_platform_zeroize(st2, sizeof(st2));
}

const struct chacha_ops chacha_ops_sse2 = {
    .name = "sse2",
    .xor = chacha_sse2_stream,
};

const struct chacha_ops chacha_ops_ssse3 = {
    .name = "ssse3",
    .supported = chacha_x86_has_ssse3,
    .xor = chacha_ssse3_stream,
};

const struct chacha_ops chacha_ops_avx2 = {
    .name = "avx2",
    .supported = chacha_x86_has_avx2,
    .xor = chacha_avx2_xor8,
};

#endif
