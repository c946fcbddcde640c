/*
 * tls_client.c - mbedTLS's client side as a transport over a conn's plain (lwIP)
 * transport, for the simulator's POP3S and IMAPS clients (tls_client.h).
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wundef" /* mbedTLS's headers, as in lib/tls/tls_int.h */
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#pragma GCC diagnostic pop
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "core/err.h"
#include "net/lwip/lwip_tcp.h"
#include "tls_client.h"

struct tls_client_conf {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca, crt;
	mbedtls_pk_context key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

struct tls_client {
	mbedtls_ssl_context ssl;
	struct transport lower; /* borrowed: the conn's plain transport */
	bool alert;		/* the server sent a fatal alert */
};

static int tls_client_code(ssize_t n)
{
	if (n >= 0)
		return (int)n;
	if (n == -MGW_EWANTREAD)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n == -MGW_EWANTWRITE)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_SSL_CONN_EOF;
}

static int tls_client_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_client *t = ctx;

	return tls_client_code(t->lower.ops->write(t->lower.ctx, buf, len));
}

static int tls_client_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_client *t = ctx;

	return tls_client_code(t->lower.ops->read(t->lower.ctx, buf, len));
}

static ssize_t tls_client_result(struct tls_client *t, int rc)
{
	if (rc >= 0)
		return rc;
	if (rc == MBEDTLS_ERR_SSL_WANT_READ)
		return -MGW_EWANTREAD;
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return -MGW_EWANTWRITE;
	if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
		t->alert = true;
		return -MGW_ETLS;
	}
	if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		return 0;
	if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
		return -MGW_EWANTREAD;
	return rc == MBEDTLS_ERR_SSL_CONN_EOF ? -MGW_ECLOSED : -MGW_ETLS;
}

static ssize_t tls_client_read(void *ctx, void *buf, size_t len)
{
	struct tls_client *t = ctx;
	int rc = mbedtls_ssl_read(&t->ssl, buf, len);

	return tls_client_result(t, rc);
}

static ssize_t tls_client_write(void *ctx, const void *buf, size_t len)
{
	struct tls_client *t = ctx;

	return tls_client_result(t, mbedtls_ssl_write(&t->ssl, buf, len));
}

static int tls_client_handshake(void *ctx)
{
	struct tls_client *t = ctx;

	return (int)tls_client_result(t, mbedtls_ssl_handshake(&t->ssl));
}

static bool tls_client_pending(void *ctx)
{
	struct tls_client *t = ctx;

	return mbedtls_ssl_get_bytes_avail(&t->ssl) > 0 || mbedtls_ssl_check_pending(&t->ssl);
}

static void tls_client_shutdown(void *ctx)
{
	struct tls_client *t = ctx;

	(void)mbedtls_ssl_close_notify(&t->ssl);
}

static void tls_client_destroy(void *ctx)
{
	struct tls_client *t = ctx;

	mbedtls_ssl_free(&t->ssl);
	free(t);
}

static const struct transport_ops tls_client_ops = {
    .name = "tls-client",
    .read = tls_client_read,
    .write = tls_client_write,
    .handshake = tls_client_handshake,
    .pending = tls_client_pending,
    .shutdown = tls_client_shutdown,
    .destroy = tls_client_destroy,
};

