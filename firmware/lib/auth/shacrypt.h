/*
 * shacrypt.h - SHA-crypt ("$5$" SHA-256, "$6$" SHA-512), implemented from Ulrich
 * Drepper's public specification "Unix crypt using SHA-256 and SHA-512" (the algorithm
 * glibc's crypt(3), OpenSSL's `openssl passwd -5/-6` and dovecot's SHA256-CRYPT /
 * SHA512-CRYPT use). The hash primitives come from tls/hash.h (mbedTLS).
 *
 * Setting/hash syntax: "$5$" or "$6$", optional "rounds=N$" (N clamped to 1000 ..
 * 999999999, and written back into the result, clamped, whenever it was given; default
 * 5000), the salt (up to 16 characters, longer salts truncated, ends at '$' or the end),
 * then for a full hash "$" and the 43 (SHA-256) or 86 (SHA-512) character result.
 */
#ifndef MGW_SHACRYPT_H
#define MGW_SHACRYPT_H

#include <stdbool.h>
#include <stddef.h>

#define SHACRYPT_SALT_MAX 16
#define SHACRYPT_ROUNDS_DEFAULT 5000
#define SHACRYPT_ROUNDS_MIN 1000
#define SHACRYPT_ROUNDS_MAX 999999999
#define SHACRYPT_OUT_MAX 128  /* "$6$rounds=999999999$" + 16 + "$" + 86 + NUL fits */
#define SHACRYPT_KEY_MAX 1024 /* longer keys are refused (bounded cost) */

/*
 * Computes the SHA-crypt string for key under setting (a setting or a full hash: only
 * the prefix, rounds and salt are used) into out. 0, -MGW_EINVAL (not "$5$"/"$6$", bad
 * rounds, key too long), -MGW_ELIMIT (outsz too small). Intermediate state is wiped.
 */
int shacrypt_hash(const void *key, size_t keylen, const char *setting, char *out, size_t outsz);

/*
 * True when key hashes to exactly hash (a full "$5$"/"$6$" string). The final
 * comparison is constant time; a malformed hash is false.
 */
bool shacrypt_verify(const void *key, size_t keylen, const char *hash);

#endif
