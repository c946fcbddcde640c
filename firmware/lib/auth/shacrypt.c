/*
 * shacrypt.c - SHA-crypt after Ulrich Drepper's specification "Unix crypt using SHA-256
 * and SHA-512" (the step numbers below are the specification's). Written from the text of
 * the specification; the hash primitives are mbedTLS's, reached through tls/hash.h.
 *
 * Every intermediate digest and sequence derived from the key is wiped before returning.
 */
#include "auth/shacrypt.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "tls/hash.h"

#define SHACRYPT_ROUNDS_PREFIX "rounds="

static const char shacrypt_b64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Byte order of the final encoding (specification, step 22): groups of three digest
 * bytes, most significant first, each written as four characters, least significant
 * six bits first. The last group is shorter. */
static const uint8_t shacrypt_order256[][3] = {
    {0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
    {15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29},
};
static const uint8_t shacrypt_order512[][3] = {
    {0, 21, 42},  {22, 43, 1},	{44, 2, 23},  {3, 24, 45},  {25, 46, 4},  {47, 5, 26},
    {6, 27, 48},  {28, 49, 7},	{50, 8, 29},  {9, 30, 51},  {31, 52, 10}, {53, 11, 32},
    {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16}, {59, 17, 38},
    {18, 39, 60}, {40, 61, 19}, {62, 20, 41},
};

struct shacrypt_setting {
	enum hash_alg alg;
	unsigned long rounds;
	bool rounds_given; /* "rounds=" present: written back into the result */
	const char *salt;
	size_t salt_len;
	size_t prefix_len; /* bytes of the setting up to and including the salt */
};

static int shacrypt_setting_parse(const char *s, struct shacrypt_setting *st)
{
	const char *p;

	if (strncmp(s, "$5$", 3) == 0)
		st->alg = HASH_SHA256;
	else if (strncmp(s, "$6$", 3) == 0)
		st->alg = HASH_SHA512;
	else
		return -MGW_EINVAL;
	p = s + 3;
	st->rounds = SHACRYPT_ROUNDS_DEFAULT;
	st->rounds_given = false;
	if (strncmp(p, SHACRYPT_ROUNDS_PREFIX, strlen(SHACRYPT_ROUNDS_PREFIX)) == 0) {
		unsigned long r = 0;
		const char *q = p + strlen(SHACRYPT_ROUNDS_PREFIX);

		if (*q < '0' || *q > '9')
			return -MGW_EINVAL;
		while (*q >= '0' && *q <= '9') {
			if (r > SHACRYPT_ROUNDS_MAX) /* keep reading; clamped below */
				r = SHACRYPT_ROUNDS_MAX + 1ul;
			else
				r = r * 10 + (unsigned long)(*q - '0');
			q++;
		}
		if (*q != '$')
			return -MGW_EINVAL;
		/* The specification clamps rather than refuses out-of-range counts. */
		if (r < SHACRYPT_ROUNDS_MIN)
			r = SHACRYPT_ROUNDS_MIN;
		if (r > SHACRYPT_ROUNDS_MAX)
			r = SHACRYPT_ROUNDS_MAX;
		st->rounds = r;
		st->rounds_given = true;
		p = q + 1;
	}
	st->salt = p;
	st->salt_len = strcspn(p, "$");
	if (st->salt_len > SHACRYPT_SALT_MAX)
		st->salt_len = SHACRYPT_SALT_MAX;
	st->prefix_len = (size_t)(p - s) + st->salt_len;
	return 0;
}

/* Adds len bytes of the cyclic repetition of block (blen bytes) to h. */
static void shacrypt_add_cyclic(struct hash_ctx *h, const uint8_t *block, size_t blen, size_t len)
{
	for (; len > blen; len -= blen)
		hash_update(h, block, blen);
	hash_update(h, block, len);
}

static char *shacrypt_b64_put(char *o, unsigned b2, unsigned b1, unsigned b0, int n)
{
	unsigned w = (b2 << 16) | (b1 << 8) | b0;

	while (n-- > 0) {
		*o++ = shacrypt_b64[w & 0x3f];
		w >>= 6;
	}
	return o;
}

int shacrypt_hash(const void *key, size_t keylen, const char *setting, char *out, size_t outsz)
{
	struct shacrypt_setting st;
	struct hash_ctx h;
	uint8_t a[HASH_LEN_MAX], b[HASH_LEN_MAX], dp[HASH_LEN_MAX], ds[HASH_LEN_MAX];
	uint8_t pseq[SHACRYPT_KEY_MAX > 0 ? SHACRYPT_KEY_MAX : 1], sseq[SHACRYPT_SALT_MAX];
	char res[SHACRYPT_OUT_MAX];
	size_t hl, n, i;
	unsigned long r;
	char *o;
	int len, rc = -MGW_EINVAL;

	if (keylen > SHACRYPT_KEY_MAX || shacrypt_setting_parse(setting, &st) < 0)
		return -MGW_EINVAL;
	hl = hash_len(st.alg);
	/* Refuse a too small out before spending the rounds: "$N$" [rounds=R$] salt "$" and
	 * the encoding (4 characters per 3 bytes, rounded up), then the NUL. */
	if (outsz < 3 + (st.rounds_given ? 17 : 0) + st.salt_len + 1 + (hl * 4 + 2) / 3 + 1)
		return -MGW_ELIMIT;

	/* Steps 9-12 (digest B): key, salt, key. */
	hash_init(&h, st.alg);
	hash_update(&h, key, keylen);
	hash_update(&h, st.salt, st.salt_len);
	hash_update(&h, key, keylen);
	hash_finish(&h, b);

	/* Steps 1-3, 9-12: digest A starts with key and salt, then as many bytes of B as
	 * the key is long. */
	hash_init(&h, st.alg);
	hash_update(&h, key, keylen);
	hash_update(&h, st.salt, st.salt_len);
	shacrypt_add_cyclic(&h, b, hl, keylen);
	/* Step 11: for each bit of the key length, lowest first: B for 1, the key for 0. */
	for (n = keylen; n > 0; n >>= 1) {
		if (n & 1)
			hash_update(&h, b, hl);
		else
			hash_update(&h, key, keylen);
	}
	hash_finish(&h, a);

	/* Steps 13-16: DP = hash of the key repeated keylen times; P = keylen bytes of DP. */
	hash_init(&h, st.alg);
	for (i = 0; i < keylen; i++)
		hash_update(&h, key, keylen);
	hash_finish(&h, dp);
	for (i = 0; i < keylen; i++)
		pseq[i] = dp[i % hl];

	/* Steps 17-20: DS = hash of the salt repeated 16 + A[0] times; S = salt_len bytes. */
	hash_init(&h, st.alg);
	for (i = 0; i < 16u + a[0]; i++)
		hash_update(&h, st.salt, st.salt_len);
	hash_finish(&h, ds);
	memcpy(sseq, ds, st.salt_len);

	/* Step 21: the rounds. */
	for (r = 0; r < st.rounds; r++) {
		hash_init(&h, st.alg);
		if (r & 1)
			hash_update(&h, pseq, keylen);
		else
			hash_update(&h, a, hl);
		if (r % 3 != 0)
			hash_update(&h, sseq, st.salt_len);
		if (r % 7 != 0)
			hash_update(&h, pseq, keylen);
		if (r & 1)
			hash_update(&h, a, hl);
		else
			hash_update(&h, pseq, keylen);
		hash_finish(&h, a);
	}

	/* Step 22: "$5$" / "$6$", "rounds=N$" if it was given, salt, "$", encoding. */
	if (st.rounds_given)
		len = snprintf(res, sizeof(res), "$%c$rounds=%lu$%.*s$",
			       st.alg == HASH_SHA512 ? '6' : '5', st.rounds, (int)st.salt_len,
			       st.salt);
	else
		len = snprintf(res, sizeof(res), "$%c$%.*s$", st.alg == HASH_SHA512 ? '6' : '5',
			       (int)st.salt_len, st.salt);
	if (len < 0 || (size_t)len + 87 > sizeof(res))
		goto out;
	o = res + len;
	if (st.alg == HASH_SHA512) {
		for (i = 0; i < MGW_ARRAY_LEN(shacrypt_order512); i++)
			o = shacrypt_b64_put(o, a[shacrypt_order512[i][0]],
					     a[shacrypt_order512[i][1]], a[shacrypt_order512[i][2]],
					     4);
		o = shacrypt_b64_put(o, 0, 0, a[63], 2);
	} else {
		for (i = 0; i < MGW_ARRAY_LEN(shacrypt_order256); i++)
			o = shacrypt_b64_put(o, a[shacrypt_order256[i][0]],
					     a[shacrypt_order256[i][1]], a[shacrypt_order256[i][2]],
					     4);
		o = shacrypt_b64_put(o, 0, a[31], a[30], 3);
	}
	*o = '\0';
	rc = -MGW_ELIMIT;
	if ((size_t)(o - res) + 1 > outsz)
		goto out;
	memcpy(out, res, (size_t)(o - res) + 1);
	rc = 0;
out:
	hash_wipe(a, sizeof(a));
	hash_wipe(b, sizeof(b));
	hash_wipe(dp, sizeof(dp));
	hash_wipe(ds, sizeof(ds));
	hash_wipe(pseq, sizeof(pseq));
	hash_wipe(sseq, sizeof(sseq));
	hash_wipe(res, sizeof(res));
	return rc;
}

bool shacrypt_verify(const void *key, size_t keylen, const char *hash)
{
	char calc[SHACRYPT_OUT_MAX];
	size_t hl, cl, i;
	unsigned char diff;
	bool ok = false;

	hl = strnlen(hash, SHACRYPT_OUT_MAX);
	if (hl >= SHACRYPT_OUT_MAX)
		return false;
	if (shacrypt_hash(key, keylen, hash, calc, sizeof(calc)) < 0)
		goto out;
	cl = strlen(calc);
	/* The length and the setting part are public (they are in the stored hash); only
	 * the content comparison has to be constant time. */
	diff = (unsigned char)(cl != hl);
	for (i = 0; i < cl; i++)
		diff |= (unsigned char)(calc[i] ^ (i < hl ? hash[i] : 0));
	ok = diff == 0;
out:
	hash_wipe(calc, sizeof(calc));
	return ok;
}
