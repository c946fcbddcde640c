/*
 * pop3_client.c - a POP3S client (RFC 1939, RFC 8314 implicit TLS) presenting a client
 * certificate through mbedTLS's client side: TLS, greeting, USER/PASS, STAT, then for
 * each message TOP n 0 and RETR n (un-dot-stuffed, checked against what was sent), DELE,
 * QUIT. A fatal alert from the server before the greeting is the gate's refusal; a
 * connection lost otherwise is retried (a network failure, not a verdict).
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
#include "net/conn.h"
#include "net/lwip/lwip_tcp.h"

/* ---- the TLS client as a transport over the conn's plain (lwIP) transport ---- */

struct ctls {
	mbedtls_ssl_context ssl;
	struct transport lower; /* borrowed: the conn's plain transport */
	bool alert;		/* the server sent a fatal alert */
};

struct pop3_client {
	struct loop *loop;
	struct pop3_client_params p;
	struct conn *c;
	struct ctls *tls;
	enum client_state state;
	char err[256];
	unsigned tries, step, cur, nstat;
	bool greeted, stalled, stall_done;
	struct loop_timer retry, stall;
	/* the message being read (RETR or TOP), un-dot-stuffed */
	uint8_t *msg;
	size_t msg_len;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca, crt;
	mbedtls_pk_context key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

static int ctls_code(ssize_t n)
{
	if (n >= 0)
		return (int)n;
	if (n == -MGW_EWANTREAD)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n == -MGW_EWANTWRITE)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_SSL_CONN_EOF;
}

static int ctls_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct ctls *t = ctx;

	return ctls_code(t->lower.ops->write(t->lower.ctx, buf, len));
}

static int ctls_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct ctls *t = ctx;

	return ctls_code(t->lower.ops->read(t->lower.ctx, buf, len));
}

static ssize_t ctls_result(struct ctls *t, int rc)
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

static ssize_t ctls_read(void *ctx, void *buf, size_t len)
{
	struct ctls *t = ctx;
	int rc = mbedtls_ssl_read(&t->ssl, buf, len);

	return ctls_result(t, rc);
}

static ssize_t ctls_write(void *ctx, const void *buf, size_t len)
{
	struct ctls *t = ctx;

	return ctls_result(t, mbedtls_ssl_write(&t->ssl, buf, len));
}

static int ctls_handshake(void *ctx)
{
	struct ctls *t = ctx;

	return (int)ctls_result(t, mbedtls_ssl_handshake(&t->ssl));
}

static bool ctls_pending(void *ctx)
{
	struct ctls *t = ctx;

	return mbedtls_ssl_get_bytes_avail(&t->ssl) > 0 || mbedtls_ssl_check_pending(&t->ssl);
}

static void ctls_shutdown(void *ctx)
{
	struct ctls *t = ctx;

	(void)mbedtls_ssl_close_notify(&t->ssl);
}

static void ctls_destroy(void *ctx)
{
	struct ctls *t = ctx;

	mbedtls_ssl_free(&t->ssl);
	free(t);
}

static const struct transport_ops ctls_ops = {
    .name = "tls-client",
    .read = ctls_read,
    .write = ctls_write,
    .handshake = ctls_handshake,
    .pending = ctls_pending,
    .shutdown = ctls_shutdown,
    .destroy = ctls_destroy,
};

/* ---- POP3 ---- */

static void pop3_client_event(struct conn *c, enum conn_event ev, void *arg);

static void pop3_client_fail(struct pop3_client *pc, const char *what, const char *detail)
{
	if (pc->state == CLIENT_RUNNING) {
		snprintf(pc->err, sizeof(pc->err), "%s%s", what, detail);
		pc->state = CLIENT_FAILED;
	}
}

