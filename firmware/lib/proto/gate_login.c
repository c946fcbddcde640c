/*
 * gate_login.c - certificate-bound login with throttling, for POP3S and IMAPS. Moved out
 * of pop3_sess.c when IMAP came, so both refuse the same way and share one throttle.
 */
#include "proto/gate_login.h"

#include <stdio.h>
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

void gate_login_init(struct gate_login *g, const char *proto, struct conn *c,
		     const struct gate_env *env)
{
	memset(g, 0, sizeof(*g));
	g->proto = proto;
	g->c = c;
	g->env = env;
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

static enum gate_login_result gate_failed(struct gate_login *g, const char *name, const char *why,
					  uint32_t *delay_ms, bool *close)
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
	return GATE_LOGIN_FAILED;
}

enum gate_login_result gate_login_check(struct gate_login *g, const uint8_t *name, size_t namelen,
					const uint8_t *pw, size_t pwlen, struct passwd_addr *a,
					uint32_t *delay_ms, bool *close)
{
	char kc[GATE_THROTTLE_KEY_MAX], ka[GATE_THROTTLE_KEY_MAX], shown[PASSWD_ADDR_MAX + 2];
	char id[TLS_IDENTITY_MAX], want[PASSWD_ADDR_MAX + 2], why[TLS_IDENTITY_MAX + 64];
	uint64_t now = loop_now_ms(g->c->loop);
	uint32_t delay;
	int rc;

	*delay_ms = 0;
	*close = false;
	log_safe(shown, sizeof(shown), name, namelen);
	gate_throttle_keys(g, kc, ka);
	if (throttle_check(g->env->throttle, kc, strlen(kc), now, &delay) == -MGW_ELIMIT ||
	    throttle_check(g->env->throttle, ka, strlen(ka), now, &delay) == -MGW_ELIMIT) {
		log_warn("%s %s: login refused for '%s': too many failures for this certificate "
			 "or address; subject %s; serial %s",
			 g->proto, g->c->peer, shown, g->subject, g->serial);
		return GATE_LOGIN_LIMIT;
	}
	if (passwd_addr_parse((const char *)name, namelen, a) != MGW_PARSE_OK)
		return gate_failed(g, shown, "not a valid user@domain", delay_ms, close);
	snprintf(want, sizeof(want), "%s@%s", a->user, a->domain);
	rc = g->env->peer->identity(conn_tls_ctx(g->c), g->env->identity, id, sizeof(id));
	if (rc == -MGW_ENOENT || rc == -MGW_EINVAL) {
		/* CVE-2019-3814: no identity in the certificate is a refusal, never a fall-back
		 * to the typed name. */
		snprintf(why, sizeof(why), "the certificate has no usable %s identity",
			 tls_identity_name(g->env->identity));
		return gate_failed(g, shown, why, delay_ms, close);
	}
	if (rc == 0 && strcasecmp(id, want) != 0) {
		char safe[TLS_IDENTITY_MAX];

		log_safe(safe, sizeof(safe), id, strlen(id));
		snprintf(why, sizeof(why), "the certificate belongs to '%s'", safe);
		return gate_failed(g, shown, why, delay_ms, close);
	}
	rc = passwd_auth(g->env->data_dir, a->domain, a->user, (const char *)pw, pwlen,
			 g->env->passwd_flags);
	if (rc == -MGW_EIO) {
		/* A local fault (the passwd-file unreadable, logged with its path): not the
		 * user's mistake, so no failed login is counted. */
		log_err("%s %s: login of '%s' not checked: the passwd-file of %s cannot be read",
			g->proto, g->c->peer, shown, a->domain);
		return GATE_LOGIN_TEMP;
	}
	if (rc < 0)
		return gate_failed(g, shown,
				   rc == -MGW_EAUTH ? "wrong password or unknown user"
						    : mgw_strerror(rc),
				   delay_ms, close);
	throttle_success(g->env->throttle, kc, strlen(kc));
	throttle_success(g->env->throttle, ka, strlen(ka));
	return GATE_LOGIN_OK;
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
