/*
 * chacha20_alt.h - mailgw's ChaCha20 as mbedTLS's alternative ChaCha20 module
 * (MBEDTLS_CHACHA20_ALT).
 *
 * mbedtls/chacha20.h includes this file when mbedtls_config.h defines MBEDTLS_CHACHA20_ALT;
 * it must give the context structure, and mbedtls_chacha20_init/free/setkey/starts/update
 * and the one-shot mbedtls_chacha20_crypt are then ours (chacha20.c beside this file), for
 * mbedTLS's ChaCha20-Poly1305 (chachapoly.c: TLS records, PSA's AEAD) and the cipher layer
 * alike. mbedTLS's self-test of the module (MBEDTLS_SELF_TEST, off in our configuration)
 * would run over these functions too. This folder is on mbedTLS's include path for its own
 * build and for ours, and its objects are added to every build's libmbedcrypto.a
 * (firmware/packages/mbedtls/mbedtls.mk).
 *
 * RFC 8439 section 2.3: a 32-bit block counter (state word 12) and a 96-bit nonce. As in
 * mbedTLS, an update that would need a block past counter 0xffffffff is refused
 * (MBEDTLS_ERR_CHACHA20_BAD_INPUT_DATA) before anything is written: the block numbered
 * 0xffffffff is the last one a nonce gives. (mbedTLS's chachapoly.c checks that itself
 * only without MBEDTLS_CHACHA20_ALT; with it, a ChaCha20-Poly1305 decryption refused there
 * has fed its input to Poly1305 already, and the operation is good for nothing but a new
 * starts, as after any error. TLS never comes near: a record's counter starts at 1 and a
 * record is at most 2^14 + 256 bytes.) The key stream of a partial block is kept for the
 * next update. One context is used by one thread at a time (as every mbedTLS context).
 * The implementation (portable C or a SIMD path, chacha_int.h) is chosen at setkey;
 * mbedtls_chacha20_free wipes the whole context.
 */
#ifndef MAILGW_CHACHA20_ALT_H
#define MAILGW_CHACHA20_ALT_H

#include <stdint.h>

typedef struct mbedtls_chacha20_context {
	uint32_t state[16]; /* constants, key, block counter (word 12), nonce */
	uint8_t ks[64];	    /* key stream of the block last begun */
	uint32_t ks_used;   /* bytes of ks used: 64 when none is left, CHACHA20_ALT_EXHAUSTED
			       when the block counter has no block left */
	uint8_t impl;	    /* enum chacha_impl (chacha_int.h); 0 before setkey */
} mbedtls_chacha20_context;

#define CHACHA20_ALT_EXHAUSTED 65

/*
 * Test and benchmark hooks. chacha20_alt_force(name) makes every later setkey take the
 * path of that name ("portable", "sse2", "ssse3", "avx2", "asimd", "neon") and returns 0,
 * or returns -1 when this build or CPU has no such path; chacha20_alt_force(NULL) goes
 * back to the automatic choice (the fastest path the CPU has, or "portable" when
 * MAILGW_CHACHA_PORTABLE=1 is in the environment of the process). chacha20_alt_impl_name()
 * names the path a keyed context uses, or the one the next setkey would take when ctx is
 * NULL.
 */
int chacha20_alt_force(const char *name);
const char *chacha20_alt_impl_name(const mbedtls_chacha20_context *ctx);

#endif
