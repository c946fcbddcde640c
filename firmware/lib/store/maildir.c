/*
 * maildir.c - the Maildir store: delivery (all or nothing), mailbox snapshots with
 * stable UIDs, flags, expunge, start-up cleanup (see maildir.h for the contracts and the
 * on-disk layout). The UID list and the directory sync are in uidlist.c, the usage for
 * the quota in quota.c.
 *
 * Ownership: a box owns its msgs array and every msgs[i].name; scan results are built in
 * a struct maildir_scan and handed over whole. Every path is built with snprintf into a
 * MAILDIR_PATH_MAX buffer and checked for truncation.
 */
#include "store/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "store/dirsync.h"
#include "store/folder.h"
#include "store/maildir_int.h"
#include "store/quota.h"

#define MAILDIR_FLAG_LETTERS "DFPRST" /* bit i of enum maildir_flag is letter i */

/* ---- small helpers ---------------------------------------------------------------- */

int maildir_errno_code(int e)
{
	return (e == ENOSPC || e == EDQUOT) ? -MGW_ENOSPC : -MGW_EIO;
}

int maildir_fmt(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= outsz) ? -MGW_ELIMIT : 0;
}

/* Length of the base name: up to the ':' that starts the info part (Maildir spec). */
size_t maildir_base_len(const char *name)
{
	return strcspn(name, ":");
}

/* A name we accept in new/ and cur/: no dot files (., .., dovecot's own), no '/'. */
bool maildir_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= MAILDIR_NAME_MAX && name[0] != '.' && strchr(name, '/') == NULL &&
	       strchr(name, '\n') == NULL;
}

void maildir_scan_free(struct maildir_scan *sc)
{
	size_t i;

	for (i = 0; i < sc->n; i++)
		free(sc->e[i].name);
	free(sc->e);
	memset(sc, 0, sizeof(*sc));
}

int maildir_scan_add(struct maildir_scan *sc, const char *name, uint64_t size, bool in_new)
{
	struct maildir_ent *e;

	if (sc->n == sc->cap) {
		size_t ncap = sc->cap ? sc->cap * 2 : 64;

		if (sc->n >= MAILDIR_MSGS_MAX)
			return -MGW_ELIMIT;
		e = realloc(sc->e, ncap * sizeof(*e));
		if (e == NULL)
			return -MGW_ENOMEM;
		sc->e = e;
		sc->cap = ncap;
	}
	e = &sc->e[sc->n];
	e->name = strdup(name);
	if (e->name == NULL)
		return -MGW_ENOMEM;
	e->base_len = maildir_base_len(name);
	e->uid = 0;
	e->size = size;
	e->vsize = 0;
	e->vsize_ok = false;
	e->w_skip = false;
	e->in_new = in_new;
	sc->n++;
	return 0;
}

int maildir_base_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int maildir_ent_base_cmp(const void *pa, const void *pb)
{
	const struct maildir_ent *a = pa, *b = pb;
	int c = maildir_base_cmp(a->name, a->base_len, b->name, b->base_len);

	/* Equal bases (same message in new/ and cur/): cur/ first, it is the newer state. */
	return c != 0 ? c : (int)a->in_new - (int)b->in_new;
}

