/*
 * gate_login.c - certificate-bound login with throttling, for POP3S and IMAPS. Moved out
 * of pop3_sess.c when IMAP came, so both refuse the same way and share one throttle.
 * The password check runs on a worker (the job below); what comes before it (throttle,
 * name, certificate binding) and after it (throttle, logs, the session's callback) runs
 * on the loop thread.
 */
#include "proto/gate_login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "proto/base64.h"

static bool gate_tls_has_peer(const void *ctx)
{
	return ctx && tls_sess_has_peer(ctx);
}

static void gate_tls_subject(const void *ctx, char *out, size_t outsz)
{
	tls_sess_peer_subject(ctx, out, outsz);
}

static void gate_tls_serial(const void *ctx, char *out, size_t outsz)
{
	tls_sess_peer_serial(ctx, out, outsz);
}

static void gate_tls_cert_id(const void *ctx, char *out, size_t outsz)
{
	tls_sess_peer_id(ctx, out, outsz);
}

static int gate_tls_identity(const void *ctx, enum tls_identity how, char *out, size_t outsz)
{
	return tls_sess_peer_identity(ctx, how, out, outsz);
}

const struct gate_peer_ops gate_peer_tls = {
    .has_peer = gate_tls_has_peer,
    .subject = gate_tls_subject,
    .serial = gate_tls_serial,
    .cert_id = gate_tls_cert_id,
    .identity = gate_tls_identity,
};

/*
 * A password check on a worker (core/work.h). The job owns copies of everything run()
 * reads, so it does not care whether the session is still there. g belongs to the loop
 * thread: gate_login_abandon() clears it when the session goes first, and the
 * completion then only frees the job.
 */
struct gate_verify {
	struct work_job w;
	struct gate_login *g; /* loop thread only; NULL once the session is gone */
	const char *proto;    /* static */
	struct passwd_addr a;
	char shown[PASSWD_ADDR_MAX + 2];
	unsigned flags;
	int rc; /* passwd_auth()'s result, written by the worker */
	size_t pwlen;
	char *data_dir; /* in the same allocation, after pw */
	char pw[];	/* the password, wiped when the check is done */
};

void gate_login_init(struct gate_login *g, const char *proto, struct conn *c,
		     const struct gate_env *env, gate_login_done_fn done, void *done_arg)
{
	memset(g, 0, sizeof(*g));
	g->proto = proto;
	g->c = c;
	g->env = env;
	g->done = done;
	g->done_arg = done_arg;
	snprintf(g->subject, sizeof(g->subject), "-");
	snprintf(g->serial, sizeof(g->serial), "-");
	snprintf(g->cert_id, sizeof(g->cert_id), "-");
}

bool gate_login_peer(struct gate_login *g)
{
	const void *ctx = conn_tls_ctx(g->c);

	if (!g->env->peer->has_peer(ctx))
		return false;
	g->env->peer->subject(ctx, g->subject, sizeof(g->subject));
	g->env->peer->serial(ctx, g->serial, sizeof(g->serial));
	g->env->peer->cert_id(ctx, g->cert_id, sizeof(g->cert_id));
	return true;
}

/* Throttle keys: the certificate (issuer and whole serial, hashed: consecutive serials
 * of one CA and equal serials of two CAs stay apart) and the client's network (its
 * address; for IPv6 its ipv6_prefix, see conn.h). Long keys are hashed by the
 * throttle itself. */
#define GATE_THROTTLE_KEY_MAX (8 + TLS_CERT_ID_MAX + CONN_ADDR_MAX)

static void gate_throttle_keys(const struct gate_login *g, char cert[GATE_THROTTLE_KEY_MAX],
			       char addr[GATE_THROTTLE_KEY_MAX])
{
	snprintf(cert, GATE_THROTTLE_KEY_MAX, "cert:%s", g->cert_id);
	snprintf(addr, GATE_THROTTLE_KEY_MAX, "addr:%s", g->c->peer_net);
}

/* Counts a failure in the throttle and logs it; the session's refusal waits *delay_ms. */
static void gate_failed(struct gate_login *g, const char *name, const char *why, uint32_t *delay_ms,
			bool *close)
{
	char kc[GATE_THROTTLE_KEY_MAX], ka[GATE_THROTTLE_KEY_MAX];
	uint64_t now = loop_now_ms(g->c->loop);
	uint32_t d1, d2;

	gate_throttle_keys(g, kc, ka);
	d1 = throttle_fail(g->env->throttle, kc, strlen(kc), now);
	d2 = throttle_fail(g->env->throttle, ka, strlen(ka), now);
	*delay_ms = d1 > d2 ? d1 : d2;
	g->fails++;
	*close = g->fails >= g->env->fail_close;
	log_warn("%s %s: login failed for '%s': %s; subject %s; serial %s; failure %u on this "
		 "connection, %u for this certificate; reply delayed %u ms",
		 g->proto, g->c->peer, name, why, g->subject, g->serial, g->fails,
		 throttle_failures(g->env->throttle, kc, strlen(kc), now), *delay_ms);
}

