/*
 * mbedtls_stock_config.h - the benchmarks' stock mbedTLS (firmware/packages/mbedtls/
 * mbedtls.mk, variant "stock"): mailgw's configuration with mbedTLS's own AES-GCM,
 * ChaCha20 and Poly1305 instead of ours, so bench_tls.py and bench_imap.py can print both
 * rates. Never used by a program of the image or by a test.
 */
#include "../../firmware/packages/mbedtls/mbedtls_config.h"

#undef MBEDTLS_GCM_ALT
#undef MBEDTLS_CHACHA20_ALT
#undef MBEDTLS_POLY1305_ALT
