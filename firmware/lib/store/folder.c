/*
 * folder.c - Maildir++ folders and the subscriptions file (see folder.h for the layout
 * and the name rules). Ownership: lists are built in a struct maildir_folders and handed
 * over whole.
 */
#include "store/folder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "store/flushjob.h"
#include "store/keywords.h"
#include "store/maildir_int.h"
#include "store/quota.h"

#define MAILDIR_SUBS_MAX (256u * 1024) /* bytes of the subscriptions file */

const char *const maildir_special_folders[5] = {"Sent", "Drafts", "Trash", "Junk", "Archive"};

/* ---- names ------------------------------------------------------------------------- */

/* The modified BASE64 of RFC 3501 5.1.3: RFC 4648's alphabet with ',' for '/'. */
static int maildir_b64_val(char c)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
	const char *p = c != '\0' ? strchr(alphabet, c) : NULL;

	return p ? (int)(p - alphabet) : -1;
}

/* The modified BASE64 run at *p (after '&', up to its '-'): valid UTF-16 that does not
 * encode US-ASCII (printable characters stand for themselves, RFC 3501 5.1.3; control
 * characters are no part of a name). *p moves past the '-'. */
static bool maildir_mutf7_run(const char **p)
{
	const char *s = *p;
	uint32_t bits = 0;
	unsigned nbits = 0, units = 0;
	bool high = false;

	for (; *s != '-'; s++) {
		int v = maildir_b64_val(*s);

		if (v < 0)
			return false;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits >= 16) {
			uint32_t u = (bits >> (nbits - 16)) & 0xffff;

			nbits -= 16;
			bits &= (1u << nbits) - 1;
			units++;
			if (u >= 0xd800 && u <= 0xdbff) {
				if (high)
					return false;
				high = true;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				if (!high)
					return false;
				high = false;
			} else if (high || u <= 0x7f) {
				return false;
			}
		}
	}
	if (units == 0 || high || nbits >= 6 || bits != 0)
		return false;
	*p = s + 1;
	return true;
}

bool maildir_folder_valid(const char *name)
{
	const char *p = name;
	size_t len = strlen(name);

	if (len == 0 || len > MAILDIR_FOLDER_MAX || strcasecmp(name, "INBOX") == 0)
		return false;
	if (strncasecmp(name, "INBOX.", 6) == 0 && strncmp(name, "INBOX.", 6) != 0)
		return false; /* spelled "INBOX" (maildir_folder_norm) */
	while (*p != '\0') {
		char c = *p;

		if (c == '.' && (p == name || p[1] == '.' || p[1] == '\0'))
			return false; /* an empty level */
		if (c < 0x20 || c > 0x7e || c == '/' || c == '\\' || c == '*' || c == '%' ||
		    c == '"')
			return false;
		p++;
		if (c == '&' && *p == '-')
			p++; /* "&-" is '&' */
		else if (c == '&' && !maildir_mutf7_run(&p))
			return false;
	}
	return true;
}

void maildir_folder_norm(const char *name, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s", name);
	if (strncasecmp(out, "INBOX.", 6) == 0)
		memcpy(out, "INBOX", 5);
}

int maildir_folder_dir(const char *root, const char *folder, char *out, size_t outsz)
{
	if (folder == NULL)
		return maildir_fmt(out, outsz, "%s", root);
	if (!maildir_folder_valid(folder))
		return -MGW_EINVAL;
	return maildir_fmt(out, outsz, "%s/.%s", root, folder);
}

int maildir_folder_exists(const char *dir)
{
	char p[MAILDIR_PATH_MAX];
	struct stat sb;
	int rc = maildir_fmt(p, sizeof(p), "%s/cur", dir);

	if (rc < 0)
		return rc;
	if (lstat(p, &sb) == 0)
		return S_ISDIR(sb.st_mode) ? 0 : -MGW_ENOENT;
	if (errno == ENOENT || errno == ENOTDIR)
		return -MGW_ENOENT;
	log_err("%s: %s", p, strerror(errno));
	return -MGW_EIO;
}

/* ---- lists ------------------------------------------------------------------------- */

void maildir_folders_free(struct maildir_folders *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->names[i]);
	free(f->names);
	memset(f, 0, sizeof(*f));
}

bool maildir_folders_has(const struct maildir_folders *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->names[i], name) == 0)
			return true;
	return false;
}

