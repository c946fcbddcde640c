/* test_shacrypt.c - SHA-crypt against the specification's vectors (checked with glibc's
 * crypt(3) and `openssl passwd -5/-6`), malformed settings, verification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/shacrypt.h"
#include "core/err.h"
#include "tls/hash.h"

struct shacrypt_case {
	const char *setting;
	const char *key;
	const char *want;
};

/* Drepper's test vectors (rounds=10 is clamped to 1000; salts beyond 16 characters are
 * truncated; "rounds=5000" given explicitly is written back), plus an empty key. */
static const struct shacrypt_case shacrypt_cases[] = {
	{ "$5$saltstring", "Hello world!",
	  "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5" },
	{ "$5$rounds=10000$saltstringsaltstring", "Hello world!",
	  "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA" },
	{ "$5$rounds=5000$toolongsaltstring", "This is just a test",
	  "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5" },
	{ "$5$rounds=1400$anotherlongsaltstring",
	  "a very much longer text to encrypt.  This one even stretches over morethan one line.",
	  "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1" },
	{ "$5$rounds=77777$short", "we have a short salt string but not a short password",
	  "$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/" },
	{ "$5$rounds=123456$asaltof16chars..", "a short string",
	  "$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD" },
	{ "$5$rounds=10$roundstoolow", "the minimum number is still observed",
	  "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC" },
	{ "$5$abc", "", "$5$abc$bBHLwRRW2Li0XKaX13kz/g2fkDil4Jx46aNvd.48MS8" },
	{ "$6$saltstring", "Hello world!",
	  "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1" },
	{ "$6$rounds=10000$saltstringsaltstring", "Hello world!",
	  "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v." },
	{ "$6$rounds=5000$toolongsaltstring", "This is just a test",
	  "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0" },
	{ "$6$rounds=1400$anotherlongsaltstring",
	  "a very much longer text to encrypt.  This one even stretches over morethan one line.",
	  "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1" },
	{ "$6$rounds=77777$short", "we have a short salt string but not a short password",
	  "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0" },
	{ "$6$rounds=123456$asaltof16chars..", "a short string",
	  "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1" },
	{ "$6$rounds=10$roundstoolow", "the minimum number is still observed",
	  "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX." },
	{ "$6$abc", "",
	  "$6$abc$mJP3a6FyA8uCnzRtlnNypPwjnvpi5TP9qOrInzrfDmwxUQG38PkpCPdqfTb8JQfAngapMxeim4AZ..hSdRRzD." },
	/* The default strength of new passwords (openssl passwd -6). */
	{ "$6$rounds=50000$0123456789abcdef", "correct horse",
	  "$6$rounds=50000$0123456789abcdef$hSpcTx5vypHb8.Cxq3o2vUKA9kxx7jnCYXAKtkfS.cEdHen52MICttvOfuggvyWcUp.KEUG92vOSeg2y4JYGm/" },
};

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(shacrypt_cases); i++) {
		const struct shacrypt_case *c = &shacrypt_cases[i];
		char out[SHACRYPT_OUT_MAX];
		int rc = shacrypt_hash(c->key, strlen(c->key), c->setting, out, sizeof(out));

		if (rc != 0)
			fail_msg("case %zu: rc %d", i, rc);
		if (strcmp(out, c->want) != 0)
			fail_msg("case %zu: got %s want %s", i, out, c->want);
		/* A full hash is also a valid setting for itself. */
		if (!shacrypt_verify(c->key, strlen(c->key), c->want))
			fail_msg("case %zu: verify failed", i);
	}
}

static void test_verify_refuses(void **state)
{
	const char *h = shacrypt_cases[0].want;
	char bad[SHACRYPT_OUT_MAX];

	(void)state;
	assert_false(shacrypt_verify("Hello world?", 12, h));
	assert_false(shacrypt_verify("Hello world!", 11, h));
	assert_false(shacrypt_verify("Hello world!\0", 13, h));
	/* A changed last character, a truncated hash, a hash with extra text. */
	strcpy(bad, h);
	bad[strlen(bad) - 1] ^= 1;
	assert_false(shacrypt_verify("Hello world!", 12, bad));
	strcpy(bad, h);
	bad[strlen(bad) - 1] = '\0';
	assert_false(shacrypt_verify("Hello world!", 12, bad));
	snprintf(bad, sizeof(bad), "%sx", h);
	assert_false(shacrypt_verify("Hello world!", 12, bad));
	/* A setting alone never verifies. */
	assert_false(shacrypt_verify("Hello world!", 12, "$5$saltstring"));
}

static void test_bad_settings(void **state)
{
	static const char *const bad[] = {
		"", "$", "$1$abc$xyz", "$2y$10$abc", "$7$abc", "5$abc", "$5", "$6$rounds=$abc",
		"$6$rounds=12x$abc", "$6$rounds=-1$abc", "$6$rounds=1000", "!$6$abc$x", "*",
	};
	char out[SHACRYPT_OUT_MAX];

	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(bad); i++) {
		if (shacrypt_hash("x", 1, bad[i], out, sizeof(out)) != -MGW_EINVAL)
			fail_msg("accepted setting '%s'", bad[i]);
		if (shacrypt_verify("x", 1, bad[i]))
			fail_msg("verified against '%s'", bad[i]);
	}
}

static void test_limits(void **state)
{
	static char key[SHACRYPT_KEY_MAX + 1];
	char out[SHACRYPT_OUT_MAX];

	(void)state;
	memset(key, 'k', sizeof(key));
	assert_int_equal(shacrypt_hash(key, SHACRYPT_KEY_MAX, "$5$s", out, sizeof(out)), 0);
	assert_int_equal(shacrypt_hash(key, SHACRYPT_KEY_MAX + 1, "$5$s", out, sizeof(out)),
			 -MGW_EINVAL);
	/* Output buffer too small. */
	assert_int_equal(shacrypt_hash("x", 1, "$6$s", out, 20), -MGW_ELIMIT);
	/* Huge round counts are clamped, not overflowed (checked on the text only). */
	assert_int_equal(shacrypt_hash("x", 1, "$5$rounds=99999999999999999999$s", out, 10),
			 -MGW_ELIMIT);
}

static void test_hash_wrapper(void **state)
{
	/* FIPS 180-2 "abc". */
	static const uint8_t want256[] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	uint8_t out[HASH_LEN_MAX];
	struct hash_ctx h;

	(void)state;
	hash_once(HASH_SHA256, "abc", 3, out);
	assert_memory_equal(out, want256, sizeof(want256));
	hash_init(&h, HASH_SHA256);
	hash_update(&h, "a", 1);
	hash_update(&h, "bc", 2);
	hash_finish(&h, out);
	assert_memory_equal(out, want256, sizeof(want256));
	assert_int_equal(hash_len(HASH_SHA512), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_verify_refuses),
		cmocka_unit_test(test_bad_settings),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_hash_wrapper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
