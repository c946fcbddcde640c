/*
 * test_chachapoly.c - mailgw's ChaCha20 and Poly1305 (firmware/lib/tls/chacha,
 * MBEDTLS_CHACHA20_ALT and MBEDTLS_POLY1305_ALT) through mbedTLS's own API, as its
 * ChaCha20-Poly1305 (TLS records, PSA) reaches them.
 *
 * Known answers: RFC 8439's (7539's) test vectors for the ChaCha20 block function and
 * encryption, Poly1305 (its edge cases of the final reduction included) and the AEAD, on
 * every path this build and CPU have (portable, SSE2, SSSE3, AVX2; Advanced SIMD; NEON).
 * Then: Poly1305 against a slow one on mbedTLS's bignums over random and extreme keys and
 * messages; streaming in random chunks equals one piece (ChaCha20, Poly1305, the AEAD); every
 * SIMD path against the portable one over the lengths around the block and group sizes and
 * random ones; the 32-bit counter's end as mbedTLS defines it; a changed tag, ciphertext,
 * AD or nonce refused by mbedtls_chachapoly_auth_decrypt and the output wiped; the
 * contexts wiped by free; the cipher layer and PSA's AEAD; and, where libcrypto is linked
 * (CHACHA_TEST_OPENSSL), OpenSSL's ChaCha20-Poly1305 over random cases.
 *
 * Built for the host (ASan+UBSan, cmocka, OpenSSL) and for aarch64 and armhf, run under
 * qemu-user (minicmocka.h; tests/tests.mk). CHACHA_TEST_EXPECT in the environment names
 * the path the automatic choice must take ("avx2", "asimd", "neon", "portable" ...), so a
 * run that silently fell back fails. CHACHA_TEST_SEED changes the random cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(CHACHA_TEST_STANDALONE)
#include "minicmocka.h"
#else
#include <cmocka.h>
#endif

#include "mbedtls/bignum.h"
#include "mbedtls/chacha20.h"
#include "mbedtls/chachapoly.h"
#include "mbedtls/cipher.h"
#include "mbedtls/poly1305.h"
#include "psa/crypto.h"

#if defined(CHACHA_TEST_OPENSSL)
#include <openssl/evp.h>
#endif

#include "testvec.h"

struct chacha_vec {
	const char *name;
	uint32_t counter;
	const char *key, *nonce, *in, *out;
};

/* RFC 8439's message of ChaCha20 vector #2 and Poly1305 vectors #2 and #3: the IETF's
 * "Any submission to the IETF intended by the Contributor ..." text, in hex. */
#define IETF_SUBMISSION_HEX                                                                        \
	"416e79207375626d697373696f6e20746f20746865204945544620696e74656e646564206279207468652043" \
	"6f6e7472696275746f7220666f72207075626c69636174696f6e20617320616c6c206f722070617274206f66" \
	"20616e204945544620496e7465726e65742d4472616674206f722052464320616e6420616e79207374617465" \
	"6d656e74206d6164652077697468696e2074686520636f6e74657874206f6620616e20494554462061637469" \
	"7669747920697320636f6e7369646572656420616e20224945544620436f6e747269627574696f6e222e2053" \
	"7563682073746174656d656e747320696e636c756465206f72616c2073746174656d656e747320696e204945" \
	"54462073657373696f6e732c2061732077656c6c206173207772697474656e20616e6420656c656374726f6e" \
	"696320636f6d6d756e69636174696f6e73206d61646520617420616e792074696d65206f7220706c6163652c" \
	"207768696368206172652061646472657373656420746f"

struct poly_vec {
	const char *name;
	const char *key, *msg, *mac;
};

struct aead_vec {
	const char *name;
	const char *key, *nonce, *ad, *pt, *ct, *tag;
};