static int maildir_folders_add(struct maildir_folders *f, const char *name, size_t len)
{
	char *dup;

	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 16;
		char **nn;

		if (f->n >= MAILDIR_FOLDERS_MAX)
			return -MGW_ELIMIT;
		nn = realloc(f->names, ncap * sizeof(*nn));
		if (nn == NULL)
			return -MGW_ENOMEM;
		f->names = nn;
		f->cap = ncap;
	}
	dup = strndup(name, len);
	if (dup == NULL)
		return -MGW_ENOMEM;
	f->names[f->n++] = dup;
	return 0;
}

static int maildir_folders_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int maildir_folder_list(const struct maildir_store *st, const char *domain, const char *user,
			struct maildir_folders *out)
{
	char root[MAILDIR_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = maildir_path(st, domain, user, root, sizeof(root));
	if (rc < 0)
		return rc;
	d = opendir(root);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		log_err("%s: opendir: %s", root, strerror(errno));
		return -MGW_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		/* Directories ".<valid name>" only: dovecot's files and anything odd (a
		 * symbolic link, a name we would refuse) are not folders. */
		if (de->d_name[0] != '.' || !maildir_folder_valid(de->d_name + 1) ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		rc = maildir_folders_add(out, de->d_name + 1, strlen(de->d_name + 1));
		if (rc < 0)
			break;
	}
	closedir(d);
	if (rc < 0)
		maildir_folders_free(out);
	else if (out->n > 1)
		qsort(out->names, out->n, sizeof(*out->names), maildir_folders_cmp);
	return rc;
}

/* ---- create, delete, rename --------------------------------------------------------- */

static int maildir_mkdir_new(const char *p)
{
	if (mkdir(p, 0700) == 0)
		return 0;
	if (errno == EEXIST)
		return -MGW_EEXIST;
	log_err("%s: mkdir: %s", p, strerror(errno));
	return maildir_errno_code(errno);
}

int maildir_folder_create_later(const struct maildir_store *st, const char *domain,
				const char *user, const char *name, struct maildir_dirs *later)
{
	static const char *const subs[] = {"tmp", "new", "cur"}; /* cur/ last: it says "exists" */
	char root[MAILDIR_PATH_MAX], dir[MAILDIR_PATH_MAX], p[MAILDIR_PATH_MAX];
	int rc, fd;

	rc = maildir_path(st, domain, user, root, sizeof(root));
	if (rc == 0)
		rc = maildir_folder_dir(root, name, dir, sizeof(dir));
	if (rc == 0)
		rc = maildir_create(st, domain, user);
	if (rc < 0)
		return rc;
	rc = maildir_mkdir_new(dir);
	if (rc == -MGW_EEXIST && maildir_folder_exists(dir) == -MGW_ENOENT)
		rc = 0; /* a half-made folder (a crash): completed */
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < MGW_ARRAY_LEN(subs); i++) {
		rc = maildir_fmt(p, sizeof(p), "%s/%s", dir, subs[i]);
		if (rc == 0)
			rc = maildir_mkdir_new(p);
		if (rc < 0 && rc != -MGW_EEXIST)
			return rc;
	}
	/* dovecot marks its Maildir++ folders so (its LDA delivers into them then). */
	rc = maildir_fmt(p, sizeof(p), "%s/maildirfolder", dir);
	if (rc < 0)
		return rc;
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		close(fd);
	rc = maildir_dirs_add(later, dir);
	if (rc == 0)
		rc = maildir_dirs_add(later, root);
	return rc;
}

/* Removes the regular files in dir; *bytes, *msgs count them when counting. */
static int maildir_dir_empty(const char *dir, bool counting, int64_t *bytes, int64_t *msgs)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int rc = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -MGW_EIO;
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			continue; /* cur/ new/ tmp/: emptied by the caller; others stay */
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			log_err("%s/%s: unlink: %s", dir, de->d_name, strerror(errno));
			rc = -MGW_EIO;
		} else if (counting) {
			*bytes += sb.st_size;
			(*msgs)++;
		}
	}
	closedir(d);
	return rc;
}

