/*
 * cmd_config.c - config export|import|diff: the gateway's settings as one text file an
 * admin can keep (on a USB key).
 *
 * Format: a first line "# mailgw configuration export", then for each file a line
 * "=== <path relative to the data directory>" followed by its content. Exported: the
 * configuration, the network settings, every domain's passwd-file and aliases, the
 * installed CA certificate, CRL and server certificate. Never exported: private keys
 * (etc/tls/server.key, ca/ca.key) and the admin password; the file is still secret (it
 * holds the users' password hashes) and is written 0600.
 *
 * Import writes each file through the layout (only paths of the list above are accepted)
 * and reloads; when mailgwd refuses, every file goes back. Files the export does not
 * name are left alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "apply.h"
#include "core/err.h"
#include "core/file.h"

#define CONF_MAGIC "# mailgw configuration export"
#define CONF_SEP "=== "
#define CONF_FILES_MAX 64
#define CONF_FILE_MAX (4 * 1024 * 1024)

static const char *const conf_fixed[] = {
    "etc/mailgw.conf", "etc/network.conf",   "etc/tls/ca.crt",
    "etc/tls/crl.pem", "etc/tls/server.crt",
};

/* An exported path: one of conf_fixed or etc/domains/<domain>/passwd|aliases. */
static bool conf_path_ok(const char *rel)
{
	const struct layout_entry *e = layout_find(rel);

	for (size_t i = 0; i < sizeof(conf_fixed) / sizeof(conf_fixed[0]); i++)
		if (strcmp(rel, conf_fixed[i]) == 0)
			return true;
	return e != NULL && !e->dir &&
	       (strcmp(e->pattern, "etc/domains/*/passwd") == 0 ||
		strcmp(e->pattern, "etc/domains/*/aliases") == 0);
}

struct conf_set {
	size_t n;
	char rel[CONF_FILES_MAX][LAYOUT_PATH_MAX];
	char *data[CONF_FILES_MAX];
	size_t len[CONF_FILES_MAX];
};

static void conf_set_free(struct conf_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->data[i]);
	s->n = 0;
}

static int conf_add(struct conf_set *s, const char *rel, char *data, size_t len)
{
	if (s->n == CONF_FILES_MAX) {
		free(data);
		return -1;
	}
	snprintf(s->rel[s->n], sizeof(s->rel[0]), "%s", rel);
	s->data[s->n] = data;
	s->len[s->n++] = len;
	return 0;
}

static int conf_domain(void *arg, const char *name)
{
	void **a = arg;
	const struct layout *l = a[0];
	struct conf_set *s = a[1];
	char rel[LAYOUT_PATH_MAX], msg[LAYOUT_MSG_MAX], *data;
	size_t len;

	for (int f = 0; f < 2; f++) {
		snprintf(rel, sizeof(rel), "etc/domains/%s/%s", name,
			 f == 0 ? "passwd" : "aliases");
		if (layout_read(l, rel, CONF_FILE_MAX, &data, &len, msg, sizeof(msg)) == 0)
			conf_add(s, rel, data, len);
	}
	return 0;
}

/* The gateway's current files. */
static void conf_current(const struct layout *l, struct conf_set *s)
{
	char msg[LAYOUT_MSG_MAX], *data;
	void *a[2] = {(void *)l, s};
	size_t len;

	for (size_t i = 0; i < sizeof(conf_fixed) / sizeof(conf_fixed[0]); i++)
		if (layout_read(l, conf_fixed[i], CONF_FILE_MAX, &data, &len, msg, sizeof(msg)) ==
		    0)
			conf_add(s, conf_fixed[i], data, len);
	layout_list(l, "etc/domains", conf_domain, a, msg, sizeof(msg));
}