/* Hex strings as RFC 8439 (7539) publishes them (as mbedTLS's test suites carry them). */
static const struct chacha_vec chacha_vecs[] = {
    {"ChaCha20 RFC 8439 2.3.2 block function (the key stream of one block)", 1,
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "000000090000004a00000000",
     "0000000000000000000000000000000000000000000000000000000000000000"
     "0000000000000000000000000000000000000000000000000000000000000000",
     "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
     "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e"},
    {"ChaCha20 RFC 7539 (8439) Example and Test Vector", 1,
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "000000000000004a00000000",
     "4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a204966"
     "204920636f756c64206f6666657220796f75206f6e6c79206f6e652074697020666f72207468652066757475"
     "72652c2073756e73637265656e20776f756c642062652069742e",
     "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dab"
     "cd62b3571639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806"
     "818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d"},
    {"ChaCha20 RFC 7539 (8439) Test Vector #1", 0,
     "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "0000000000000000000000000000000000000000",
     "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03f"
     "b8d84a376a43b8f41518a11cc387b669b2ee6586"},
    {"ChaCha20 RFC 7539 (8439) Test Vector #2", 1,
     "0000000000000000000000000000000000000000000000000000000000000001", "000000000000000000000002",
     IETF_SUBMISSION_HEX,
     "a3fbf07df3fa2fde4f376ca23e82737041605d9f4f4f57bd8cff2c1d4b7955ec2a97948bd3722915c8f3d337"
     "f7d370050e9e96d647b7c39f56e031ca5eb6250d4042e02785ececfa4b4bb5e8ead0440e20b6e8db09d881a7"
     "c6132f420e52795042bdfa7773d8a9051447b3291ce1411c680465552aa6c405b7764d5e87bea85ad00f8449"
     "ed8f72d0d662ab052691ca66424bc86d2df80ea41f43abf937d3259dc4b2d0dfb48a6c9139ddd7f76966e928"
     "e635553ba76c5c879d7b35d49eb2e62b0871cdac638939e25e8a1e0ef9d5280fa8ca328b351c3c765989cbcf"
     "3daa8b6ccc3aaf9f3979c92b3720fc88dc95ed84a1be059c6499b9fda236e7e818b04b0bc39c1e876b193bfe"
     "5569753f88128cc08aaa9b63d1a16f80ef2554d7189c411f5869ca52c5b83fa36ff216b9c1d30062bebcfd2d"
     "c5bce0911934fda79a86f6e698ced759c3ff9b6477338f3da4f9cd8514ea9982ccafb341b2384dd902f3d1ab"
     "7ac61dd29c6f21ba5b862f3730e37cfdc4fd806c22f221"},
    {"ChaCha20 RFC 7539 (8439) Test Vector #3", 42,
     "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0", "000000000000000000000002",
     "2754776173206272696c6c69672c20616e642074686520736c6974687920746f7665730a4469642067797265"
     "20616e642067696d626c6520696e2074686520776162653a0a416c6c206d696d737920776572652074686520"
     "626f726f676f7665732c0a416e6420746865206d6f6d65207261746873206f757467726162652e",
     "62e6347f95ed87a45ffae7426f27a1df5fb69110044c0d73118effa95b01e5cf166d3df2d721caf9b21e5fb1"
     "4c616871fd84c54f9d65b283196c7fe4f60553ebf39c6402c42234e32a356b3e764312a61a5532055716ead6"
     "962568f87d3f3f7704c6a8d1bcd1bf4d50d6154b6da731b187b58dfd728afa36757a797ac188d1"},
};

static const struct poly_vec poly_vecs[] = {
    {"Poly1305 RFC 7539 (8439) Example And Test Vector",
     "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b",
     "43727970746f6772617068696320466f72756d2052657365617263682047726f7570",
     "a8061dc1305136c6c22b8baf0c0127a9"},
    {"Poly1305 RFC 7539 (8439) Test Vector #1",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "0000000000000000000000000000000000000000",
     "00000000000000000000000000000000"},
    {"Poly1305 RFC 7539 (8439) Test Vector #2",
     "0000000000000000000000000000000036e5f6b5c5e06070f0efca96227a863e", IETF_SUBMISSION_HEX,
     "36e5f6b5c5e06070f0efca96227a863e"},
    {"Poly1305 RFC 7539 (8439) Test Vector #3",
     "36e5f6b5c5e06070f0efca96227a863e00000000000000000000000000000000", IETF_SUBMISSION_HEX,
     "f3477e7cd95417af89a6b8794c310cf0"},
    {"Poly1305 RFC 7539 (8439) Test Vector #4",
     "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
     "2754776173206272696c6c69672c20616e642074686520736c6974687920746f7665730a4469642067797265"
     "20616e642067696d626c6520696e2074686520776162653a0a416c6c206d696d737920776572652074686520"
     "626f726f676f7665732c0a416e6420746865206d6f6d65207261746873206f757467726162652e",
     "4541669a7eaaee61e708dc7cbcc5eb62"},
    {"Poly1305 RFC 7539 (8439) Test Vector #5",
     "0200000000000000000000000000000000000000000000000000000000000000",
     "ffffffffffffffffffffffffffffffff", "03000000000000000000000000000000"},
    {"Poly1305 RFC 7539 (8439) Test Vector #6",
     "02000000000000000000000000000000ffffffffffffffffffffffffffffffff",
     "02000000000000000000000000000000", "03000000000000000000000000000000"},
    {"Poly1305 RFC 7539 (8439) Test Vector #7",
     "0100000000000000000000000000000000000000000000000000000000000000",
     "fffffffffffffffffffffffffffffffff0ffffffffffffffffffffffffffffff110000000000000000000000"
     "00000000",
     "05000000000000000000000000000000"},
    {"Poly1305 RFC 7539 (8439) Test Vector #8",
     "0100000000000000000000000000000000000000000000000000000000000000",
     "fffffffffffffffffffffffffffffffffbfefefefefefefefefefefefefefefe010101010101010101010101"
     "01010101",
     "00000000000000000000000000000000"},
    {"Poly1305 RFC 7539 (8439) Test Vector #9",
     "0200000000000000000000000000000000000000000000000000000000000000",
     "fdffffffffffffffffffffffffffffff", "faffffffffffffffffffffffffffffff"},
    {"Poly1305 RFC 7539 (8439) Test Vector #10",
     "0100000000000000040000000000000000000000000000000000000000000000",
     "e33594d7505e43b900000000000000003394d7505e4379cd0100000000000000000000000000000000000000"
     "0000000001000000000000000000000000000000",
     "14000000000000005500000000000000"},
    {"Poly1305 RFC 7539 (8439) Test Vector #11",
     "0100000000000000040000000000000000000000000000000000000000000000",
     "e33594d7505e43b900000000000000003394d7505e4379cd0100000000000000000000000000000000000000"
     "00000000",
     "13000000000000000000000000000000"},
};