int maildir_ent_uid_cmp(const void *pa, const void *pb)
{
	const struct maildir_ent *a = pa, *b = pb;

	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

/* Arrival order of unique names "<sec>.M<usec>P..." (others sort by name after them). */
static void maildir_arrival_key(const char *name, unsigned long long *sec, unsigned long *usec)
{
	char *end;

	*sec = strtoull(name, &end, 10);
	*usec = 0;
	if (end == name) {
		*sec = ~0ull;
		return;
	}
	if (end[0] == '.' && end[1] == 'M')
		*usec = strtoul(end + 2, NULL, 10);
}

int maildir_ent_arrival_cmp(const void *pa, const void *pb)
{
	const struct maildir_ent *a = pa, *b = pb;
	unsigned long long as, bs;
	unsigned long au, bu;

	maildir_arrival_key(a->name, &as, &au);
	maildir_arrival_key(b->name, &bs, &bu);
	if (as != bs)
		return as < bs ? -1 : 1;
	if (au != bu)
		return au < bu ? -1 : 1;
	return maildir_base_cmp(a->name, a->base_len, b->name, b->base_len);
}

/* qsort that accepts an empty (NULL) array. */
void maildir_sort(struct maildir_ent *e, size_t n, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(e, n, sizeof(*e), cmp);
}

unsigned maildir_name_flags(const char *name)
{
	const char *info = strstr(name, ":2,");
	unsigned flags = 0;
	const char *l;

	if (info == NULL)
		return 0;
	for (info += 3; *info != '\0'; info++) {
		l = strchr(MAILDIR_FLAG_LETTERS, *info);
		if (l != NULL)
			flags |= 1u << (l - MAILDIR_FLAG_LETTERS);
		else if (*info >= 'a' && *info <= 'z')
			flags |= MAILDIR_F_KW(*info - 'a');
	}
	return flags;
}

/* The ":2," letters for flags (system and keyword bits) plus the letters of name's info
 * part that are neither, ASCII-sorted as the Maildir spec asks. */
static void maildir_info(const char *name, unsigned flags, char *info, size_t infosz)
{
	const char *old = strstr(name, ":2,");
	size_t n = 0, k;

	for (k = 0; k < strlen(MAILDIR_FLAG_LETTERS); k++)
		if (flags & (1u << k))
			info[n++] = MAILDIR_FLAG_LETTERS[k];
	for (k = 0; k < MAILDIR_KW_MAX; k++)
		if (flags & MAILDIR_F_KW(k))
			info[n++] = (char)('a' + k);
	for (old = old ? old + 3 : ""; *old != '\0' && n < infosz - 1; old++)
		if (strchr(MAILDIR_FLAG_LETTERS, *old) == NULL && !(*old >= 'a' && *old <= 'z') &&
		    *old > ' ' && *old != '/' && memchr(info, *old, n) == NULL)
			info[n++] = *old;
	info[n] = '\0';
	for (k = 1; k < n; k++)
		for (size_t l = k; l > 0 && info[l - 1] > info[l]; l--) {
			char c = info[l];

			info[l] = info[l - 1];
			info[l - 1] = c;
		}
}

/* ---- store ------------------------------------------------------------------------ */

int maildir_store_init(struct maildir_store *st, const char *data_dir, const char *hostname,
		       uint64_t reserve_bytes)
{
	char p[MAILDIR_PATH_MAX];
	size_t i;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = maildir_fmt(st->data_dir, sizeof(st->data_dir), "%s", data_dir);
	if (rc < 0)
		return rc;
	/* The host part of unique names must not contain '/' or ':' (Maildir spec) nor
	 * anything our name checks refuse; anything unusual becomes '_'. */
	for (i = 0; hostname[i] != '\0' && i < sizeof(st->host) - 1; i++) {
		char c = hostname[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || (c == '.' && i > 0);

		st->host[i] = ok ? c : '_';
	}
	if (i == 0)
		snprintf(st->host, sizeof(st->host), "mailgw");
	st->reserve_bytes = reserve_bytes;
	/* One syncfs per batch of deliveries where the data has a filesystem of its own. */
	(void)dirsync_fs_auto(st->data_dir);
	rc = maildir_fmt(p, sizeof(p), "%s/mail", data_dir);
	if (rc == 0)
		rc = file_mkdirs(p, 0700);
	if (rc == 0)
		rc = maildir_fmt(p, sizeof(p), "%s/spool", data_dir);
	if (rc == 0)
		rc = file_mkdirs(p, 0700);
	return rc;
}

int maildir_store_space_check(const struct maildir_store *st, uint64_t need, bool admin)
{
	uint64_t reserve = admin ? st->reserve_bytes / 2 : st->reserve_bytes;
	struct statvfs vfs;
	uint64_t avail;

	if (statvfs(st->data_dir, &vfs) < 0) {
		log_err("%s: statvfs: %s", st->data_dir, strerror(errno));
		return -MGW_EIO;
	}
	avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	if (avail < need || avail - need < reserve)
		return -MGW_ENOSPC;
	/* A filesystem that counts inodes needs a few per delivery (file, maybe dirs). */
	if (vfs.f_files > 0 && vfs.f_favail < 16)
		return -MGW_ENOSPC;
	return 0;
}

int maildir_path(const struct maildir_store *st, const char *domain, const char *user, char *out,
		 size_t outsz)
{
	if (!passwd_domain_valid(domain) || !passwd_user_valid(user))
		return -MGW_EINVAL;
	return maildir_fmt(out, outsz, "%s/mail/%s/%s/Maildir", st->data_dir, domain, user);
}

/* Removes files in dir: all of them, or those last modified before cutoff. */
static int maildir_dir_prune(const char *dir, bool all, time_t cutoff, unsigned *removed)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (d == NULL) /* no such Maildir (or not one): nothing to clean */
		return errno == ENOENT || errno == ENOTDIR ? 0 : -MGW_EIO;
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(sb.st_mode))
			continue;
		if (!all && sb.st_mtime >= cutoff)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			log_err("%s/%s: cannot remove stale file: %s", dir, de->d_name,
				strerror(errno));
			rc = -MGW_EIO;
			continue;
		}
		log_info("%s/%s: removed stale file", dir, de->d_name);
		(*removed)++;
	}
	closedir(d);
	return rc;
}

/* Prunes stale files from tmp/ of the Maildir md and of each of its folders. */
static int maildir_tmp_prune(const char *md, time_t now, unsigned *count)
{
	char p[MAILDIR_PATH_MAX];
	struct dirent *fe;
	DIR *fd;
	int rc = 0, r;

	if (maildir_fmt(p, sizeof(p), "%s/tmp", md) == 0)
		rc = maildir_dir_prune(p, false, now - MAILDIR_TMP_STALE_SEC, count);
	fd = opendir(md);
	while (fd != NULL && (fe = readdir(fd)) != NULL) {
		if (fe->d_name[0] != '.' || !maildir_folder_valid(fe->d_name + 1) ||
		    maildir_fmt(p, sizeof(p), "%s/%s/tmp", md, fe->d_name) < 0)
			continue;
		r = maildir_dir_prune(p, false, now - MAILDIR_TMP_STALE_SEC, count);
		if (r < 0)
			rc = r;
	}
	if (fd != NULL)
		closedir(fd);
	return rc;
}

