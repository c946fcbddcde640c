/*
 * layout.c - the /data ownership and permission layout (see layout.h).
 *
 * Every path is reached from the data directory's fd one component at a time with
 * openat(O_NOFOLLOW): a symlink planted in a directory the daemon once controlled (an old
 * /data/state, a Maildir) can never make root write or chown through it.
 */
#include "admin/layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "mgw_config.h"

#define LAYOUT_LIST_MAX 100000 /* names in one listed directory */

#define D(p, o, g, m, w)                                                                           \
	{                                                                                          \
		p, true, LAYOUT_##o, LAYOUT_##g, m, w                                              \
	}
#define F(p, o, g, m, w)                                                                           \
	{                                                                                          \
		p, false, LAYOUT_##o, LAYOUT_##g, m, w                                             \
	}

/* README "The /data layout". Parents come before their children. */
static const struct layout_entry layout_rows[] = {
    D("", ROOT, ROOT, 0755, "image"),
    D("etc", ROOT, DAEMON, 0750, "root tools"),
    F("etc/mailgw.conf", ROOT, DAEMON, 0640, "console, firstboot"),
    F("etc/network.conf", ROOT, ROOT, 0600, "console"),
    F("etc/shadow", ROOT, ROOT, 0600, "console"),
    F("etc/console.passwd", ROOT, ROOT, 0600, "console"),
    D("etc/domains", ROOT, DAEMON, 0750, "console, mailgw-passwd"),
    D("etc/domains/*", ROOT, DAEMON, 0750, "console, mailgw-passwd"),
    F("etc/domains/*/passwd", ROOT, DAEMON, 0640, "console, mailgw-passwd"),
    F("etc/domains/*/aliases", ROOT, DAEMON, 0640, "console"),
    D("etc/tls", ROOT, DAEMON, 0750, "console, firstboot, crlwatch"),
    F("etc/tls/server.crt", ROOT, DAEMON, 0640, "console, firstboot"),
    F("etc/tls/ca.crt", ROOT, DAEMON, 0640, "console"),
    F("etc/tls/crl.pem", ROOT, DAEMON, 0640, "console, crlwatch"),
    F("etc/tls/server.key", ROOT, ROOT, 0600, "console, firstboot"),
    D("ca", ROOT, ROOT, 0700, "console"),
    F("ca/ca.key", ROOT, ROOT, 0600, "console"),
    F("ca/ca.crt", ROOT, ROOT, 0600, "console"),
    F("ca/index.txt", ROOT, ROOT, 0600, "console"),
    F("ca/serial", ROOT, ROOT, 0600, "console"),
    F("ca/crlnumber", ROOT, ROOT, 0600, "console"),
    D("ca/certs", ROOT, ROOT, 0700, "console"),
    F("ca/certs/*", ROOT, ROOT, 0600, "console"),
    D("mail", DAEMON, DAEMON, 0700, "daemon"),
    D("spool", DAEMON, DAEMON, 0700, "daemon"),
    D("state", ROOT, ROOT, 0755, "root (clock)"),
    F("state/clock", ROOT, ROOT, 0644, "root (clock)"),
    F("state/data-format", ROOT, ROOT, 0644, "firmware migrations"),
    {NULL, false, LAYOUT_ROOT, LAYOUT_ROOT, 0, NULL},
};

/* Created by layout_check(LAYOUT_CREATE) when missing. */
static const char *const layout_created[] = {"etc",  "etc/domains", "etc/tls",
					     "mail", "spool",	    "state"};

struct layout_rep {
	layout_report_fn fn;
	void *arg;
	int count;
};

const struct layout_entry *layout_table(void)
{
	return layout_rows;
}

