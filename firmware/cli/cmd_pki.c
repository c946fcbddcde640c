/*
 * cmd_pki.c - the office CA and the TLS files: ca create|import|show, cert
 * issue|sign|list|show|revoke, crl show|import|refresh, tls show (pki/pki.h).
 *
 * The CA lives in <data_dir>/ca (root only); what mailgwd reads is installed from it into
 * <data_dir>/etc/tls (ca.crt, crl.pem) through the layout, then mailgwd reloads; when it
 * refuses, the old files go back (apply.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "apply.h"
#include "cfg/cfg.h"
#include "core/err.h"
#include "core/file.h"
#include "core/num.h"
#include "pki/pki.h"
#include "tls/keygen.h"

#define PKI_CA_REL "ca"
#define PKI_PEM_MAX (1024 * 1024)

static void pki_path(struct cons *c, const char *rel, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%s", c->data_dir, rel);
}

static void pki_date(time_t t, char *out, size_t outsz)
{
	strftime(out, outsz, "%Y-%m-%d %H:%M UTC", gmtime(&t));
}

/* [crlwatch] ca_dir: crlwatch re-signs the built-in CA's CRL before nextUpdate when the
 * CA's key is on the gateway (signer 1); with an imported CA without its key (signer 0)
 * there is nothing to re-sign and the setting goes. */
static int pki_crlwatch_signer(struct cons *c, const struct layout *l, const struct mgw_cfg *cfg,
			       int signer, char *msg, size_t msgsz)
{
	char dir[512];
	int rc;

	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	if (signer < 0 || (signer == 1 && strcmp(cfg->crlwatch_ca_dir, dir) == 0) ||
	    (signer == 0 && cfg->crlwatch_ca_dir[0] == '\0'))
		return 0;
	rc = admin_conf_set(l, "crlwatch", "ca_dir", signer == 1 ? dir : NULL, msg, msgsz);
	if (rc == 0)
		cons_out(c, "%s",
			 signer == 1 ? msg
				     : "[crlwatch] ca_dir removed (no CA key to re-sign "
				       "the CRL with: import its CRLs)");
	return rc;
}

/* Installs PEM text as etc/tls/<name> and reloads; rolled back when mailgwd refuses.
 * signer: pki_crlwatch_signer(). */
static int pki_install(struct cons *c, const char *const *names, const char *const *pems,
		       const size_t *lens, size_t n, int signer, const char *done)
{
	static struct mgw_cfg cfg;
	char msg[LAYOUT_MSG_MAX], rel[4][LAYOUT_PATH_MAX], path[512], why[256];
	struct apply_snap s[5];
	struct layout l;
	int rc = apply_open(c, &l);

	if (rc != CONS_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		snprintf(rel[i], sizeof(rel[i]), "etc/tls/%s", names[i]);
		apply_snap(&l, &s[i], rel[i]);
	}
	apply_snap(&l, &s[n], "etc/mailgw.conf");
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = layout_write(&l, rel[i], pems[i], lens[i], msg, sizeof(msg));
	/* mailgwd checks client certificates once [tls] ca and crl name the installed files */
	if (rc == 0 && cfg_load(c->conf_path, &cfg, why, sizeof(why)) == 0) {
		static const char *const keys[] = {"ca", "crl"};
		const char *have[] = {cfg.tls_ca, cfg.tls_crl};

		for (size_t i = 0; i < 2 && rc == 0; i++) {
			snprintf(path, sizeof(path), "%s/etc/tls/%s", c->data_dir,
				 i == 0 ? "ca.crt" : "crl.pem");
			if (strcmp(have[i], path) != 0)
				rc = admin_conf_set(&l, "tls", keys[i], path, msg, sizeof(msg));
		}
		if (rc == 0)
			rc = pki_crlwatch_signer(c, &l, &cfg, signer, msg, sizeof(msg));
	}
	if (rc == 0)
		snprintf(msg, sizeof(msg), "%s", done);
	return apply_finish(c, &l, rc, msg, s, n + 1);
}