int tls_client_conf_new(const char *pki_dir, const char *cert, struct tls_client_conf **out)
{
	struct tls_client_conf *cf = calloc(1, sizeof(*cf));
	char a[512], b[512];
	int rc;

	*out = NULL;
	if (cf == NULL)
		return -MGW_ENOMEM;
	mbedtls_ssl_config_init(&cf->conf);
	mbedtls_x509_crt_init(&cf->ca);
	mbedtls_x509_crt_init(&cf->crt);
	mbedtls_pk_init(&cf->key);
	mbedtls_entropy_init(&cf->entropy);
	mbedtls_ctr_drbg_init(&cf->drbg);
	rc = mbedtls_ctr_drbg_seed(&cf->drbg, mbedtls_entropy_func, &cf->entropy, NULL, 0);
	if (rc == 0)
		rc = mbedtls_ssl_config_defaults(&cf->conf, MBEDTLS_SSL_IS_CLIENT,
						 MBEDTLS_SSL_TRANSPORT_STREAM,
						 MBEDTLS_SSL_PRESET_DEFAULT);
	snprintf(a, sizeof(a), "%s/ca.crt", pki_dir);
	if (rc == 0)
		rc = mbedtls_x509_crt_parse_file(&cf->ca, a);
	if (rc == 0 && cert) {
		snprintf(a, sizeof(a), "%s/%s.crt", pki_dir, cert);
		snprintf(b, sizeof(b), "%s/%s.key", pki_dir, cert);
		rc = mbedtls_x509_crt_parse_file(&cf->crt, a);
		if (rc == 0)
			rc = mbedtls_pk_parse_keyfile(&cf->key, b, NULL, mbedtls_ctr_drbg_random,
						      &cf->drbg);
		if (rc == 0)
			rc = mbedtls_ssl_conf_own_cert(&cf->conf, &cf->crt, &cf->key);
	}
	if (rc != 0) {
		tls_client_conf_free(cf);
		return -MGW_ETLS;
	}
	mbedtls_ssl_conf_rng(&cf->conf, mbedtls_ctr_drbg_random, &cf->drbg);
	mbedtls_ssl_conf_ca_chain(&cf->conf, &cf->ca, NULL);
	mbedtls_ssl_conf_authmode(&cf->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	*out = cf;
	return 0;
}

void tls_client_conf_free(struct tls_client_conf *cf)
{
	if (cf == NULL)
		return;
	mbedtls_ssl_config_free(&cf->conf);
	mbedtls_x509_crt_free(&cf->ca);
	mbedtls_x509_crt_free(&cf->crt);
	mbedtls_pk_free(&cf->key);
	mbedtls_ctr_drbg_free(&cf->drbg);
	mbedtls_entropy_free(&cf->entropy);
	free(cf);
}

int tls_client_connect(struct loop *loop, struct tls_client_conf *cf, uint32_t local, uint16_t port,
		       size_t in_max, conn_event_cb cb, void *arg, struct conn **c,
		       struct tls_client **out)
{
	struct transport tr;
	struct tls_client *t;
	char peer[32];

	*c = NULL;
	*out = NULL;
	snprintf(peer, sizeof(peer), "10.0.0.1:%u", port);
	if (lwip_tcp_connect(local, CLIENT_ADDR_SERVER, port, &tr) < 0)
		return -MGW_EIO;
	if (conn_new_transport(loop, &tr, peer, in_max, 4096, c) < 0) {
		*c = NULL;
		return -MGW_ENOMEM;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		conn_close(*c, "no memory");
		*c = NULL;
		return -MGW_ENOMEM;
	}
	mbedtls_ssl_init(&t->ssl);
	t->lower = (*c)->plain;
	if (mbedtls_ssl_setup(&t->ssl, &cf->conf) != 0 ||
	    mbedtls_ssl_set_hostname(&t->ssl, "localhost") != 0) {
		tls_client_destroy(t);
		conn_close(*c, "TLS setup");
		*c = NULL;
		return -MGW_ETLS;
	}
	mbedtls_ssl_set_bio(&t->ssl, t, tls_client_send, tls_client_recv, NULL);
	conn_start_tls(*c, &tls_client_ops, t);
	conn_start(*c, cb, arg);
	/* conn waits for the server to speak first; a TLS client speaks first (ClientHello):
	 * an empty write queues the step that starts the handshake. */
	conn_write(*c, "", 0);
	*out = t;
	return 0;
}

bool tls_client_alerted(const struct tls_client *t)
{
	return t && t->alert;
}
