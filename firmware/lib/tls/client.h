/*
 * client.h - a blocking TLS client over a connected socket, for crlwatch's HTTPS fetch of
 * the CRL: the server is verified against one trust anchor file (PEM) and its name
 * (DNS name or IP in the certificate), with exactly one protocol version - TLS 1.2 only
 * or TLS 1.3 only - because mbedTLS 3.6.7 clients that offer both are exposed to the
 * version confusion of CVE-2026-115490 (README, mbedTLS advisories). No resumption, no
 * client certificate.
 *
 * Every call takes an absolute deadline (CLOCK_MONOTONIC milliseconds) and fails with
 * -MGW_EAGAIN once it has passed. Ownership: the client owns its mbedTLS contexts and
 * borrows the fd (the caller closes it after tls_client_free).
 */
#ifndef MGW_TLS_CLIENT_H
#define MGW_TLS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tls_client;

enum tls_client_version {
	TLS_CLIENT_TLS12 = 0,
	TLS_CLIENT_TLS13 = 1,
};

/* Handshakes with the server on fd as host (its name for SNI and verification), trusting
 * the certificates in trust_pem (PEM text of trust_len bytes, NUL-terminated at
 * trust_pem[trust_len]; read by the caller, so that an unprivileged process can use a
 * root-only file; trust_name names it in messages).
 * 0, -MGW_ETLS (handshake or verification failed: why says how), -MGW_EAGAIN (deadline),
 * -MGW_EIO (trust anchor unusable), -MGW_ENOMEM. */
int tls_client_open(struct tls_client **out, int fd, const char *host, const char *trust_pem,
		    size_t trust_len, const char *trust_name, enum tls_client_version v,
		    uint64_t deadline_ms, char *why, size_t whysz);
/* Writes all len bytes. 0 or a negative code. */
int tls_client_write(struct tls_client *c, const void *buf, size_t len, uint64_t deadline_ms);
/* Reads up to len bytes: > 0 bytes read, 0 at the end of the stream (close_notify or
 * EOF), negative on error / deadline. */
ssize_t tls_client_read(struct tls_client *c, void *buf, size_t len, uint64_t deadline_ms);
void tls_client_free(struct tls_client *c);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t tls_client_now_ms(void);

#endif