static void layout_msg(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void layout_msg(char *msg, size_t msgsz, const char *fmt, ...)
{
	va_list ap;

	if (msg == NULL || msgsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msgsz, fmt, ap);
	va_end(ap);
}

/* "rel" when non-empty, each component a plain name. */
static bool layout_rel_ok(const char *rel)
{
	const char *p = rel;

	if (strlen(rel) >= LAYOUT_PATH_MAX)
		return false;
	if (*rel == '\0')
		return true;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (slash == NULL)
			return true;
		p = slash + 1;
	}
}

/* '*' matches one non-empty component. */
static bool layout_match(const char *pat, const char *s)
{
	while (*pat != '\0') {
		if (*pat == '*') {
			size_t n = strcspn(s, "/");

			if (n == 0)
				return false;
			s += n;
			pat++;
			continue;
		}
		if (*pat != *s)
			return false;
		pat++;
		s++;
	}
	return *s == '\0';
}

const struct layout_entry *layout_find(const char *rel)
{
	const struct layout_entry *e;

	if (!layout_rel_ok(rel))
		return NULL;
	for (e = layout_rows; e->pattern != NULL; e++)
		if (layout_match(e->pattern, rel))
			return e;
	return NULL;
}

uid_t layout_uid(const struct layout *l, const struct layout_entry *e)
{
	return e->owner == LAYOUT_DAEMON ? l->du : 0;
}

gid_t layout_gid(const struct layout *l, const struct layout_entry *e)
{
	return e->group == LAYOUT_DAEMON ? l->dg : 0;
}

