/* quota.c - mailbox usage in Maildir++ "maildirsize" (see quota.h for the rules). */
#include "store/quota.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "store/folder.h"

/* Sums the lines after the first; false if any line is malformed or the last is torn. */
static bool quota_sum(const char *text, size_t len, int64_t *bytes, int64_t *msgs)
{
	const char *p = memchr(text, '\n', len), *end = text + len;

	*bytes = 0;
	*msgs = 0;
	if (p == NULL)
		return false;
	for (p++; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char line[64];
		long long b, m;
		int used = 0;

		/* One line at a time in a copy: sscanf must not run on into the next one. */
		if (nl == NULL || (size_t)(nl - p) >= sizeof(line))
			return false;
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (sscanf(line, "%lld %lld%n", &b, &m, &used) != 2 || line[used] != '\0')
			return false;
		*bytes += b;
		*msgs += m;
		p = nl + 1;
	}
	return *bytes >= 0 && *msgs >= 0;
}

/* Adds the files of dir/new and dir/cur (a Maildir or one of its folders). */
static int quota_count(const char *dir, uint64_t *bytes, uint64_t *msgs)
{
	static const char *const subs[] = {"new", "cur"};
	char p[MAILDIR_PATH_MAX];
	int n;

	for (size_t k = 0; k < MGW_ARRAY_LEN(subs); k++) {
		struct dirent *de;
		DIR *d;

		n = snprintf(p, sizeof(p), "%s/%s", dir, subs[k]);
		if (n < 0 || (size_t)n >= sizeof(p))
			return -MGW_ELIMIT;
		d = opendir(p);
		if (d == NULL) {
			if (errno == ENOENT)
				continue;
			log_err("%s: opendir: %s", p, strerror(errno));
			return -MGW_EIO;
		}
		while ((de = readdir(d)) != NULL) {
			struct stat sb;

			if (de->d_name[0] == '.' ||
			    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(sb.st_mode))
				continue;
			*bytes += (uint64_t)sb.st_size;
			(*msgs)++;
		}
		closedir(d);
	}
	return 0;
}

/* Counts INBOX and every folder (as dovecot's Maildir++ quota) and writes a fresh
 * maildirsize. */
static int quota_recalc(const char *md, uint64_t limit, uint64_t *bytes, uint64_t *msgs)
{
	char p[MAILDIR_PATH_MAX], text[96];
	struct dirent *de;
	DIR *d;
	int n, rc;

	*bytes = 0;
	*msgs = 0;
	rc = quota_count(md, bytes, msgs);
	d = rc == 0 ? opendir(md) : NULL;
	while (d != NULL && rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || !maildir_folder_valid(de->d_name + 1))
			continue;
		n = snprintf(p, sizeof(p), "%s/%s", md, de->d_name);
		rc = n < 0 || (size_t)n >= sizeof(p) ? -MGW_ELIMIT : quota_count(p, bytes, msgs);
	}
	if (d != NULL)
		closedir(d);
	if (rc < 0)
		return rc;
	n = snprintf(p, sizeof(p), "%s/%s", md, MAILDIR_QUOTA_FILE);
	if (n < 0 || (size_t)n >= sizeof(p))
		return -MGW_ELIMIT;
	n = snprintf(text, sizeof(text), "%lluS\n%llu %llu\n", (unsigned long long)limit,
		     (unsigned long long)*bytes, (unsigned long long)*msgs);
	/* A failed write only costs a recalculation next time, and so does a crash before
	 * the new file is on disk: it is not flushed (the event loop writes it: `status`,
	 * APPEND's and COPY's quota check), as the lines appended to it never are. */
	(void)file_write_cache(p, text, (size_t)n, 0600);
	return 0;
}