static const struct aead_vec aead_vecs[] = {
    {"ChaCha20-Poly1305 RFC 7539 (8439) Example and Test Vector",
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", "070000004041424344454647",
     "50515253c0c1c2c3c4c5c6c7",
     "4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a204966"
     "204920636f756c64206f6666657220796f75206f6e6c79206f6e652074697020666f72207468652066757475"
     "72652c2073756e73637265656e20776f756c642062652069742e",
     "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69"
     "da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad67594"
     "5585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116",
     "1ae10b594f09e26a7e902ecbd0600691"},
    {"ChaCha20-Poly1305 RFC 7539 (8439) Test Vector #1",
     "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0", "000000000102030405060708",
     "f33388860000000000004e91",
     "496e7465726e65742d4472616674732061726520647261667420646f63756d656e74732076616c696420666f"
     "722061206d6178696d756d206f6620736978206d6f6e74687320616e64206d61792062652075706461746564"
     "2c207265706c616365642c206f72206f62736f6c65746564206279206f7468657220646f63756d656e747320"
     "617420616e792074696d652e20497420697320696e617070726f70726961746520746f2075736520496e7465"
     "726e65742d447261667473206173207265666572656e6365206d6174657269616c206f7220746f2063697465"
     "207468656d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67726573732e2fe280"
     "9d",
     "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e"
     "382d26b0bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd"
     "60f982b1ff37c8559797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c76"
     "7b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a"
     "0d072b04b3564eea1b422273f548271a0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a67276"
     "27097a1049e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b0270"
     "9b",
     "eead9d67890cbb22392336fea1851f38"},
};

#define MAXB 4096

/* Every path name the library knows; those this build or CPU lacks are skipped. */
static const char *const paths[] = {"portable", "sse2", "ssse3", "avx2", "asimd", "neon"};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))

static void seed(void)
{
	rnd_seed("CHACHA_TEST_SEED");
}

/* Make every later setkey take path (until chacha20_alt_force(NULL), which each test
 * calls at its end); false when this build or CPU has no such path. */
static bool use_path(const char *path)
{
	return chacha20_alt_force(path) == 0;
}

static void keyed(mbedtls_chacha20_context *c, const uint8_t key[32], const char *path)
{
	assert_int_equal(chacha20_alt_force(path), 0);
	mbedtls_chacha20_init(c);
	assert_int_equal(mbedtls_chacha20_setkey(c, key), 0);
	assert_string_equal(chacha20_alt_impl_name(c), path);
}

/* The automatic choice must be the path this CPU (or qemu's model) has: CHACHA_TEST_EXPECT,
 * else on x86-64 the kernel's CPU flags say which. */
static void test_impl_detected(void **state)
{
	const char *want = getenv("CHACHA_TEST_EXPECT");
	const char *have;

	(void)state;
	chacha20_alt_force(NULL);
	have = chacha20_alt_impl_name(NULL);
	printf("  (ChaCha20 path here: %s; paths this CPU has:", have);
	for (size_t p = 0; p < NPATHS; p++)
		if (use_path(paths[p]))
			printf(" %s", paths[p]);
	chacha20_alt_force(NULL);
	printf(")\n");
#if defined(__x86_64__)
	if (!want)
		want = cpuinfo_has("avx2") ? "avx2" : cpuinfo_has("ssse3") ? "ssse3" : "sse2";
#endif
	if (want && *want)
		assert_string_equal(have, want);
}

static void test_chacha20_known_answers(void **state)
{
	static uint8_t key[32], nonce[12], in[MAXB], want[MAXB], out[MAXB];

	(void)state;
	for (size_t p = 0; p < NPATHS; p++) {
		if (!use_path(paths[p]))
			continue;
		for (size_t i = 0; i < sizeof(chacha_vecs) / sizeof(chacha_vecs[0]); i++) {
			const struct chacha_vec *v = &chacha_vecs[i];
			mbedtls_chacha20_context c;
			size_t n;

			unhex(v->key, key);
			unhex(v->nonce, nonce);
			n = unhex(v->in, in);
			assert_int_equal(unhex(v->out, want), n);
			memset(out, 0, n);
			assert_int_equal(mbedtls_chacha20_crypt(key, nonce, v->counter, n, in, out),
					 0);
			if (memcmp(out, want, n) != 0)
				fail_msg("%s (%s): wrong output", v->name, paths[p]);
			/* in place, one byte then the rest */
			keyed(&c, key, paths[p]);
			assert_int_equal(mbedtls_chacha20_starts(&c, nonce, v->counter), 0);
			memcpy(out, in, n);
			assert_int_equal(mbedtls_chacha20_update(&c, 1, out, out), 0);
			assert_int_equal(mbedtls_chacha20_update(&c, n - 1, out + 1, out + 1), 0);
			if (memcmp(out, want, n) != 0)
				fail_msg("%s (%s): wrong output in place", v->name, paths[p]);
			mbedtls_chacha20_free(&c);
		}
	}
	chacha20_alt_force(NULL);
}

