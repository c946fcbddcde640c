/*
 * mbedtls_config.h - mailgw's options for mbedTLS 3.6 LTS.
 *
 * Given as MBEDTLS_USER_CONFIG_FILE, identically, to the library build and to our own
 * code (firmware/lib/tls*), so both see the same structures. Starts from upstream's
 * default configuration and removes what a TLS 1.2/1.3 server with mandatory client
 * certificates does not use: every non-AEAD cipher suite, static and PSK key exchanges,
 * DTLS, legacy ciphers and hashes. What stays: ECDHE with ECDSA (P-256/P-384) or RSA
 * (>= 2048) certificates, AES-GCM and ChaCha20-Poly1305, X.509 with CRLs.
 */
#ifndef MAILGW_MBEDTLS_CONFIG_H
#define MAILGW_MBEDTLS_CONFIG_H

/* Protocols: TLS 1.2 and 1.3 only, stream transport only. */
#undef MBEDTLS_SSL_PROTO_DTLS
#undef MBEDTLS_SSL_DTLS_ANTI_REPLAY
#undef MBEDTLS_SSL_DTLS_HELLO_VERIFY
#undef MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
#undef MBEDTLS_SSL_DTLS_CONNECTION_ID
#undef MBEDTLS_SSL_COOKIE_C
#undef MBEDTLS_SSL_RENEGOTIATION
#undef MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#undef MBEDTLS_SSL_CONTEXT_SERIALIZATION

/* Key exchanges: ephemeral ECDH only (forward secrecy), no PSK, no static keys. */
#undef MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_DHE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_RSA_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_RSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDH_ECDSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDH_RSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECJPAKE_ENABLED
#undef MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_ENABLED
#undef MBEDTLS_SSL_EARLY_DATA
#undef MBEDTLS_ECJPAKE_C
#undef MBEDTLS_DHM_C

/* Ciphers: AEAD only. CBC stays compiled for PEM/PKCS#8 helpers but no suite uses it. */
#undef MBEDTLS_ARIA_C
#undef MBEDTLS_CAMELLIA_C
#undef MBEDTLS_DES_C
#undef MBEDTLS_CCM_C
#undef MBEDTLS_CMAC_C
#undef MBEDTLS_NIST_KW_C
#undef MBEDTLS_CIPHER_NULL_CIPHER
#undef MBEDTLS_CIPHER_MODE_CFB
#undef MBEDTLS_CIPHER_MODE_OFB
#undef MBEDTLS_CIPHER_MODE_XTS
#undef MBEDTLS_CIPHER_PADDING_ONE_AND_ZEROS
#undef MBEDTLS_CIPHER_PADDING_ZEROS_AND_LEN
#undef MBEDTLS_CIPHER_PADDING_ZEROS
#undef MBEDTLS_SSL_ENCRYPT_THEN_MAC
#undef MBEDTLS_PKCS12_C

/* Hashes and curves we do not use. */
#undef MBEDTLS_MD5_C
#undef MBEDTLS_RIPEMD160_C
#undef MBEDTLS_SHA3_C
#undef MBEDTLS_ECP_DP_SECP192R1_ENABLED
#undef MBEDTLS_ECP_DP_SECP224R1_ENABLED
#undef MBEDTLS_ECP_DP_SECP192K1_ENABLED
#undef MBEDTLS_ECP_DP_SECP224K1_ENABLED
#undef MBEDTLS_ECP_DP_SECP256K1_ENABLED
#undef MBEDTLS_ECP_DP_BP256R1_ENABLED
#undef MBEDTLS_ECP_DP_BP384R1_ENABLED
#undef MBEDTLS_ECP_DP_BP512R1_ENABLED

/*
 * No session resumption at all: every handshake is a full one and checks the current CRL
 * (ARCHITECTURE.md: a resumed TLS 1.3 session carries no peer certificate). Compiling it
 * out also removes the ticket advisories: CVE-2026-93831 (a TLS 1.3 ticket resumed as
 * TLS 1.2: client impersonation) and CVE-2026-115491, open in 3.6.7 (fixed in 3.6.8), and
 * CVE-2026-50640 and CVE-2026-50586, fixed in 3.6.7 (README, advisories).
 */
