/*
 * hash.c - SHA-256 / SHA-512 over mbedTLS's legacy hash modules (see hash.h).
 *
 * The mbedTLS contexts live inside struct hash_ctx's opaque storage; the static asserts
 * below keep that storage large and aligned enough if mbedTLS's structures grow.
 */
#include "tls/hash.h"

#include <string.h>

#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"
#include "mbedtls/sha512.h"

_Static_assert(sizeof(mbedtls_sha256_context) <= HASH_CTX_SIZE, "hash_ctx too small (sha256)");
_Static_assert(sizeof(mbedtls_sha512_context) <= HASH_CTX_SIZE, "hash_ctx too small (sha512)");
_Static_assert(_Alignof(mbedtls_sha512_context) <= 16, "hash_ctx alignment");
_Static_assert(_Alignof(mbedtls_sha256_context) <= 16, "hash_ctx alignment");

size_t hash_len(enum hash_alg alg)
{
	return alg == HASH_SHA512 ? HASH_SHA512_LEN : HASH_SHA256_LEN;
}

void hash_init(struct hash_ctx *h, enum hash_alg alg)
{
	h->alg = alg;
	if (alg == HASH_SHA512) {
		mbedtls_sha512_context *c = (mbedtls_sha512_context *)h->opaque;
		mbedtls_sha512_init(c);
		(void)mbedtls_sha512_starts(c, 0);
	} else {
		mbedtls_sha256_context *c = (mbedtls_sha256_context *)h->opaque;
		mbedtls_sha256_init(c);
		(void)mbedtls_sha256_starts(c, 0);
	}
}

void hash_update(struct hash_ctx *h, const void *p, size_t len)
{
	if (h->alg == HASH_SHA512)
		(void)mbedtls_sha512_update((mbedtls_sha512_context *)h->opaque, p, len);
	else
		(void)mbedtls_sha256_update((mbedtls_sha256_context *)h->opaque, p, len);
}

void hash_finish(struct hash_ctx *h, uint8_t *out)
{
	if (h->alg == HASH_SHA512) {
		mbedtls_sha512_context *c = (mbedtls_sha512_context *)h->opaque;
		(void)mbedtls_sha512_finish(c, out);
		mbedtls_sha512_free(c);
	} else {
		mbedtls_sha256_context *c = (mbedtls_sha256_context *)h->opaque;
		(void)mbedtls_sha256_finish(c, out);
		mbedtls_sha256_free(c);
	}
	mbedtls_platform_zeroize(h->opaque, sizeof(h->opaque));
}

void hash_once(enum hash_alg alg, const void *p, size_t len, uint8_t *out)
{
	struct hash_ctx h;

	hash_init(&h, alg);
	hash_update(&h, p, len);
	hash_finish(&h, out);
}

void hash_wipe(void *p, size_t n)
{
	mbedtls_platform_zeroize(p, n);
}