int layout_open(struct layout *l, const char *data_dir, const char *user, char *msg, size_t msgsz)
{
	char conf[LAYOUT_PATH_MAX + 32], err[CFG_ERR_MAX];
	struct mgw_cfg *cfg = NULL;
	struct passwd *pw;
	struct stat sb;
	int rc = -MGW_ELIMIT;

	memset(l, 0, sizeof(*l));
	l->dirfd = -1;
	layout_msg(msg, msgsz, "%s", "");
	if (strlen(data_dir) >= sizeof(l->data_dir)) {
		layout_msg(msg, msgsz, "%s: path too long", data_dir);
		return rc;
	}
	snprintf(l->data_dir, sizeof(l->data_dir), "%s", data_dir);
	if (user != NULL && user[0] != '\0') {
		snprintf(l->user, sizeof(l->user), "%s", user);
	} else {
		snprintf(conf, sizeof(conf), "%s/etc/mailgw.conf", data_dir);
		snprintf(l->user, sizeof(l->user), "%s", CONFIG_DAEMON_USER);
		if (lstat(conf, &sb) == 0) {
			rc = -MGW_ENOMEM;
			cfg = malloc(sizeof(*cfg));
			if (cfg == NULL)
				goto out;
			rc = cfg_load(conf, cfg, err, sizeof(err));
			if (rc < 0) {
				layout_msg(msg, msgsz, "%s", err);
				rc = -MGW_ECONFIG;
				goto out;
			}
			snprintf(l->user, sizeof(l->user), "%s", cfg->user);
		}
	}
	errno = 0;
	pw = getpwnam(l->user);
	if (pw == NULL) {
		layout_msg(msg, msgsz, "daemon user '%s': %s", l->user,
			   errno ? strerror(errno) : "no such user");
		rc = -MGW_ENOENT;
		goto out;
	}
	l->du = pw->pw_uid;
	l->dg = pw->pw_gid;
	l->dirfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dirfd < 0) {
		rc = errno == ENOENT ? -MGW_ENOENT : -MGW_EIO;
		layout_msg(msg, msgsz, "%s: %s", data_dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(cfg);
	return rc;
}

void layout_close(struct layout *l)
{
	if (l->dirfd >= 0)
		close(l->dirfd);
	l->dirfd = -1;
}

static int layout_errno_rc(int e)
{
	switch (e) {
	case ENOENT:
		return -MGW_ENOENT;
	case EACCES:
	case EPERM:
		return -MGW_EPERM;
	case ELOOP:
	case ENOTDIR:
		return -MGW_EINVAL;
	case ENOSPC:
	case EDQUOT:
		return -MGW_ENOSPC;
	default:
		return -MGW_EIO;
	}
}

static const char *layout_errno_text(int e)
{
	return (e == ELOOP || e == ENOTDIR) ? "a symlink or not a directory (not followed)"
					    : strerror(e);
}

/* Tells fn about one difference: "<data_dir>/<rel>: what[ -> done]". */
static void layout_report(const struct layout *l, struct layout_rep *rep, const char *rel,
			  const char *what, const char *done)
{
	char line[LAYOUT_MSG_MAX + LAYOUT_PATH_MAX];

	snprintf(line, sizeof(line), "%s%s%s: %s%s%s", l->data_dir, rel[0] ? "/" : "", rel, what,
		 done ? " -> " : "", done ? done : "");
	rep->count++;
	if (rep->fn != NULL)
		rep->fn(rep->arg, line);
	else
		log_warn("%s", line);
}

/*
 * Compares the open fd of rel with entry e and, with fix, corrects owner and mode (the
 * owner only as root: others can only ever own what they create). A freshly created
 * path (created) is set silently.
 */
static int layout_fix_fd(const struct layout *l, const struct layout_entry *e, int fd,
			 const char *rel, bool fix, bool created, struct layout_rep *rep)
{
	uid_t uid = layout_uid(l, e);
	gid_t gid = layout_gid(l, e);
	bool root = geteuid() == 0;
	char what[160], done[32];
	struct stat sb;
	bool own, mode;

	if (fstat(fd, &sb) < 0)
		return -MGW_EIO;
	own = root && (sb.st_uid != uid || sb.st_gid != gid);
	mode = (sb.st_mode & 07777) != e->mode;
	if (!own && !mode)
		return 0;
	snprintf(what, sizeof(what), "%u:%u %04o, the layout says %u:%u %04o", (unsigned)sb.st_uid,
		 (unsigned)sb.st_gid, (unsigned)(sb.st_mode & 07777), (unsigned)uid, (unsigned)gid,
		 (unsigned)e->mode);
	if (!fix) {
		layout_report(l, rep, rel, what, NULL);
		return 0;
	}
	if (own && fchown(fd, uid, gid) < 0) {
		int er = errno;

		layout_report(l, rep, rel, what, strerror(er));
		return layout_errno_rc(er);
	}
	if (mode && fchmod(fd, e->mode) < 0) {
		int er = errno;

		layout_report(l, rep, rel, what, strerror(er));
		return layout_errno_rc(er);
	}
	snprintf(done, sizeof(done), "corrected");
	if (!created)
		layout_report(l, rep, rel, what, done);
	return 0;
}

/*
 * Opens directory rel (never following a symlink). With ensure, each component is
 * created when missing and corrected per the table (reported through rep). Returns the
 * fd or a -MGW_E* code with msg set.
 */
static int layout_dir_fd(const struct layout *l, const char *rel, bool ensure,
			 struct layout_rep *rep, char *msg, size_t msgsz)
{
	char prefix[LAYOUT_PATH_MAX];
	const char *p = rel;
	int fd, rc;

	if (!layout_rel_ok(rel)) {
		layout_msg(msg, msgsz, "%s/%s: not a path below the data directory", l->data_dir,
			   rel);
		return -MGW_EINVAL;
	}
	fd = fcntl(l->dirfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		layout_msg(msg, msgsz, "%s: %s", l->data_dir, strerror(errno));
		return -MGW_EIO;
	}
	if (ensure) {
		rc = layout_fix_fd(l, layout_rows, fd, "", true, false, rep);
		if (rc < 0)
			goto fail_rc;
	}
	while (*p != '\0') {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		size_t plen = (size_t)(p - rel) + n;
		const struct layout_entry *e = NULL;
		char name[LAYOUT_PATH_MAX];
		bool created = false;
		int nfd;

		memcpy(prefix, rel, plen);
		prefix[plen] = '\0';
		memcpy(name, p, n);
		name[n] = '\0';
		if (ensure) {
			e = layout_find(prefix);
			if (e == NULL || !e->dir) {
				layout_msg(msg, msgsz, "%s/%s: not a directory of the layout",
					   l->data_dir, prefix);
				rc = -MGW_EINVAL;
				goto fail_rc;
			}
		}
		nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && ensure) {
			/* 0700 until the owner and mode below are set */
			if (mkdirat(fd, name, 0700) < 0 && errno != EEXIST)
				goto fail;
			created = true;
			nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0)
			goto fail;
		close(fd);
		fd = nfd;
		if (ensure) {
			rc = layout_fix_fd(l, e, fd, prefix, true, created, rep);
			if (rc < 0) {
				layout_msg(msg, msgsz, "%s/%s: cannot set owner and mode: %s",
					   l->data_dir, prefix, mgw_strerror(rc));
				goto fail_rc;
			}
		}
		p += n;
		if (*p == '/')
			p++;
		continue;
	fail:
		rc = layout_errno_rc(errno);
		layout_msg(msg, msgsz, "%s/%s: %s", l->data_dir, prefix, layout_errno_text(errno));
		goto fail_rc;
	}
	return fd;
fail_rc:
	close(fd);
	return rc;
}