#undef MBEDTLS_SSL_SESSION_TICKETS
#undef MBEDTLS_SSL_TICKET_C
#undef MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED
#undef MBEDTLS_SSL_CACHE_C

/* PKCS#7 is never used: less code to reach (its 3.6.6 advisories, CVE-2026-50579 and the
 * weak-hash one, are fixed in 3.6.7). */
#undef MBEDTLS_PKCS7_C

/* Off by default upstream; pinned off because advisories that 3.6.7 does not fix
 * (3.6.8 does) need them. */
#undef MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH /* CVE-2026-115488, CVE-2026-93844 */
#undef MBEDTLS_PSA_P256M_DRIVER_ENABLED   /* CVE-2026-93845 */
/* Off by default upstream and never used; their advisories (CVE-2026-50585;
 * CVE-2026-50587, CVE-2026-50583) are fixed in 3.6.7, kept off to stay on the code paths
 * we test. */
#undef MBEDTLS_SSL_DTLS_SRTP
#undef MBEDTLS_USE_PSA_CRYPTO

/* As Debian builds 3.6.7-3 ("disable buggy efficient unaligned access"): the portable
 * byte-wise loads and stores, on every target. */
#define MBEDTLS_ALIGNMENT_DISABLE_EFFICENT_UNALIGNED_ACCESS

/* Our own socket layer drives the bio callbacks; no mbedTLS networking or timing. */
#undef MBEDTLS_NET_C
#undef MBEDTLS_TIMING_C

/* The gate verifies a client certificate's signature by the office CA itself, with a
 * cache (firmware/lib/tls/chain.c): mbedTLS is given no trust anchors, only a callback
 * that names none (mbedtls_ssl_conf_ca_cb), so it leaves that check to the gate. */
#define MBEDTLS_X509_TRUSTED_CERTIFICATE_CALLBACK

/* TLS handshakes run on worker threads (firmware/lib/net/conn.c, README "TLS cost"): the
 * random generator (ours, a CTR_DRBG, and PSA's), the RSA key's blinding values and the
 * PSA key store are shared by them and the event loop. mbedTLS 3.6 protects those with
 * mutexes only under MBEDTLS_THREADING_C (docs/architecture/psa-thread-safety: key
 * management, psa_crypto_init and the built-in RNG are thread-safe; one context, operation
 * or mbedtls_ssl_context must still be used by one thread at a time, which conn.c
 * guarantees). */
#define MBEDTLS_THREADING_C
#define MBEDTLS_THREADING_PTHREAD
/* The self-tests are never run, but they make the EC arithmetic count its operations in
 * unlocked globals (ecp.c: add_count, dbl_count, mul_count), a data race between two
 * handshakes on two threads that ThreadSanitizer reports (make tsan). */
#undef MBEDTLS_SELF_TEST

/* AES-GCM is ours (firmware/lib/tls/gcm, README "TLS cost"): mbedTLS 3.6 does it one
 * block per call through several layers, ten times slower than the hardware allows. The
 * cipher layer (TLS records) and PSA's built-in AEAD call it through mbedtls/gcm.h. */
#define MBEDTLS_GCM_ALT

/* ChaCha20 and Poly1305 are ours (firmware/lib/tls/chacha, README "TLS cost"): mbedTLS 3.6
 * does ChaCha20 one 64-byte block per call in plain C, a tenth of what the boards without
 * AES instructions (where mailgwd prefers ChaCha20-Poly1305) do with their SIMD units.
 * mbedTLS's ChaCha20-Poly1305 (chachapoly.c: the cipher layer's TLS records, PSA's AEAD)
 * calls them through mbedtls/chacha20.h and mbedtls/poly1305.h. */
#define MBEDTLS_CHACHA20_ALT
#define MBEDTLS_POLY1305_ALT

/* The cipher-suite list is restricted again at run time (firmware/lib/tls). */
#define MBEDTLS_SSL_IN_CONTENT_LEN  16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 16384

#endif