int maildir_quota_get(const struct maildir_store *st, const char *domain, const char *user,
		      uint64_t limit, uint64_t *bytes, uint64_t *msgs)
{
	char md[MAILDIR_PATH_MAX], p[MAILDIR_PATH_MAX], text[MAILDIR_QUOTA_LOG_MAX + 1];
	struct stat sb;
	int64_t b, m;
	ssize_t len;
	int fd, rc;

	*bytes = 0;
	*msgs = 0;
	rc = maildir_path(st, domain, user, md, sizeof(md));
	if (rc < 0)
		return rc;
	if (snprintf(p, sizeof(p), "%s/%s", md, MAILDIR_QUOTA_FILE) >= (int)sizeof(p))
		return -MGW_ELIMIT;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT && access(md, F_OK) < 0 && errno == ENOENT)
			return 0; /* no Maildir yet: nothing used */
		if (errno != ENOENT && errno != ELOOP) {
			log_err("%s: open: %s", p, strerror(errno));
			return -MGW_EIO;
		}
		return quota_recalc(md, limit, bytes, msgs);
	}
	len = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? read(fd, text, sizeof(text)) : -1;
	close(fd);
	if (len < 0 || (size_t)len > MAILDIR_QUOTA_LOG_MAX || !quota_sum(text, (size_t)len, &b, &m))
		return quota_recalc(md, limit, bytes, msgs);
	if (limit > 0 && (uint64_t)b >= limit && time(NULL) - sb.st_mtime > MAILDIR_QUOTA_STALE_SEC)
		return quota_recalc(md, limit, bytes, msgs);
	*bytes = (uint64_t)b;
	*msgs = (uint64_t)m;
	return 0;
}

void maildir_quota_add(const char *md, int64_t bytes, int64_t msgs)
{
	char p[MAILDIR_PATH_MAX], line[64];
	int fd, n;

	if (snprintf(p, sizeof(p), "%s/%s", md, MAILDIR_QUOTA_FILE) >= (int)sizeof(p))
		return;
	fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return; /* none yet: the next reader recalculates, counting this change */
	n = snprintf(line, sizeof(line), "%lld %lld\n", (long long)bytes, (long long)msgs);
	if (file_write_all(fd, line, (size_t)n) < 0)
		log_warn("%s: cannot record a change of %lld bytes: %s", p, (long long)bytes,
			 strerror(errno));
	close(fd);
}

/* The report lines of one domain's passwd-file. */
static void quota_report_domain(const struct maildir_store *st, const char *domain, uint64_t dflt,
				void (*emit)(void *ctx, const char *line), void *ctx)
{
	char path[MAILDIR_PATH_MAX], out[PASSWD_ADDR_MAX + 96], *text;
	size_t len, pos = 0;

	if (passwd_file_path(st->data_dir, domain, path, sizeof(path)) < 0 ||
	    file_read_all(path, PASSWD_FILE_MAX, &text, &len) < 0)
		return;
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos), *why;
		size_t l = nl ? (size_t)(nl - line) : len - pos;
		struct passwd_entry e;
		uint64_t limit, used, msgs;
		char lim[24];

		pos += l + (nl != NULL);
		if (l > PASSWD_LINE_MAX || passwd_line_parse(line, l, &e, &why) != MGW_PARSE_OK)
			continue;
		limit = e.has_quota ? e.quota : dflt;
		if (maildir_quota_get(st, domain, e.user, limit, &used, &msgs) == 0) {
			snprintf(lim, sizeof(lim), "%llu", (unsigned long long)limit);
			snprintf(out, sizeof(out), "quota: %s@%s %llu of %s bytes, %llu messages",
				 e.user, domain, (unsigned long long)used, limit ? lim : "none",
				 (unsigned long long)msgs);
			emit(ctx, out);
		}
		explicit_bzero(&e, sizeof(e));
	}
	explicit_bzero(text, len);
	free(text);
}

void maildir_quota_report(const struct maildir_store *st, uint64_t dflt,
			  void (*emit)(void *ctx, const char *line), void *ctx)
{
	char p[MAILDIR_PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (snprintf(p, sizeof(p), "%s/etc/domains", st->data_dir) >= (int)sizeof(p))
		return;
	d = opendir(p);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (passwd_domain_valid(de->d_name))
			quota_report_domain(st, de->d_name, dflt, emit, ctx);
	closedir(d);
}