static void pop3_client_connect(struct pop3_client *pc)
{
	struct transport tr;
	struct ctls *t;

	pc->greeted = false;
	pc->step = 0;
	if (lwip_tcp_connect(CLIENT_ADDR_POP3, CLIENT_ADDR_SERVER, 995, &tr) < 0 ||
	    conn_new_transport(pc->loop, &tr, "10.0.0.1:995", 256 * 1024, 4096, &pc->c) < 0) {
		pop3_client_fail(pc, "cannot connect", "");
		return;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		conn_close(pc->c, "no memory");
		pop3_client_fail(pc, "no memory", "");
		return;
	}
	mbedtls_ssl_init(&t->ssl);
	t->lower = pc->c->plain;
	if (mbedtls_ssl_setup(&t->ssl, &pc->conf) != 0 ||
	    mbedtls_ssl_set_hostname(&t->ssl, "localhost") != 0) {
		ctls_destroy(t);
		conn_close(pc->c, "TLS setup");
		pop3_client_fail(pc, "TLS setup failed", "");
		return;
	}
	mbedtls_ssl_set_bio(&t->ssl, t, ctls_send, ctls_recv, NULL);
	pc->tls = t;

	conn_start_tls(pc->c, &ctls_ops, t);
	conn_set_idle(pc->c, 60000);
	conn_start(pc->c, pop3_client_event, pc);
	/* conn waits for the server to speak first; a TLS client speaks first (ClientHello):
	 * an empty write queues the step that starts the handshake. */
	conn_write(pc->c, "", 0);
}

static void pop3_client_retry_cb(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	pop3_client_connect(t->arg);
}

static void pop3_client_stall_cb(struct loop *loop, struct loop_timer *t)
{
	struct pop3_client *pc = t->arg;

	(void)loop;
	pc->stalled = false;
	pc->stall_done = true;
	if (pc->c)
		conn_pause(pc->c, false);
}

/* Steps of the transaction after the greeting: 0 USER, 1 PASS, 2 STAT, then per message
 * TOP, RETR, DELE; then QUIT. */
static void pop3_client_send(struct pop3_client *pc)
{
	unsigned s = pc->step;

	if (s == 0)
		conn_printf(pc->c, "USER %s\r\n", pc->p.user);
	else if (s == 1)
		conn_printf(pc->c, "PASS %s\r\n", pc->p.pass);
	else if (s == 2)
		conn_printf(pc->c, "STAT\r\n");
	else if (s - 3 < 3 * pc->nstat) {
		unsigned n = (s - 3) / 3 + 1;
		static const char *const cmd[] = {"TOP", "RETR", "DELE"};

		conn_printf(pc->c, "%s %u%s\r\n", cmd[(s - 3) % 3], n,
			    (s - 3) % 3 == 0 ? " 0" : "");
		if ((s - 3) % 3 == 1 && pc->p.stall_ms && !pc->stall_done && !pc->stalled) {
			/* Zero window: we stop reading, the daemon must stop at its limits. */
			pc->stalled = true;
			conn_pause(pc->c, true);
			loop_timer_set(pc->loop, &pc->stall, pc->p.stall_ms);
		}
	} else
		conn_printf(pc->c, "QUIT\r\n");
}

static bool pop3_client_multiline(unsigned step, unsigned nstat)
{
	return step >= 3 && step - 3 < 3 * nstat && (step - 3) % 3 != 2;
}

/* Matches a retrieved message with what was sent: the daemon prepends its trace headers,
 * so the sent bytes must be the message's tail, exactly. */
static void pop3_client_check(struct pop3_client *pc, bool top)
{
	for (unsigned i = 0; i < pc->p.nmsgs; i++) {
		struct client_msg *m = &pc->p.msgs[i];

		if (memmem(pc->msg, pc->msg_len, m->id, strlen(m->id)) == NULL)
			continue;
		if (top) {
			/* TOP n 0: the header and the blank line, no body line. */
			if (pc->msg_len < 4 ||
			    memcmp(pc->msg + pc->msg_len - 4, "\r\n\r\n", 4) != 0)
				pop3_client_fail(pc, "TOP n 0 is not a header: ", m->id);
			return;
		}
		if (pc->msg_len < m->len ||
		    memcmp(pc->msg + pc->msg_len - m->len, m->data, m->len) != 0)
			pop3_client_fail(pc, "message not byte-exact: ", m->id);
		else
			m->seen++;
		return;
	}
	pop3_client_fail(pc, "a message that was never sent arrived", "");
}