int maildir_store_cleanup(struct maildir_store *st, time_t now, unsigned *removed)
{
	char p[MAILDIR_PATH_MAX];
	unsigned count = 0;
	DIR *dd = NULL, *ud;
	struct dirent *de, *ue;
	int rc, r;

	rc = maildir_fmt(p, sizeof(p), "%s/spool", st->data_dir);
	if (rc == 0)
		rc = maildir_dir_prune(p, true, 0, &count);
	if (maildir_fmt(p, sizeof(p), "%s/mail", st->data_dir) == 0)
		dd = opendir(p);
	while (dd != NULL && (de = readdir(dd)) != NULL) {
		if (!passwd_domain_valid(de->d_name))
			continue;
		if (maildir_fmt(p, sizeof(p), "%s/mail/%s", st->data_dir, de->d_name) < 0)
			continue;
		ud = opendir(p);
		while (ud != NULL && (ue = readdir(ud)) != NULL) {
			if (!passwd_user_valid(ue->d_name))
				continue;
			if (maildir_fmt(p, sizeof(p), "%s/mail/%s/%s/Maildir", st->data_dir,
					de->d_name, ue->d_name) < 0)
				continue;
			r = maildir_tmp_prune(p, now, &count);
			if (r < 0)
				rc = r;
		}
		if (ud != NULL)
			closedir(ud);
	}
	if (dd != NULL)
		closedir(dd);
	if (removed != NULL)
		*removed = count;
	return rc;
}

/* ---- delivery --------------------------------------------------------------------- */

int maildir_dlv_begin(struct maildir_store *st, struct maildir_dlv *d)
{
	return maildir_dlv_begin_at(st, d, 0);
}

int maildir_dlv_begin_at(struct maildir_store *st, struct maildir_dlv *d, time_t when)
{
	struct timeval tv;
	int rc;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->st = st;
	gettimeofday(&tv, NULL);
	d->t_sec = when > 0 ? when : tv.tv_sec;
	d->when = when;
	d->t_usec = (long)tv.tv_usec;
	/* Atomic: SMTP creates its spool files on worker threads (proto/smtp_sess.c). */
	d->q = __atomic_add_fetch(&st->counter, 1, __ATOMIC_RELAXED);
	rc = maildir_fmt(d->spool, sizeof(d->spool), "%s/spool/%lld.M%ldP%ldQ%u.%s", st->data_dir,
			 (long long)d->t_sec, d->t_usec, (long)getpid(), d->q, st->host);
	if (rc < 0) {
		d->spool[0] = '\0'; /* never unlink a truncated path */
		return rc;
	}
	d->fd = open(d->spool, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (d->fd < 0) {
		rc = maildir_errno_code(errno);
		log_err("%s: cannot create: %s", d->spool, strerror(errno));
		d->spool[0] = '\0';
		return rc;
	}
	return 0;
}

/* A delivery is active from a successful begin until commit or abort. The spool name,
 * not the fd, says so: a zeroed struct has fd 0, which is not ours. */
static bool maildir_dlv_active(const struct maildir_dlv *d)
{
	return d->spool[0] != '\0' && d->fd >= 0;
}

int maildir_dlv_write(struct maildir_dlv *d, const void *p, size_t len)
{
	const char *c = p;

	if (!maildir_dlv_active(d))
		return -MGW_EINVAL;
	if (d->err < 0)
		return d->err;
	d->err = file_write_all(d->fd, c, len);
	if (d->err < 0) {
		log_err("%s: write: %s", d->spool, strerror(errno));
		return d->err;
	}
	d->size += len;
	crlf_count_add(&d->crlf, c, len);
	return 0;
}

void maildir_dlv_abort(struct maildir_dlv *d)
{
	if (!maildir_dlv_active(d))
		return;
	close(d->fd);
	d->fd = -1;
	unlink(d->spool);
	d->spool[0] = '\0';
}

/* Per recipient progress of a commit, so a failure can undo exactly what was done. */
struct maildir_dlv_rcpt {
	const struct maildir_rcpt *r;
	char md[MAILDIR_PATH_MAX];     /* the Maildir, or the folder's directory */
	char root[MAILDIR_PATH_MAX];   /* the Maildir (maildirsize) */
	char newdir[MAILDIR_PATH_MAX]; /* md/new */
	enum { MAILDIR_DLV_NONE, MAILDIR_DLV_TMP, MAILDIR_DLV_NEW } stage;
};

/* Copies the spool file to dst (used when the filesystem refuses hard links). */
static int maildir_copy(const char *src, const char *dst)
{
	char buf[MAILDIR_COPY_CHUNK];
	int in, out, rc = -MGW_EIO;
	ssize_t n;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -MGW_EIO;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0) {
		rc = maildir_errno_code(errno);
		close(in);
		return rc;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		rc = file_write_all(out, buf, (size_t)n);
		if (rc < 0)
			goto out;
		rc = -MGW_EIO;
	}
	if (fsync(out) < 0) {
		rc = maildir_errno_code(errno);
		goto out;
	}
	rc = 0;
out:
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = maildir_errno_code(errno);
	if (rc < 0)
		unlink(dst);
	return rc;
}

/* The same mailbox: user and folder. */
static bool maildir_rcpt_same(const struct maildir_rcpt *a, const struct maildir_rcpt *b)
{
	return strcmp(a->domain, b->domain) == 0 && strcmp(a->user, b->user) == 0 &&
	       (a->folder == b->folder ||
		(a->folder && b->folder && strcmp(a->folder, b->folder) == 0));
}