/* Splits rel into its directory (dir, "" for the top) and its last component. */
static int layout_split(const char *rel, char *dir, const char **base)
{
	const char *slash = strrchr(rel, '/');

	if (!layout_rel_ok(rel) || rel[0] == '\0')
		return -MGW_EINVAL;
	if (slash == NULL) {
		dir[0] = '\0';
		*base = rel;
	} else {
		memcpy(dir, rel, (size_t)(slash - rel));
		dir[slash - rel] = '\0';
		*base = slash + 1;
	}
	return 0;
}

/* Opens the directory holding rel (never following a symlink); *base points into rel at
 * its last component. Returns the fd or -MGW_E* with msg set. */
static int layout_parent_fd(const struct layout *l, const char *rel, const char **base, char *msg,
			    size_t msgsz)
{
	char dir[LAYOUT_PATH_MAX];

	if (layout_split(rel, dir, base) < 0) {
		layout_msg(msg, msgsz, "%s/%s: bad path", l->data_dir, rel);
		return -MGW_EINVAL;
	}
	return layout_dir_fd(l, dir, false, NULL, msg, msgsz);
}

int layout_ensure_dir(const struct layout *l, const char *rel, char *msg, size_t msgsz)
{
	struct layout_rep rep = {NULL, NULL, 0};
	int fd;

	layout_msg(msg, msgsz, "%s", "");
	fd = layout_dir_fd(l, rel, true, &rep, msg, msgsz);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int layout_write(const struct layout *l, const char *rel, const void *data, size_t len, char *msg,
		 size_t msgsz)
{
	static unsigned layout_seq;
	struct layout_rep rep = {NULL, NULL, 0};
	const struct layout_entry *e = layout_find(rel);
	char dir[LAYOUT_PATH_MAX], tmp[LAYOUT_PATH_MAX + 32];
	const char *base;
	int dfd, fd = -1, rc = -MGW_EINVAL;
	bool root = geteuid() == 0;

	layout_msg(msg, msgsz, "%s", "");
	if (e == NULL || e->dir || layout_split(rel, dir, &base) < 0) {
		layout_msg(msg, msgsz, "%s/%s: not a file of the layout", l->data_dir, rel);
		return rc;
	}
	dfd = layout_dir_fd(l, dir, true, &rep, msg, msgsz);
	if (dfd < 0)
		return dfd;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", base, (long)getpid(), layout_seq++);
	/* O_EXCL | O_NOFOLLOW: never open something already there, link or not. */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = layout_errno_rc(errno);
		layout_msg(msg, msgsz, "%s/%s/%s: cannot create: %s", l->data_dir, dir, tmp,
			   strerror(errno));
		goto out;
	}
	/* Final owner and mode before the content and before the name is visible. */
	if ((root && fchown(fd, layout_uid(l, e), layout_gid(l, e)) < 0) ||
	    fchmod(fd, e->mode) < 0) {
		rc = layout_errno_rc(errno);
		layout_msg(msg, msgsz, "%s/%s: cannot set owner and mode: %s", l->data_dir, rel,
			   strerror(errno));
		goto fail;
	}
	rc = file_write_all(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = layout_errno_rc(errno);
	if (rc < 0) {
		layout_msg(msg, msgsz, "%s/%s: write: %s", l->data_dir, rel, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = layout_errno_rc(errno);
		layout_msg(msg, msgsz, "%s/%s: close: %s", l->data_dir, rel, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, base) < 0) {
		rc = layout_errno_rc(errno);
		layout_msg(msg, msgsz, "%s/%s: rename: %s", l->data_dir, rel, strerror(errno));
		goto fail;
	}
	rc = 0;
	if (fsync(dfd) < 0) {
		rc = -MGW_EIO;
		layout_msg(msg, msgsz, "%s/%s: fsync directory: %s", l->data_dir, dir,
			   strerror(errno));
	}
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dfd, tmp, 0);
out:
	close(dfd);
	return rc;
}

int layout_read(const struct layout *l, const char *rel, size_t max, char **data, size_t *len,
		char *msg, size_t msgsz)
{
	const char *base;
	int dfd, fd, rc;

	*data = NULL;
	*len = 0;
	layout_msg(msg, msgsz, "%s", "");
	dfd = layout_parent_fd(l, rel, &base, msg, msgsz);
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ELOOP ? -MGW_EINVAL : layout_errno_rc(errno);
		layout_msg(msg, msgsz, "%s/%s: %s", l->data_dir, rel,
			   errno == ELOOP ? "a symlink (not followed)" : strerror(errno));
		close(dfd);
		return rc;
	}
	rc = file_read_fd(fd, max, data, len);
	if (rc < 0)
		layout_msg(msg, msgsz, "%s/%s: cannot read: %s", l->data_dir, rel,
			   mgw_strerror(rc));
	close(fd);
	close(dfd);
	return rc;
}