static void test_poly1305_known_answers(void **state)
{
	static uint8_t key[32], msg[MAXB];
	uint8_t want[16], mac[16];

	(void)state;
	for (size_t i = 0; i < sizeof(poly_vecs) / sizeof(poly_vecs[0]); i++) {
		const struct poly_vec *v = &poly_vecs[i];
		mbedtls_poly1305_context p;
		size_t n;

		unhex(v->key, key);
		n = unhex(v->msg, msg);
		unhex(v->mac, want);
		assert_int_equal(mbedtls_poly1305_mac(key, msg, n, mac), 0);
		if (memcmp(mac, want, 16) != 0)
			fail_msg("%s: wrong tag", v->name);
		/* byte by byte */
		mbedtls_poly1305_init(&p);
		assert_int_equal(mbedtls_poly1305_starts(&p, key), 0);
		for (size_t j = 0; j < n; j++)
			assert_int_equal(mbedtls_poly1305_update(&p, msg + j, 1), 0);
		assert_int_equal(mbedtls_poly1305_finish(&p, mac), 0);
		if (memcmp(mac, want, 16) != 0)
			fail_msg("%s: wrong tag byte by byte", v->name);
		mbedtls_poly1305_free(&p);
	}
}

/* Poly1305 the slow way, with mbedTLS's bignums (RFC 8439 2.5.1 as written): a = ((a + n) r)
 * mod 2^130 - 5 for each 16-byte piece n with a 1 byte appended, tag = (a + s) mod 2^128. */
static void poly1305_bignum(const uint8_t key[32], const uint8_t *m, size_t len, uint8_t tag[16])
{
	mbedtls_mpi a, r, s, n, p, t;
	uint8_t rb[16], out[32];

	mbedtls_mpi_init(&a);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	mbedtls_mpi_init(&n);
	mbedtls_mpi_init(&p);
	mbedtls_mpi_init(&t);
	memcpy(rb, key, 16);
	for (int i = 3; i < 16; i += 4)
		rb[i] &= 0x0f;
	for (int i = 4; i < 16; i += 4)
		rb[i] &= 0xfc;
	assert_int_equal(mbedtls_mpi_read_binary_le(&r, rb, 16), 0);
	assert_int_equal(mbedtls_mpi_read_binary_le(&s, key + 16, 16), 0);
	assert_int_equal(mbedtls_mpi_lset(&p, 1), 0);
	assert_int_equal(mbedtls_mpi_shift_l(&p, 130), 0);
	assert_int_equal(mbedtls_mpi_sub_int(&p, &p, 5), 0);
	assert_int_equal(mbedtls_mpi_lset(&a, 0), 0);
	for (size_t off = 0; off < len; off += 16) {
		size_t k = len - off < 16 ? len - off : 16;

		assert_int_equal(mbedtls_mpi_read_binary_le(&n, m + off, k), 0);
		assert_int_equal(mbedtls_mpi_lset(&t, 1), 0);
		assert_int_equal(mbedtls_mpi_shift_l(&t, 8 * k), 0);
		assert_int_equal(mbedtls_mpi_add_mpi(&n, &n, &t), 0);
		assert_int_equal(mbedtls_mpi_add_mpi(&a, &a, &n), 0);
		assert_int_equal(mbedtls_mpi_mul_mpi(&t, &a, &r), 0);
		assert_int_equal(mbedtls_mpi_mod_mpi(&a, &t, &p), 0);
	}
	assert_int_equal(mbedtls_mpi_add_mpi(&a, &a, &s), 0);
	assert_int_equal(mbedtls_mpi_write_binary_le(&a, out, sizeof(out)), 0);
	memcpy(tag, out, 16);
	mbedtls_mpi_free(&a);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	mbedtls_mpi_free(&n);
	mbedtls_mpi_free(&p);
	mbedtls_mpi_free(&t);
}

/* Random keys and messages, and messages of all-ones bytes and keys with r and s all ones
 * (the accumulator's limbs near their bounds), against the slow Poly1305: the limb code of
 * this build (radix 2^64 or 26-bit limbs) checked where no OpenSSL is linked too. */
static void test_poly1305_against_bignum(void **state)
{
	static uint8_t key[32], msg[1100];
	uint8_t want[16], mac[16];

	(void)state;
	seed();
	for (int trial = 0; trial < 400; trial++) {
		size_t len = trial < 40 ? (size_t)trial : rnd_below(sizeof(msg));

		rnd_fill(key, sizeof(key));
		rnd_fill(msg, len);
		if (trial % 5 == 1)
			memset(msg, 0xff, len);
		if (trial % 7 == 2)
			memset(key, 0xff, sizeof(key));
		poly1305_bignum(key, msg, len, want);
		assert_int_equal(mbedtls_poly1305_mac(key, msg, len, mac), 0);
		if (memcmp(mac, want, 16) != 0)
			fail_msg("trial %d: Poly1305 of %zu bytes differs from the bignum one",
				 trial, len);
	}
}

struct aead_case {
	uint8_t key[32], nonce[12], ad[MAXB], pt[MAXB], ct[MAXB], tag[16];
	size_t adlen, len;
};

static void aead_load(const struct aead_vec *v, struct aead_case *c)
{
	unhex(v->key, c->key);
	unhex(v->nonce, c->nonce);
	c->adlen = unhex(v->ad, c->ad);
	c->len = unhex(v->pt, c->pt);
	assert_int_equal(unhex(v->ct, c->ct), c->len);
	unhex(v->tag, c->tag);
}

static void aead_keyed(mbedtls_chachapoly_context *a, const uint8_t key[32], const char *path)
{
	assert_int_equal(chacha20_alt_force(path), 0);
	mbedtls_chachapoly_init(a);
	assert_int_equal(mbedtls_chachapoly_setkey(a, key), 0);
}