static void maildir_dlv_undo(struct maildir_dlv_rcpt *rs, size_t n, const char *name)
{
	char p[MAILDIR_PATH_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		if (rs[i].stage == MAILDIR_DLV_NONE)
			continue;
		if (maildir_fmt(p, sizeof(p), "%s/%s/%s", rs[i].md,
				rs[i].stage == MAILDIR_DLV_NEW ? "new" : "tmp", name) < 0)
			continue;
		if (unlink(p) < 0 && errno != ENOENT)
			log_err("%s: cannot remove after a failed delivery: %s", p,
				strerror(errno));
		else if (rs[i].stage == MAILDIR_DLV_NEW &&
			 maildir_fmt(p, sizeof(p), "%s/new", rs[i].md) == 0)
			(void)dirsync_fsync(p);
		rs[i].stage = MAILDIR_DLV_NONE;
	}
}

/* Private state of one delivery during a (batch) commit. */
struct maildir_cst {
	struct maildir_commit *c;
	struct maildir_dlv_rcpt *rs; /* its distinct recipients */
	size_t nr;
	bool placed; /* renamed into every new/, waiting for the flush of the directories */
	char name[MAILDIR_NAME_MAX + 1];
};

/* Checks the delivery, lists its distinct recipients with their paths (this validates
 * the names), names the file, sets the internal date. */
static int maildir_commit_prepare(struct maildir_cst *cs)
{
	struct maildir_dlv *d = cs->c->d;
	const struct maildir_rcpt *rcpts = cs->c->rcpts;
	size_t n = cs->c->n, i, j;
	int rc;

	if (!maildir_dlv_active(d))
		return -MGW_EINVAL;
	if (d->err < 0)
		return d->err;
	if (n == 0 || n > MAILDIR_RCPT_MAX)
		return -MGW_ELIMIT;
	cs->rs = calloc(n, sizeof(*cs->rs));
	if (cs->rs == NULL)
		return -MGW_ENOMEM;
	for (i = 0; i < n; i++) {
		struct maildir_dlv_rcpt *r = &cs->rs[cs->nr];

		for (j = 0; j < cs->nr; j++)
			if (maildir_rcpt_same(cs->rs[j].r, &rcpts[i]))
				break;
		if (j < cs->nr)
			continue;
		r->r = &rcpts[i];
		rc = maildir_path(d->st, rcpts[i].domain, rcpts[i].user, r->root, sizeof(r->root));
		if (rc == 0)
			rc = maildir_folder_dir(r->root, rcpts[i].folder, r->md, sizeof(r->md));
		if (rc == 0)
			rc = maildir_fmt(r->newdir, sizeof(r->newdir), "%s/new", r->md);
		if (rc < 0)
			return rc;
		cs->nr++;
	}
	/* S= the file's size, W= its size as sent (dovecot's fields): readers take both
	 * from the name without opening the file. */
	rc = maildir_fmt(cs->name, sizeof(cs->name), "%s,S=%llu,W=%llu", strrchr(d->spool, '/') + 1,
			 (unsigned long long)d->size,
			 (unsigned long long)crlf_count_total(&d->crlf));
	if (rc < 0)
		return rc;
	/* The internal date of an IMAP APPEND is the file's time, which dovecot takes as
	 * the received date (made durable with the data). */
	if (d->when > 0) {
		struct timespec ts[2] = {{d->when, 0}, {d->when, 0}};

		if (futimens(d->fd, ts) < 0)
			log_warn("%s: futimens: %s", d->spool, strerror(errno));
	}
	return 0;
}

static void maildir_commit_failed(struct maildir_cst *cs, size_t i, int rc)
{
	log_err("delivery of %s to %s@%s failed (%s): removed from all %zu recipients", cs->name,
		cs->rs[i].r->user, cs->rs[i].r->domain, mgw_strerror(rc), cs->nr);
	maildir_dlv_undo(cs->rs, cs->nr, cs->name);
	cs->placed = false;
}

/* Steps 2 and 3 of one delivery whose data is durable: into every tmp/, then renamed
 * into every new/. On failure what was done is undone. */
static int maildir_commit_place(struct maildir_cst *cs)
{
	struct maildir_dlv *d = cs->c->d;
	char tmp[MAILDIR_PATH_MAX], dst[MAILDIR_PATH_MAX];
	struct maildir_dlv_rcpt *rs = cs->rs;
	size_t i;
	int rc;

	/* 2. Into every tmp/. */
	for (i = 0; i < cs->nr; i++) {
		rc = rs[i].r->folder ? maildir_folder_exists(rs[i].md)
				     : maildir_create(d->st, rs[i].r->domain, rs[i].r->user);
		if (rc == 0)
			rc = maildir_fmt(tmp, sizeof(tmp), "%s/tmp/%s", rs[i].md, cs->name);
		if (rc < 0)
			goto fail;
		if (link(d->spool, tmp) < 0) {
			if (errno == EXDEV || errno == EPERM || errno == EMLINK ||
			    errno == ENOTSUP) {
				rc = maildir_copy(d->spool, tmp);
			} else {
				rc = maildir_errno_code(errno);
				log_err("%s: link: %s", tmp, strerror(errno));
			}
			if (rc < 0)
				goto fail;
		}
		rs[i].stage = MAILDIR_DLV_TMP;
	}
	/* 3. Visible: one atomic rename each. */
	for (i = 0; i < cs->nr; i++) {
		rc = maildir_fmt(tmp, sizeof(tmp), "%s/tmp/%s", rs[i].md, cs->name);
		if (rc == 0)
			rc = maildir_fmt(dst, sizeof(dst), "%s/new/%s", rs[i].md, cs->name);
		if (rc < 0)
			goto fail;
		if (rename(tmp, dst) < 0) {
			rc = maildir_errno_code(errno);
			log_err("%s: rename to %s: %s", tmp, dst, strerror(errno));
			goto fail;
		}
		rs[i].stage = MAILDIR_DLV_NEW;
	}
	cs->placed = true;
	return 0;
fail:
	maildir_commit_failed(cs, i, rc);
	return rc;
}

