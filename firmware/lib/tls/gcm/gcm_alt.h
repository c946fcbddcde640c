/*
 * gcm_alt.h - mailgw's AES-GCM as mbedTLS's alternative GCM module (MBEDTLS_GCM_ALT).
 *
 * mbedtls/gcm.h includes this file when mbedtls_config.h defines MBEDTLS_GCM_ALT; it
 * must give the context structure, and mbedtls_gcm_init/setkey/starts/update_ad/update/
 * finish/crypt_and_tag/auth_decrypt/free are then ours (gcm.c beside this file), for
 * the cipher layer (TLS records), PSA's built-in AEAD and every other caller alike.
 * This folder is on mbedTLS's include path for its own build and for ours
 * (firmware/packages/mbedtls/mbedtls.mk), and the objects are added to every build's
 * libmbedcrypto.a, so whatever links mbedTLS links them.
 *
 * One context holds one key and one operation at a time, used by one thread at a time
 * (as every mbedTLS context). The implementation is chosen at setkey: AES-NI with
 * PCLMULQDQ on x86-64, AESE/PMULL on aarch64, when the CPU has them, else portable C.
 * mbedtls_gcm_free wipes the whole context (round keys, powers of H, state).
 */
#ifndef MAILGW_GCM_ALT_H
#define MAILGW_GCM_ALT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mbedtls/aes.h"

/* Precomputed powers H^1..H^GCM_ALT_HPOW: one GHASH reduction per that many blocks. */
#define GCM_ALT_HPOW 8

typedef struct mbedtls_gcm_context {
	/* Portable path: mbedTLS's AES (it uses AES-NI or the Armv8 AES instructions itself
	 * where it can) and Shoup's 4-bit tables of multiples of H. */
	mbedtls_aes_context aes;
	union {
		uint64_t hpow[GCM_ALT_HPOW][2]; /* accelerated: H^(i+1), {low, high} halves */
		struct {
			uint64_t hl[16], hh[16]; /* portable: nibble multiples of H */
		} tab;
	} h;
	uint8_t rk[15][16]; /* accelerated: the AES round keys */
	uint64_t x[2];	    /* GHASH accumulator, {low, high} of the byte-reversed block */
	uint64_t len;	    /* bytes of text so far */
	uint64_t add_len;   /* bytes of associated data so far */
	uint8_t y[16];	    /* the counter block last used */
	uint8_t ek0[16];    /* E(K, J0), masks the tag */
	uint8_t ectr[16];   /* key stream of the partial block in progress */
	uint8_t part[16];   /* the partial GHASH input block in progress */
	uint8_t nr;	    /* AES rounds: 10, 12 or 14 */
	uint8_t mode;	    /* MBEDTLS_GCM_ENCRYPT or MBEDTLS_GCM_DECRYPT */
	uint8_t impl;	    /* enum gcm_impl (gcm_int.h); 0 before setkey */
} mbedtls_gcm_context;

/*
 * Test and benchmark hooks. gcm_alt_force_portable(true) makes every later setkey take
 * the portable path (as does MAILGW_GCM_PORTABLE=1 in the environment of the process);
 * gcm_alt_impl_name() names the path a keyed context uses ("aesni-pclmul", "armv8-ce",
 * "portable"), or the one the next setkey would take when ctx is NULL.
 */
void gcm_alt_force_portable(bool on);
const char *gcm_alt_impl_name(const mbedtls_gcm_context *ctx);

#endif