/* The AEAD through the streaming API, AD and text in random chunks. */
static void aead_stream(mbedtls_chachapoly_context *a, mbedtls_chachapoly_mode_t mode,
			const struct aead_case *c, const uint8_t *in, uint8_t *out, uint8_t tag[16])
{
	size_t off, n;

	assert_int_equal(mbedtls_chachapoly_starts(a, c->nonce, mode), 0);
	for (off = 0; off < c->adlen; off += n) {
		n = 1 + rnd_below(c->adlen - off < 80 ? c->adlen - off : 80);
		assert_int_equal(mbedtls_chachapoly_update_aad(a, c->ad + off, n), 0);
	}
	for (off = 0; off < c->len; off += n) {
		n = rnd_below(3) ? 1 + rnd_below(c->len - off < 300 ? c->len - off : 300)
				 : c->len - off;
		assert_int_equal(mbedtls_chachapoly_update(a, n, in + off, out + off), 0);
	}
	assert_int_equal(mbedtls_chachapoly_finish(a, tag), 0);
}

static void test_aead_known_answers(void **state)
{
	static struct aead_case c;
	static uint8_t out[MAXB];
	uint8_t tag[16];

	(void)state;
	seed();
	for (size_t p = 0; p < NPATHS; p++) {
		if (!use_path(paths[p]))
			continue;
		for (size_t i = 0; i < sizeof(aead_vecs) / sizeof(aead_vecs[0]); i++) {
			mbedtls_chachapoly_context a;

			aead_load(&aead_vecs[i], &c);
			aead_keyed(&a, c.key, paths[p]);
			assert_int_equal(mbedtls_chachapoly_encrypt_and_tag(
					     &a, c.len, c.nonce, c.ad, c.adlen, c.pt, out, tag),
					 0);
			if (memcmp(out, c.ct, c.len) != 0 || memcmp(tag, c.tag, 16) != 0)
				fail_msg("%s (%s): wrong ciphertext or tag", aead_vecs[i].name,
					 paths[p]);
			memset(out, 0x5a, c.len);
			assert_int_equal(mbedtls_chachapoly_auth_decrypt(&a, c.len, c.nonce, c.ad,
									 c.adlen, c.tag, c.ct, out),
					 0);
			assert_memory_equal(out, c.pt, c.len);
			aead_stream(&a, MBEDTLS_CHACHAPOLY_ENCRYPT, &c, c.pt, out, tag);
			if (memcmp(out, c.ct, c.len) != 0 || memcmp(tag, c.tag, 16) != 0)
				fail_msg("%s (%s): wrong ciphertext or tag, streamed",
					 aead_vecs[i].name, paths[p]);
			mbedtls_chachapoly_free(&a);
		}
	}
	chacha20_alt_force(NULL);
}

/* Random keys, nonces, counters and texts: every path in random chunks equals the portable
 * path in one piece, and Poly1305 in random chunks equals it in one piece. */
static void test_streaming_splits(void **state)
{
	static uint8_t key[32], nonce[12], in[MAXB], ref[MAXB], out[MAXB];
	uint8_t mac[16], mac2[16];

	(void)state;
	seed();
	for (int trial = 0; trial < 300; trial++) {
		size_t len = rnd_below(MAXB), off, n;
		uint32_t ctr = (uint32_t)rnd_below(1000);
		mbedtls_poly1305_context p;

		rnd_fill(key, sizeof(key));
		rnd_fill(nonce, sizeof(nonce));
		rnd_fill(in, len);
		assert_true(use_path("portable"));
		assert_int_equal(mbedtls_chacha20_crypt(key, nonce, ctr, len, in, ref), 0);
		for (size_t pi = 0; pi < NPATHS; pi++) {
			mbedtls_chacha20_context c;

			if (!use_path(paths[pi]))
				continue;
			keyed(&c, key, paths[pi]);
			assert_int_equal(mbedtls_chacha20_starts(&c, nonce, ctr), 0);
			for (off = 0; off < len; off += n) {
				n = rnd_below(4) ? rnd_below(len - off < 200 ? len - off + 1 : 200)
						 : len - off;
				assert_int_equal(
				    mbedtls_chacha20_update(&c, n, in + off, out + off), 0);
			}
			if (memcmp(out, ref, len) != 0)
				fail_msg(
				    "trial %d (%s): %zu bytes from counter %u in chunks differ",
				    trial, paths[pi], len, (unsigned)ctr);
			mbedtls_chacha20_free(&c);
		}
		assert_int_equal(mbedtls_poly1305_mac(key, in, len, mac), 0);
		mbedtls_poly1305_init(&p);
		assert_int_equal(mbedtls_poly1305_starts(&p, key), 0);
		for (off = 0; off < len; off += n) {
			n = rnd_below(len - off < 100 ? len - off + 1 : 100);
			assert_int_equal(mbedtls_poly1305_update(&p, in + off, n), 0);
		}
		assert_int_equal(mbedtls_poly1305_finish(&p, mac2), 0);
		mbedtls_poly1305_free(&p);
		if (memcmp(mac, mac2, 16) != 0)
			fail_msg("trial %d: Poly1305 of %zu bytes in chunks differs", trial, len);
	}
	chacha20_alt_force(NULL);
}

/* Each SIMD path against the portable one, one piece each, over the lengths around a block
 * (64), the 4- and 8-block groups (256, 512) and random ones, in place too. */