static int maildir_strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The batch's flushes: the data of every delivery (one syncfs, or an fsync each), then
 * the new/ directories they were renamed into (one syncfs, or one fsync per distinct
 * directory); deliveries committing on other workers share them (store/dirsync.h).
 * A failed directory flush fails every delivery of the batch. */
static void maildir_commit_flush(struct maildir_cst *cs, size_t n, size_t total)
{
	const char **dirs = calloc(total ? total : 1, sizeof(*dirs));
	const char **paths = calloc(n, sizeof(*paths));
	int *fds = calloc(n, sizeof(*fds)), *rcs = calloc(n, sizeof(*rcs));
	size_t i, k, nf = 0, nd = 0;
	int rc;

	if (dirs == NULL || paths == NULL || fds == NULL || rcs == NULL) {
		for (i = 0; i < n; i++)
			if (cs[i].c->rc == 0)
				cs[i].c->rc = -MGW_ENOMEM;
		goto out;
	}
	/* 1. The content is on disk before any name points at it. */
	for (i = 0; i < n; i++)
		if (cs[i].c->rc == 0) {
			fds[nf] = cs[i].c->d->fd;
			paths[nf++] = cs[i].c->d->spool;
		}
	dirsync_file_n(fds, paths, nf, rcs);
	for (i = 0, k = 0; i < n; i++)
		if (cs[i].c->rc == 0)
			cs[i].c->rc = rcs[k++];
	for (i = 0; i < n; i++) {
		if (cs[i].c->rc == 0)
			cs[i].c->rc = maildir_commit_place(&cs[i]);
		for (k = 0; cs[i].placed && k < cs[i].nr; k++)
			dirs[nd++] = cs[i].rs[k].newdir;
	}
	/* 4. Durable: the new/ entries survive a power cut. */
	if (nd > 1)
		qsort(dirs, nd, sizeof(*dirs), maildir_strp_cmp);
	for (i = k = 0; i < nd; i++)
		if (k == 0 || strcmp(dirs[k - 1], dirs[i]) != 0)
			dirs[k++] = dirs[i];
	rc = k > 0 ? dirsync_fsync_n(dirs, k) : 0;
	for (i = 0; i < n; i++) {
		if (!cs[i].placed)
			continue;
		if (rc < 0) {
			cs[i].c->rc = rc;
			maildir_commit_failed(&cs[i], 0, rc);
			continue;
		}
		/* 5. Usage for the quota (quota.h): one appended line per mailbox. */
		for (k = 0; k < cs[i].nr; k++)
			maildir_quota_add(cs[i].rs[k].root, (int64_t)cs[i].c->d->size, 1);
	}
out:
	free(dirs);
	free(paths);
	free(fds);
	free(rcs);
}

void maildir_dlv_commit_batch(struct maildir_commit *c, size_t n)
{
	struct maildir_cst *cs = calloc(n ? n : 1, sizeof(*cs));
	size_t i, total = 0;

	for (i = 0; i < n; i++) {
		c[i].rc = -MGW_ENOMEM;
		if (cs == NULL)
			continue;
		cs[i].c = &c[i];
		c[i].rc = maildir_commit_prepare(&cs[i]);
		total += cs[i].nr;
	}
	if (cs != NULL)
		maildir_commit_flush(cs, n, total);
	/* 6. The spool copies are no longer needed, whatever happened. */
	for (i = 0; i < n; i++) {
		maildir_dlv_abort(c[i].d);
		if (cs != NULL)
			free(cs[i].rs);
	}
	free(cs);
}

int maildir_dlv_commit_run(struct maildir_dlv *d, const struct maildir_rcpt *rcpts, size_t n)
{
	struct maildir_commit c = {.d = d, .rcpts = rcpts, .n = n};

	maildir_dlv_commit_batch(&c, 1);
	return c.rc;
}

void maildir_dlv_notify(const struct maildir_store *st, const struct maildir_rcpt *rcpts, size_t n)
{
	if (st->notify == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < i; j++)
			if (strcmp(rcpts[j].domain, rcpts[i].domain) == 0 &&
			    strcmp(rcpts[j].user, rcpts[i].user) == 0)
				break; /* one call per user, whatever the folders */
		if (j == i)
			st->notify(st->notify_arg, rcpts[i].domain, rcpts[i].user);
	}
}