/* Reads a file of the CA directory (ca.crt, crl.pem) into a new buffer. */
static int pki_ca_file(struct cons *c, const char *name, char **pem, size_t *len)
{
	char path[512];
	int rc;

	snprintf(path, sizeof(path), "%s/%s/%s", c->data_dir, PKI_CA_REL, name);
	rc = file_read_all(path, PKI_PEM_MAX, pem, len);
	if (rc < 0)
		cons_err(c, "%s: %s", path, mgw_strerror(rc));
	return rc;
}

/* Installs the CA certificate and its CRL from the CA directory. */
static int pki_install_ca(struct cons *c, bool has_key, const char *done)
{
	static const char *const names[] = {"ca.crt", "crl.pem"};
	char *pem[2] = {NULL, NULL};
	size_t len[2] = {0, 0};
	int rc = CONS_ERROR;

	if (pki_ca_file(c, "ca.crt", &pem[0], &len[0]) == 0 &&
	    pki_ca_file(c, "crl.pem", &pem[1], &len[1]) == 0)
		rc = pki_install(c, names, (const char *const *)pem, len, 2, has_key ? 1 : 0, done);
	free(pem[0]);
	free(pem[1]);
	return rc;
}

static void pki_show_ca(struct cons *c, const struct pki_ca_info *in, bool key)
{
	char a[40], b[40];

	pki_date(in->not_before, a, sizeof(a));
	pki_date(in->not_after, b, sizeof(b));
	cons_out(c, "CA: %s", in->subject);
	cons_out(c, "  valid %s to %s", a, b);
	cons_out_fp(c, "  SHA256 fingerprint", in->fp);
	if (key)
		cons_out(c, "  key on the gateway: %s", in->has_key ? "yes (it can sign)" : "no");
}

/* Commands of the CA need one: a clear refusal instead of the CA directory's ENOENT. */
static int pki_need_ca(struct cons *c)
{
	struct pki_ca_info in;
	char dir[512], why[PKI_WHY_MAX];
	int rc;

	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	rc = pki_ca_info(dir, time(NULL), &in, why, sizeof(why));
	if (rc == -MGW_ENOENT) {
		cons_err(c, "no office CA yet ('ca create' or 'ca import')");
		return CONS_REFUSED;
	}
	if (rc < 0) {
		cons_err(c, "%s", why);
		return apply_status(rc);
	}
	return CONS_OK;
}

/* ---- ca ------------------------------------------------------------------------------- */

/* An office CA is there already: replacing it is asked with a typed word (every
 * certificate it issued stops working), and the old one is kept in ca/replaced-DATE.
 * 0 with *flags set (PKI_F_REPLACE when there was one), -1 when the admin declined. */
static int pki_replace_ok(struct cons *c, unsigned *flags)
{
	struct pki_ca_info in;
	char dir[512], why[PKI_WHY_MAX];

	*flags = 0;
	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	if (pki_ca_info(dir, time(NULL), &in, why, sizeof(why)) == -MGW_ENOENT)
		return 0;
	cons_out(c, "There is an office CA already (%s): the certificates it issued stop",
		 in.subject);
	cons_out(c, "working when it is replaced; it is kept in %s/replaced-DATE.", dir);
	if (!cons_confirm_typed(c, "Replace the office CA?", "replace")) {
		cons_out(c, "cancelled: the office CA stays");
		return -1;
	}
	*flags = PKI_F_REPLACE;
	return 0;
}

static int cmd_ca_create(struct cons *c)
{
	struct pki_ca_info in;
	char dir[512], why[PKI_WHY_MAX];
	unsigned flags;
	int rc;

	if (pki_replace_ok(c, &flags) < 0)
		return CONS_REFUSED;
	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	rc = pki_ca_create(dir, cons_arg(c, "NAME"), 0, flags, time(NULL), &in, why, sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s", why);
		return apply_status(rc);
	}
	pki_show_ca(c, &in, true);
	rc = pki_install_ca(c, true, "office CA created and installed with its CRL");
	return rc;
}

