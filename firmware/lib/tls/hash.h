/*
 * hash.h - SHA-256 / SHA-512 for code outside tls/ (which may not include mbedTLS).
 *
 * A thin wrapper over mbedtls_sha256 / mbedtls_sha512. The context is caller-allocated
 * opaque storage large enough for either (checked at compile time in hash.c).
 */
#ifndef MGW_HASH_H
#define MGW_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_SHA256_LEN 32
#define HASH_SHA512_LEN 64
#define HASH_LEN_MAX 64
#define HASH_CTX_SIZE 256

enum hash_alg { HASH_SHA256, HASH_SHA512 };

struct hash_ctx {
	enum hash_alg alg;
	_Alignas(16) unsigned char opaque[HASH_CTX_SIZE];
};

/* Output length of alg in bytes. */
size_t hash_len(enum hash_alg alg);
/* Starts a hash. Cannot fail for the software implementation we build. */
void hash_init(struct hash_ctx *h, enum hash_alg alg);
void hash_update(struct hash_ctx *h, const void *p, size_t len);
/* Writes hash_len(alg) bytes to out and wipes the context. */
void hash_finish(struct hash_ctx *h, uint8_t *out);
/* One-shot. */
void hash_once(enum hash_alg alg, const void *p, size_t len, uint8_t *out);
/* Wipes n bytes in a way the compiler keeps (mbedtls_platform_zeroize). */
void hash_wipe(void *p, size_t n);

#endif