int maildir_dlv_commit(struct maildir_dlv *d, const struct maildir_rcpt *rcpts, size_t n)
{
	struct maildir_store *st = d->st;
	int rc = maildir_dlv_commit_run(d, rcpts, n);

	if (rc == 0)
		maildir_dlv_notify(st, rcpts, n);
	return rc;
}

/* ---- mailbox ---------------------------------------------------------------------- */

void maildir_box_close(struct maildir_box *box)
{
	size_t i;

	for (i = 0; i < box->count; i++)
		free(box->msgs[i].name);
	free(box->msgs);
	/* > 0, not >= 0: a zeroed box has 0 there, and fd 0 is never our lock (stdin is
	 * kept open on /dev/null by the daemon). */
	if (box->lock_fd > 0)
		close(box->lock_fd);
	if (box->dir_fd > 0)
		close(box->dir_fd);
	memset(box, 0, sizeof(*box));
	box->lock_fd = box->dir_fd = -1;
}

static int maildir_box_append(struct maildir_box *box, struct maildir_ent *e)
{
	struct maildir_msg *m;

	if (box->count == box->cap) {
		size_t ncap = box->cap ? box->cap * 2 : 64;

		m = realloc(box->msgs, ncap * sizeof(*m));
		if (m == NULL)
			return -MGW_ENOMEM;
		box->msgs = m;
		box->cap = ncap;
	}
	m = &box->msgs[box->count++];
	memset(m, 0, sizeof(*m));
	m->uid = e->uid;
	m->size = e->size;
	m->vsize = e->vsize;
	m->in_new = e->in_new;
	m->flags = maildir_name_flags(e->name);
	m->name = e->name; /* ownership moves to the box */
	m->base_len = e->base_len;
	e->name = NULL;
	return 0;
}

int maildir_box_open(struct maildir_box *box, const struct maildir_store *st, const char *domain,
		     const char *user, unsigned flags)
{
	return maildir_folder_open(box, st, domain, user, NULL, flags);
}