/* Consumes complete lines; returns when more input is needed. */
static void pop3_client_input(struct pop3_client *pc)
{
	struct buf *in = conn_in(pc->c);

	for (;;) {
		const uint8_t *p = buf_data(in);
		const uint8_t *nl = memchr(p, '\n', buf_len(in));
		size_t ll;

		if (nl == NULL)
			return;
		ll = (size_t)(nl - p) + 1;
		if (pc->msg) { /* inside a multi-line answer */
			if (ll == 3 && p[0] == '.') {
				pop3_client_check(pc, pc->step >= 3 && (pc->step - 3) % 3 == 0);
				free(pc->msg);
				pc->msg = NULL;
				pc->step++;
				pop3_client_send(pc);
			} else {
				size_t skip = p[0] == '.' ? 1 : 0; /* RFC 1939 3: byte-stuffing */

				if (pc->msg_len + ll > CLIENT_MSG_MAX)
					return pop3_client_fail(pc, "answer too long", "");
				memcpy(pc->msg + pc->msg_len, p + skip, ll - skip);
				pc->msg_len += ll - skip;
			}
			buf_consume(in, ll);
			if (pc->state != CLIENT_RUNNING)
				return;
			continue;
		}
		if (ll < 3 || memcmp(p, "+OK", 3) != 0) {
			char line[80];

			snprintf(line, sizeof(line), "%.*s", (int)(ll > 60 ? 60 : ll - 1), p);
			return pop3_client_fail(pc, "-ERR: ", line);
		}
		if (!pc->greeted) {
			pc->greeted = true;
		} else if (pc->step == 2) {
			if (sscanf((const char *)p, "+OK %u", &pc->nstat) != 1)
				return pop3_client_fail(pc, "STAT unreadable", "");
			pc->step++;
		} else if (pop3_client_multiline(pc->step, pc->nstat)) {
			pc->msg = malloc(CLIENT_MSG_MAX);
			if (pc->msg == NULL)
				return pop3_client_fail(pc, "no memory", "");
			pc->msg_len = 0;
			buf_consume(in, ll);
			continue;
		} else if (pc->step >= 3 + 3 * pc->nstat) {
			buf_consume(in, ll); /* +OK to QUIT: done */
			pc->state = CLIENT_DONE;
			conn_close(pc->c, "done");
			return;
		} else
			pc->step++;
		buf_consume(in, ll);
		pop3_client_send(pc);
	}
}

static void pop3_client_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct pop3_client *pc = arg;
	bool alert;

	switch (ev) {
	case CONN_EV_DATA:
		pop3_client_input(pc);
		if (pc->state == CLIENT_FAILED)
			conn_close(c, "protocol error");
		break;
	case CONN_EV_TIMEOUT:
		if (pc->stalled)
			loop_timer_set(pc->loop, &c->idle, 60000);
		else
			conn_close(c, "server silent");
		break;
	case CONN_EV_CLOSED:
		pc->c = NULL;
		alert = pc->tls && pc->tls->alert;
		pc->tls = NULL; /* freed by the conn right after this event */
		free(pc->msg);
		pc->msg = NULL;
		if (pc->state != CLIENT_RUNNING)
			break;
		if (!pc->greeted && alert) {
			pc->state = CLIENT_REFUSED; /* the gate's verdict */
			snprintf(pc->err, sizeof(pc->err), "refused in the TLS handshake");
			break;
		}
		if (pc->greeted && pc->step >= 2) {
			pop3_client_fail(pc, "connection lost after login: ", conn_close_reason(c));
			break;
		}
		if (--pc->tries == 0) {
			pop3_client_fail(pc,
					 "connection lost, no tries left: ", conn_close_reason(c));
			break;
		}
		loop_timer_set(pc->loop, &pc->retry, 5000);
		break;
	default:
		break;
	}
}