static void test_simd_equals_portable(void **state)
{
	static const size_t lens[] = {0,   1,	15,  16,  63,  64,   65,   127,	 128, 129, 191,
				      192, 193, 255, 256, 257, 319,  320,  383,	 448, 511, 512,
				      513, 575, 576, 767, 768, 1023, 1024, 1025, 4095};
	static uint8_t key[32], nonce[12], in[MAXB], ref[MAXB], out[MAXB];

	(void)state;
	seed();
	for (size_t t = 0; t < sizeof(lens) / sizeof(lens[0]) + 300; t++) {
		size_t len = t < sizeof(lens) / sizeof(lens[0]) ? lens[t] : rnd_below(MAXB);
		uint32_t ctr = (uint32_t)rnd();

		/* counters that end exactly at the last block, 0xffffffff, now and then */
		if (t % 7 == 0 && len > 0)
			ctr = (uint32_t)(0 - (len + 63) / 64);
		rnd_fill(key, sizeof(key));
		rnd_fill(nonce, sizeof(nonce));
		rnd_fill(in, len);
		if ((uint64_t)ctr + (len + 63) / 64 > ((uint64_t)1 << 32))
			ctr = 0;
		assert_true(use_path("portable"));
		assert_int_equal(mbedtls_chacha20_crypt(key, nonce, ctr, len, in, ref), 0);
		for (size_t p = 1; p < NPATHS; p++) {
			if (!use_path(paths[p]))
				continue;
			memset(out, 0xee, sizeof(out));
			assert_int_equal(mbedtls_chacha20_crypt(key, nonce, ctr, len, in, out), 0);
			if (memcmp(out, ref, len) != 0)
				fail_msg("%s: %zu bytes from counter %#x differ from portable",
					 paths[p], len, (unsigned)ctr);
			if (len < MAXB && out[len] != 0xee)
				fail_msg("%s: %zu bytes: wrote past the end", paths[p], len);
			memcpy(out, in, len);
			assert_int_equal(mbedtls_chacha20_crypt(key, nonce, ctr, len, out, out), 0);
			if (memcmp(out, ref, len) != 0)
				fail_msg("%s: %zu bytes in place differ", paths[p], len);
		}
	}
	chacha20_alt_force(NULL);
}

/* The 32-bit block counter ends with block 0xffffffff, as mbedTLS 3.6.7 defines it
 * (library/chacha20.c, its test suite's chacha20_input_len_too_long and
 * chachapoly_update_too_long): a request that would need a block after it is refused
 * before any byte is written or any key stream used; the last block itself works, and its
 * tail can be used in pieces. */
static void test_counter_end(void **state)
{
	static uint8_t key[32] = {7}, nonce[12] = {9}, in[1024], out[1024], ref[1024];

	(void)state;
	for (size_t p = 0; p < NPATHS; p++) {
		mbedtls_chacha20_context c;
		mbedtls_chachapoly_context a;

		if (!use_path(paths[p]))
			continue;
		keyed(&c, key, paths[p]);
		assert_int_equal(mbedtls_chacha20_starts(&c, nonce, UINT32_MAX), 0);
		assert_int_equal(mbedtls_chacha20_update(&c, 1, in, out), 0);
		memset(out, 0x2a, sizeof(out));
		assert_int_equal(mbedtls_chacha20_update(&c, 64, in, out),
				 MBEDTLS_ERR_CHACHA20_BAD_INPUT_DATA);
		for (size_t i = 0; i < 65; i++)
			assert_int_equal(out[i], 0x2a);
		assert_int_equal(mbedtls_chacha20_update(&c, 63, in, out), 0);
		assert_int_equal(mbedtls_chacha20_update(&c, 0, NULL, NULL), 0);
		assert_int_equal(mbedtls_chacha20_update(&c, 1, in, out),
				 MBEDTLS_ERR_CHACHA20_BAD_INPUT_DATA);
		/* the last block, whole */
		assert_int_equal(mbedtls_chacha20_crypt(key, nonce, UINT32_MAX, 64, in, out), 0);
		assert_int_equal(mbedtls_chacha20_crypt(key, nonce, UINT32_MAX, 65, in, out),
				 MBEDTLS_ERR_CHACHA20_BAD_INPUT_DATA);
		/* 16 blocks up to the last (groups of 4 and 8 that end there) equal the portable
		 * path's; one byte more is refused, and so is everything after them */
		assert_int_equal(mbedtls_chacha20_starts(&c, nonce, UINT32_MAX - 15), 0);
		assert_int_equal(mbedtls_chacha20_update(&c, 1024, in, out), 0);
		assert_int_equal(mbedtls_chacha20_update(&c, 1, in, out),
				 MBEDTLS_ERR_CHACHA20_BAD_INPUT_DATA);
		assert_int_equal(mbedtls_chacha20_starts(&c, nonce, UINT32_MAX - 15), 0);
		assert_int_equal(mbedtls_chacha20_update(&c, 1025, in, ref),
				 MBEDTLS_ERR_CHACHA20_BAD_INPUT_DATA);
		assert_int_equal(mbedtls_chacha20_update(&c, 1000, in, ref), 0);
		assert_int_equal(mbedtls_chacha20_update(&c, 24, in + 1000, ref + 1000), 0);
		assert_memory_equal(out, ref, 1024);
		assert_true(use_path("portable"));
		assert_int_equal(mbedtls_chacha20_crypt(key, nonce, UINT32_MAX - 15, 1024, in, ref),
				 0);
		assert_memory_equal(out, ref, 1024);
		mbedtls_chacha20_free(&c);

		/* the AEAD refuses the record, its output untouched */
		aead_keyed(&a, key, paths[p]);
		assert_int_equal(mbedtls_chachapoly_starts(&a, nonce, MBEDTLS_CHACHAPOLY_ENCRYPT),
				 0);
		a.MBEDTLS_PRIVATE(chacha20_ctx).state[12] = UINT32_MAX;
		memset(out, 0x2a, 65);
		assert_int_equal(mbedtls_chachapoly_update(&a, 65, in, out),
				 MBEDTLS_ERR_CHACHA20_BAD_INPUT_DATA);
		for (size_t i = 0; i < 65; i++)
			assert_int_equal(out[i], 0x2a);
		mbedtls_chachapoly_free(&a);
	}
	chacha20_alt_force(NULL);
}