/* A refusal decided on the loop: counted, logged, and handed to the session. */
static void gate_refuse(struct gate_login *g, const char *name, const char *why,
			const struct passwd_addr *a)
{
	uint32_t delay;
	bool close;

	gate_failed(g, name, why, &delay, &close);
	g->done(g->done_arg, GATE_LOGIN_FAILED, a, delay, close);
}

/* The password check's result rc (passwd_auth's, or the pool's -MGW_ECLOSED /
 * -MGW_ELIMIT) for a session still there. Loop thread; g may be freed by the callback. */
static void gate_verified(struct gate_login *g, int rc, const char *shown,
			  const struct passwd_addr *a)
{
	char kc[GATE_THROTTLE_KEY_MAX], ka[GATE_THROTTLE_KEY_MAX];
	uint32_t delay;
	bool close;

	if (rc == -MGW_EIO || rc == -MGW_ECLOSED || rc == -MGW_ELIMIT || rc == -MGW_ENOMEM) {
		/* A local fault (the passwd-file unreadable, logged with its path; the pool
		 * full or stopping; no memory): not the user's mistake, so no failed login is
		 * counted. */
		if (rc == -MGW_EIO)
			log_err("%s %s: login of '%s' not checked: the passwd-file of %s cannot be "
				"read",
				g->proto, g->c->peer, shown, a->domain);
		else
			log_warn("%s %s: login of '%s' not checked: %s", g->proto, g->c->peer,
				 shown,
				 rc == -MGW_ELIMIT ? "too many password checks waiting"
						   : mgw_strerror(rc));
		g->done(g->done_arg, GATE_LOGIN_TEMP, a, 0, false);
		return;
	}
	if (rc < 0) {
		gate_failed(g, shown,
			    rc == -MGW_EAUTH ? "wrong password or unknown user" : mgw_strerror(rc),
			    &delay, &close);
		g->done(g->done_arg, GATE_LOGIN_FAILED, a, delay, close);
		return;
	}
	gate_throttle_keys(g, kc, ka);
	throttle_success(g->env->throttle, kc, strlen(kc));
	throttle_success(g->env->throttle, ka, strlen(ka));
	g->done(g->done_arg, GATE_LOGIN_OK, a, 0, false);
}

static void gate_verify_free(struct gate_verify *v)
{
	explicit_bzero(v->pw, v->pwlen);
	free(v);
}

/* Worker thread: touches only the job. */
static void gate_verify_run(struct work_job *j)
{
	struct gate_verify *v = (struct gate_verify *)j;

	v->rc = passwd_auth(v->data_dir, v->a.domain, v->a.user, v->pw, v->pwlen, v->flags);
	explicit_bzero(v->pw, v->pwlen);
}

/* Loop thread, once per submitted job. */
static void gate_verify_done(struct work_job *j)
{
	struct gate_verify *v = (struct gate_verify *)j;
	struct gate_login *g = v->g;

	if (g == NULL) {
		log_debug("%s: the password check of '%s' finished after its connection had "
			  "closed: result dropped",
			  v->proto, v->shown);
		gate_verify_free(v);
		return;
	}
	g->verify = NULL;
	gate_verified(g, j->status < 0 ? j->status : v->rc, v->shown, &v->a);
	gate_verify_free(v); /* after the callback: it borrowed v->a */
}

/* Hands the SHA-crypt check to a worker. Without a pool (fuzzers, unit tests)
 * work_submit runs it here, and the callback has run when this returns. */
static void gate_verify_start(struct gate_login *g, const struct passwd_addr *a, const char *shown,
			      const uint8_t *pw, size_t pwlen)
{
	size_t dlen = strlen(g->env->data_dir) + 1;
	struct gate_verify *v = malloc(sizeof(*v) + pwlen + dlen);
	int rc;

	if (v == NULL) {
		gate_verified(g, -MGW_ENOMEM, shown, a);
		return;
	}
	memset(v, 0, sizeof(*v));
	work_job_init(&v->w, gate_verify_run, gate_verify_done, NULL);
	v->g = g;
	v->proto = g->proto;
	v->a = *a;
	snprintf(v->shown, sizeof(v->shown), "%s", shown);
	v->flags = g->env->passwd_flags;
	v->pwlen = pwlen;
	memcpy(v->pw, pw, pwlen);
	v->data_dir = v->pw + pwlen;
	memcpy(v->data_dir, g->env->data_dir, dlen);
	g->verify = v;
	log_debug("%s %s: checking the password of '%s' on a worker", g->proto, g->c->peer, shown);
	rc = work_submit(g->env->work, &v->w);
	if (rc < 0) {
		g->verify = NULL;
		gate_verify_free(v);
		gate_verified(g, rc, shown, a);
	}
}