static int cmd_ca_import(struct cons *c)
{
	const char *crt = cons_arg(c, "FILE"), *key = cons_arg(c, "key"), *crl = cons_arg(c, "crl");
	struct pki_ca_info in;
	char dir[512], why[PKI_WHY_MAX];
	unsigned flags;
	int rc;

	rc = pki_ca_inspect(crt, key, time(NULL), &in, why, sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s", why);
		return apply_status(rc);
	}
	pki_show_ca(c, &in, true);
	if (!cons_confirm(c, "Is this the office CA (compare the fingerprint)?")) {
		cons_out(c, "cancelled");
		return CONS_REFUSED;
	}
	if (pki_replace_ok(c, &flags) < 0)
		return CONS_REFUSED;
	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	rc = pki_ca_import(dir, crt, key, crl, 0, flags, time(NULL), &in, why, sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s", why);
		return apply_status(rc);
	}
	if (!in.has_crl) {
		cons_out(c, "imported; it has no CRL yet: 'crl import FILE' before it can be used");
		return CONS_OK;
	}
	rc = pki_install_ca(c, in.has_key, "office CA imported and installed with its CRL");
	return rc;
}

static int cmd_ca_show(struct cons *c)
{
	struct pki_ca_info in;
	char dir[512], why[PKI_WHY_MAX];
	int rc;

	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	rc = pki_ca_info(dir, time(NULL), &in, why, sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s",
			 rc == -MGW_ENOENT ? "no office CA yet ('ca create' or 'ca import')" : why);
		return apply_status(rc);
	}
	pki_show_ca(c, &in, true);
	return CONS_OK;
}

/* ---- cert ------------------------------------------------------------------------------ */

static int pki_years(struct cons *c, unsigned *years)
{
	const char *s = cons_arg(c, "years");
	uint32_t y = 1;

	if (s != NULL && (!num_parse_u32(s, strlen(s), &y) || y < PKI_CERT_YEARS_MIN ||
			  y > PKI_CERT_YEARS_MAX)) {
		cons_err(c, "years: %d to %d", PKI_CERT_YEARS_MIN, PKI_CERT_YEARS_MAX);
		return -1;
	}
	*years = y;
	return 0;
}

/* The port of a listen address ("0.0.0.0:995", "[::]:995"); 0 for "off" or none. */
static unsigned pki_listen_port(const char *listen)
{
	const char *colon = strrchr(listen, ':');
	uint32_t port = 0;

	if (colon == NULL || !num_parse_u32(colon + 1, strlen(colon + 1), &port) || port > 65535)
		return 0;
	return port;
}

/* Writes the user's bundle to the folder given with `to`, or prints the PEMs. */
static int pki_deliver(struct cons *c, const struct pki_issued *is)
{
	static struct mgw_cfg cfg;
	const char *to = cons_arg(c, "to");
	char cadir[512], srv[512], pass[PKI_PASS_MAX], why[PKI_WHY_MAX], err[256];
	struct pki_bundle_opts o = {0};
	int rc;

	cons_out(c, "certificate for %s, serial %s", is->login, is->serial);
	cons_out_fp(c, "SHA256 fingerprint", is->fp);
	if (to == NULL) {
		cons_out(c, "%s", is->crt_pem);
		if (is->key_pem != NULL)
			cons_out(c, "%s", is->key_pem);
		return CONS_OK;
	}
	if (cfg_load(c->conf_path, &cfg, err, sizeof(err)) < 0)
		cfg_defaults(&cfg);
	pki_path(c, PKI_CA_REL, cadir, sizeof(cadir));
	pki_path(c, "etc/tls/server.crt", srv, sizeof(srv));
	o.host = cfg.hostname;
	o.pop3s_port = pki_listen_port(cfg.pop3s_listen);
	o.imaps_port = pki_listen_port(cfg.imaps_listen);
	o.server_crt = access(srv, R_OK) == 0 ? srv : NULL;
	rc = pki_bundle_write(to, cadir, is, &o, pass, why, sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s", why);
		return apply_status(rc) == CONS_REFUSED ? CONS_REFUSED : CONS_ERROR;
	}
	cons_out(c, "bundle written to %s", to);
	if (pass[0] != '\0')
		cons_out(c, "passphrase of the .p12 (shown only now): %s", pass);
	memset(pass, 0, sizeof(pass));
	return CONS_OK;
}

static int pki_need_user(struct cons *c, const char *login)
{
	struct layout l;
	bool ok;

	if (apply_open(c, &l) != CONS_OK)
		return CONS_ERROR;
	ok = login != NULL && admin_user_exists(&l, login);
	layout_close(&l);
	if (!ok) {
		cons_err(c, "no user %s ('user add' first)", login != NULL ? login : "");
		return CONS_REFUSED;
	}
	return CONS_OK;
}