static int pop3_client_tls_conf(struct pop3_client *pc)
{
	char a[512], b[512];
	int rc;

	mbedtls_ssl_config_init(&pc->conf);
	mbedtls_x509_crt_init(&pc->ca);
	mbedtls_x509_crt_init(&pc->crt);
	mbedtls_pk_init(&pc->key);
	mbedtls_entropy_init(&pc->entropy);
	mbedtls_ctr_drbg_init(&pc->drbg);
	rc = mbedtls_ctr_drbg_seed(&pc->drbg, mbedtls_entropy_func, &pc->entropy, NULL, 0);
	if (rc == 0)
		rc = mbedtls_ssl_config_defaults(&pc->conf, MBEDTLS_SSL_IS_CLIENT,
						 MBEDTLS_SSL_TRANSPORT_STREAM,
						 MBEDTLS_SSL_PRESET_DEFAULT);
	snprintf(a, sizeof(a), "%s/ca.crt", pc->p.pki_dir);
	if (rc == 0)
		rc = mbedtls_x509_crt_parse_file(&pc->ca, a);
	if (rc == 0 && pc->p.cert) {
		snprintf(a, sizeof(a), "%s/%s.crt", pc->p.pki_dir, pc->p.cert);
		snprintf(b, sizeof(b), "%s/%s.key", pc->p.pki_dir, pc->p.cert);
		rc = mbedtls_x509_crt_parse_file(&pc->crt, a);
		if (rc == 0)
			rc = mbedtls_pk_parse_keyfile(&pc->key, b, NULL, mbedtls_ctr_drbg_random,
						      &pc->drbg);
		if (rc == 0)
			rc = mbedtls_ssl_conf_own_cert(&pc->conf, &pc->crt, &pc->key);
	}
	if (rc != 0)
		return -MGW_ETLS;
	mbedtls_ssl_conf_rng(&pc->conf, mbedtls_ctr_drbg_random, &pc->drbg);
	mbedtls_ssl_conf_ca_chain(&pc->conf, &pc->ca, NULL);
	mbedtls_ssl_conf_authmode(&pc->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	return 0;
}

int pop3_client_start(struct loop *loop, const struct pop3_client_params *p,
		      struct pop3_client **out)
{
	struct pop3_client *pc = calloc(1, sizeof(*pc));

	if (pc == NULL)
		return -MGW_ENOMEM;
	pc->loop = loop;
	pc->p = *p;
	pc->tries = p->tries;
	pc->state = CLIENT_RUNNING;
	loop_timer_init(&pc->retry, pop3_client_retry_cb, pc);
	loop_timer_init(&pc->stall, pop3_client_stall_cb, pc);
	if (pop3_client_tls_conf(pc) < 0) {
		*out = pc;
		pop3_client_fail(pc, "client TLS configuration", "");
		return 0;
	}
	pop3_client_connect(pc);
	*out = pc;
	return 0;
}

enum client_state pop3_client_state(const struct pop3_client *pc)
{
	return pc->state;
}

const char *pop3_client_error(const struct pop3_client *pc)
{
	return pc->err;
}

bool pop3_client_stalled(const struct pop3_client *pc)
{
	return pc->stalled;
}

void pop3_client_close(struct pop3_client *pc)
{
	if (pc == NULL)
		return;
	loop_timer_cancel(pc->loop, &pc->retry);
	loop_timer_cancel(pc->loop, &pc->stall);
	if (pc->c) {
		pc->c->cb = NULL;
		conn_close(pc->c, "simulation over");
		pc->c = NULL;
	}
}

void pop3_client_free(struct pop3_client *pc)
{
	if (pc == NULL)
		return;
	pop3_client_close(pc);
	free(pc->msg);
	mbedtls_ssl_config_free(&pc->conf);
	mbedtls_x509_crt_free(&pc->ca);
	mbedtls_x509_crt_free(&pc->crt);
	mbedtls_pk_free(&pc->key);
	mbedtls_ctr_drbg_free(&pc->drbg);
	mbedtls_entropy_free(&pc->entropy);
	free(pc);
}