/* A changed bit of the tag, the ciphertext, the AD or the nonce: refused, output wiped. */
static void test_tampering_refused(void **state)
{
	static struct aead_case c;
	static uint8_t ct[MAXB], out[MAXB];
	uint8_t tag[16];

	(void)state;
	seed();
	for (size_t p = 0; p < NPATHS; p++) {
		if (!use_path(paths[p]))
			continue;
		for (int trial = 0; trial < 40; trial++) {
			mbedtls_chachapoly_context a;
			int what = trial % 4;
			size_t bit;

			rnd_fill(c.key, 32);
			rnd_fill(c.nonce, 12);
			c.adlen = rnd_below(40) + (what == 2);
			c.len = rnd_below(2000) + (what == 1);
			rnd_fill(c.ad, c.adlen);
			rnd_fill(c.pt, c.len);
			aead_keyed(&a, c.key, paths[p]);
			assert_int_equal(mbedtls_chachapoly_encrypt_and_tag(
					     &a, c.len, c.nonce, c.ad, c.adlen, c.pt, ct, tag),
					 0);
			if (what == 0) {
				bit = rnd_below(128);
				tag[bit / 8] ^= (uint8_t)(1 << bit % 8);
			} else if (what == 1) {
				bit = rnd_below(8 * c.len);
				ct[bit / 8] ^= (uint8_t)(1 << bit % 8);
			} else if (what == 2) {
				bit = rnd_below(8 * c.adlen);
				c.ad[bit / 8] ^= (uint8_t)(1 << bit % 8);
			} else {
				bit = rnd_below(96);
				c.nonce[bit / 8] ^= (uint8_t)(1 << bit % 8);
			}
			memset(out, 0x77, c.len);
			assert_int_equal(mbedtls_chachapoly_auth_decrypt(&a, c.len, c.nonce, c.ad,
									 c.adlen, tag, ct, out),
					 MBEDTLS_ERR_CHACHAPOLY_AUTH_FAILED);
			for (size_t i = 0; i < c.len; i++)
				assert_int_equal(out[i], 0);
			mbedtls_chachapoly_free(&a);
		}
	}
	chacha20_alt_force(NULL);
}

static void test_free_wipes(void **state)
{
	uint8_t key[32], nonce[12] = {0}, buf[100] = {0}, tag[16];
	mbedtls_chachapoly_context a;
	mbedtls_poly1305_context p;
	const volatile uint8_t *pa = (const volatile uint8_t *)&a;
	const volatile uint8_t *pp = (const volatile uint8_t *)&p;

	(void)state;
	memset(key, 0xa5, sizeof(key));
	mbedtls_chachapoly_init(&a);
	assert_int_equal(mbedtls_chachapoly_setkey(&a, key), 0);
	assert_int_equal(mbedtls_chachapoly_encrypt_and_tag(&a, 33, nonce, NULL, 0, buf, buf, tag),
			 0);
	mbedtls_chachapoly_free(&a);
	/* mbedTLS's free leaves its own fields as init sets them: the ChaCha20 and Poly1305
	 * contexts (ours) must be all zeros */
	for (size_t i = 0; i < sizeof(a.MBEDTLS_PRIVATE(chacha20_ctx)); i++)
		if (pa[offsetof(mbedtls_chachapoly_context, MBEDTLS_PRIVATE(chacha20_ctx)) + i] !=
		    0)
			fail_msg("byte %zu of the ChaCha20 context not wiped by free", i);
	for (size_t i = 0; i < sizeof(a.MBEDTLS_PRIVATE(poly1305_ctx)); i++)
		if (pa[offsetof(mbedtls_chachapoly_context, MBEDTLS_PRIVATE(poly1305_ctx)) + i] !=
		    0)
			fail_msg("byte %zu of the Poly1305 context not wiped by free", i);
	mbedtls_poly1305_init(&p);
	assert_int_equal(mbedtls_poly1305_starts(&p, key), 0);
	assert_int_equal(mbedtls_poly1305_update(&p, buf, 17), 0);
	mbedtls_poly1305_free(&p);
	for (size_t i = 0; i < sizeof(p); i++)
		if (pp[i] != 0)
			fail_msg("byte %zu of the Poly1305 context not wiped by free", i);
}