int layout_stat(const struct layout *l, const char *rel, struct stat *sb)
{
	const char *base;
	int dfd, rc = 0;

	if (rel[0] == '\0')
		return fstat(l->dirfd, sb) < 0 ? -MGW_EIO : 0;
	dfd = layout_parent_fd(l, rel, &base, NULL, 0);
	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, base, sb, AT_SYMLINK_NOFOLLOW) < 0)
		rc = layout_errno_rc(errno);
	close(dfd);
	return rc;
}

int layout_unlink(const struct layout *l, const char *rel, char *msg, size_t msgsz)
{
	const char *base;
	int dfd, rc = 0;

	layout_msg(msg, msgsz, "%s", "");
	dfd = layout_parent_fd(l, rel, &base, msg, msgsz);
	if (dfd < 0)
		return dfd;
	if (unlinkat(dfd, base, 0) < 0) {
		rc = layout_errno_rc(errno);
		layout_msg(msg, msgsz, "%s/%s: %s", l->data_dir, rel, strerror(errno));
	} else if (fsync(dfd) < 0) {
		rc = -MGW_EIO;
	}
	close(dfd);
	return rc;
}

static int layout_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of directory fd dfd (borrowed): a heap array of heap strings. */
static int layout_names(int dfd, char ***out, size_t *nout)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd, rc = -MGW_EIO;

	*out = NULL;
	*nout = 0;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return layout_errno_rc(errno);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -MGW_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = -MGW_ELIMIT;
		if (n == LAYOUT_LIST_MAX)
			goto fail;
		if (n == cap) {
			char **nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			rc = -MGW_ENOMEM;
			if (nv == NULL)
				goto fail;
			v = nv;
		}
		rc = -MGW_ENOMEM;
		v[n] = strdup(de->d_name);
		if (v[n] == NULL)
			goto fail;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), layout_name_cmp);
	*out = v;
	*nout = n;
	return 0;
