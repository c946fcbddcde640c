/*
 * migrate.c - the data directory's versioned migrations (see migrate.h) and the list of
 * them. A new migration is a function below and one more row of migrate_list: it must be
 * idempotent (look first, complete what is missing) and write only through mig_write /
 * mig_remove_dir, so every write is atomic, fsync'd and counted by the test hook.
 */
#include "admin/migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"

#define MIG_CONF_REL "etc/mailgw.conf"
#define MIG_CONF_MAX (1024 * 1024)
#define MIG_FILE_MAX (64 * 1024) /* a key or certificate moved by migration 1 */

struct mig_ctx {
	migrate_report_fn fn;
	void *arg;
	unsigned writes;  /* writes done so far (the test hook counts them) */
	unsigned kill_at; /* MAILGW_TEST_MIGRATE_KILL, 0 when unset */
	const char *data_dir;
};

static void mig_report(struct mig_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void mig_report(struct mig_ctx *x, const char *fmt, ...)
{
	char line[MIGRATE_LINE_MAX];
	va_list ap;
	int n = snprintf(line, sizeof(line), "data: ");

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	x->fn(x->arg, line);
}

/* The test hook: a power cut just before this write. */
static void mig_before_write(struct mig_ctx *x)
{
	if (x->kill_at != 0 && ++x->writes == x->kill_at)
		raise(SIGKILL);
}

static int mig_write(struct mig_ctx *x, const struct layout *l, const char *rel, const void *data,
		     size_t len, char *msg, size_t msgsz)
{
	mig_before_write(x);
	return layout_write(l, rel, data, len, msg, msgsz);
}

static int mig_remove_dir(struct mig_ctx *x, const struct layout *l, const char *rel, char *msg,
			  size_t msgsz)
{
	mig_before_write(x);
	return layout_remove_dir(l, rel, msg, msgsz);
}

/* A regular, non-empty file (a symlink is not one). */
static bool mig_regular(const struct layout *l, const char *rel)
{
	struct stat sb;

	return layout_stat(l, rel, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
}

/* ---- migration 1: /data/pki -> /data/etc/tls ------------------------------------------- */

/*
 * The first boots of early images kept the server key and certificate in a root-only
 * /data/pki, where mailgwd, after its privilege drop, cannot re-read the certificate at a
 * reload. They move to etc/tls (the layout's owners and modes), the [tls] cert/key lines
 * of mailgw.conf that pointed there follow, and /data/pki goes once both are in place.
 * Older firmware runs on the result: its mailgw.conf names the new paths.
 */

/* conf with every "cert|key = <data>/pki/" line pointing to <data>/etc/tls/ instead; a
 * heap buffer in *out (caller frees), NULL when no line changes. */
static int mig1_conf_rewrite(const char *data_dir, const char *conf, size_t len, char **out,
			     size_t *outlen)
{
	char old[LAYOUT_PATH_MAX + 8], new[LAYOUT_PATH_MAX + 16];
	size_t oldlen, newlen, pos = 0, n = 0;
	bool changed = false;
	char *buf;

	*out = NULL;
	snprintf(old, sizeof(old), "%s/pki/", data_dir);
	snprintf(new, sizeof(new), "%s/etc/tls/", data_dir);
	oldlen = strlen(old);
	newlen = strlen(new);
	/* at most one replacement per line, each growing it by newlen - oldlen */
	buf = malloc(len + (len / 2 + 1) * (newlen - oldlen) + 1);
	if (buf == NULL)
		return -MGW_ENOMEM;
	while (pos < len) {
		const char *line = conf + pos, *nl = memchr(line, '\n', len - pos);
		size_t linelen = nl != NULL ? (size_t)(nl - line) + 1 : len - pos, i = 0, k;

		while (i < linelen && (line[i] == ' ' || line[i] == '\t'))
			i++;
		k = i;
		if (linelen - i >= 4 && strncmp(line + i, "cert", 4) == 0)
			k = i + 4;
		else if (linelen - i >= 3 && strncmp(line + i, "key", 3) == 0)
			k = i + 3;
		if (k > i) {
			while (k < linelen && (line[k] == ' ' || line[k] == '\t'))
				k++;
			if (k < linelen && line[k] == '=') {
				k++;
				while (k < linelen && (line[k] == ' ' || line[k] == '\t'))
					k++;
				if (linelen - k >= oldlen && memcmp(line + k, old, oldlen) == 0) {
					memcpy(buf + n, line, k);
					n += k;
					memcpy(buf + n, new, newlen);
					n += newlen;
					memcpy(buf + n, line + k + oldlen, linelen - k - oldlen);
					n += linelen - k - oldlen;
					pos += linelen;
					changed = true;
					continue;
				}
			}
		}
		memcpy(buf + n, line, linelen);
		n += linelen;
		pos += linelen;
	}
	if (!changed) {
		free(buf);
		return 0;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

static int mig1_pki(const struct layout *l, void *ctx, char *msg, size_t msgsz)
{
	static const char *const files[] = {"server.key", "server.crt"};
	struct mig_ctx *x = ctx;
	char src[32], dst[32], *data = NULL, *conf = NULL, *fixed = NULL;
	size_t len = 0, conflen = 0, fixedlen = 0, i;
	struct stat sb;
	int rc = layout_stat(l, "pki", &sb);

	if (rc == -MGW_ENOENT || (rc == 0 && !S_ISDIR(sb.st_mode))) {
		mig_report(x, "  no %s/pki here: nothing to move", l->data_dir);
		return 0;
	}
	if (rc < 0) {
		snprintf(msg, msgsz, "%s/pki: %s", l->data_dir, mgw_strerror(rc));
		return rc;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(src, sizeof(src), "pki/%s", files[i]);
		snprintf(dst, sizeof(dst), "etc/tls/%s", files[i]);
		if (!mig_regular(l, src) || layout_stat(l, dst, &sb) == 0)
			continue;
		rc = layout_read(l, src, MIG_FILE_MAX, &data, &len, msg, msgsz);
		if (rc == 0)
			rc = mig_write(x, l, dst, data, len, msg, msgsz);
		free(data);
		data = NULL;
		if (rc < 0)
			return rc;
		mig_report(x, "  moved %s/%s to %s/%s", l->data_dir, src, l->data_dir, dst);
	}
	rc = layout_read(l, MIG_CONF_REL, MIG_CONF_MAX, &conf, &conflen, msg, msgsz);
	if (rc == 0)
		rc = mig1_conf_rewrite(l->data_dir, conf, conflen, &fixed, &fixedlen);
	if (rc == 0 && fixed != NULL) {
		rc = mig_write(x, l, MIG_CONF_REL, fixed, fixedlen, msg, msgsz);
		if (rc == 0)
			mig_report(x, "  [tls] paths in %s/%s now point to %s/etc/tls", l->data_dir,
				   MIG_CONF_REL, l->data_dir);
	}
	free(conf);
	free(fixed);
	if (rc == -MGW_ENOENT)
		rc = 0; /* no mailgw.conf: nothing names the old paths */
	if (rc < 0)
		return rc;
	if (!mig_regular(l, "etc/tls/server.key") || !mig_regular(l, "etc/tls/server.crt")) {
		mig_report(x, "  %s/pki kept: etc/tls does not hold both server.key and server.crt",
			   l->data_dir);
		return 0;
	}
	rc = mig_remove_dir(x, l, "pki", msg, msgsz);
	if (rc == 0)
		mig_report(x, "  removed %s/pki", l->data_dir);
	return rc;
}

/* ---- the list ------------------------------------------------------------------------- */

static const struct migrate_step migrate_list[] = {
    {1, "the server key and certificate move from /data/pki to /data/etc/tls", true, mig1_pki},
    {0, NULL, false, NULL},
};

const struct migrate_step *migrate_steps(void)
{
	return migrate_list;
}

unsigned migrate_latest(void)
{
	const struct migrate_step *s;
	unsigned n = 0;

	for (s = migrate_list; s->run != NULL; s++)
		n = s->number;
	return n;
}

int migrate_format_parse(const char *path, const char *text, struct migrate_format *f, char *msg,
			 size_t msgsz)
{
	unsigned lineno = 0;
	bool have_format = false;
	const char *p = text;

	f->format = 0;
	f->needs = 0;
	while (*p != '\0') {
		size_t n = strcspn(p, "\n");
		char line[64], *end;
		unsigned long v;

		lineno++;
		if (n == 0 || p[0] == '#')
			goto next;
		if (n >= sizeof(line))
			goto bad;
		memcpy(line, p, n);
		line[n] = '\0';
		if (strncmp(line, "format=", 7) != 0 && strncmp(line, "needs=", 6) != 0)
			goto bad;
		end = strchr(line, '=') + 1;
		if (*end < '0' || *end > '9')
			goto bad;
		errno = 0;
		v = strtoul(end, &end, 10);
		if (*end != '\0' || errno != 0 || v > 1000000)
			goto bad;
		if (line[0] == 'f') {
			f->format = (unsigned)v;
			have_format = true;
		} else {
			f->needs = (unsigned)v;
		}
	next:
		p += n;
		if (*p == '\n')
			p++;
	}
	if (have_format && f->needs <= f->format)
		return 0;
	snprintf(msg, msgsz, "%s:%u: no format= line, or needs= above it", path, lineno);
	return -MGW_EINVAL;
bad:
	snprintf(msg, msgsz, "%s:%u: expected format=N or needs=N", path, lineno);
	return -MGW_EINVAL;
}

int migrate_format_load(const char *data_dir, struct migrate_format *f, char *msg, size_t msgsz)
{
	char path[LAYOUT_PATH_MAX + 32], *data = NULL;
	size_t len = 0;
	int fd, rc;

	f->format = 0;
	f->needs = 0;
	snprintf(path, sizeof(path), "%s/%s", data_dir, MIGRATE_FORMAT_REL);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(msg, msgsz, "%s: %s", path,
			 errno == ELOOP ? "a symlink (not followed)" : strerror(errno));
		return errno == ELOOP ? -MGW_EINVAL : -MGW_EIO;
	}
	rc = file_read_fd(fd, MIGRATE_FORMAT_MAX, &data, &len);
	close(fd);
	if (rc < 0) {
		snprintf(msg, msgsz, "%s: cannot read: %s", path, mgw_strerror(rc));
		return rc;
	}
	if (strlen(data) != len) {
		snprintf(msg, msgsz, "%s:1: a NUL byte", path);
		rc = -MGW_EINVAL;
	} else {
		rc = migrate_format_parse(path, data, f, msg, msgsz);
	}
	free(data);
	return rc;
}

bool migrate_too_new(const struct migrate_format *f)
{
	return f->needs > migrate_latest();
}

void migrate_newer_text(const struct migrate_format *f, char *out, size_t outsz)
{
	if (migrate_too_new(f))
		snprintf(out, outsz,
			 "*** /data is in format %u and needs a firmware that knows format %u; "
			 "this firmware knows only format %u (a downgrade?): mailgwd is not "
			 "started, install the newer firmware again ***",
			 f->format, f->needs, migrate_latest());
	else
		snprintf(out, outsz,
			 "/data is in format %u, newer than this firmware knows (%u; a "
			 "downgrade?): it runs on it (the newer migrations allow that), runs no "
			 "migration and leaves the format as it is",
			 f->format, migrate_latest());
}

static int migrate_format_store(struct mig_ctx *x, const struct layout *l,
				const struct migrate_format *f, char *msg, size_t msgsz)
{
	char text[128];
	int n = snprintf(text, sizeof(text),
			 "# the format of this data directory (README: Updating the firmware)\n"
			 "format=%u\nneeds=%u\n",
			 f->format, f->needs);

	return mig_write(x, l, MIGRATE_FORMAT_REL, text, (size_t)n, msg, msgsz);
}

int migrate_run(const struct layout *l, migrate_report_fn fn, void *arg)
{
	const char *hook = getenv("MAILGW_TEST_MIGRATE_KILL");
	struct mig_ctx x = {fn, arg, 0, 0, l->data_dir};
	char msg[LAYOUT_MSG_MAX] = "", text[MIGRATE_LINE_MAX];
	const struct migrate_step *s;
	struct migrate_format f;
	int rc, done = 0;

	if (hook != NULL)
		x.kill_at = (unsigned)strtoul(hook, NULL, 10);
	rc = migrate_format_load(l->data_dir, &f, msg, sizeof(msg));
	if (rc < 0) {
		mig_report(&x, "*** %s: no migration runs ***", msg);
		return rc;
	}
	if (f.format > migrate_latest()) {
		migrate_newer_text(&f, text, sizeof(text));
		mig_report(&x, "%s", text);
		return -MGW_EPERM;
	}
	for (s = migrate_list; s->run != NULL; s++) {
		if (s->number <= f.format)
			continue;
		mig_report(&x, "migration %u (%s): running", s->number, s->what);
		msg[0] = '\0';
		rc = s->run(l, &x, msg, sizeof(msg));
		if (rc == 0) {
			/* The step's writes are fsync'd (layout_write, layout_remove_dir): only
			 * now is the format raised. */
			f.format = s->number;
			if (!s->old_ok)
				f.needs = s->number;
			rc = migrate_format_store(&x, l, &f, msg, sizeof(msg));
		}
		if (rc < 0) {
			mig_report(&x,
				   "*** migration %u failed: %s; /data stays in format %u, the "
				   "next boot tries again ***",
				   s->number, msg[0] != '\0' ? msg : mgw_strerror(rc),
				   s->number - 1);
			return rc;
		}
		mig_report(&x, "migration %u done: /data is now in format %u", s->number, f.format);
		done++;
	}
	return done;
}
