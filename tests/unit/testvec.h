/*
 * testvec.h - what the cipher tests share (test_gcm.c, test_chachapoly.c): the hex decoder
 * for their typed-in vectors, a small reproducible random generator (xorshift64*) for
 * their random cases, seeded from an environment variable so a failing case can be
 * replayed with another seed or the same one, the x86 CPU flags the kernel lists, and, where the
 * test links libcrypto and includes <openssl/evp.h> first, OpenSSL's AEAD encryption to check
 * against. Include after cmocka.h or minicmocka.h (the OpenSSL helper asserts).
 */
#ifndef MAILGW_TESTVEC_H
#define MAILGW_TESTVEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The bytes of hex string s into out; returns their count. */
static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	for (; s[0] && s[1]; s += 2) {
		unsigned v;

		sscanf(s, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

#if defined(__x86_64__)
#include <stdbool.h>
#include <string.h>

/* Does the kernel list this CPU flag (x86 /proc/cpuinfo "flags")? For the tests that
 * check the automatic choice of an accelerated path against what the CPU has. */
static bool cpuinfo_has(const char *flag)
{
	static char line[8192];
	char word[32];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(word, sizeof(word), " %s ", flag);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0) {
			line[strcspn(line, "\n")] = ' ';
			found = strstr(line, word) != NULL;
			break;
		}
	if (f)
		fclose(f);
	return found;
}
#endif

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

/* A number below n (0 when n is 0). */
static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static void rnd_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* Restart the sequence: from the number in the environment variable env, else a fixed
 * one. */
static void rnd_seed(const char *env)
{
	const char *s = getenv(env);

	rng_state = s ? strtoull(s, NULL, 0) : 0x6d61696c67772121ULL;
	if (rng_state == 0)
		rng_state = 1;
}

#if defined(OPENSSL_VERSION_NUMBER)
/* OpenSSL's AEAD alg (AES-GCM, ChaCha20-Poly1305) over pt: ct and the 16-byte tag. */
static void openssl_aead_seal(const EVP_CIPHER *alg, const uint8_t *key, const uint8_t *iv,
			      size_t ivlen, const uint8_t *ad, size_t adlen, const uint8_t *pt,
			      size_t len, uint8_t *ct, uint8_t tag[16])
{
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
	int n = 0;

	assert_true(e != NULL);
	assert_int_equal(EVP_EncryptInit_ex(e, alg, NULL, NULL, NULL), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_SET_IVLEN, (int)ivlen, NULL), 1);
	assert_int_equal(EVP_EncryptInit_ex(e, NULL, NULL, key, iv), 1);
	if (adlen)
		assert_int_equal(EVP_EncryptUpdate(e, NULL, &n, ad, (int)adlen), 1);
	n = 0;
	if (len)
		assert_int_equal(EVP_EncryptUpdate(e, ct, &n, pt, (int)len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(e, ct + n, &n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(e);
}
#endif

#endif