/* Reads an export file; CONS_OK or the reason shown. */
static int conf_parse(struct cons *c, const char *path, struct conf_set *s)
{
	char *text = NULL, *p, *end;
	size_t len;
	int rc = file_read_all(path, CONF_FILE_MAX, &text, &len);

	if (rc < 0) {
		cons_err(c, "%s: %s", path, mgw_strerror(rc));
		return CONS_REFUSED;
	}
	if (strncmp(text, CONF_MAGIC, strlen(CONF_MAGIC)) != 0 || memchr(text, '\0', len)) {
		cons_err(c, "%s:1: not a mailgw configuration export", path);
		free(text);
		return CONS_REFUSED;
	}
	end = text + len;
	p = strstr(text, "\n" CONF_SEP);
	while (p != NULL && p < end) {
		char *name = p + 1 + strlen(CONF_SEP),
		     *nl = memchr(name, '\n', (size_t)(end - name));
		char *body, *next, rel[LAYOUT_PATH_MAX];

		if (nl == NULL || (size_t)(nl - name) >= sizeof(rel))
			break;
		snprintf(rel, sizeof(rel), "%.*s", (int)(nl - name), name);
		body = nl + 1;
		next = strstr(body - 1, "\n" CONF_SEP);
		if (next == NULL)
			next = end;
		if (!conf_path_ok(rel)) {
			cons_err(c, "%s: '%s' is not a file a configuration export may hold", path,
				 rel);
			free(text);
			conf_set_free(s);
			return CONS_REFUSED;
		}
		{
			size_t blen =
			    next == end ? (size_t)(end - body) : (size_t)(next + 1 - body);
			char *copy = malloc(blen + 1);

			if (copy == NULL || conf_add(s, rel, copy, blen) < 0) {
				cons_err(c, "%s: too many files", path);
				free(text);
				conf_set_free(s);
				return CONS_REFUSED;
			}
			memcpy(copy, body, blen);
			copy[blen] = '\0';
		}
		p = next == end ? NULL : next;
	}
	free(text);
	return CONS_OK;
}

static int cmd_config_export(struct cons *c)
{
	const char *path = cons_arg(c, "FILE");
	struct conf_set *s = calloc(1, sizeof(*s));
	char msg[LAYOUT_MSG_MAX], when[64], *out = NULL;
	size_t used = 0, cap;
	time_t now = time(NULL);
	struct layout l;
	int rc = s != NULL ? apply_open(c, &l) : CONS_ERROR;

	if (rc != CONS_OK) {
		free(s);
		return rc;
	}
	conf_current(&l, s);
	layout_close(&l);
	cap = 256;
	for (size_t i = 0; i < s->n; i++)
		cap += s->len[i] + strlen(s->rel[i]) + 8;
	out = malloc(cap);
	rc = CONS_ERROR;
	if (out == NULL)
		goto done;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	used = (size_t)snprintf(out, cap, CONF_MAGIC " of %s, %s\n", c->hostname, when);
	for (size_t i = 0; i < s->n; i++) {
		if (strstr(s->data[i], "\n" CONF_SEP) != NULL ||
		    strncmp(s->data[i], CONF_SEP, strlen(CONF_SEP)) == 0) {
			cons_err(c, "%s: holds a line starting with '%s'; cannot export", s->rel[i],
				 CONF_SEP);
			rc = CONS_REFUSED;
			goto done;
		}
		used += (size_t)snprintf(out + used, cap - used, CONF_SEP "%s\n", s->rel[i]);
		memcpy(out + used, s->data[i], s->len[i]);
		used += s->len[i];
		if (s->len[i] > 0 && s->data[i][s->len[i] - 1] != '\n')
			out[used++] = '\n';
	}
	if (file_write_atomic(path, out, used, 0600) < 0) {
		cons_err(c, "%s: cannot write (is the USB key mounted and writable?)", path);
		goto done;
	}
	snprintf(msg, sizeof(msg), "%zu files exported to %s (no private keys)", s->n, path);
	cons_out(c, "%s", msg);
	rc = CONS_OK;
done:
	free(out);
	conf_set_free(s);
	free(s);
	return rc;
}

/* Prints how file rel differs: lines only in the export (+) or only here (-). */
static void conf_diff_lines(struct cons *c, const char *a, const char *b, char sign)
{
	const char *p = a;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		const char *q = b;
		bool found = false;

		while (!found && *q != '\0') {
			const char *qn = strchr(q, '\n');
			size_t m = qn != NULL ? (size_t)(qn - q) : strlen(q);

			found = m == n && memcmp(p, q, n) == 0;
			q = qn != NULL ? qn + 1 : q + m;
		}
		if (!found)
			cons_out(c, "  %c %.*s", sign, (int)(n > 200 ? 200 : n), p);
		p = nl != NULL ? nl + 1 : p + n;
	}
}

