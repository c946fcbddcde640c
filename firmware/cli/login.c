/*
 * login.c - the console's login: the admin password in <data_dir>/etc/console.passwd
 * (one SHA-crypt hash, "{SHA512-CRYPT}$6$rounds=...", root:root 0600; README "The /data
 * layout"). On a fresh /data there is none yet and the first login sets it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "console.h"
#include "core/err.h"
#include "mgw_config.h"
#include "apply.h"

#define LOGIN_TRIES 3
#define LOGIN_FAIL_DELAY 2 /* seconds after a wrong password */
#define LOGIN_HASH_MAX 256
#define LOGIN_MIN_LEN 8

#define LOGIN_REL "etc/console.passwd"

/* The stored hash, or "" when none is set (a fresh /data). -1 when it cannot be read. */
static int login_hash_read(const struct layout *l, char *hash, size_t hashsz)
{
	char *data = NULL, msg[LAYOUT_MSG_MAX];
	size_t len = 0;
	int rc = layout_read(l, LOGIN_REL, LOGIN_HASH_MAX, &data, &len, msg, sizeof(msg));

	hash[0] = '\0';
	if (rc == -MGW_ENOENT)
		return 0;
	if (rc < 0)
		return -1;
	data[strcspn(data, "\r\n")] = '\0';
	snprintf(hash, hashsz, "%s", data);
	free(data);
	return 0;
}

static int login_set(struct cons *c, const struct layout *l)
{
	char pw[CONS_SECRET_MAX], hash[LOGIN_HASH_MAX], msg[LAYOUT_MSG_MAX];
	int rc = CONS_REFUSED;

	cons_out(c,
		 "First login on this gateway: choose the admin password (at least %d "
		 "characters).",
		 LOGIN_MIN_LEN);
	for (int tries = 0; tries < LOGIN_TRIES; tries++) {
		if (cons_read_secret(c, "New admin password: ", true, pw, sizeof(pw)) < 0)
			return CONS_REFUSED;
		if (strlen(pw) >= LOGIN_MIN_LEN)
			break;
		memset(pw, 0, sizeof(pw));
		cons_err(c, "too short: at least %d characters", LOGIN_MIN_LEN);
	}
	if (pw[0] == '\0')
		return CONS_REFUSED;
	if (passwd_hash_new(pw, strlen(pw), 0, hash, sizeof(hash) - 1) < 0) {
		cons_err(c, "cannot hash the password (no randomness?)");
		rc = CONS_ERROR;
		goto out;
	}
	strcat(hash, "\n");
	if (layout_write(l, LOGIN_REL, hash, strlen(hash), msg, sizeof(msg)) < 0) {
		cons_err(c, "cannot write the admin password: %s", msg);
		rc = CONS_ERROR;
		goto out;
	}
	cons_out(c, "Admin password set. It is asked at every login from now on.");
	rc = CONS_OK;
out:
	memset(pw, 0, sizeof(pw));
	memset(hash, 0, sizeof(hash));
	return rc;
}

int login_run(struct cons *c)
{
	char hash[LOGIN_HASH_MAX], pw[CONS_SECRET_MAX], msg[LAYOUT_MSG_MAX];
	struct layout l;
	int rc;

	/* The data directory must be there; a console without it can still be logged in to
	 * is not an option: without a password file nobody could be kept out. */
	/* A broken mailgw.conf must not lock the admin out of the console that fixes it:
	 * then the daemon user is Kconfig's default. */
	if (layout_open(&l, c->data_dir, NULL, msg, sizeof(msg)) < 0 &&
	    layout_open(&l, c->data_dir, CONFIG_DAEMON_USER, msg, sizeof(msg)) < 0) {
		cons_err(c, "%s", msg);
		return CONS_ERROR;
	}
	rc = login_hash_read(&l, hash, sizeof(hash));
	if (rc < 0) {
		cons_err(c, "%s/" LOGIN_REL ": cannot read the admin password", c->data_dir);
		layout_close(&l);
		return CONS_ERROR;
	}
	if (hash[0] == '\0') {
		rc = login_set(c, &l);
		layout_close(&l);
		return rc;
	}
	layout_close(&l);
	for (int tries = 0; tries < LOGIN_TRIES; tries++) {
		if (cons_read_line(c, "Admin password: ", false, pw, sizeof(pw)) < 0)
			return CONS_REFUSED;
		if (pw[0] == '\0') { /* Enter alone: the prompt again, as a getty would */
			tries--;
			continue;
		}
		if (passwd_hash_verify(hash, pw, strlen(pw), 0) == 0) {
			memset(pw, 0, sizeof(pw));
			return CONS_OK;
		}
		memset(pw, 0, sizeof(pw));
		sleep(LOGIN_FAIL_DELAY);
		cons_err(c, "wrong password");
	}
	return CONS_REFUSED;
}
