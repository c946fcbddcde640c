/*
 * install.c - the one validation and install path of crlwatch (crlwatch.h, cw_offer),
 * and the control socket client that tells mailgwd to reload.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include "admin/layout.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "crlwatch.h"
#include "pki/crlcheck.h"

#define CW_CTL_TIMEOUT_MS 30000
#define CW_CTL_REPLY_MAX 4096

/* [tls] crl relative to data_dir: the layout writes only the paths of its table. */
static int cw_crl_rel(const struct mgw_cfg *cfg, char rel[LAYOUT_PATH_MAX], char *why, size_t whysz)
{
	size_t n = strlen(cfg->data_dir);

	while (n > 1 && cfg->data_dir[n - 1] == '/')
		n--;
	if (cfg->tls_crl[0] == '\0') {
		snprintf(why, whysz, "%s: [tls] crl is not set", cfg->path);
		return -MGW_ECONFIG;
	}
	if (strncmp(cfg->tls_crl, cfg->data_dir, n) != 0 || cfg->tls_crl[n] != '/' ||
	    layout_find(cfg->tls_crl + n + 1) == NULL) {
		snprintf(why, whysz,
			 "%s: [tls] crl %s is not a file of the data layout (%s/etc/tls/crl.pem)",
			 cfg->path, cfg->tls_crl, cfg->data_dir);
		return -MGW_ECONFIG;
	}
	snprintf(rel, LAYOUT_PATH_MAX, "%s", cfg->tls_crl + n + 1);
	return 0;
}