int maildir_folder_delete_later(const struct maildir_store *st, const char *domain,
				const char *user, const char *name, struct maildir_dirs *later)
{
	static const char *const subs[] = {"cur", "new", "tmp"};
	char root[MAILDIR_PATH_MAX], dir[MAILDIR_PATH_MAX], p[MAILDIR_PATH_MAX];
	int64_t bytes = 0, msgs = 0;
	int rc, lockfd = -1;

	rc = maildir_path(st, domain, user, root, sizeof(root));
	if (rc == 0)
		rc = maildir_folder_dir(root, name, dir, sizeof(dir));
	if (rc == 0)
		rc = maildir_folder_exists(dir);
	if (rc == 0)
		rc = maildir_lock(dir, MAILDIR_UIDLIST_LOCK, false, &lockfd);
	if (rc < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < MGW_ARRAY_LEN(subs); i++) {
		rc = maildir_fmt(p, sizeof(p), "%s/%s", dir, subs[i]);
		if (rc == 0)
			rc = maildir_dir_empty(p, i < 2, &bytes, &msgs);
		if (rc == 0 && rmdir(p) < 0 && errno != ENOENT) {
			log_err("%s: rmdir: %s", p, strerror(errno));
			rc = -MGW_EIO;
		}
	}
	if (msgs > 0)
		maildir_quota_add(root, -bytes, -msgs);
	if (rc == 0)
		rc = maildir_dir_empty(dir, false, NULL, NULL); /* uidlist, locks, marker */
	close(lockfd);
	if (rc == 0 && rmdir(dir) < 0) {
		log_err("%s: rmdir: %s", dir, strerror(errno));
		rc = -MGW_EIO;
	}
	if (rc == 0)
		rc = maildir_dirs_add(later, root);
	return rc;
}

/* Moves the messages of INBOX (root) into the folder dir (RFC 3501 6.3.5): renamed, so
 * they keep their names, flags and keyword letters (the new folder gets a copy of
 * INBOX's dovecot-keywords, so the letters keep their names); the folder gives them new
 * UIDs. */
static int maildir_inbox_move(const char *root, const char *dir, struct maildir_dirs *later)
{
	static const char *const subs[] = {"new", "cur"};
	char from[MAILDIR_PATH_MAX], to[MAILDIR_PATH_MAX], *kw = NULL;
	int rc = 0, lockfd = -1;
	size_t kwlen = 0;

	rc = maildir_lock(root, MAILDIR_UIDLIST_LOCK, false, &lockfd);
	if (rc == 0)
		rc = maildir_fmt(from, sizeof(from), "%s/%s", root, MAILDIR_KW_FILE);
	if (rc == 0)
		rc = maildir_fmt(to, sizeof(to), "%s/%s", dir, MAILDIR_KW_FILE);
	if (rc == 0)
		rc = file_read_all(from, MAILDIR_KW_FILE_MAX, &kw, &kwlen);
	if (rc == 0)
		rc = maildir_write_later(to, kw, kwlen, later);
	else if (rc == -MGW_ENOENT)
		rc = 0;
	free(kw);
	for (size_t i = 0; rc == 0 && i < MGW_ARRAY_LEN(subs); i++) {
		struct dirent *de;
		DIR *d;

		rc = maildir_fmt(from, sizeof(from), "%s/%s", root, subs[i]);
		if (rc < 0)
			break;
		d = opendir(from);
		if (d == NULL) {
			rc = -MGW_EIO;
			break;
		}
		while ((de = readdir(d)) != NULL) {
			if (!maildir_name_ok(de->d_name))
				continue;
			if (maildir_fmt(from, sizeof(from), "%s/%s/%s", root, subs[i], de->d_name) <
				0 ||
			    maildir_fmt(to, sizeof(to), "%s/%s/%s", dir, subs[i], de->d_name) < 0)
				continue;
			if (rename(from, to) < 0 && errno != ENOENT) {
				log_err("%s: rename to %s: %s", from, to, strerror(errno));
				rc = -MGW_EIO;
			}
		}
		closedir(d);
		if (rc == 0)
			rc = maildir_fmt(to, sizeof(to), "%s/%s", dir, subs[i]);
		if (rc == 0)
			rc = maildir_dirs_add(later, to);
		if (rc == 0)
			rc = maildir_fmt(from, sizeof(from), "%s/%s", root, subs[i]);
		if (rc == 0)
			rc = maildir_dirs_add(later, from);
	}
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}

int maildir_folder_rename_later(const struct maildir_store *st, const char *domain,
				const char *user, const char *from, const char *to,
				struct maildir_dirs *later)
{
	char root[MAILDIR_PATH_MAX], src[MAILDIR_PATH_MAX], dst[MAILDIR_PATH_MAX];
	struct maildir_folders all = {0};
	size_t flen = from ? strlen(from) : 0, tlen = strlen(to);
	int rc;

