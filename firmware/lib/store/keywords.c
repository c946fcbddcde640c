/*
 * keywords.c - dovecot-keywords files (see keywords.h).
 */
#include "store/keywords.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "store/flushjob.h"
#include "store/maildir_int.h"

void maildir_kw_free(struct maildir_kw *kw)
{
	for (size_t i = 0; i < MAILDIR_KW_MAX; i++) {
		free(kw->name[i]);
		kw->name[i] = NULL;
	}
}

int maildir_kw_load(struct maildir_kw *kw, const char *md)
{
	char p[MAILDIR_PATH_MAX], *text = NULL;
	size_t len = 0, pos = 0;
	int rc;

	maildir_kw_free(kw);
	rc = maildir_fmt(p, sizeof(p), "%s/%s", md, MAILDIR_KW_FILE);
	if (rc == 0)
		rc = file_read_all(p, MAILDIR_KW_FILE_MAX, &text, &len);
	if (rc == -MGW_ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos), *sp;
		size_t l = nl ? (size_t)(nl - line) : len - pos;
		unsigned idx = 0, digits = 0;

		pos += l + 1;
		for (sp = line; sp < line + l && *sp >= '0' && *sp <= '9' && digits < 3; sp++)
			idx = idx * 10 + (unsigned)(*sp - '0'), digits++;
		if (digits == 0 || sp >= line + l || *sp != ' ' || idx >= MAILDIR_KW_MAX ||
		    kw->name[idx] != NULL || line + l - sp - 1 == 0 ||
		    (size_t)(line + l - sp - 1) > MAILDIR_KW_NAME_MAX)
			continue;
		kw->name[idx] = strndup(sp + 1, (size_t)(line + l - sp - 1));
		if (kw->name[idx] == NULL) {
			rc = -MGW_ENOMEM;
			break;
		}
	}
	free(text);
	if (rc < 0)
		maildir_kw_free(kw);
	return rc;
}

int maildir_kw_find(const struct maildir_kw *kw, const char *name, size_t len)
{
	for (int i = 0; i < MAILDIR_KW_MAX; i++)
		if (kw->name[i] != NULL && strlen(kw->name[i]) == len &&
		    strncasecmp(kw->name[i], name, len) == 0)
			return i;
	return -MGW_ENOENT;
}

static int maildir_kw_write(const struct maildir_kw *kw, const char *md, struct maildir_dirs *later)
{
	char p[MAILDIR_PATH_MAX], text[MAILDIR_KW_MAX * (MAILDIR_KW_NAME_MAX + 5)];
	size_t len = 0;
	int rc;

	for (int i = 0; i < MAILDIR_KW_MAX; i++)
		if (kw->name[i] != NULL)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%d %s\n", i,
						kw->name[i]);
	rc = maildir_fmt(p, sizeof(p), "%s/%s", md, MAILDIR_KW_FILE);
	return rc < 0 ? rc : maildir_write_later(p, text, len, later);
}

int maildir_kw_pending(const char *md, struct maildir_dirs *later)
{
	char p[MAILDIR_PATH_MAX];
	int rc = maildir_fmt(p, sizeof(p), "%s/%s", md, MAILDIR_KW_FILE);

	return rc < 0 ? rc : maildir_dirs_add_pending(later, p);
}

int maildir_kw_add(struct maildir_kw *kw, const char *md, const char *name, size_t len,
		   struct maildir_dirs *later)
{
	int rc, lockfd = -1, i;

	if (len == 0 || len > MAILDIR_KW_NAME_MAX)
		return -MGW_ELIMIT;
	rc = maildir_lock(md, MAILDIR_UIDLIST_LOCK, false, &lockfd);
	if (rc == 0)
		rc = maildir_kw_load(kw, md);
	if (rc == 0)
		rc = maildir_kw_find(kw, name, len);
	if (rc == -MGW_ENOENT) {
		for (i = 0; i < MAILDIR_KW_MAX && kw->name[i] != NULL; i++)
			;
		rc = i == MAILDIR_KW_MAX ? -MGW_ELIMIT : 0;
		if (rc == 0 && (kw->name[i] = strndup(name, len)) == NULL)
			rc = -MGW_ENOMEM;
		if (rc == 0)
			rc = maildir_kw_write(kw, md, later);
		if (rc == 0)
			rc = i;
	} else if (rc >= 0 && later != NULL) {
		int prc = maildir_kw_pending(md, later);

		if (prc < 0)
			rc = prc;
	}
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}
