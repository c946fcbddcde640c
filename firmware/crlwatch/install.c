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
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include "admin/layout.h"
#include "core/err.h"
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

int cw_installed(const struct cw *cw, time_t now, time_t *next_update, char *why, size_t whysz)
{
	char issuer[PKI_CRL_ISSUER_MAX];

	(void)now;
	return pki_crl_set_next(cw->cfg.tls_crl, cw->cfg.tls_ca, next_update, issuer,
				sizeof(issuer), why, whysz);
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

static int cw_offer_locked(struct cw *cw, const void *data, size_t len, const char *source,
			   time_t now, char *why, size_t whysz)
{
	struct pki_crl_policy pol = {.max_size = (size_t)cw->cfg.crlwatch_max_size,
				     .skew_s = cw->cfg.crlwatch_skew};
	struct pki_crl_cand cand;
	struct layout l = {.dirfd = -1};
	char rel[LAYOUT_PATH_MAX], msg[LAYOUT_MSG_MAX], rwhy[CW_WHY_MAX];
	char *old = NULL;
	size_t old_len = 0;
	int rc, v;

	memset(&cand, 0, sizeof(cand));
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
	v = pki_crl_candidate(cw->cfg.tls_ca, data, len, old, old_len, &pol, now, &cand, source,
			      why, whysz);
	if (v < 0) {
		rc = v;
		log_warn("CRL from %s refused: %s (the installed CRL stays)", source, why);
		goto out;
	}
	if (v == PKI_CRL_SAME) {
		log_info("CRL from %s is the installed one (number %s): nothing to do", source,
			 cand.number[0] ? cand.number : "none");
		rc = 0;
		goto out;
	}
	/* the file is replaced as a whole: this CA's CRL in place of its old one (never
	 * appended), the other configured CAs' CRLs as they were */
	rc = cw_write(&l, rel, cand.set, cand.set_len, why, whysz);
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
		 source, cw->cfg.tls_crl, cand.number[0] ? cand.number : "none", cand.revoked,
		 (long long)(cand.next_update - now) / 3600, rc == 0 ? ", mailgwd reloaded" : "");
	if (cand.kept || cand.dropped)
		log_info("CRL from %s is the CRL of '%s'; %u other CA%s CRL%s kept, %u of no "
			 "configured CA left out",
			 source, cand.issuer, cand.kept, cand.kept == 1 ? "'s" : "s'",
			 cand.kept == 1 ? "" : "s", cand.dropped);
	cw->st.last_refresh = now;
	snprintf(cw->st.last_source, sizeof(cw->st.last_source), "%s", source);
	/* the countdown follows the CRL that ends first, of whichever CA */
	if (cw_installed(cw, now, &cw->st.next_update, rwhy, sizeof(rwhy)) < 0)
		cw->st.next_update = cand.next_update;
	rc = 1;
out:
	if (rc < 0) {
		snprintf(cw->st.last_error, sizeof(cw->st.last_error), "%s", why);
		cw->st.last_error_at = now;
	}
	pki_crl_cand_free(&cand);
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
	int rc = cw_offer_locked(cw, data, len, source, now, why, whysz);

	if (lock >= 0)
		close(lock);
	return rc;
}