int cw_control(const char *socket_path, const char *cmd, char *why, size_t whysz)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char reply[CW_CTL_REPLY_MAX];
	size_t used = 0;
	int fd, rc = -MGW_EIO;

	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		snprintf(why, whysz, "%.256s...: path too long", socket_path);
		return -MGW_EIO;
	}
	memcpy(sun.sun_path, socket_path, strlen(socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(why, whysz, "cannot reach mailgwd at %s: %s", socket_path,
			 strerror(errno));
		goto out;
	}
	if (dprintf(fd, "%s\n", cmd) < 0) {
		snprintf(why, whysz, "%s: write failed: %s", socket_path, strerror(errno));
		goto out;
	}
	/* the reply ends with a line "OK" or "ERR reason" */
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char *line;
		ssize_t n;

		if (poll(&p, 1, CW_CTL_TIMEOUT_MS) <= 0) {
			snprintf(why, whysz, "%s: no reply", socket_path);
			goto out;
		}
		n = read(fd, reply + used, sizeof(reply) - 1 - used);
		if (n <= 0) {
			snprintf(why, whysz, "%s: the reply ended early", socket_path);
			goto out;
		}
		used += (size_t)n;
		reply[used] = '\0';
		line = reply;
		for (char *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			*nl = '\0';
			if (strcmp(line, "OK") == 0) {
				rc = 0;
				goto out;
			}
			if (strncmp(line, "ERR", 3) == 0) {
				snprintf(why, whysz, "mailgwd: %s", line[3] ? line + 4 : line);
				rc = -MGW_EINVAL;
				goto out;
			}
		}
		/* keep the unfinished line only */
		used = strlen(line);
		memmove(reply, line, used + 1);
		if (used >= sizeof(reply) - 1) {
			snprintf(why, whysz, "%s: reply line too long", socket_path);
			goto out;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * Everything that parses CRL bytes runs in the unprivileged child (jail.c): the
 * candidate's validation (cw_check_job) and the reading of the installed file
 * (cw_installed_job). The root process only moves bytes: it reads the CA file and the
 * installed CRL, hands them over, and writes the file the child composed once a cheap
 * check that needs no parser (cw_pem_crls) passed. README "crlwatch", privileges, says
 * why that is enough.
 */
#define CW_JAIL_TIMEOUT_S 30 /* one validation, wall clock */
/* the file to install: one PEM CRL per configured CA, each at most max_size as DER */
#define CW_SET_MAX (8u * PKI_CRL_SIZE_MAX)

/* The CA file's bytes (trusted: the admin's), read as root before the child drops. */
static int cw_ca_read(const struct cw *cw, char **ca, size_t *ca_len, char *why, size_t whysz)
{
	int rc = file_read_all(cw->cfg.tls_ca, PKI_CRL_SIZE_MAX, ca, ca_len);

	if (rc < 0)
		snprintf(why, whysz, "%s: not a readable certificate file", cw->cfg.tls_ca);
	return rc;
}

struct cw_installed_job {
	const struct cw *cw;
	const char *crl, *ca;
	size_t crl_len, ca_len;
};

struct cw_installed_res {
	time_t next;
	char why[CW_WHY_MAX];
};

static int cw_installed_job(void *arg, void *res, char **data, size_t *len)
{
	const struct cw_installed_job *a = arg;
	struct cw_installed_res *r = res;
	struct pki_crl_ca ca = {.data = a->ca, .len = a->ca_len, .name = a->cw->cfg.tls_ca};
	char issuer[PKI_CRL_ISSUER_MAX];

	(void)data;
	(void)len;
	return pki_crl_set_next(a->crl, a->crl_len, a->cw->cfg.tls_crl, &ca, &r->next, issuer,
				sizeof(issuer), r->why, sizeof(r->why));
}

int cw_installed(const struct cw *cw, time_t now, time_t *next_update, char *why, size_t whysz)
{
	struct cw_jail j = {.name = "installed",
			    .what = cw->cfg.tls_crl,
			    .keep_fd = -1,
			    .timeout_s = CW_JAIL_TIMEOUT_S};
	struct cw_installed_job a = {.cw = cw};
	struct cw_installed_res r;
	char *crl = NULL, *ca = NULL, *none = NULL;
	size_t none_len;
	int rc, job_rc;

	(void)now;
	*next_update = 0;
	rc = file_read_all(cw->cfg.tls_crl, CW_SET_MAX, &crl, &a.crl_len);
	if (rc < 0) {
		snprintf(why, whysz, "%s: cannot read", cw->cfg.tls_crl);
		rc = -MGW_ENOENT;
		goto out;
	}
	rc = cw_ca_read(cw, &ca, &a.ca_len, why, whysz);
	if (rc < 0) {
		rc = -MGW_ENOENT;
		goto out;
	}
	a.crl = crl;
	a.ca = ca;
	rc = cw_jail_run(&j, cw_installed_job, &a, &r, sizeof(r), 0, &none, &none_len, &job_rc, why,
			 whysz);
	free(none);
	if (rc < 0) {
		rc = -MGW_ENOENT;
		goto out;
	}
	r.why[sizeof(r.why) - 1] = '\0';
	rc = job_rc < 0 ? -MGW_ENOENT : 0;
	if (rc < 0)
		log_safe(why, whysz, r.why, strlen(r.why));
	else
		*next_update = r.next;
out:
	free(crl);
	free(ca);
	return rc;
}

/* Writes data as the installed CRL. */
static int cw_write(const struct layout *l, const char *rel, const void *data, size_t len,
		    char *why, size_t whysz)
{
	char msg[LAYOUT_MSG_MAX];
	int rc = layout_write(l, rel, data, len, msg, sizeof(msg));

	if (rc < 0)
		snprintf(why, whysz, "%s", msg);
	return rc;
}

/*
 * The one check the root process makes on what the child composed, without a parser:
 * nothing but PEM "X509 CRL" blocks (header, lines of base64 of at most 76 characters,
 * footer), at least one. It keeps a compromised child from making root write anything
 * but what mailgwd's loader expects; that loader then checks every CRL (README).
 */
static bool cw_pem_crls(const char *p, size_t len)
{
	static const char begin[] = "-----BEGIN X509 CRL-----", end[] = "-----END X509 CRL-----";
	const char *e = p + len;
	bool in = false;
	unsigned blocks = 0;

	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t l;

		if (nl == NULL)
			return false; /* every line ends with LF */
		l = (size_t)(nl - p);
		if (!in && l == sizeof(begin) - 1 && memcmp(p, begin, l) == 0)
			in = true;
		else if (in && l == sizeof(end) - 1 && memcmp(p, end, l) == 0) {
			in = false;
			blocks++;
		} else if (!in || l == 0 || l > 76)
			return false;
		else {
			for (size_t i = 0; i < l; i++) {
				char c = p[i];

				if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				      (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
					return false;
			}
		}
		p = nl + 1;
	}
	return !in && blocks > 0;
}

/* The candidate's validation in the unprivileged child: the candidate's bytes (or its
 * fd, read here), the CA file and the installed CRL as root read them. */
struct cw_check_job {
	const struct cw *cw;
	const void *data;
	size_t len;
	int fd;
	const char *source;
	const char *ca, *old;
	size_t ca_len, old_len;
	time_t now;
};

/* What the child says. Untrusted: cw_offer_locked terminates and sanitises the strings. */
struct cw_check_res {
	time_t next_update;
	size_t revoked;
	unsigned kept, dropped;
	char number[PKI_SERIAL_MAX];
	char issuer[PKI_CRL_ISSUER_MAX];
	char why[CW_WHY_MAX];
};

static int cw_check_job(void *arg, void *res, char **data, size_t *len)
{
	const struct cw_check_job *a = arg;
	struct cw_check_res *r = res;
	size_t max = (size_t)a->cw->cfg.crlwatch_max_size;
	struct pki_crl_policy pol = {.max_size = max, .skew_s = a->cw->cfg.crlwatch_skew};
	struct pki_crl_ca ca = {.data = a->ca, .len = a->ca_len, .name = a->cw->cfg.tls_ca};
	struct pki_crl_cand cand;
	const void *cdata = a->data;
	size_t clen = a->len;
	char *file = NULL;
	int rc;

	if (a->fd >= 0) {
		rc = file_read_fd(a->fd, max, &file, &clen);
		if (rc == -MGW_ELIMIT)
			snprintf(r->why, sizeof(r->why),
				 "%s: larger than the limit of %zu bytes ([crlwatch] max_size)",
				 a->source, max);
		else if (rc < 0)
			snprintf(r->why, sizeof(r->why), "%s: not a readable regular file",
				 a->source);
		if (rc < 0)
			return rc;
		cdata = file;
	}
	rc = pki_crl_candidate(&ca, cdata, clen, a->old, a->old_len, &pol, a->now, &cand, a->source,
			       r->why, sizeof(r->why));
	free(file);
	if (rc < 0)
		return rc;
	r->next_update = cand.next_update;
	r->revoked = cand.revoked;
	r->kept = cand.kept;
	r->dropped = cand.dropped;
	memcpy(r->number, cand.number, sizeof(r->number));
	memcpy(r->issuer, cand.issuer, sizeof(r->issuer));
	*data = cand.set;
	*len = cand.set_len;
	cand.set = NULL;
	pki_crl_cand_free(&cand);
	return rc;
}

/* Terminates the child's strings and takes out anything that could forge a log or
 * console line. */
static void cw_check_res_safe(struct cw_check_res *r)
{
	char t[CW_WHY_MAX];

	r->why[sizeof(r->why) - 1] = '\0';
	r->number[sizeof(r->number) - 1] = '\0';
	r->issuer[sizeof(r->issuer) - 1] = '\0';
	snprintf(t, sizeof(t), "%s", r->why);
	log_safe(r->why, sizeof(r->why), t, strlen(t));
	snprintf(t, sizeof(t), "%s", r->number);
	log_safe(r->number, sizeof(r->number), t, strlen(t));
	snprintf(t, sizeof(t), "%s", r->issuer);
	log_safe(r->issuer, sizeof(r->issuer), t, strlen(t));
}

static int cw_offer_locked(struct cw *cw, const void *data, size_t len, int fd, const char *source,
			   time_t now, char *why, size_t whysz)
{
	struct cw_check_job a = {
	    .cw = cw, .data = data, .len = len, .fd = fd, .source = source, .now = now};
	char what[CW_SOURCE_MAX + 32];
	struct cw_jail j = {
	    .name = "check", .what = what, .keep_fd = fd, .timeout_s = CW_JAIL_TIMEOUT_S};
	struct cw_check_res r;
	struct layout l = {.dirfd = -1};
	char rel[LAYOUT_PATH_MAX], msg[LAYOUT_MSG_MAX], rwhy[CW_WHY_MAX];
	char *old = NULL, *ca = NULL, *set = NULL;
	size_t old_len = 0, set_len = 0;
	int rc, v;

	snprintf(what, sizeof(what), "the CRL check of %s", source);
	if (!cw_clock_ok(cw, now, why, whysz)) {
		log_err("CRL from %s not considered: %s", source, why);
		snprintf(cw->st.last_error, sizeof(cw->st.last_error), "%s", why);
		cw->st.last_error_at = now;
		return -MGW_EPERM;
	}
	rc = cw_crl_rel(&cw->cfg, rel, why, whysz);
	if (rc < 0)
		return rc;
	rc = layout_open(&l, cw->cfg.data_dir, cw->cfg.user, msg, sizeof(msg));
	if (rc < 0) {
		snprintf(why, whysz, "%s", msg);
		return rc;
	}
	rc = layout_read(&l, rel, PKI_CRL_SIZE_MAX, &old, &old_len, msg, sizeof(msg));
	if (rc == -MGW_ENOENT)
		old_len = 0;
	else if (rc < 0) {
		snprintf(why, whysz, "%s", msg);
		goto out;
	}
	rc = cw_ca_read(cw, &ca, &a.ca_len, why, whysz);
	if (rc < 0) {
		rc = -MGW_EIO;
		log_warn("CRL from %s refused: %s (the installed CRL stays)", source, why);
		goto out;
	}
	a.ca = ca;
	a.old = old;
	a.old_len = old_len;
	/* root parses nothing of the candidate: the child validates and composes the file */
	rc = cw_jail_run(&j, cw_check_job, &a, &r, sizeof(r), CW_SET_MAX, &set, &set_len, &v, why,
			 whysz);
	if (rc < 0) {
		log_err("CRL from %s refused: %s; nothing installed (the installed CRL stays)",
			source, why);
		goto out;
	}
	cw_check_res_safe(&r);
	if (v < 0) {
		rc = v;
		snprintf(why, whysz, "%s", r.why);
		log_warn("CRL from %s refused: %s (the installed CRL stays)", source, why);
		goto out;
	}
	if (v == PKI_CRL_SAME) {
		log_info("CRL from %s is the installed one (number %s): nothing to do", source,
			 r.number[0] ? r.number : "none");
		rc = 0;
		goto out;
	}
	if (v != PKI_CRL_NEWER || !cw_pem_crls(set, set_len)) {
		rc = -MGW_EINVAL;
		snprintf(why, whysz, "%s: the check process answered what no check makes", what);
		log_err("CRL from %s refused: %s; nothing installed (the installed CRL stays)",
			source, why);
		goto out;
	}
	/* the file is replaced as a whole: this CA's CRL in place of its old one (never
	 * appended), the other configured CAs' CRLs as they were */
	rc = cw_write(&l, rel, set, set_len, why, whysz);
	if (rc < 0) {
		log_err("CRL from %s not installed: %s", source, why);
		goto out;
	}
	rc = cw_control(cw->cfg.control_socket, "reload", rwhy, sizeof(rwhy));
	if (rc == -MGW_EINVAL) {
		/* mailgwd refused the new files: put the previous CRL back and reload again */
		snprintf(why, whysz, "mailgwd refused the reload: %s", rwhy);
		log_err("CRL from %s: %s; the previous CRL is restored", source, why);
		if (old_len > 0 && cw_write(&l, rel, old, old_len, rwhy, sizeof(rwhy)) == 0)
			(void)cw_control(cw->cfg.control_socket, "reload", rwhy, sizeof(rwhy));
		goto out;
	}
	if (rc < 0)
		log_warn("CRL installed but mailgwd was not told: %s (it reads the CRL when it "
			 "starts)",
			 rwhy);
	log_info("CRL from %s installed as %s: number %s, %zu revoked, next update in %lld h%s",
		 source, cw->cfg.tls_crl, r.number[0] ? r.number : "none", r.revoked,
		 (long long)(r.next_update - now) / 3600, rc == 0 ? ", mailgwd reloaded" : "");
	if (r.kept || r.dropped)
		log_info("CRL from %s is the CRL of '%s'; %u other CA%s CRL%s kept, %u of no "
			 "configured CA left out",
			 source, r.issuer, r.kept, r.kept == 1 ? "'s" : "s'",
			 r.kept == 1 ? "" : "s", r.dropped);
	cw->st.last_refresh = now;
	snprintf(cw->st.last_source, sizeof(cw->st.last_source), "%s", source);
	/* the countdown follows the CRL that ends first, of whichever CA */
	if (cw_installed(cw, now, &cw->st.next_update, rwhy, sizeof(rwhy)) < 0)
		cw->st.next_update = r.next_update;
	rc = 1;
out:
	if (rc < 0) {
		snprintf(cw->st.last_error, sizeof(cw->st.last_error), "%s", why);
		cw->st.last_error_at = now;
	}
	free(set);
	free(ca);
	free(old);
	layout_close(&l);
	return rc;
}

/* One install at a time (the watchdog and a `crlwatch install` on the console): the
 * rollback check must see the CRL the other one installed. The fd, or -1 (then no lock:
 * logged, the install goes on). */
static int cw_lock(const struct cw *cw)
{
	char path[CFG_STR_MAX + 8];
	int fd;

	snprintf(path, sizeof(path), "%s.lock", cw->cfg.crlwatch_state);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		log_warn("%s: no lock: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int cw_offer(struct cw *cw, const void *data, size_t len, const char *source, time_t now, char *why,
	     size_t whysz)
{
	int lock = cw_lock(cw);
	int rc = cw_offer_locked(cw, data, len, -1, source, now, why, whysz);

	if (lock >= 0)
		close(lock);
	return rc;
}

int cw_offer_fd(struct cw *cw, int fd, const char *source, time_t now, char *why, size_t whysz)
{
	int lock = cw_lock(cw);
	int rc = cw_offer_locked(cw, NULL, 0, fd, source, now, why, whysz);

	if (lock >= 0)
		close(lock);
	return rc;
}
