/*
 * chacha_neon.c - the ChaCha20 path for Arm's Advanced SIMD (chacha_int.h), built from the
 * kernel chacha_vec.h with 4 blocks in 128-bit vectors: "asimd" on aarch64 (always
 * present: the Raspberry Pi 4's Cortex-A72 has it, without the crypto extensions) and
 * "neon" on 32-bit Arm, where NEON is optional (armhf only guarantees VFPv3-D16): there
 * the functions are compiled for it (target attribute) and chosen at run time from the
 * kernel's HWCAP_NEON, so the binary still runs on an armhf CPU without NEON (portable
 * path). Rotations: by 16 as a swap of the 16-bit halves (REV32), by 12, 8 and 7 as a
 * shift left with a shift right and insert (SHL, SRI).
 */
#include "chacha_int.h"

#if defined(__aarch64__) || defined(__arm__)

#include <arm_neon.h>
#include <sys/auxv.h>

#if defined(__aarch64__)
#define CHACHA_NEON_TARGET
#define CHACHA_NEON_NAME "asimd"
#else
#define CHACHA_NEON_TARGET __attribute__((target("fpu=neon")))
#define CHACHA_NEON_NAME "neon"

static bool chacha_neon_supported(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_ARM_NEON) != 0;
}
#endif

typedef uint32_t chacha_v4 __attribute__((vector_size(16)));

CHACHA_NEON_TARGET __attribute__((always_inline)) static inline chacha_v4
chacha_neon_rot(chacha_v4 v, int n)
{
	uint32x4_t u = (uint32x4_t)v;

	switch (n) {
	case 16:
		return (chacha_v4)vreinterpretq_u32_u16(vrev32q_u16(vreinterpretq_u16_u32(u)));
	case 12:
		return (chacha_v4)vsriq_n_u32(vshlq_n_u32(u, 12), u, 20);
	case 8:
		return (chacha_v4)vsriq_n_u32(vshlq_n_u32(u, 8), u, 24);
	default:
		return (chacha_v4)vsriq_n_u32(vshlq_n_u32(u, 7), u, 25);
	}
}

#define CHV_N 4
#define CHV_ATTR CHACHA_NEON_TARGET
#define CHV_NAME(x) chacha_neon_##x
#define CHV_ROT(v, n) chacha_neon_rot(v, n)
#include "chacha_vec.h"

#if defined(__aarch64__)
const struct chacha_ops chacha_ops_asimd = {
    .name = CHACHA_NEON_NAME,
    .xor = chacha_neon_stream,
};
#else
const struct chacha_ops chacha_ops_neon = {
    .name = CHACHA_NEON_NAME,
    .supported = chacha_neon_supported,
    .xor = chacha_neon_stream,
};
#endif

#endif
