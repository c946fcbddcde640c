/*
 * poly1305_alt.h - mailgw's Poly1305 as mbedTLS's alternative Poly1305 module
 * (MBEDTLS_POLY1305_ALT).
 *
 * mbedtls/poly1305.h includes this file when mbedtls_config.h defines
 * MBEDTLS_POLY1305_ALT; mbedtls_poly1305_init/free/starts/update/finish and the one-shot
 * mbedtls_poly1305_mac are then ours (poly1305.c beside this file), for mbedTLS's
 * ChaCha20-Poly1305 (chachapoly.c) and every other caller. (mbedTLS's self-test of the
 * module, MBEDTLS_SELF_TEST, off in our configuration, would run over them too.)
 *
 * RFC 8439 section 2.5. The accumulator and r are held in 64-bit words (radix 2^64, with
 * the compiler's 128-bit products) where the compiler has unsigned __int128 (aarch64,
 * x86-64), else in five 26-bit limbs (32-bit Arm). Constant time: no branch and no
 * memory index depends on the key, the data or the accumulator. mbedtls_poly1305_free
 * wipes the whole context.
 */
#ifndef MAILGW_POLY1305_ALT_H
#define MAILGW_POLY1305_ALT_H

#include <stdint.h>

#if defined(__SIZEOF_INT128__)
#define POLY1305_ALT_LIMBS 3 /* h: two 64-bit words and the bits from 2^128 up */
typedef uint64_t poly1305_alt_limb;
#else
#define POLY1305_ALT_LIMBS 5 /* h and r: five 26-bit limbs */
typedef uint32_t poly1305_alt_limb;
#endif

typedef struct mbedtls_poly1305_context {
	poly1305_alt_limb h[POLY1305_ALT_LIMBS]; /* the accumulator, partly reduced */
	poly1305_alt_limb r[POLY1305_ALT_LIMBS]; /* the clamped r (r[2] unused in radix 2^64) */
	uint32_t s[4];				 /* the key's second half, added at finish */
	uint8_t part[16];			 /* the partial block in progress */
	uint32_t part_len;			 /* its bytes */
} mbedtls_poly1305_context;

#endif