/* The callers of the modules: the cipher layer (TLS records) and PSA's built-in AEAD. */
static void test_cipher_layer_and_psa(void **state)
{
	static struct aead_case c;
	static uint8_t out[MAXB + 16], back[MAXB];
	mbedtls_cipher_context_t cc;
	psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t kid;
	size_t olen;

	(void)state;
	aead_load(&aead_vecs[0], &c);
	mbedtls_cipher_init(&cc);
	assert_int_equal(mbedtls_cipher_setup(
			     &cc, mbedtls_cipher_info_from_type(MBEDTLS_CIPHER_CHACHA20_POLY1305)),
			 0);
	assert_int_equal(mbedtls_cipher_setkey(&cc, c.key, 256, MBEDTLS_ENCRYPT), 0);
	assert_int_equal(mbedtls_cipher_auth_encrypt_ext(&cc, c.nonce, 12, c.ad, c.adlen, c.pt,
							 c.len, out, sizeof(out), &olen, 16),
			 0);
	assert_int_equal(olen, c.len + 16);
	assert_memory_equal(out, c.ct, c.len);
	assert_memory_equal(out + c.len, c.tag, 16);
	mbedtls_cipher_free(&cc);

	assert_int_equal(psa_crypto_init(), PSA_SUCCESS);
	psa_set_key_type(&attr, PSA_KEY_TYPE_CHACHA20);
	psa_set_key_bits(&attr, 256);
	psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT);
	psa_set_key_algorithm(&attr, PSA_ALG_CHACHA20_POLY1305);
	assert_int_equal(psa_import_key(&attr, c.key, 32, &kid), PSA_SUCCESS);
	assert_int_equal(psa_aead_encrypt(kid, PSA_ALG_CHACHA20_POLY1305, c.nonce, 12, c.ad,
					  c.adlen, c.pt, c.len, out, sizeof(out), &olen),
			 PSA_SUCCESS);
	assert_int_equal(olen, c.len + 16);
	assert_memory_equal(out, c.ct, c.len);
	assert_memory_equal(out + c.len, c.tag, 16);
	assert_int_equal(psa_aead_decrypt(kid, PSA_ALG_CHACHA20_POLY1305, c.nonce, 12, c.ad,
					  c.adlen, out, olen, back, sizeof(back), &olen),
			 PSA_SUCCESS);
	assert_int_equal(olen, c.len);
	assert_memory_equal(back, c.pt, c.len);
	out[0] ^= 1;
	assert_int_equal(psa_aead_decrypt(kid, PSA_ALG_CHACHA20_POLY1305, c.nonce, 12, c.ad,
					  c.adlen, out, c.len + 16, back, sizeof(back), &olen),
			 PSA_ERROR_INVALID_SIGNATURE);
	psa_destroy_key(kid);
	mbedtls_psa_crypto_free();
}

#if defined(CHACHA_TEST_OPENSSL)
static void openssl_seal(const struct aead_case *c, uint8_t *ct, uint8_t *tag)
{
	openssl_aead_seal(EVP_chacha20_poly1305(), c->key, c->nonce, 12, c->ad, c->adlen, c->pt,
			  c->len, ct, tag);
}

/* OpenSSL's ChaCha20-Poly1305 over random keys, nonces, AD and text lengths, on every path,
 * in one piece or streamed in random chunks, and decrypted by ours. */
static void test_openssl_cross_check(void **state)
{
	static struct aead_case c;
	static uint8_t ref[MAXB], out[MAXB];
	uint8_t rtag[16], tag[16];

	(void)state;
	seed();
	for (int trial = 0; trial < 1500; trial++) {
		const char *path = paths[trial % NPATHS];
		mbedtls_chachapoly_context a;

		if (!use_path(path))
			path = "portable";
		rnd_fill(c.key, 32);
		rnd_fill(c.nonce, 12);
		c.adlen = rnd_below(3) ? rnd_below(64) : rnd_below(MAXB);
		c.len = rnd_below(MAXB);
		rnd_fill(c.ad, c.adlen);
		rnd_fill(c.pt, c.len);
		openssl_seal(&c, ref, rtag);
		aead_keyed(&a, c.key, path);
		if (trial % 3 == 0)
			assert_int_equal(mbedtls_chachapoly_encrypt_and_tag(
					     &a, c.len, c.nonce, c.ad, c.adlen, c.pt, out, tag),
					 0);
		else
			aead_stream(&a, MBEDTLS_CHACHAPOLY_ENCRYPT, &c, c.pt, out, tag);
		if (memcmp(out, ref, c.len) != 0 || memcmp(tag, rtag, 16) != 0)
			fail_msg("trial %d (%s): ad %zu, text %zu: differs from OpenSSL", trial,
				 path, c.adlen, c.len);
		assert_int_equal(mbedtls_chachapoly_auth_decrypt(&a, c.len, c.nonce, c.ad, c.adlen,
								 rtag, ref, out),
				 0);
		assert_memory_equal(out, c.pt, c.len);
		mbedtls_chachapoly_free(&a);
	}
	chacha20_alt_force(NULL);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_impl_detected),
		cmocka_unit_test(test_chacha20_known_answers),
		cmocka_unit_test(test_poly1305_known_answers),
		cmocka_unit_test(test_poly1305_against_bignum),
		cmocka_unit_test(test_aead_known_answers),
		cmocka_unit_test(test_streaming_splits),
		cmocka_unit_test(test_simd_equals_portable),
		cmocka_unit_test(test_counter_end),
		cmocka_unit_test(test_tampering_refused),
		cmocka_unit_test(test_free_wipes),
		cmocka_unit_test(test_cipher_layer_and_psa),
#if defined(CHACHA_TEST_OPENSSL)
		cmocka_unit_test(test_openssl_cross_check),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