void gate_login_start(struct gate_login *g, const uint8_t *name, size_t namelen, const uint8_t *pw,
		      size_t pwlen)
{
	char kc[GATE_THROTTLE_KEY_MAX], ka[GATE_THROTTLE_KEY_MAX], shown[PASSWD_ADDR_MAX + 2];
	char id[TLS_IDENTITY_MAX], want[PASSWD_ADDR_MAX + 2], why[TLS_IDENTITY_MAX + 64];
	uint64_t now = loop_now_ms(g->c->loop);
	struct passwd_addr a;
	uint32_t delay;
	int rc;

	memset(&a, 0, sizeof(a));
	log_safe(shown, sizeof(shown), name, namelen);
	gate_throttle_keys(g, kc, ka);
	if (throttle_check(g->env->throttle, kc, strlen(kc), now, &delay) == -MGW_ELIMIT ||
	    throttle_check(g->env->throttle, ka, strlen(ka), now, &delay) == -MGW_ELIMIT) {
		log_warn("%s %s: login refused for '%s': too many failures for this certificate "
			 "or address; subject %s; serial %s",
			 g->proto, g->c->peer, shown, g->subject, g->serial);
		g->done(g->done_arg, GATE_LOGIN_LIMIT, &a, 0, true);
		return;
	}
	if (passwd_addr_parse((const char *)name, namelen, &a) != MGW_PARSE_OK) {
		gate_refuse(g, shown, "not a valid user@domain", &a);
		return;
	}
	snprintf(want, sizeof(want), "%s@%s", a.user, a.domain);
	rc = g->env->peer->identity(conn_tls_ctx(g->c), g->env->identity, id, sizeof(id));
	if (rc == -MGW_ENOENT || rc == -MGW_EINVAL) {
		/* CVE-2019-3814: no identity in the certificate is a refusal, never a fall-back
		 * to the typed name. */
		snprintf(why, sizeof(why), "the certificate has no usable %s identity",
			 tls_identity_name(g->env->identity));
		gate_refuse(g, shown, why, &a);
		return;
	}
	if (rc == 0 && strcasecmp(id, want) != 0) {
		char safe[TLS_IDENTITY_MAX];

		log_safe(safe, sizeof(safe), id, strlen(id));
		snprintf(why, sizeof(why), "the certificate belongs to '%s'", safe);
		gate_refuse(g, shown, why, &a);
		return;
	}
	gate_verify_start(g, &a, shown, pw, pwlen);
}

bool gate_login_pending(const struct gate_login *g)
{
	return g->verify != NULL;
}

void gate_login_abandon(struct gate_login *g)
{
	if (g->verify)
		g->verify->g = NULL; /* the completion frees the job */
	g->verify = NULL;
}

enum gate_sasl_result gate_sasl_plain(const uint8_t *b64, size_t len, uint8_t *msg, size_t msgsz,
				      const uint8_t **user, size_t *ulen, const uint8_t **pw,
				      size_t *pwlen)
{
	const uint8_t *z1, *z2;
	size_t n = 0;

	if (base64_decode(b64, len, msg, msgsz, &n) != MGW_PARSE_OK)
		return GATE_SASL_BASE64;
	/* RFC 4616: [authzid] NUL authcid NUL passwd; authzid empty or equal to authcid. */
	z1 = memchr(msg, '\0', n);
	z2 = z1 ? memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - msg)) : NULL;
	if (z1 == NULL || z2 == NULL || memchr(z2 + 1, '\0', n - (size_t)(z2 + 1 - msg)))
		return GATE_SASL_MALFORMED;
	if (z1 != msg && ((size_t)(z1 - msg) != (size_t)(z2 - z1 - 1) ||
			  memcmp(msg, z1 + 1, (size_t)(z1 - msg)) != 0))
		return GATE_SASL_AUTHZID;
	*user = z1 + 1;
	*ulen = (size_t)(z2 - z1 - 1);
	*pw = z2 + 1;
	*pwlen = n - (size_t)(z2 + 1 - msg);
	return GATE_SASL_OK;
}
