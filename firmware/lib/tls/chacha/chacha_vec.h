/*
 * chacha_vec.h - the SIMD ChaCha20 kernel, written once over GCC's generic vectors and
 * included by each SIMD path (chacha_x86.c, chacha_neon.c) for its vector width.
 * Internal to this folder.
 *
 * CHV_N blocks at a time, "vertically": vector x[i] holds state word i of the CHV_N
 * blocks, one block per 32-bit lane (lane j: block counter st[12] + j), so a quarter round
 * is the scalar one on whole vectors and the four quarter rounds of a round are
 * independent. After the 20 rounds each group of four word vectors is transposed with
 * shuffles (the compiler picks the instructions: unpack, zip, vperm2i128), so that each
 * vector holds 16 consecutive key stream bytes of one block, XORed with the input in
 * vector loads and stores.
 *
 * The includer defines, before including:
 *   CHV_N        lanes: 4 (128-bit vectors) or 8 (256-bit)
 *   CHV_ATTR     the target attribute of the functions (their instruction set)
 *   CHV_ROT(v,n) v rotated left by n (16, 12, 8, 7) bits, lane by lane, with the
 *                instructions that path has (a function of type chv_vec)
 *   CHV_NAME(x)  the name of the function for x (unique per instance)
 * and gets static void CHV_NAME(stream)(...), a chacha_xor_fn (chacha_int.h) that takes whole
 * groups of CHV_N blocks and ends with one group for the rest (its unused blocks are
 * computed and dropped). The macros are undefined at the end.
 */
#include <string.h>

#include "mbedtls/platform_util.h"

#include "chacha_int.h"

typedef uint32_t CHV_NAME(vec) __attribute__((vector_size(4 * CHV_N)));
#define chv_vec CHV_NAME(vec)

#define CHV_INLINE CHV_ATTR __attribute__((always_inline)) static inline

/* Before the loops over the 16 words and the 4 groups: unrolled, every index is a
 * constant and the vectors stay in registers instead of stack arrays. */
#define CHV_UNROLL _Pragma("GCC unroll 16")

/* The shuffles of the transposition (GCC 12 and clang: __builtin_shufflevector, indices
 * into the concatenation of a and b): interleave 32-bit words, 64-bit pairs, within each
 * 128-bit lane; take the low or the high 128-bit lanes of two 256-bit vectors. */
#if CHV_N == 4
#define CHV_LO32(a, b) __builtin_shufflevector(a, b, 0, 4, 1, 5)
#define CHV_HI32(a, b) __builtin_shufflevector(a, b, 2, 6, 3, 7)
#define CHV_LO64(a, b) __builtin_shufflevector(a, b, 0, 1, 4, 5)
#define CHV_HI64(a, b) __builtin_shufflevector(a, b, 2, 3, 6, 7)
#else
#define CHV_LO32(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 4, 12, 5, 13)
#define CHV_HI32(a, b) __builtin_shufflevector(a, b, 2, 10, 3, 11, 6, 14, 7, 15)
#define CHV_LO64(a, b) __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13)
#define CHV_HI64(a, b) __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15)
#define CHV_LO128(a, b) __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11)
#define CHV_HI128(a, b) __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15)
#endif

/* Vector loads and stores of any alignment (memcpy: the compiler emits one unaligned
 * vector move). */
CHV_INLINE chv_vec CHV_NAME(load)(const uint8_t *p)
{
	chv_vec v;

	memcpy(&v, p, sizeof(v));
	return v;
}

CHV_INLINE void CHV_NAME(store)(uint8_t *p, chv_vec v)
{
	memcpy(p, &v, sizeof(v));
}

/*
 * The key stream of blocks ctr .. ctr + CHV_N - 1 (counters mod 2^32) in 16 vectors, in
 * byte order: ks[v] holds bytes v * 4 * CHV_N .. of the group's 64 * CHV_N bytes.
 */
