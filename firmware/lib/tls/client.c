/*
 * client.c - the blocking TLS client of client.h on mbedTLS 3.6.
 */
#include "tls/client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "tls/tls_int.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wundef"
#include <mbedtls/net_sockets.h> /* MBEDTLS_ERR_NET_* only: MBEDTLS_NET_C is off */
#pragma GCC diagnostic pop

struct tls_client {
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt trust;
	int fd;
};

uint64_t tls_client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int tls_client_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_client *c = ctx;
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int tls_client_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_client *c = ctx;
	ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* Waits until fd is ready for what mbedTLS asked, or the deadline. */
static int tls_client_wait(struct tls_client *c, int ret, uint64_t deadline_ms)
{
	struct pollfd p = {.fd = c->fd,
			   .events = ret == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN};
	uint64_t now = tls_client_now_ms();

	if (now >= deadline_ms)
		return -MGW_EAGAIN;
	if (poll(&p, 1, (int)(deadline_ms - now > 60000 ? 60000 : deadline_ms - now)) < 0 &&
	    errno != EINTR)
		return -MGW_EIO;
	return 0;
}

static bool tls_client_retry(int ret)
{
	return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE ||
	       ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET;
}

int tls_client_open(struct tls_client **out, int fd, const char *host, const char *trust_pem,
		    size_t trust_len, const char *trust_name, enum tls_client_version v,
		    uint64_t deadline_ms, char *why, size_t whysz)
{
	mbedtls_ssl_protocol_version pv =
	    v == TLS_CLIENT_TLS13 ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2;
	struct tls_client *c;
	char e[160];
	int ret, rc = -MGW_ETLS;

	*out = NULL;
	if (tls_init() < 0) {
		snprintf(why, whysz, "TLS: cannot initialise the crypto layer");
		return -MGW_ETLS;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(why, whysz, "TLS: out of memory");
		return -MGW_ENOMEM;
	}
	c->fd = fd;
	mbedtls_ssl_init(&c->ssl);
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_x509_crt_init(&c->trust);
	ret = mbedtls_x509_crt_parse(&c->trust, (const unsigned char *)trust_pem, trust_len + 1);
	if (ret != 0) {
		mbedtls_strerror(ret, e, sizeof(e));
		snprintf(why, whysz, "%s: not a usable trust anchor: %s", trust_name, e);
		rc = -MGW_EIO;
		goto fail;
	}
	ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
					  MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0)
		goto tls_fail;
	/* one version only (CVE-2026-115490) */
	mbedtls_ssl_conf_min_tls_version(&c->conf, pv);
	mbedtls_ssl_conf_max_tls_version(&c->conf, pv);
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->trust, NULL);
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, tls_rng());
	ret = mbedtls_ssl_setup(&c->ssl, &c->conf);
	if (ret == 0)
		ret = mbedtls_ssl_set_hostname(&c->ssl, host);
	if (ret != 0)
		goto tls_fail;
	mbedtls_ssl_set_bio(&c->ssl, c, tls_client_send, tls_client_recv, NULL);
	while ((ret = mbedtls_ssl_handshake(&c->ssl)) != 0) {
		if (!tls_client_retry(ret))
			goto tls_fail;
		if (tls_client_wait(c, ret, deadline_ms) < 0) {
			snprintf(why, whysz, "TLS handshake with %s: timed out", host);
			rc = -MGW_EAGAIN;
			goto fail;
		}
	}
	*out = c;
	return 0;
tls_fail : {
	uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);

	mbedtls_strerror(ret, e, sizeof(e));
	if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0 && flags != (uint32_t)-1) {
		char f[256];

		tls_flags_text(flags, f, sizeof(f));
		snprintf(why, whysz, "TLS with %s: server certificate not trusted: %s", host, f);
	} else
		snprintf(why, whysz, "TLS with %s: %s", host, e);
}
fail:
	tls_client_free(c);
	return rc;
}

int tls_client_write(struct tls_client *c, const void *buf, size_t len, uint64_t deadline_ms)
{
	const unsigned char *p = buf;

	while (len > 0) {
		int ret = mbedtls_ssl_write(&c->ssl, p, len);

		if (ret > 0) {
			p += ret;
			len -= (size_t)ret;
		} else if (!tls_client_retry(ret))
			return -MGW_ETLS;
		else if (tls_client_wait(c, ret, deadline_ms) < 0)
			return -MGW_EAGAIN;
	}
	return 0;
}

ssize_t tls_client_read(struct tls_client *c, void *buf, size_t len, uint64_t deadline_ms)
{
	for (;;) {
		int ret = mbedtls_ssl_read(&c->ssl, buf, len);

		if (ret >= 0)
			return ret;
		if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
			return 0;
		if (!tls_client_retry(ret))
			return -MGW_ETLS;
		if (tls_client_wait(c, ret, deadline_ms) < 0)
			return -MGW_EAGAIN;
	}
}

void tls_client_free(struct tls_client *c)
{
	if (c == NULL)
		return;
	mbedtls_ssl_free(&c->ssl);
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_x509_crt_free(&c->trust);
	free(c);
}