fail:
	closedir(d);
	while (n > 0)
		free(v[--n]);
	free(v);
	return rc;
}

static void layout_names_free(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

int layout_list(const struct layout *l, const char *rel, layout_name_fn fn, void *arg, char *msg,
		size_t msgsz)
{
	char **v;
	size_t n, i;
	int dfd, rc;

	layout_msg(msg, msgsz, "%s", "");
	dfd = layout_dir_fd(l, rel, false, NULL, msg, msgsz);
	if (dfd < 0)
		return dfd;
	rc = layout_names(dfd, &v, &n);
	close(dfd);
	if (rc < 0) {
		layout_msg(msg, msgsz, "%s/%s: cannot list: %s", l->data_dir, rel,
			   mgw_strerror(rc));
		return rc;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = fn(arg, v[i]);
	layout_names_free(v, n);
	return rc;
}

int layout_remove_dir(const struct layout *l, const char *rel, char *msg, size_t msgsz)
{
	const char *base;
	struct stat sb;
	char **v = NULL;
	size_t n = 0, i;
	int pfd, dfd = -1, rc;

	layout_msg(msg, msgsz, "%s", "");
	pfd = layout_parent_fd(l, rel, &base, msg, msgsz);
	if (pfd < 0)
		return pfd;
	dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		rc = layout_errno_rc(errno);
		layout_msg(msg, msgsz, "%s/%s: %s", l->data_dir, rel, layout_errno_text(errno));
		goto out;
	}
	rc = layout_names(dfd, &v, &n);
	if (rc < 0) {
		layout_msg(msg, msgsz, "%s/%s: cannot list: %s", l->data_dir, rel,
			   mgw_strerror(rc));
		goto out;
	}
	/* Check everything first: remove all or nothing. */
	for (i = 0; i < n; i++) {
		if (fstatat(dfd, v[i], &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode)) {
			rc = -MGW_EINVAL;
			layout_msg(msg, msgsz, "%s/%s/%s: not a regular file, left alone",
				   l->data_dir, rel, v[i]);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (unlinkat(dfd, v[i], 0) < 0) {
			rc = layout_errno_rc(errno);
			layout_msg(msg, msgsz, "%s/%s/%s: %s", l->data_dir, rel, v[i],
				   strerror(errno));
			goto out;
		}
	}
	if (unlinkat(pfd, base, AT_REMOVEDIR) < 0) {
		rc = layout_errno_rc(errno);
		layout_msg(msg, msgsz, "%s/%s: %s", l->data_dir, rel, strerror(errno));
		goto out;
	}
	rc = fsync(pfd) < 0 ? -MGW_EIO : 0;
out:
	layout_names_free(v, n);
	if (dfd >= 0)
		close(dfd);
	close(pfd);
	return rc;
}

/* ---- check / fix ---------------------------------------------------------------------- */

struct layout_check_ctx {
	const struct layout *l;
	const struct layout_entry *e;
	unsigned flags;
	struct layout_rep rep;
	const char *prefix; /* pattern before "*" (without its '/') */
	const char *suffix; /* pattern after "*" */
};

static bool layout_is_created(const char *rel)
{
	size_t i;

	for (i = 0; i < MGW_ARRAY_LEN(layout_created); i++)
		if (strcmp(layout_created[i], rel) == 0)
			return true;
	return false;
}

/* Checks (and fixes) one concrete path rel of entry e. */
static int layout_check_path(struct layout_check_ctx *c, const char *rel)
{
	const struct layout_entry *e = c->e;
	bool fix = (c->flags & LAYOUT_FIX) != 0;
	char dir[LAYOUT_PATH_MAX], msg[LAYOUT_MSG_MAX];
	const char *base;
	struct stat sb;
	int dfd, fd, rc = 0;

	if (rel[0] == '\0') {
		fd = fcntl(c->l->dirfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -MGW_EIO;
		rc = layout_fix_fd(c->l, e, fd, rel, fix, false, &c->rep);
		close(fd);
		return rc;
	}
	if (layout_split(rel, dir, &base) < 0)
		return -MGW_EINVAL;
	dfd = layout_dir_fd(c->l, dir, false, NULL, msg, sizeof(msg));
	if (dfd < 0)
		return 0; /* the parent is missing or was reported itself */
	if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT && e->dir && (c->flags & LAYOUT_CREATE) &&
		    layout_is_created(rel)) {
			close(dfd);
			if (layout_ensure_dir(c->l, rel, msg, sizeof(msg)) < 0) {
				layout_report(c->l, &c->rep, rel, "missing", msg);
				return -MGW_EIO;
			}
			log_info("%s/%s: created", c->l->data_dir, rel);
			return 0;
		}
		close(dfd);
		return 0;
	}
	if (S_ISLNK(sb.st_mode)) {
		const char *done = NULL;

		if (fix)
			done = unlinkat(dfd, base, 0) == 0 ? "removed" : strerror(errno);
		layout_report(c->l, &c->rep, rel, "a symlink (not followed)", done);
		goto out;
	}
	if (e->dir ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)) {
		layout_report(c->l, &c->rep, rel,
			      e->dir ? "not a directory (left alone)"
				     : "not a regular file (left alone)",
			      NULL);
		goto out;
	}
	fd = openat(dfd, base,
		    (e->dir ? O_DIRECTORY : O_NONBLOCK | O_NOCTTY) | O_RDONLY | O_NOFOLLOW |
			O_CLOEXEC);
	if (fd < 0) {
		layout_report(c->l, &c->rep, rel, strerror(errno), NULL);
		rc = -MGW_EIO;
		goto out;
	}
	rc = layout_fix_fd(c->l, e, fd, rel, fix, false, &c->rep);
	close(fd);
out:
	close(dfd);
	return rc;
}