	rc = maildir_path(st, domain, user, root, sizeof(root));
	if (rc == 0)
		rc = maildir_folder_dir(root, from, src, sizeof(src));
	if (rc == 0)
		rc = maildir_folder_dir(root, to, dst, sizeof(dst));
	if (rc == 0 && from != NULL)
		rc = maildir_folder_exists(src);
	if (rc == 0)
		rc = maildir_folder_list(st, domain, user, &all);
	if (rc < 0)
		return rc;
	/* The new name, or one of its would-be children, taken: refused as a whole. */
	for (size_t i = 0; rc == 0 && i < all.n; i++) {
		const char *n = all.names[i];

		if (strcmp(n, to) == 0)
			rc = -MGW_EEXIST;
		else if (from != NULL && strncmp(n, from, flen) == 0 && n[flen] == '.' &&
			 (tlen + strlen(n + flen) > MAILDIR_FOLDER_MAX))
			rc = -MGW_ELIMIT;
		else if (from != NULL && strncmp(n, from, flen) == 0 && n[flen] == '.') {
			char child[MAILDIR_FOLDER_MAX + 1];

			snprintf(child, sizeof(child), "%s%s", to, n + flen);
			if (maildir_folders_has(&all, child))
				rc = -MGW_EEXIST;
		}
	}
	if (rc == 0 && from != NULL && strncmp(to, from, flen) == 0 && to[flen] == '.')
		rc = -MGW_EINVAL; /* into its own subtree */
	if (rc < 0)
		goto out;
	if (from == NULL) {
		rc = maildir_folder_create_later(st, domain, user, to, later);
		if (rc == 0)
			rc = maildir_inbox_move(root, dst, later);
		goto out;
	}
	if (rename(src, dst) < 0) {
		log_err("%s: rename to %s: %s", src, dst, strerror(errno));
		rc = -MGW_EIO;
		goto out;
	}
	for (size_t i = 0; i < all.n; i++) {
		const char *n = all.names[i];

		if (strncmp(n, from, flen) != 0 || n[flen] != '.')
			continue;
		if (maildir_fmt(src, sizeof(src), "%s/.%s", root, n) < 0 ||
		    maildir_fmt(dst, sizeof(dst), "%s/.%s%s", root, to, n + flen) < 0)
			continue;
		if (rename(src, dst) < 0) {
			log_err("%s: rename to %s: %s", src, dst, strerror(errno));
			rc = -MGW_EIO;
		}
	}
	if (maildir_dirs_add(later, root) < 0)
		rc = -MGW_ELIMIT;
out:
	maildir_folders_free(&all);
	return rc;
}

/* The forms that flush on the calling thread (the unit tests, the first login's folders):
 * what was changed is flushed even when the operation failed half-way. */
static int maildir_folder_flushed(int rc, const struct maildir_dirs *later)
{
	int frc = maildir_dirs_flush(later);

	return rc < 0 ? rc : frc;
}

int maildir_folder_create(const struct maildir_store *st, const char *domain, const char *user,
			  const char *name)
{
	struct maildir_dirs later = {0};
	int rc = maildir_folder_create_later(st, domain, user, name, &later);

	return maildir_folder_flushed(rc, &later);
}

int maildir_folder_delete(const struct maildir_store *st, const char *domain, const char *user,
			  const char *name)
{
	struct maildir_dirs later = {0};
	int rc = maildir_folder_delete_later(st, domain, user, name, &later);

	return maildir_folder_flushed(rc, &later);
}

int maildir_folder_rename(const struct maildir_store *st, const char *domain, const char *user,
			  const char *from, const char *to)
{
	struct maildir_dirs later = {0};
	int rc = maildir_folder_rename_later(st, domain, user, from, to, &later);

	return maildir_folder_flushed(rc, &later);
}

/* ---- subscriptions ------------------------------------------------------------------ */

int maildir_subs_list(const struct maildir_store *st, const char *domain, const char *user,
		      struct maildir_folders *out)
{
	char p[MAILDIR_PATH_MAX], name[MAILDIR_FOLDER_MAX + 1];
	char *text = NULL;
	size_t len = 0, pos = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = maildir_path(st, domain, user, p, sizeof(p));
	if (rc == 0)
		rc = maildir_fmt(p + strlen(p), sizeof(p) - strlen(p), "/%s", MAILDIR_SUBS_FILE);
	if (rc == 0)
		rc = file_read_all(p, MAILDIR_SUBS_MAX, &text, &len);
	if (rc == -MGW_ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	/* Version 2 (dovecot 2.3): "V\t2", an empty line, names with '\t' between levels.
	 * Version 1 (older dovecot, courier): one name a line, '.' between levels. */
	if (len >= 4 && memcmp(text, "V\t2\n", 4) == 0)
		pos = 4;
	while (pos < len && rc == 0) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos;

		pos += l + 1;
		if (l == 0 || l > MAILDIR_FOLDER_MAX)
			continue;
		for (size_t i = 0; i < l; i++)
			name[i] = line[i] == '\t' ? '.' : line[i];
		name[l] = '\0';
		if ((strcasecmp(name, "INBOX") == 0 || maildir_folder_valid(name)) &&
		    !maildir_folders_has(out, name))
			rc = maildir_folders_add(out, name, l);
	}
	free(text);
	if (rc < 0)
		maildir_folders_free(out);
	return rc;
}