/* Compares the export with the gateway; returns the number of files that differ. */
static size_t conf_compare(struct cons *c, const struct conf_set *exp, const struct conf_set *cur,
			   bool show)
{
	size_t differ = 0;

	for (size_t i = 0; i < exp->n; i++) {
		const char *here = NULL;

		for (size_t j = 0; j < cur->n; j++)
			if (strcmp(exp->rel[i], cur->rel[j]) == 0)
				here = cur->data[j];
		if (here != NULL && strcmp(here, exp->data[i]) == 0)
			continue;
		differ++;
		cons_out(c, "%s: %s", exp->rel[i], here == NULL ? "new" : "changed");
		if (show && here != NULL) {
			conf_diff_lines(c, here, exp->data[i], '-');
			conf_diff_lines(c, exp->data[i], here, '+');
		}
	}
	for (size_t j = 0; j < cur->n; j++) {
		bool in = false;

		for (size_t i = 0; i < exp->n; i++)
			in |= strcmp(exp->rel[i], cur->rel[j]) == 0;
		if (!in)
			cons_out(c, "%s: only on the gateway (kept by an import)", cur->rel[j]);
	}
	return differ;
}

static int conf_load_both(struct cons *c, struct layout *l, struct conf_set **exp,
			  struct conf_set **cur)
{
	int rc;

	*exp = calloc(1, sizeof(**exp));
	*cur = calloc(1, sizeof(**cur));
	if (*exp == NULL || *cur == NULL)
		return CONS_ERROR;
	rc = conf_parse(c, cons_arg(c, "FILE"), *exp);
	if (rc != CONS_OK)
		return rc;
	rc = apply_open(c, l);
	if (rc != CONS_OK)
		return rc;
	conf_current(l, *cur);
	return CONS_OK;
}

static void conf_free_both(struct conf_set *exp, struct conf_set *cur)
{
	if (exp != NULL)
		conf_set_free(exp);
	if (cur != NULL)
		conf_set_free(cur);
	free(exp);
	free(cur);
}

static int cmd_config_diff(struct cons *c)
{
	struct conf_set *exp = NULL, *cur = NULL;
	struct layout l = {.dirfd = -1};
	int rc = conf_load_both(c, &l, &exp, &cur);

	if (rc == CONS_OK && conf_compare(c, exp, cur, true) == 0)
		cons_out(c, "no differences in the exported files");
	if (l.dirfd >= 0)
		layout_close(&l);
	conf_free_both(exp, cur);
	return rc;
}

static int cmd_config_import(struct cons *c)
{
	struct conf_set *exp = NULL, *cur = NULL;
	struct apply_snap snaps[CONF_FILES_MAX];
	struct layout l = {.dirfd = -1};
	char msg[LAYOUT_MSG_MAX];
	size_t n = 0;
	int rc = conf_load_both(c, &l, &exp, &cur);

	if (rc != CONS_OK)
		goto out;
	if (conf_compare(c, exp, cur, false) == 0) {
		cons_out(c, "nothing to import: the gateway already has these files");
		goto out;
	}
	if (!cons_confirm(c, "Replace these files with the export's?")) {
		cons_out(c, "cancelled");
		rc = CONS_REFUSED;
		goto out;
	}
	for (n = 0; n < exp->n; n++)
		apply_snap(&l, &snaps[n], exp->rel[n]);
	rc = 0;
	for (size_t i = 0; i < exp->n && rc == 0; i++)
		rc = layout_write(&l, exp->rel[i], exp->data[i], exp->len[i], msg, sizeof(msg));
	if (rc == 0)
		snprintf(msg, sizeof(msg), "%zu files imported", exp->n);
	rc = apply_finish(c, &l, rc, msg, snaps, n);
out:
	if (l.dirfd >= 0)
		layout_close(&l);
	conf_free_both(exp, cur);
	return rc;
}

const struct cons_cmd cons_cmds_config[] = {
    {"config export",
     "write the settings to one file (USB key); no private keys",
     cmd_config_export,
     {{"FILE", CONS_ARG, "e.g. /media/usb/mailgw-config.txt"}, {NULL}}},
    {"config diff",
     "how an export differs from the gateway",
     cmd_config_diff,
     {{"FILE", CONS_ARG, "an export"}, {NULL}}},
    {"config import",
     "take the settings of an export (asks first; undone when mailgwd refuses)",
     cmd_config_import,
     {{"FILE", CONS_ARG, "an export"}, {NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