static int cmd_cert_issue(struct cons *c)
{
	const char *login = cons_arg(c, "USER"), *csr = cons_arg(c, "CSR");
	struct pki_issued is = {0};
	char dir[512], why[PKI_WHY_MAX];
	unsigned years;
	int rc;

	if (pki_years(c, &years) < 0 || pki_need_ca(c) != CONS_OK)
		return CONS_REFUSED;
	rc = pki_need_user(c, login);
	if (rc != CONS_OK)
		return rc;
	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	rc = csr != NULL ? pki_cert_sign(dir, login, csr, years, time(NULL), &is, why, sizeof(why))
			 : pki_cert_issue(dir, login, years, time(NULL), &is, why, sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s", why);
		pki_issued_free(&is);
		return apply_status(rc);
	}
	rc = pki_deliver(c, &is);
	pki_issued_free(&is);
	return rc;
}

/* Completion: the serials of the database (cert show, cert revoke). */
void cmd_pki_serials(struct cons *c, cons_add_fn add, void *arg)
{
	struct pki_cert_entry *e = NULL;
	char dir[512], why[PKI_WHY_MAX];
	size_t n = 0;

	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	if (pki_cert_list(dir, time(NULL), &e, &n, why, sizeof(why)) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		add(arg, e[i].serial, NULL);
	free(e);
}

static int cmd_cert_list(struct cons *c)
{
	struct pki_cert_entry *e = NULL;
	char dir[512], why[PKI_WHY_MAX], until[40];
	size_t n = 0;
	int rc;

	if (pki_need_ca(c) != CONS_OK)
		return CONS_REFUSED;

	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	rc = pki_cert_list(dir, time(NULL), &e, &n, why, sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s", why);
		return apply_status(rc);
	}
	for (size_t i = 0; i < n; i++) {
		strftime(until, sizeof(until), "%Y-%m-%d", gmtime(&e[i].not_after));
		cons_out(c, "%-7s until %s  %s",
			 e[i].status == 'V'   ? "valid"
			 : e[i].status == 'R' ? "revoked"
					      : "expired",
			 until, e[i].login);
		cons_out(c, "        serial %s", e[i].serial);
	}
	if (n == 0)
		cons_out(c, "no certificates issued yet");
	free(e);
	return CONS_OK;
}

static int cmd_cert_show(struct cons *c)
{
	struct pki_cert_entry e;
	time_t nb;
	char dir[512], why[PKI_WHY_MAX], fp[PKI_FP_MAX], a[40], b[40], *pem = NULL;
	int rc;

	if (pki_need_ca(c) != CONS_OK)
		return CONS_REFUSED;

	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	rc = pki_cert_show(dir, cons_arg(c, "SERIAL"), time(NULL), &e, &nb, fp, &pem, why,
			   sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s", why);
		return apply_status(rc);
	}
	pki_date(nb, a, sizeof(a));
	pki_date(e.not_after, b, sizeof(b));
	cons_out(c, "serial: %s", e.serial);
	cons_out(c, "subject: %s", e.subject);
	cons_out(c, "valid: %s to %s", a, b);
	cons_out_fp(c, "SHA256 fingerprint", fp);
	if (e.status == 'R') {
		pki_date(e.revoked_at, a, sizeof(a));
		cons_out(c, "revoked: %s (%s)", a, pki_reason_name(e.reason));
	} else {
		cons_out(c, "status: %s", e.status == 'V' ? "valid" : "expired");
	}
	if (pem != NULL)
		cons_out(c, "%s", pem);
	free(pem);
	return CONS_OK;
}

/* A new CRL from the CA directory goes to etc/tls/crl.pem and mailgwd reloads. */
static int pki_install_crl(struct cons *c, char *pem, size_t len, const char *done)
{
	static const char *const names[] = {"crl.pem"};
	const char *pems[] = {pem};
	int rc = pki_install(c, names, pems, &len, 1, -1, done);

	free(pem);
	return rc;
}

static int cmd_cert_revoke(struct cons *c)
{
	const char *which = cons_arg(c, "WHICH"), *rs = cons_arg(c, "reason");
	enum pki_reason reason = PKI_REASON_UNSPECIFIED;
	char dir[512], why[PKI_WHY_MAX], q[LAYOUT_MSG_MAX], done[LAYOUT_MSG_MAX], *crl = NULL;
	unsigned count = 0;
	size_t len = 0;
	int rc;

	if (pki_need_ca(c) != CONS_OK)
		return CONS_REFUSED;

	if (rs != NULL && pki_reason_parse(rs, &reason) < 0) {
		cons_err(c, "reason: keyCompromise, affiliationChanged, superseded, "
			    "cessationOfOperation or unspecified");
		return CONS_REFUSED;
	}
	snprintf(q, sizeof(q), "Revoke %s? Its holder is refused from the next connection on.",
		 which);
	if (!cons_confirm(c, q)) {
		cons_out(c, "cancelled");
		return CONS_REFUSED;
	}
	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	rc = pki_cert_revoke(dir, which, reason, 0, time(NULL), &count, &crl, &len, why,
			     sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s", why);
		return apply_status(rc);
	}
	snprintf(done, sizeof(done), "%u certificate(s) revoked; the new CRL is installed", count);
	return pki_install_crl(c, crl, len, done);
}

/* ---- crl ------------------------------------------------------------------------------- */

static int cmd_crl_show(struct cons *c)
{
	struct pki_crl_info ci;
	char crl[512], ca[512], why[PKI_WHY_MAX], a[40], b[40];
	int rc;

	pki_path(c, "etc/tls/crl.pem", crl, sizeof(crl));
	pki_path(c, "etc/tls/ca.crt", ca, sizeof(ca));
	/* one CRL per CA of etc/tls/ca.crt */
	for (unsigned i = 0;; i++) {
		rc = pki_crl_show_nth(crl, ca, i, time(NULL), &ci, why, sizeof(why));
		if (rc == -MGW_ENOENT && i > 0)
			break;
		if (rc < 0) {
			cons_err(c, "%s", rc == -MGW_ENOENT ? "no CRL installed" : why);
			return apply_status(rc);
		}
		pki_date(ci.this_update, a, sizeof(a));
		pki_date(ci.next_update, b, sizeof(b));
		cons_out(c, "CRL of %s, number %s%s", ci.issuer,
			 ci.number[0] ? ci.number : "(none)",
			 ci.verified ? ", signature checked" : "");
		cons_out(c, "issued %s, next update %s", a, b);
		if (ci.seconds_left >= 0)
			cons_out(c, "expires in %lld days %lld hours", ci.seconds_left / 86400,
				 ci.seconds_left % 86400 / 3600);
		else
			cons_out(c, "EXPIRED %lld hours ago", -ci.seconds_left / 3600);
		for (size_t k = 0; k < ci.n; k++) {
			pki_date(ci.entries[k].revoked_at, a, sizeof(a));
			cons_out(c, "  %s revoked %.10s %s", ci.entries[k].serial, a,
				 pki_reason_name(ci.entries[k].reason));
		}
		pki_crl_info_free(&ci);
	}
	return CONS_OK;
}

static int cmd_crl_refresh(struct cons *c)
{
	char dir[512], why[PKI_WHY_MAX], *crl = NULL;
	bool resigned = false;
	size_t len = 0;
	int rc;

	if (pki_need_ca(c) != CONS_OK)
		return CONS_REFUSED;

	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	rc = pki_crl_refresh(dir, cons_arg(c, "now") != NULL ? 36500 : 0, 0, time(NULL), &resigned,
			     &crl, &len, why, sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s", why);
		return apply_status(rc);
	}
	if (!resigned) {
		cons_out(c,
			 "the CRL is current; nothing to do ('crl refresh now' re-signs anyway)");
		return CONS_OK;
	}
	return pki_install_crl(c, crl, len, "CRL re-signed and installed");
}

static int cmd_crl_import(struct cons *c)
{
	char dir[512], why[PKI_WHY_MAX], *crl = NULL;
	size_t len = 0;
	int rc;

	if (pki_need_ca(c) != CONS_OK)
		return CONS_REFUSED;

	pki_path(c, PKI_CA_REL, dir, sizeof(dir));
	rc = pki_crl_import(dir, cons_arg(c, "FILE"), time(NULL), &crl, &len, why, sizeof(why));
	if (rc < 0) {
		cons_err(c, "%s", why);
		return apply_status(rc);
	}
	return pki_install_crl(c, crl, len, "CRL imported and installed");
}

/* ---- tls ------------------------------------------------------------------------------- */

static int cmd_tls_show(struct cons *c)
{
	char path[512], fp[TLS_KEYGEN_FP_MAX], why[256];
	struct pki_ca_info in;

	pki_path(c, "etc/tls/server.crt", path, sizeof(path));
	if (tls_keygen_fingerprint(path, fp, why, sizeof(why)) == 0)
		cons_out_fp(c, "server certificate, SHA256 fingerprint", fp);
	else
		cons_out(c, "server certificate: %s", why);
	pki_path(c, "etc/tls/ca.crt", path, sizeof(path));
	if (pki_ca_inspect(path, NULL, time(NULL), &in, why, sizeof(why)) == 0)
		pki_show_ca(c, &in, false);
	else
		cons_out(c, "office CA: none installed (%s)", why);
	cmd_crl_show(c); /* "no CRL" is part of the picture, not a failure */
	return CONS_OK;
}

/* Installs the server key and certificate files as etc/tls/server.key and server.crt and
 * reboots: mailgwd reads its key only at start (as root, before the privilege drop). */
static int pki_server_install(struct cons *c, const char *key, const char *crt)
{
	char msg[LAYOUT_MSG_MAX], *pem[2] = {NULL, NULL};
	size_t len[2] = {0, 0};
	struct layout l;
	int rc = CONS_ERROR;

	if (file_read_all(key, PKI_PEM_MAX, &pem[0], &len[0]) < 0 ||
	    file_read_all(crt, PKI_PEM_MAX, &pem[1], &len[1]) < 0) {
		cons_err(c, "cannot read %s or %s", key, crt);
		goto out;
	}
	if (apply_open(c, &l) != CONS_OK)
		goto out;
	if (layout_write(&l, "etc/tls/server.key", pem[0], len[0], msg, sizeof(msg)) < 0 ||
	    layout_write(&l, "etc/tls/server.crt", pem[1], len[1], msg, sizeof(msg)) < 0) {
		cons_err(c, "%s", msg);
		layout_close(&l);
		goto out;
	}
	layout_close(&l);
	cons_out(c, "installed; rebooting so that mailgwd takes the new key");
	rc = cons_reboot(c);
out:
	if (pem[0] != NULL)
		memset(pem[0], 0, len[0]);
	free(pem[0]);
	free(pem[1]);
	return rc;
}

/* A new self-signed server identity, as on the first boot. */
static int cmd_tls_server_cert_generate(struct cons *c)
{
	static struct mgw_cfg cfg;
	char tmp[] = "/tmp/mailgw-keygen.XXXXXX", key[64], crt[64], fp[TLS_KEYGEN_FP_MAX];
	char why[256];
	int rc = CONS_ERROR;

	if (!cons_confirm(c, "Replace the server's key and certificate (users who checked the old "
			     "fingerprint must be told) and reboot?")) {
		cons_out(c, "cancelled");
		return CONS_REFUSED;
	}
	if (cfg_load(c->conf_path, &cfg, why, sizeof(why)) < 0)
		cfg_defaults(&cfg);
	if (mkdtemp(tmp) == NULL) {
		cons_err(c, "%s: %s", tmp, "cannot make a temporary folder");
		return CONS_ERROR;
	}
	snprintf(key, sizeof(key), "%s/server.key", tmp);
	snprintf(crt, sizeof(crt), "%s/server.crt", tmp);
	if (tls_keygen_selfsigned(key, crt, cfg.hostname, 3650, fp, why, sizeof(why)) < 0) {
		cons_err(c, "%s", why);
	} else {
		cons_out_fp(c, "new server certificate, SHA256 fingerprint", fp);
		rc = pki_server_install(c, key, crt);
	}
	unlink(key);
	unlink(crt);
	rmdir(tmp);
	return rc;
}

/* The server's identity from files (a USB key): fingerprint shown, the pair checked,
 * confirmation, then installed and a reboot. */
static int cmd_tls_server_cert_import(struct cons *c)
{
	const char *crt = cons_arg(c, "FILE"), *key = cons_arg(c, "KEY");
	char fp[TLS_KEYGEN_FP_MAX], why[512];

	if (tls_keygen_fingerprint(crt, fp, why, sizeof(why)) < 0 ||
	    tls_keygen_check_pair(key, crt, why, sizeof(why)) < 0) {
		cons_err(c, "%s", why);
		return CONS_REFUSED;
	}
	cons_out_fp(c, "certificate to import, SHA256 fingerprint", fp);
	if (!cons_confirm(c, "Make this the server's certificate and key, and reboot?")) {
		cons_out(c, "cancelled");
		return CONS_REFUSED;
	}
	return pki_server_install(c, key, crt);
}

const struct cons_cmd cons_cmds_pki[] = {
    {"tls server-cert import",
     "the server's certificate and key from files (USB key): fingerprint, confirm, reboot",
     cmd_tls_server_cert_import,
     {{"FILE", CONS_ARG, "the certificate (PEM, leaf first)"},
      {"KEY", CONS_ARG, "its private key (PEM, unencrypted)"},
      {NULL}}},
    {"tls server-cert generate",
     "a new self-signed server key and certificate (as the first boot), then reboot",
     cmd_tls_server_cert_generate,
     {{NULL}}},
    {"tls show", "the server certificate, the office CA and the CRL", cmd_tls_show, {{NULL}}},
    {"ca create",
     "make the office CA on the gateway (ECDSA P-256, 10 years) and install it",
     cmd_ca_create,
     {{"NAME", CONS_ARG_REST, "its name, e.g. Example Office CA"}, {NULL}}},
    {"ca import",
     "take an existing office CA (fingerprint shown, confirmation asked)",
     cmd_ca_import,
     {{"FILE", CONS_ARG, "CA certificate (PEM; or CAcrl-bundle: CA then CRL)"},
      {"key", CONS_ARG_VALUE, "its private key, for the gateway to sign"},
      {"crl", CONS_ARG_VALUE, "its CRL"},
      {NULL}}},
    {"ca show", "the office CA", cmd_ca_show, {{NULL}}},
    {"cert issue",
     "a key and a client certificate for a user; bundle to a folder (USB key)",
     cmd_cert_issue,
     {{"USER", CONS_ARG, "an existing user@domain"},
      {"years", CONS_ARG_VALUE, "validity, 1 to 3 (default 1)"},
      {"to", CONS_ARG_VALUE, "folder for the bundle (p12, PEMs, .fetchmailrc)"},
      {NULL}}},
    {"cert sign",
     "sign a user's CSR (the key stays on the user's machine)",
     cmd_cert_issue,
     {{"USER", CONS_ARG, "an existing user@domain"},
      {"CSR", CONS_ARG, "the CSR file (PEM or DER)"},
      {"years", CONS_ARG_VALUE, "validity, 1 to 3 (default 1)"},
      {"to", CONS_ARG_VALUE, "folder for the certificate bundle"}}},
    {"cert list", "the certificates issued, valid, revoked or expired", cmd_cert_list, {{NULL}}},
    {"cert show",
     "one certificate",
     cmd_cert_show,
     {{"SERIAL", CONS_ARG, "its serial (cert list)"}, {NULL}}},
    {"cert revoke",
     "revoke a certificate (or all of a user's) and install the new CRL",
     cmd_cert_revoke,
     {{"WHICH", CONS_ARG, "a serial, or user@domain for all of theirs"},
      {"reason", CONS_ARG_VALUE, "keyCompromise, affiliationChanged, superseded, ..."},
      {NULL}}},
    {"crl show", "the installed CRL and when it expires", cmd_crl_show, {{NULL}}},
    {"crl refresh",
     "re-sign the CRL when it is due (the built-in CA)",
     cmd_crl_refresh,
     {{"now", CONS_ARG_FLAG, "re-sign even when it is not due"}, {NULL}}},
    {"crl import",
     "install a new CRL of an imported CA",
     cmd_crl_import,
     {{"FILE", CONS_ARG, "the CRL (PEM or DER)"}, {NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
