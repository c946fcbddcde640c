/*
 * cipher_speed.c - bulk AEAD throughput of mbedTLS as built here (make bench,
 * bench_tls.py): AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305 encryption of 16 KiB
 * buffers (one full TLS record) with a 13-byte AAD, as `openssl speed -evp NAME -bytes
 * 16384` measures OpenSSL.
 *
 *     cipher_speed [SECONDS [NAME]]
 *
 * Prints one line per cipher (or for NAME only): "NAME BYTES_PER_SECOND", per second of the
 * process's CPU time (CLOCK_PROCESS_CPUTIME_ID: what one core does, whatever else runs on the
 * machine; `openssl speed` counts user CPU time too). Links the host build's static mbedTLS
 * libraries with mailgw's mbedtls_config.h, so what it measures is the code the daemon runs:
 * AES-GCM is ours (firmware/lib/tls/gcm: AES-NI and PCLMULQDQ when the CPU has them, decided
 * at run time; MAILGW_GCM_PORTABLE=1 measures its portable path), and so are ChaCha20 and
 * Poly1305 (firmware/lib/tls/chacha: the SIMD path the CPU has; MAILGW_CHACHA_PORTABLE=1
 * measures the portable one). Built a second time as cipher_speed_stock against the stock
 * mbedTLS (tests/bench/mbedtls_stock_config.h): its own AES-GCM, ChaCha20 and Poly1305.
 * Which code it measures goes to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mbedtls/chachapoly.h"
#include "mbedtls/gcm.h"

#define REC 16384

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned char buf[REC], out[REC], tag[16], key[32], iv[12], aad[13];

static int gcm_once(void *ctx)
{
	return mbedtls_gcm_crypt_and_tag(ctx, MBEDTLS_GCM_ENCRYPT, REC, iv, sizeof(iv), aad,
					 sizeof(aad), buf, out, sizeof(tag), tag);
}

static int chacha_once(void *ctx)
{
	return mbedtls_chachapoly_encrypt_and_tag(ctx, REC, iv, aad, sizeof(aad), buf, out, tag);
}

static double run(int (*once)(void *), void *ctx, double secs)
{
	double t0 = now(), t;
	unsigned long n = 0;

	do {
		for (int i = 0; i < 64; i++)
			if (once(ctx) != 0) {
				fprintf(stderr, "cipher_speed: encryption failed\n");
				exit(2);
			}
		n += 64;
		iv[0]++;
		t = now() - t0;
	} while (t < secs);
	return (double)n * REC / t;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	const char *only = argc > 2 ? argv[2] : NULL;
	mbedtls_gcm_context gcm;
	mbedtls_chachapoly_context cp;
	static const struct {
		const char *name;
		unsigned bits;
	} aes[] = {{"aes-128-gcm", 128}, {"aes-256-gcm", 256}};

	if (secs <= 0)
		secs = 2.0;
#if defined(MBEDTLS_GCM_ALT)
	fprintf(stderr, "cipher_speed: AES-GCM: mailgw's, %s path\n", gcm_alt_impl_name(NULL));
#else
	fprintf(stderr, "cipher_speed: AES-GCM: stock mbedTLS\n");
#endif
#if defined(MBEDTLS_CHACHA20_ALT)
	fprintf(stderr, "cipher_speed: ChaCha20: mailgw's, %s path\n",
		chacha20_alt_impl_name(NULL));
#else
	fprintf(stderr, "cipher_speed: ChaCha20: stock mbedTLS\n");
#endif
	memset(key, 0x42, sizeof(key));
	for (size_t i = 0; i < sizeof(aes) / sizeof(aes[0]); i++) {
		if (only && strcmp(only, aes[i].name) != 0)
			continue;
		mbedtls_gcm_init(&gcm);
		if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, aes[i].bits) != 0)
			return 2;
		printf("%s %.0f\n", aes[i].name, run(gcm_once, &gcm, secs));
		mbedtls_gcm_free(&gcm);
	}
	if (only && strcmp(only, "chacha20-poly1305") != 0)
		return 0;
	mbedtls_chachapoly_init(&cp);
	if (mbedtls_chachapoly_setkey(&cp, key) != 0)
		return 2;
	printf("chacha20-poly1305 %.0f\n", run(chacha_once, &cp, secs));
	mbedtls_chachapoly_free(&cp);
	return 0;
}