int maildir_folder_open(struct maildir_box *box, const struct maildir_store *st, const char *domain,
			const char *user, const char *folder, unsigned flags)
{
	struct maildir_scan sc = {0};
	size_t i;
	int rc;

	memset(box, 0, sizeof(*box));
	box->lock_fd = box->dir_fd = -1;
	rc = maildir_path(st, domain, user, box->root, sizeof(box->root));
	if (rc == 0)
		rc = maildir_folder_dir(box->root, folder, box->path, sizeof(box->path));
	if (rc == 0)
		rc = folder ? maildir_folder_exists(box->path) : maildir_create(st, domain, user);
	if (rc == 0 && (flags & MAILDIR_OPEN_EXCL))
		rc = maildir_lock(box->path, MAILDIR_SESSION_LOCK, true, &box->lock_fd);
	box->defer = flags & MAILDIR_OPEN_DEFER;
	if (rc == 0)
		rc = maildir_sync_ex(box->path, &sc, box->defer, &box->uidlist_gen);
	for (i = 0; rc == 0 && i < sc.n; i++)
		if (sc.e[i].vsize_ok)
			rc = maildir_box_append(box, &sc.e[i]);
	if (rc == 0) {
		box->uidvalidity = sc.uidvalidity;
		box->uidnext = sc.uidnext;
		/* A FETCH opens every message: relative to this, the kernel walks two path
		 * components instead of the whole data path each time. Without it (out of
		 * fds) maildir_msg_open() takes the full path. */
		box->dir_fd = open(box->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	maildir_scan_free(&sc);
	if (rc < 0)
		maildir_box_close(box);
	return rc;
}

long maildir_box_find_uid(const struct maildir_box *box, uint32_t uid)
{
	size_t lo = 0, hi = box->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (box->msgs[mid].uid == uid)
			return (long)mid;
		if (box->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -MGW_ENOENT;
}

int maildir_box_rescan(struct maildir_box *box, size_t *added)
{
	struct maildir_scan sc = {0};
	size_t i, j, n = 0;
	int rc;

	if (added != NULL)
		*added = 0;
	rc = maildir_sync_ex(box->path, &sc, box->defer, &box->uidlist_gen);
	if (rc < 0)
		return rc;
	if (sc.uidvalidity != box->uidvalidity) {
		log_warn("%s: UIDVALIDITY changed under an open mailbox", box->path);
		rc = -MGW_EAGAIN;
		goto out;
	}
	/* Both lists are sorted by UID: walk them together. */
	for (i = 0, j = 0; i < box->count; i++) {
		struct maildir_msg *m = &box->msgs[i];

		while (j < sc.n && sc.e[j].uid < m->uid)
			j++; /* not in our snapshot and older: cannot happen (see maildir.h) */
		if (j < sc.n && sc.e[j].uid == m->uid) {
			if (strcmp(m->name, sc.e[j].name) != 0) {
				free(m->name);
				m->name = sc.e[j].name;
				sc.e[j].name = NULL;
				m->base_len = sc.e[j].base_len;
				m->in_new = sc.e[j].in_new;
				m->flags = maildir_name_flags(m->name);
			}
			j++;
		} else {
			m->gone = true;
		}
	}
	for (; j < sc.n; j++) {
		if (box->count > 0 && sc.e[j].uid <= box->msgs[box->count - 1].uid)
			continue;
		if (!sc.e[j].vsize_ok)
			break; /* not sized yet: it and the later ones come with a later rescan */
		rc = maildir_box_append(box, &sc.e[j]);
		if (rc < 0)
			goto out;
		n++;
	}
	box->uidnext = sc.uidnext;
	if (added != NULL)
		*added = n;
out:
	maildir_scan_free(&sc);
	return rc;
}

void maildir_box_truncate(struct maildir_box *box, size_t count, uint32_t uidnext)
{
	while (box->count > count)
		free(box->msgs[--box->count].name);
	box->uidnext = uidnext;
}

/* Finds message i's file again by its base name after someone renamed it. */
static int maildir_msg_locate(struct maildir_box *box, size_t i)
{
	struct maildir_msg *m = &box->msgs[i];
	static const char *const subs[] = {"cur", "new"};
	char p[MAILDIR_PATH_MAX];
	size_t k;

	for (k = 0; k < MGW_ARRAY_LEN(subs); k++) {
		struct dirent *de;
		DIR *d;

		if (maildir_fmt(p, sizeof(p), "%s/%s", box->path, subs[k]) < 0)
			return -MGW_ELIMIT;
		d = opendir(p);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			char *name;

			if (!maildir_name_ok(de->d_name) ||
			    maildir_base_cmp(de->d_name, maildir_base_len(de->d_name), m->name,
					     m->base_len) != 0)
				continue;
			name = strdup(de->d_name);
			closedir(d);
			if (name == NULL)
				return -MGW_ENOMEM;
			free(m->name);
			m->name = name;
			m->in_new = k == 1;
			m->flags = maildir_name_flags(name);
			return 0;
		}
		closedir(d);
	}
	m->gone = true;
	return -MGW_ENOENT;
}

static int maildir_msg_path(const struct maildir_box *box, size_t i, char *out, size_t outsz)
{
	const struct maildir_msg *m = &box->msgs[i];

	return maildir_fmt(out, outsz, "%s/%s/%s", box->path, m->in_new ? "new" : "cur", m->name);
}

int maildir_msg_open(struct maildir_box *box, size_t i, int *fd)
{
	char p[MAILDIR_PATH_MAX];
	int attempt, rc;

	*fd = -1;
	if (i >= box->count)
		return -MGW_EINVAL;
	if (box->msgs[i].gone)
		return -MGW_ENOENT;
	for (attempt = 0; attempt < 2; attempt++) {
		const struct maildir_msg *m = &box->msgs[i];

		rc = box->dir_fd > 0
			 ? maildir_fmt(p, sizeof(p), "%s/%s", m->in_new ? "new" : "cur", m->name)
			 : maildir_msg_path(box, i, p, sizeof(p));
		if (rc < 0)
			return rc;
		*fd = openat(box->dir_fd > 0 ? box->dir_fd : AT_FDCWD, p,
			     O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		if (*fd >= 0)
			return 0;
		if (errno != ENOENT) {
			int e = errno;

			if (box->dir_fd > 0)
				(void)maildir_msg_path(box, i, p,
						       sizeof(p)); /* the log names it all */
			log_err("%s: open: %s", p, strerror(e));
			return -MGW_EIO;
		}
		rc = maildir_msg_locate(box, i);
		if (rc < 0)
			return rc;
	}
	return -MGW_ENOENT;
}

int maildir_msg_flags_set(struct maildir_box *box, size_t i, unsigned flags)
{
	struct maildir_msg *m;
	char from[MAILDIR_PATH_MAX], to[MAILDIR_PATH_MAX], name[MAILDIR_NAME_MAX + 1];
	char info[64];
	int attempt, lockfd, rc;

	if (i >= box->count)
		return -MGW_EINVAL;
	m = &box->msgs[i];
	if (m->gone)
		return -MGW_ENOENT;
	for (attempt = 0; attempt < 2; attempt++) {
		maildir_info(m->name, flags, info, sizeof(info));
		rc = maildir_fmt(name, sizeof(name), "%.*s:2,%s", (int)m->base_len, m->name, info);
		if (rc == 0)
			rc = maildir_msg_path(box, i, from, sizeof(from));
		if (rc == 0)
			rc = maildir_fmt(to, sizeof(to), "%s/cur/%s", box->path, name);
		if (rc < 0)
			return rc;
		if (strcmp(from, to) == 0)
			return 0;
		/* Under the uidlist lock, so that a concurrent scan never sees the message
		 * in neither directory (and drops its UID). */
		rc = maildir_lock(box->path, MAILDIR_UIDLIST_LOCK, false, &lockfd);
		if (rc < 0)
			return rc;
		rc = rename(from, to) == 0 ? 0 : errno;
		close(lockfd);
		if (rc == 0)
			break;
		if (rc != ENOENT) {
			log_err("%s: rename to %s: %s", from, to, strerror(rc));
			return -MGW_EIO;
		}
		rc = maildir_msg_locate(box, i);
		if (rc < 0)
			return rc;
		if (attempt == 1)
			return -MGW_ENOENT;
	}
	{
		char *dup = strdup(name);

		if (dup == NULL)
			return -MGW_ENOMEM;
		free(m->name);
		m->name = dup;
	}
	m->in_new = false;
	m->flags = maildir_name_flags(m->name);
	return 0;
}

int maildir_msg_copy(struct maildir_box *box, size_t i, struct maildir_store *st, const char *dst,
		     unsigned flags, char *base, size_t basesz)
{
	char src[MAILDIR_PATH_MAX], tmp[MAILDIR_PATH_MAX], to[MAILDIR_PATH_MAX];
	const struct maildir_msg *m;
	char info[64];
	long long sec = 0;
	struct timeval tv;
	size_t k = 0;
	int attempt, rc;

	if (i >= box->count)
		return -MGW_EINVAL;
	m = &box->msgs[i];
	if (m->gone)
		return -MGW_ENOENT;
	/* The copy keeps the internal date (RFC 3501 6.4.7): the <sec> of the name, and the
	 * file's mtime since it is the same file. */
	gettimeofday(&tv, NULL);
	while (m->name[k] >= '0' && m->name[k] <= '9' && k < 12)
		sec = sec * 10 + (m->name[k++] - '0');
	if (k == 0 || m->name[k] != '.')
		sec = tv.tv_sec;
	rc = maildir_fmt(base, basesz, "%lld.M%ldP%ldQ%u.%s,S=%llu,W=%llu", sec, (long)tv.tv_usec,
			 (long)getpid(), __atomic_add_fetch(&st->counter, 1, __ATOMIC_RELAXED),
			 st->host, (unsigned long long)m->size, (unsigned long long)m->vsize);
	if (rc == 0)
		rc = maildir_fmt(tmp, sizeof(tmp), "%s/tmp/%s", dst, base);
	if (rc < 0)
		return rc;
	for (attempt = 0; attempt < 2; attempt++) {
		rc = maildir_msg_path(box, i, src, sizeof(src));
		if (rc < 0)
			return rc;
		if (link(src, tmp) == 0)
			break;
		if (errno == EXDEV || errno == EPERM || errno == EMLINK || errno == ENOTSUP) {
			rc = maildir_copy(src, tmp);
			if (rc < 0)
				return rc;
			break;
		}
		if (errno != ENOENT || attempt == 1) {
			log_err("%s: link to %s: %s", src, tmp, strerror(errno));
			return errno == ENOENT ? -MGW_ENOENT : maildir_errno_code(errno);
		}
		rc = maildir_msg_locate(box, i); /* renamed by a flag change meanwhile */
		if (rc < 0)
			return rc;
	}
	m = &box->msgs[i];
	maildir_info(m->name, flags, info, sizeof(info));
	rc = maildir_fmt(to, sizeof(to), "%s/cur/%s:2,%s", dst, base, info);
	if (rc == 0 && rename(tmp, to) < 0) {
		log_err("%s: rename to %s: %s", tmp, to, strerror(errno));
		rc = maildir_errno_code(errno);
	}
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	/* The caller's name of the copy is the whole name in cur/ (it may have to remove
	 * it again: a COPY whose flush fails leaves the destination as it was). */
	rc = maildir_fmt(base, basesz, "%s", strrchr(to, '/') + 1);
	if (rc < 0)
		unlink(to);
	return rc;
}

int maildir_box_expunge(struct maildir_box *box, const size_t *idx, size_t n, size_t *failed)
{
	char p[MAILDIR_PATH_MAX];
	bool *del;
	size_t nfail = 0, i, j;
	int64_t freed = 0, nfreed = 0;

	if (failed != NULL)
		*failed = 0;
	del = calloc(box->count ? box->count : 1, sizeof(*del));
	if (del == NULL)
		return -MGW_ENOMEM;
	for (i = 0; i < n; i++)
		if (idx[i] < box->count)
			del[idx[i]] = true;
	for (i = 0; i < box->count; i++) {
		struct maildir_msg *m = &box->msgs[i];

		if (!del[i] || m->gone)
			continue;
		if (maildir_msg_path(box, i, p, sizeof(p)) == 0 && unlink(p) == 0)
			goto unlinked;
		/* Renamed meanwhile by a flag change elsewhere: find it and try once more. */
		if (errno == ENOENT && maildir_msg_locate(box, i) == -MGW_ENOENT)
			continue; /* removed by someone else, who accounts for it */
		if (maildir_msg_path(box, i, p, sizeof(p)) == 0 && unlink(p) == 0)
			goto unlinked;
		log_err("%s: cannot expunge: %s", p, strerror(errno));
		del[i] = false;
		nfail++;
		continue;
	unlinked:
		freed += (int64_t)m->size;
		nfreed++;
	}
	if (nfreed > 0)
		maildir_quota_add(box->root, -freed, -nfreed);
	for (i = 0, j = 0; i < box->count; i++) {
		if (del[i]) {
			free(box->msgs[i].name);
			continue;
		}
		box->msgs[j++] = box->msgs[i];
	}
	box->count = j;
	free(del);
	/* Neither flushed nor written back to the uidlist here: both would block the caller
	 * (the event loop) for an fsync. The caller makes the removals durable (new/ and
	 * cur/ flushed on a worker: store/flushjob.h) before it says so; the uidlist keeps
	 * the removed files' records until the next scan drops them (their UIDs are never
	 * reused either way: the next UID stays). */
	if (failed != NULL)
		*failed = nfail;
	return nfail > 0 ? -MGW_EIO : 0;
}

uint64_t maildir_box_size(const struct maildir_box *box)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < box->count; i++)
		if (!box->msgs[i].gone)
			total += box->msgs[i].vsize;
	return total;
}