static int maildir_subs_write(const char *root, const struct maildir_folders *f,
			      struct maildir_dirs *later)
{
	char p[MAILDIR_PATH_MAX], *text;
	size_t cap = 8, len;
	int rc;

	for (size_t i = 0; i < f->n; i++)
		cap += strlen(f->names[i]) + 1;
	text = malloc(cap);
	if (text == NULL)
		return -MGW_ENOMEM;
	memcpy(text, "V\t2\n\n", 5);
	len = 5;
	for (size_t i = 0; i < f->n; i++) {
		for (const char *c = f->names[i]; *c != '\0'; c++)
			text[len++] = *c == '.' ? '\t' : *c;
		text[len++] = '\n';
	}
	rc = maildir_fmt(p, sizeof(p), "%s/%s", root, MAILDIR_SUBS_FILE);
	if (rc == 0)
		rc = maildir_write_later(p, text, len, later);
	free(text);
	return rc;
}

int maildir_subs_set(const struct maildir_store *st, const char *domain, const char *user,
		     const char *name, bool on, struct maildir_dirs *later)
{
	char root[MAILDIR_PATH_MAX], p[MAILDIR_PATH_MAX];
	struct maildir_folders f;
	int rc, lockfd = -1;

	rc = maildir_path(st, domain, user, root, sizeof(root));
	if (rc == 0)
		rc = maildir_create(st, domain, user);
	if (rc == 0)
		rc = maildir_lock(root, MAILDIR_UIDVALIDITY_LOCK, false, &lockfd);
	if (rc < 0)
		return rc;
	rc = maildir_subs_list(st, domain, user, &f);
	if (rc == 0 && maildir_folders_has(&f, name) == on) {
		/* Nothing changes: no rewrite (and none of its fsyncs); but what is confirmed
		 * must be durable (an earlier rewrite may still wait for its flush). */
		if (later != NULL &&
		    maildir_fmt(p, sizeof(p), "%s/%s", root, MAILDIR_SUBS_FILE) == 0)
			rc = maildir_dirs_add_pending(later, p);
		goto out;
	}
	if (rc == 0 && on)
		rc = maildir_folders_add(&f, name, strlen(name));
	if (rc == 0 && !on) {
		size_t j = 0;

		for (size_t i = 0; i < f.n; i++) {
			if (strcmp(f.names[i], name) == 0)
				free(f.names[i]);
			else
				f.names[j++] = f.names[i];
		}
		f.n = j;
	}
	if (rc == 0)
		rc = maildir_subs_write(root, &f, later);
out:
	maildir_folders_free(&f);
	close(lockfd);
	return rc;
}

int maildir_folder_defaults(const struct maildir_store *st, const char *domain, const char *user)
{
	char root[MAILDIR_PATH_MAX], p[MAILDIR_PATH_MAX];
	struct maildir_folders f = {0};
	struct maildir_dirs later = {0};
	struct stat sb;
	int rc;

	rc = maildir_path(st, domain, user, root, sizeof(root));
	if (rc == 0)
		rc = maildir_fmt(p, sizeof(p), "%s/%s", root, MAILDIR_SUBS_FILE);
	if (rc < 0)
		return rc;
	if (stat(p, &sb) == 0 && sb.st_size > 0)
		return 0; /* not the first login (an empty file: its data lost in a crash) */
	for (size_t i = 0; rc == 0 && i < MGW_ARRAY_LEN(maildir_special_folders); i++) {
		const char *name = maildir_special_folders[i];

		rc = maildir_folder_create_later(st, domain, user, name, &later);
		if (rc == -MGW_EEXIST) {
			/* Made by an earlier try whose flush may have failed: flushed again. */
			rc = maildir_folder_dir(root, name, p, sizeof(p));
			if (rc == 0)
				rc = maildir_dirs_add(&later, p);
			if (rc == 0)
				rc = maildir_dirs_add(&later, root);
		}
		if (rc == 0)
			rc = maildir_folders_add(&f, name, strlen(name));
	}
	/* The folders are durable before the file that says they were made. */
	rc = maildir_folder_flushed(rc, &later);
	if (rc == 0)
		rc = maildir_subs_write(root, &f, NULL);
	maildir_folders_free(&f);
	return rc;
}