CHV_INLINE void CHV_NAME(keystream)(const uint32_t st[16], uint32_t ctr, chv_vec ks[16])
{
	chv_vec x[16], s[16], t[16];
#if CHV_N == 4
	const chv_vec lane = {0, 1, 2, 3};
#else
	const chv_vec lane = {0, 1, 2, 3, 4, 5, 6, 7};
#endif

	CHV_UNROLL
	for (int i = 0; i < 16; i++)
		s[i] = (chv_vec){0} + st[i]; /* broadcast */
	s[12] = ctr + lane;
	CHV_UNROLL
	for (int i = 0; i < 16; i++)
		x[i] = s[i];
	for (int i = 0; i < 10; i++) {
		CHACHA_DOUBLE_ROUND(CHV_ROT, x);
	}
	CHV_UNROLL
	for (int i = 0; i < 16; i++)
		x[i] += s[i];
	/* Transpose each group of four word vectors (words 4 g .. 4 g + 3), within 128-bit
	 * lanes: t[4 g + j] gets words 4 g .. 4 g + 3 of block j (and of block j + 4 in the
	 * upper half of a 256-bit vector). */
	CHV_UNROLL
	for (int g = 0; g < 4; g++) {
		chv_vec *a = x + 4 * g, b0, b1, b2, b3;

		b0 = CHV_LO32(a[0], a[1]);
		b1 = CHV_HI32(a[0], a[1]);
		b2 = CHV_LO32(a[2], a[3]);
		b3 = CHV_HI32(a[2], a[3]);
		t[4 * g + 0] = CHV_LO64(b0, b2);
		t[4 * g + 1] = CHV_HI64(b0, b2);
		t[4 * g + 2] = CHV_LO64(b1, b3);
		t[4 * g + 3] = CHV_HI64(b1, b3);
	}
#if CHV_N == 4
	/* block b, bytes 16 k ..: t[4 k + b] */
	CHV_UNROLL
	for (int b = 0; b < 4; b++)
		CHV_UNROLL
	for (int k = 0; k < 4; k++)
		ks[4 * b + k] = t[4 * k + b];
#else
	/* block j (low halves) and j + 4 (high halves): bytes 0-31 from groups 0 and 1,
	 * 32-63 from groups 2 and 3 */
	CHV_UNROLL
	for (int j = 0; j < 4; j++) {
		ks[2 * j] = CHV_LO128(t[j], t[4 + j]);
		ks[2 * j + 1] = CHV_LO128(t[8 + j], t[12 + j]);
		ks[8 + 2 * j] = CHV_HI128(t[j], t[4 + j]);
		ks[8 + 2 * j + 1] = CHV_HI128(t[8 + j], t[12 + j]);
	}
#endif
}

/* The chacha_xor_fn (chacha_int.h): whole groups XORed in vectors, the rest through a
 * buffer holding one more group's key stream (its unused blocks dropped). */
CHV_ATTR static void CHV_NAME(stream)(const uint32_t st[16], const uint8_t *in, uint8_t *out,
				      size_t len, uint8_t ks_last[64])
{
	chv_vec ks[16];
	uint32_t ctr = st[12];
	const size_t vb = sizeof(chv_vec);

	for (; len >= 16 * vb; len -= 16 * vb, in += 16 * vb, out += 16 * vb, ctr += CHV_N) {
		CHV_NAME(keystream)(st, ctr, ks);
		CHV_UNROLL
		for (int v = 0; v < 16; v++)
			CHV_NAME(store)(out + v * vb, CHV_NAME(load)(in + v * vb) ^ ks[v]);
	}
	if (len > 0) {
		uint8_t buf[16 * sizeof(chv_vec)];
		size_t full = len / 64 * 64;

		CHV_NAME(keystream)(st, ctr, ks);
		memcpy(buf, ks, sizeof(buf));
		for (size_t i = 0; i < len; i++)
			out[i] = in[i] ^ buf[i];
		if (len % 64 != 0)
			memcpy(ks_last, buf + full, 64);
		mbedtls_platform_zeroize(buf, sizeof(buf));
	}
	mbedtls_platform_zeroize(ks, sizeof(ks));
}

#undef CHV_INLINE
#undef CHV_UNROLL
#undef CHV_LO32
#undef CHV_HI32
#undef CHV_LO64
#undef CHV_HI64
#undef CHV_LO128
#undef CHV_HI128
#undef chv_vec
#undef CHV_N
#undef CHV_ATTR
#undef CHV_ROT
#undef CHV_NAME
