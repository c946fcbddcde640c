/*
 * postmaster.c - `[smtp] postmaster` in etc/mailgw.conf (admin.h).
 *
 * The configuration is edited as text so that the admin's comments and layout survive:
 * only the postmaster line changes (or is added); the result must load with cfg_parse()
 * before it replaces the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "cfg/cfg.h"
#include "core/err.h"
#include "core/log.h"
#include "proto/smtp_rcpt.h"

#define ADMIN_CONF "etc/mailgw.conf"
#define ADMIN_CONF_MAX (1u << 20)

/* [ \t]* trimmed bounds of [p, end). */
static void admin_trim(const char **p, const char **end)
{
	while (*p < *end && (**p == ' ' || **p == '\t'))
		(*p)++;
	while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\t' || (*end)[-1] == '\r'))
		(*end)--;
}

struct admin_conf_edit {
	const char *line; /* "postmaster = ...", NULL to remove */
	char *out;
	size_t len;
	bool in_smtp, done, seen_smtp;
};

static void admin_conf_put(struct admin_conf_edit *e, const char *s, size_t n)
{
	memcpy(e->out + e->len, s, n);
	e->len += n;
	e->out[e->len++] = '\n';
}

static int admin_conf_line(void *arg, const char *line, size_t len, unsigned lineno)
{
	struct admin_conf_edit *e = arg;
	const char *p = line, *end = line + len, *eq;

	(void)lineno;
	admin_trim(&p, &end);
	if (p < end && *p == '[') {
		/* leaving [smtp] without the key: add it at the end of the section */
		if (e->in_smtp && !e->done && e->line != NULL) {
			admin_conf_put(e, e->line, strlen(e->line));
			e->done = true;
		}
		e->in_smtp = (size_t)(end - p) == 6 && memcmp(p, "[smtp]", 6) == 0;
		e->seen_smtp |= e->in_smtp;
	} else if (e->in_smtp && !e->done && p < end && *p != '#' &&
		   (eq = memchr(p, '=', (size_t)(end - p))) != NULL) {
		const char *k = p, *ke = eq;

		admin_trim(&k, &ke);
		if ((size_t)(ke - k) == 10 && memcmp(k, "postmaster", 10) == 0) {
			e->done = true;
			if (e->line != NULL)
				admin_conf_put(e, e->line, strlen(e->line));
			return 0;
		}
	}
	admin_conf_put(e, line, len);
	return 0;
}

int admin_postmaster_set(const struct layout *l, const char *list, char *msg, size_t msgsz)
{
	struct admin_conf_edit e;
	char line[CFG_STR_MAX + 16], why[CFG_ERR_MAX];
	struct mgw_cfg *cfg = NULL;
	const char *p = list;
	char *old = NULL;
	size_t oldlen = 0;
	int rc;

	memset(&e, 0, sizeof(e));
	if (strlen(list) >= CFG_STR_MAX || strpbrk(list, "\r\n") != NULL) {
		snprintf(msg, msgsz, "%s", "postmaster list too long or with a line break");
		return -MGW_EINVAL;
	}
	if (smtp_admins_check(list, why, sizeof(why)) < 0) {
		snprintf(msg, msgsz, "postmaster '%s': %s", list, why);
		return -MGW_EINVAL;
	}
	/* every mailbox named must exist, or mail to postmaster would be deferred */
	while (*p != '\0') {
		const char *q = p + strcspn(p, ","), *t = p, *te = q;
		char addr[PASSWD_ADDR_MAX + 1];

		admin_trim(&t, &te);
		p = *q ? q + 1 : q;
		if (te == t)
			continue;
		snprintf(addr, sizeof(addr), "%.*s", (int)(te - t), t);
		if (!admin_user_exists(l, addr)) {
			snprintf(msg, msgsz, "postmaster %s is not an existing user", addr);
			return -MGW_ENOENT;
		}
	}
	if (list[0] != '\0') {
		snprintf(line, sizeof(line), "postmaster = %s", list);
		e.line = line;
	}
	rc = layout_read(l, ADMIN_CONF, ADMIN_CONF_MAX, &old, &oldlen, msg, msgsz);
	if (rc == -MGW_ENOENT) {
		old = NULL;
		oldlen = 0;
	} else if (rc < 0) {
		return rc;
	}
	rc = -MGW_ENOMEM;
	e.out = malloc(oldlen + sizeof(line) + 16);
	cfg = malloc(sizeof(*cfg));
	if (e.out == NULL || cfg == NULL)
		goto out;
	admin_lines(old ? old : "", oldlen, admin_conf_line, &e);
	if (!e.done && e.line != NULL) {
		if (!e.in_smtp)
			admin_conf_put(&e, "[smtp]", 6);
		admin_conf_put(&e, e.line, strlen(e.line));
	}
	cfg_defaults(cfg);
	rc = cfg_parse(ADMIN_CONF, e.out, e.len, cfg, why, sizeof(why));
	if (rc < 0) {
		snprintf(msg, msgsz, "%s/%s (after the change): %s", l->data_dir, ADMIN_CONF, why);
		rc = -MGW_ECONFIG;
		goto out;
	}
	rc = layout_write(l, ADMIN_CONF, e.out, e.len, msg, msgsz);
	if (rc < 0)
		goto out;
	if (list[0] != '\0')
		snprintf(msg, msgsz, "postmaster set to %s", list);
	else
		snprintf(msg, msgsz, "%s", "postmaster unset");
	log_info("%s", msg);
out:
	free(old);
	free(e.out);
	free(cfg);
	return rc;
}

int admin_postmaster_get(const struct layout *l, char *out, size_t outsz, char *msg, size_t msgsz)
{
	struct mgw_cfg *cfg;
	char why[CFG_ERR_MAX];
	char *text;
	size_t len;
	int rc;

	snprintf(out, outsz, "%s", "");
	rc = layout_read(l, ADMIN_CONF, ADMIN_CONF_MAX, &text, &len, msg, msgsz);
	if (rc == -MGW_ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	rc = -MGW_ENOMEM;
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		goto out;
	cfg_defaults(cfg);
	rc = cfg_parse(ADMIN_CONF, text, len, cfg, why, sizeof(why));
	if (rc < 0) {
		snprintf(msg, msgsz, "%s/%s", l->data_dir, why);
		rc = -MGW_ECONFIG;
		goto out;
	}
	snprintf(out, outsz, "%s", cfg->smtp_postmaster);
	rc = 0;
out:
	free(cfg);
	free(text);
	return rc;
}