static int layout_check_name(void *arg, const char *name)
{
	struct layout_check_ctx *c = arg;
	char rel[LAYOUT_PATH_MAX];
	int n;

	n = snprintf(rel, sizeof(rel), "%s/%s%s", c->prefix, name, c->suffix);
	if (n < 0 || (size_t)n >= sizeof(rel))
		return 0;
	/* A temporary file of an interrupted write is not the table's file. */
	if (strstr(name, ".tmp.") != NULL)
		return 0;
	(void)layout_check_path(c, rel);
	return 0;
}

int layout_check(const struct layout *l, unsigned flags, layout_report_fn fn, void *arg)
{
	struct layout_check_ctx c;
	const struct layout_entry *e;
	char prefix[LAYOUT_PATH_MAX], msg[LAYOUT_MSG_MAX];
	int rc = 0;

	memset(&c, 0, sizeof(c));
	c.l = l;
	c.flags = flags;
	c.rep.fn = fn;
	c.rep.arg = arg;
	for (e = layout_rows; e->pattern != NULL; e++) {
		const char *star = strchr(e->pattern, '*');
		int r;

		c.e = e;
		if (star == NULL) {
			r = layout_check_path(&c, e->pattern);
		} else {
			/* a star pattern is "DIR/STAR[/NAME]" with a non-empty DIR */
			memcpy(prefix, e->pattern, (size_t)(star - e->pattern - 1));
			prefix[star - e->pattern - 1] = '\0';
			c.prefix = prefix;
			c.suffix = star + 1;
			r = layout_list(l, prefix, layout_check_name, &c, msg, sizeof(msg));
			if (r == -MGW_ENOENT || r == -MGW_EINVAL)
				r = 0; /* missing, or a link reported at its own row */
		}
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc < 0 ? rc : c.rep.count;
}
