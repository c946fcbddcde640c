/*
 * uidlist.c - the UID bookkeeping of a Maildir: dovecot-uidlist (read, written; our former
 * mailgw-uidlist read once and converted), the listing of new/ and cur/, the sizes as
 * sent (vsize), the uidlist lock, UIDVALIDITY allocation, and the sync
 * that joins them (see maildir.h for the format and the rules).
 *
 * Ownership: scan results are built in a struct maildir_scan and handed over whole.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "store/crlf.h"
#include "store/flushjob.h"
#include "store/maildir_int.h"

/* Parses our former uidlist (mailgw-uidlist, versions 1 and 2) into sc->e (uid, base
 * name and, from version 2 on, the CRLF size) and the header fields, for its conversion
 * to dovecot-uidlist. Returns 0, or -MGW_EINVAL when the text is not well-formed. */
static int maildir_uidlist_parse_v2(char *text, size_t len, struct maildir_scan *sc)
{
	char *line = text, *end = text + len, *nl;
	unsigned long long v, w = 0;
	uint32_t maxuid = 0;
	int lineno = 0, rc;
	bool v2 = false, known;

	if (memchr(text, '\0', len) != NULL)
		return -MGW_EINVAL;
	while (line < end) {
		char *sp, *num_end;

		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			return -MGW_EINVAL; /* every record ends in LF; a torn file does not */
		*nl = '\0';
		lineno++;
		if (lineno == 1) {
			v2 = strcmp(line, MAILDIR_UIDLIST_MAGIC_V2) == 0;
			if (!v2 && strcmp(line, MAILDIR_UIDLIST_MAGIC_V1) != 0)
				return -MGW_EINVAL;
		} else if (lineno == 2 || lineno == 3) {
			const char *key = lineno == 2 ? "uidvalidity " : "uidnext ";

			if (strncmp(line, key, strlen(key)) != 0)
				return -MGW_EINVAL;
			errno = 0;
			v = strtoull(line + strlen(key), &num_end, 10);
			if (errno || *num_end != '\0' || v == 0 || v > UINT32_MAX)
				return -MGW_EINVAL;
			if (lineno == 2)
				sc->uidvalidity = (uint32_t)v;
			else
				sc->uidnext = (uint32_t)v;
		} else {
			errno = 0;
			v = strtoull(line, &sp, 10);
			if (errno || sp == line || *sp != ' ' || v == 0 || v >= sc->uidnext ||
			    v <= maxuid)
				return -MGW_EINVAL; /* UIDs are written ascending */
			known = v2;
			if (v2 && sp[1] == '-' && sp[2] == ' ') {
				/* "<uid> - <base>": not sized yet (the sizing budget ran out) */
				known = false;
				sp += 2;
			} else if (v2) {
				/* "<uid> <crlf size> <base>" */
				char *ws = sp + 1;

				if (*ws < '0' || *ws > '9')
					return -MGW_EINVAL;
				w = strtoull(ws, &sp, 10);
				if (errno || *sp != ' ')
					return -MGW_EINVAL;
			}
			if (!maildir_name_ok(sp + 1) || maildir_base_len(sp + 1) != strlen(sp + 1))
				return -MGW_EINVAL; /* base names only */
			maxuid = (uint32_t)v;
			rc = maildir_scan_add(sc, sp + 1, 0, false);
			if (rc < 0)
				return rc;
			sc->e[sc->n - 1].uid = (uint32_t)v;
			sc->e[sc->n - 1].vsize = known ? w : 0;
			sc->e[sc->n - 1].vsize_ok = known;
		}
		line = nl + 1;
	}
	return lineno >= 3 ? 0 : -MGW_EINVAL;
}

/* A decimal u32 > 0 at *p, which moves past it. */
static bool maildir_u32(char **p, uint32_t *out)
{
	unsigned long long v;
	char *e;

	if (**p < '0' || **p > '9')
		return false;
	errno = 0;
	v = strtoull(*p, &e, 10);
	if (errno || v == 0 || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	*p = e;
	return true;
}

/*
 * Parses dovecot-uidlist version 3 (dovecot's src/lib-storage/index/maildir/
 * maildir-uidlist.c writes it; the format is documented in dovecot's wiki, "Maildir
 * mailbox format"):
 *
 *   3 V<uidvalidity> N<next uid> [G<mailbox guid>] [other header fields]
 *   <uid> [<key><value> ...] :<file name>
 *
 * Record fields are one letter and a value; we use W (the size as sent) and X (ours
 * where it is not dovecot's W, see maildir_uidlist_write) and keep none of the others. dovecot
 * appends records without rewriting the header, so N may be below the last UID + 1: the next UID is
 * the larger of the two. The mailbox GUID is kept in sc->guid and written back. Returns 0, or
 * -MGW_EINVAL when malformed.
 */
static int maildir_uidlist_parse(char *text, size_t len, struct maildir_scan *sc)
{
	char *line = text, *end = text + len, *nl, *p;
	uint32_t maxuid = 0, uid;
	int rc;

	if (memchr(text, '\0', len) != NULL)
		return -MGW_EINVAL;
	nl = memchr(line, '\n', len);
	if (nl == NULL || strncmp(line, MAILDIR_UIDLIST_MAGIC " ", 2) != 0)
		return -MGW_EINVAL;
	*nl = '\0';
	for (p = line + 1; *p == ' ';) {
		char key = p[1];

		if (key == '\0')
			return -MGW_EINVAL;
		p += 2;
		if (key == 'V' || key == 'N') {
			if (!maildir_u32(&p, key == 'V' ? &sc->uidvalidity : &sc->uidnext))
				return -MGW_EINVAL;
		} else {
			char *f = p;

			while (*p != ' ' && *p != '\0')
				p++;
			if (key == 'G' && p - f == 32)
				memcpy(sc->guid, f, 32);
		}
		if (*p != ' ' && *p != '\0')
			return -MGW_EINVAL;
	}
	if (*p != '\0' || sc->uidvalidity == 0 || sc->uidnext == 0)
		return -MGW_EINVAL;
	for (line = nl + 1; line < end; line = nl + 1) {
		uint64_t w = 0, x = 0;
		bool has_w = false, has_x = false;
		char *name;

		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			return -MGW_EINVAL; /* every record ends in LF; a torn file does not */
		*nl = '\0';
		p = line;
		if (!maildir_u32(&p, &uid) || uid <= maxuid)
			return -MGW_EINVAL; /* UIDs are written ascending */
		while (*p == ' ' && p[1] != ':') {
			char key = p[1];

			if (key < 'A' || key > 'Z')
				return -MGW_EINVAL;
			if (key == 'W' || key == 'X') {
				char *e;

				errno = 0;
				*(key == 'W' ? &w : &x) = strtoull(p + 2, &e, 10);
				if (errno || e == p + 2)
					return -MGW_EINVAL;
				*(key == 'W' ? &has_w : &has_x) = true;
			}
			for (p += 2; *p != ' ' && *p != '\0';)
				p++;
		}
		if (p[0] != ' ' || p[1] != ':')
			return -MGW_EINVAL;
		name = p + 2;
		if (!maildir_name_ok(name))
			return -MGW_EINVAL;
		name[maildir_base_len(name)] = '\0'; /* a name with its ":2," part: base */
		maxuid = uid;
		rc = maildir_scan_add(sc, name, 0, false);
		if (rc < 0)
			return rc;
		sc->e[sc->n - 1].uid = uid;
		sc->e[sc->n - 1].vsize = has_x ? x : w;
		sc->e[sc->n - 1].vsize_ok = has_w || has_x;
		sc->e[sc->n - 1].w_skip = has_x;
	}
	if (maxuid >= sc->uidnext)
		sc->uidnext = maxuid + 1;
	return 0;
}

/* Whether a base name carries ",W=" (then dovecot and we take the size from it). */
static bool maildir_name_has_w(const char *name, size_t base_len)
{
	for (size_t i = 0; i + 3 <= base_len; i++)
		if (name[i] == ',' && name[i + 1] == 'W' && name[i + 2] == '=')
			return true;
	return false;
}

/* Writes dovecot-uidlist (version 3) for the (uid-sorted) entries of sc. W (the size as
 * sent) is written only where the file name does not carry it already, as dovecot. For
 * a file without a final newline W is dovecot's count (it sends no CRLF there) and ours,
 * 2 more, goes in X, which dovecot keeps and ignores. */
static int maildir_uidlist_write(const char *md, const struct maildir_scan *sc, bool sync)
{
	char path[MAILDIR_PATH_MAX];
	size_t cap = 96, len, i;
	char *text;
	int rc, n;

	for (i = 0; i < sc->n; i++)
		cap += 12 + 48 + sc->e[i].base_len;
	text = malloc(cap);
	if (text == NULL)
		return -MGW_ENOMEM;
	n = snprintf(text, cap, "%s V%u N%u%s%.32s\n", MAILDIR_UIDLIST_MAGIC,
		     (unsigned)sc->uidvalidity, (unsigned)sc->uidnext, sc->guid[0] ? " G" : "",
		     sc->guid);
	len = (size_t)n;
	for (i = 0; i < sc->n; i++) {
		const struct maildir_ent *e = &sc->e[i];
		char w[48] = "";

		if (e->vsize_ok && e->w_skip && e->vsize >= 2)
			snprintf(w, sizeof(w), " W%llu X%llu", (unsigned long long)e->vsize - 2,
				 (unsigned long long)e->vsize);
		else if (e->vsize_ok && !maildir_name_has_w(e->name, e->base_len))
			snprintf(w, sizeof(w), " W%llu", (unsigned long long)e->vsize);
		n = snprintf(text + len, cap - len, "%u%s :%.*s\n", (unsigned)e->uid, w,
			     (int)e->base_len, e->name);
		len += (size_t)n;
	}
	rc = maildir_fmt(path, sizeof(path), "%s/%s", md, MAILDIR_UIDLIST);
	if (rc == 0)
		rc = sync ? file_write_atomic(path, text, len, 0600)
			  : file_write_cache(path, text, len, 0600);
	free(text);
	return rc;
}

/* The CRLF size recorded by the writer as ",W=<n>" in the base name (dovecot does, and
 * so do we), if present and plausible for a file of e->size bytes: at least the file
 * size, at most every byte a LF plus a final CR LF. */
static bool maildir_name_vsize(const struct maildir_ent *e, uint64_t *vsize)
{
	const char *p = e->name, *end = e->name + e->base_len;
	unsigned long long v;
	char *num_end;

	for (; (p = memchr(p, ',', (size_t)(end - p))) != NULL; p++) {
		if (end - p < 4 || p[1] != 'W' || p[2] != '=' || p[3] < '0' || p[3] > '9')
			continue;
		errno = 0;
		v = strtoull(p + 3, &num_end, 10);
		if (errno || (num_end != end && *num_end != ',') || v < e->size ||
		    v > 2 * e->size + 2)
			return false;
		*vsize = v;
		return true;
	}
	return false;
}

/* Computes the CRLF size of e by reading its file once (then the uidlist keeps it);
 * *budget (bytes that may still be read by this sync) goes down by the file's size. */
static int maildir_file_vsize(const char *md, struct maildir_ent *e, uint64_t *budget)
{
	char p[MAILDIR_PATH_MAX], buf[MAILDIR_COPY_CHUNK];
	struct crlf_count c = {0};
	int attempt, fd = -1, rc;
	ssize_t n;

	/* In its directory, or in the other one if it moved meanwhile (new/ to cur/). */
	for (attempt = 0; attempt < 2 && fd < 0; attempt++) {
		bool in_new = e->in_new != (attempt == 1);

		rc = maildir_fmt(p, sizeof(p), "%s/%s/%s", md, in_new ? "new" : "cur", e->name);
		if (rc < 0)
			return rc;
		fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		if (fd < 0 && errno != ENOENT) {
			log_err("%s: open: %s", p, strerror(errno));
			return -MGW_EIO;
		}
	}
	if (fd < 0) {
		/* Gone (expunged meanwhile): the next scan drops it; any size will do. */
		e->vsize = e->size;
		return 0;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_err("%s: read: %s", p, strerror(errno));
			close(fd);
			return -MGW_EIO;
		}
		crlf_count_add(&c, buf, (size_t)n);
		*budget -= *budget < (uint64_t)n ? *budget : (uint64_t)n;
	}
	close(fd);
	e->vsize = crlf_count_total(&c);
	/* No newline at the end: we send one more CRLF than dovecot counts in its W. */
	e->w_skip = c.any && c.last != '\n';
	return 0;
}

/* Whether e's file ends without a newline (then our size is dovecot's W + 2). Read
 * once, when a list of ours is converted; a file that cannot be read counts as ending
 * in one. */
static bool maildir_file_no_final_nl(const char *md, const struct maildir_ent *e)
{
	char p[MAILDIR_PATH_MAX], last = '\n';
	int fd;

	if (e->size == 0 ||
	    maildir_fmt(p, sizeof(p), "%s/%s/%s", md, e->in_new ? "new" : "cur", e->name) < 0)
		return false;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return false;
	if (pread(fd, &last, 1, (off_t)e->size - 1) != 1)
		last = '\n';
	close(fd);
	return last != '\n';
}

/* Lists one of new/ cur/ into sc (regular files with acceptable names only). */
static int maildir_dir_list(const char *md, const char *sub, struct maildir_scan *sc)
{
	char p[MAILDIR_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc;

	rc = maildir_fmt(p, sizeof(p), "%s/%s", md, sub);
	if (rc < 0)
		return rc;
	d = opendir(p);
	if (d == NULL) {
		log_err("%s: opendir: %s", p, strerror(errno));
		return -MGW_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (!maildir_name_ok(de->d_name))
			continue;
		/* Symbolic links and other odd entries are never served. A file that vanished
		 * since readdir (moved by another session) is found in the other directory. */
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		rc = maildir_scan_add(sc, de->d_name, (uint64_t)sb.st_size, sub[0] == 'n');
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

int maildir_lock(const char *md, const char *lockname, bool nonblock, int *fd)
{
	char p[MAILDIR_PATH_MAX];
	int rc = maildir_fmt(p, sizeof(p), "%s/%s", md, lockname);

	*fd = -1;
	if (rc < 0)
		return rc;
	*fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0) {
		log_err("%s: open: %s", p, strerror(errno));
		return -MGW_EIO;
	}
	while (flock(*fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) < 0) {
		if (errno == EINTR)
			continue;
		rc = errno == EWOULDBLOCK ? -MGW_EEXIST : -MGW_EIO;
		if (rc == -MGW_EIO)
			log_err("%s: flock: %s", p, strerror(errno));
		close(*fd);
		*fd = -1;
		return rc;
	}
	return 0;
}

int maildir_root_of(const char *md, char *out, size_t outsz)
{
	const char *slash = strrchr(md, '/');
	size_t n = strlen(md);

	if (slash != NULL && slash[1] == '.')
		n = (size_t)(slash - md); /* a Maildir++ folder: <root>/.<name> */
	if (n >= outsz)
		return -MGW_ELIMIT;
	memcpy(out, md, n);
	out[n] = '\0';
	return 0;
}

/*
 * A UIDVALIDITY never handed out before in this Maildir (RFC 3501 2.3.1.1: a mailbox
 * deleted and created again, or a list recreated, must not get one a client has seen):
 * the time, but above the last one given, which is kept where dovecot keeps it
 * (<root>/dovecot-uidvalidity, 8 hex digits), so dovecot goes on from there too.
 */
int maildir_uidvalidity_next(const char *md, bool defer, uint32_t *out)
{
	char root[MAILDIR_PATH_MAX], p[MAILDIR_PATH_MAX], *text = NULL, buf[16];
	struct maildir_dirs later = {0};
	uint32_t uv = (uint32_t)time(NULL), last = 0;
	size_t len = 0;
	int lockfd = -1, rc;

	rc = maildir_root_of(md, root, sizeof(root));
	if (rc == 0)
		rc = maildir_fmt(p, sizeof(p), "%s/%s", root, MAILDIR_UIDVALIDITY_FILE);
	if (rc == 0)
		rc = maildir_lock(root, MAILDIR_UIDVALIDITY_LOCK, false, &lockfd);
	if (rc < 0)
		return rc;
	if (file_read_all(p, 64, &text, &len) == 0) {
		char *e;
		unsigned long v;

		memcpy(buf, text, len < sizeof(buf) - 1 ? len : sizeof(buf) - 1);
		buf[len < sizeof(buf) - 1 ? len : sizeof(buf) - 1] = '\0';
		errno = 0;
		v = strtoul(buf, &e, 16);
		if (!errno && e != buf && v <= UINT32_MAX)
			last = (uint32_t)v;
		free(text);
	}
	if (uv <= last)
		uv = last + 1;
	if (uv == 0)
		uv = 1;
	len = (size_t)snprintf(buf, sizeof(buf), "%08x", (unsigned)uv);
	/* defer: flushed with the list that takes it (maildir_dirs_add_uidlist). */
	rc = maildir_write_later(p, buf, len, defer ? &later : NULL);
	close(lockfd);
	if (rc == 0)
		*out = uv;
	return rc;
}

/* Flushes md's uidlist (written earlier without a flush) and md on this thread. */
static int maildir_uidlist_flush_now(const char *md, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		log_err("%s: open: %s", path, strerror(errno));
		return -MGW_EIO;
	}
	rc = fdatasync(fd) < 0 ? -MGW_EIO : 0;
	if (rc < 0)
		log_err("%s: fdatasync: %s", path, strerror(errno));
	close(fd);
	return rc < 0 ? rc : file_dir_fsync(md);
}

/*
 * The heart of the UID bookkeeping. Under the uidlist lock: reads the uidlist, lists
 * cur/ and new/, gives each found message its recorded UID or a new one (arrival order),
 * drops records of vanished files, writes the uidlist back if anything changed. On
 * success out holds every message found, sorted by UID.
 */
int maildir_sync(const char *md, struct maildir_scan *out)
{
	uint64_t gen;

	return maildir_sync_ex(md, out, false, &gen);
}

int maildir_sync_ex(const char *md, struct maildir_scan *out, bool defer, uint64_t *gen)
{
	uint64_t *pending;
	uint64_t budget = MAILDIR_VSIZE_BUDGET;
	size_t unsized = 0;
	struct maildir_scan ul = {0}, sc = {0};
	char path[MAILDIR_PATH_MAX], old[MAILDIR_PATH_MAX], ulpath[MAILDIR_PATH_MAX];
	char *text = NULL;
	size_t len = 0, i, j, nfresh = 0;
	bool changed = false, converted = false;
	int lockfd = -1, rc;

	memset(out, 0, sizeof(*out));
	*gen = 0;
	rc = maildir_lock(md, MAILDIR_UIDLIST_LOCK, false, &lockfd);
	if (rc < 0)
		return rc;
	rc = maildir_fmt(path, sizeof(path), "%s/%s", md, MAILDIR_UIDLIST);
	if (rc < 0)
		goto out;
	memcpy(ulpath, path, sizeof(ulpath));
	rc = file_read_all(path, MAILDIR_UIDLIST_MAX, &text, &len);
	if (rc == 0)
		rc = maildir_uidlist_parse(text, len, &ul);
	if (rc == -MGW_ENOENT) {
		/* None yet: our former list, if any, is converted (same UIDVALIDITY and
		 * UIDs, so POP3 UIDLs and IMAP UIDs stay) and removed once the new one is
		 * written. */
		rc = maildir_fmt(old, sizeof(old), "%s/%s", md, MAILDIR_UIDLIST_V2);
		if (rc == 0)
			rc = file_read_all(old, MAILDIR_UIDLIST_MAX, &text, &len);
		if (rc == 0)
			rc = maildir_uidlist_parse_v2(text, len, &ul);
		if (rc == 0) {
			converted = true;
			changed = true;
		} else if (rc != -MGW_ENOENT) {
			memcpy(path, old, sizeof(path));
		}
	}
	if (rc == -MGW_EIO || rc == -MGW_ENOMEM) {
		/* A read that failed (EIO, EMFILE, out of memory) says nothing about the
		 * list: starting over would change every UID a client has seen (fetchmail
		 * with "keep" would fetch the whole maildrop again). Fail this open; the
		 * session answers a temporary error and the next try reads the list. */
		log_err("%s: cannot read (%s): mailbox unavailable for now", path,
			mgw_strerror(rc));
		goto out;
	}
	if (rc < 0) {
		/* Missing (a new mailbox), malformed or oversized: damage, so start over. */
		if (rc != -MGW_ENOENT)
			log_warn("%s: damaged (%s): starting a new UIDVALIDITY", path,
				 mgw_strerror(rc));
		maildir_scan_free(&ul);
		/* Never reuse a UIDVALIDITY a client may have seen (maildir_uidvalidity_next). */
		rc = maildir_uidvalidity_next(md, defer, &ul.uidvalidity);
		if (rc < 0)
			goto out;
		ul.uidnext = 1;
		changed = true;
	}
	/* new/ before cur/: a message moved from new/ to cur/ meanwhile (by a delivery
	 * agent that does not take our lock) is then seen twice, never missed. */
	rc = maildir_dir_list(md, "new", &sc);
	if (rc == 0)
		rc = maildir_dir_list(md, "cur", &sc);
	if (rc < 0)
		goto out;
	sc.uidvalidity = ul.uidvalidity;
	sc.uidnext = ul.uidnext;
	memcpy(sc.guid, ul.guid, sizeof(sc.guid));

	/* Merge-join found files and records by base name. */
	maildir_sort(sc.e, sc.n, maildir_ent_base_cmp);
	maildir_sort(ul.e, ul.n, maildir_ent_base_cmp);
	for (i = 0, j = 0; i < sc.n; i++) {
		struct maildir_ent *e = &sc.e[i];
		int c = 1;

		if (i > 0 && maildir_base_cmp(e->name, e->base_len, sc.e[i - 1].name,
					      sc.e[i - 1].base_len) == 0) {
			/* The same message in new/ and cur/ (a crash of another writer):
			 * serve the cur/ one, leave the duplicate alone. */
			log_warn("%s: %s is in new/ and cur/; using cur/", md, e->name);
			e->uid = UINT32_MAX; /* marked: dropped below */
			continue;
		}
		while (j < ul.n && (c = maildir_base_cmp(ul.e[j].name, ul.e[j].base_len, e->name,
							 e->base_len)) < 0) {
			changed = true; /* a record whose file is gone */
			j++;
		}
		if (j < ul.n && c == 0) {
			e->vsize = ul.e[j].vsize;
			e->vsize_ok = ul.e[j].vsize_ok;
			e->w_skip = ul.e[j].w_skip;
			/* Our former list did not say which sizes differ from dovecot's. */
			if (converted && e->vsize_ok && !maildir_name_has_w(e->name, e->base_len))
				e->w_skip = maildir_file_no_final_nl(md, e);
			e->uid = ul.e[j++].uid;
		} else {
			nfresh++;
		}
	}
	if (j < ul.n)
		changed = true;
	/* Drop duplicates marked above. */
	for (i = 0, j = 0; i < sc.n; i++) {
		if (sc.e[i].uid == UINT32_MAX) {
			free(sc.e[i].name);
			continue;
		}
		sc.e[j++] = sc.e[i];
	}
	sc.n = j;
	/* Sizes as sent: from the uidlist, else from W= in the name, else by reading the
	 * file once (a copied LF Maildir, once per message); then kept in the uidlist. The
	 * reading stops after MAILDIR_VSIZE_BUDGET bytes per sync, so that a large copied
	 * Maildir never holds the event loop (and the watchdog) for long: the rest is sized
	 * by the next syncs, and is left out of snapshots until then (maildir.h). */
	for (i = 0; i < sc.n; i++) {
		struct maildir_ent *e = &sc.e[i];

		if (e->vsize_ok)
			continue;
		if (maildir_name_vsize(e, &e->vsize)) {
			e->vsize_ok = true; /* not written to the list: the name has it */
			continue;
		}
		if (budget == 0) {
			unsized++;
			continue;
		}
		rc = maildir_file_vsize(md, e, &budget);
		if (rc < 0)
			goto out;
		e->vsize_ok = true;
		changed = true;
	}
	if (unsized > 0)
		log_info("%s: %zu messages not sized yet (a Maildir with LF line ends is read "
			 "once, %u MiB per login); they are served once sized",
			 md, unsized, (unsigned)(MAILDIR_VSIZE_BUDGET >> 20));
	if (nfresh > 0) {
		/* New messages: UIDs in arrival order. Put them first, sort, number. */
		struct maildir_ent tmp;

		for (i = 0, j = 0; i < sc.n; i++) {
			if (sc.e[i].uid != 0)
				continue;
			tmp = sc.e[j];
			sc.e[j] = sc.e[i];
			sc.e[i] = tmp;
			j++;
		}
		maildir_sort(sc.e, j, maildir_ent_arrival_cmp);
		rc = -MGW_ELIMIT;
		if ((uint64_t)sc.uidnext + j >= UINT32_MAX) {
			log_err("%s: UIDs exhausted", md);
			goto out;
		}
		for (i = 0; i < j; i++)
			sc.e[i].uid = sc.uidnext++;
		changed = true;
	}
	maildir_sort(sc.e, sc.n, maildir_ent_uid_cmp);
	/* The list is durable before any UID in it is announced: flushed here, or (defer)
	 * by the caller, which then gets the write's number to wait for. */
	if (converted)
		defer = false; /* the former list goes once this one is durable */
	pending = maildir_unflushed_slot(ulpath, changed && defer);
	if (changed && defer && pending != NULL) {
		rc = maildir_uidlist_write(md, &sc, false);
		if (rc == 0)
			*pending = *gen = maildir_unflushed_next();
	} else if (changed) {
		rc = maildir_uidlist_write(md, &sc, true);
	} else if (pending != NULL && defer) {
		*gen = *pending;
	} else if (pending != NULL) {
		rc = maildir_uidlist_flush_now(md, ulpath);
	}
	if (rc < 0)
		goto out;
	if (pending != NULL && *gen == 0)
		*pending = 0; /* flushed here */
	if (converted) {
		log_info("%s: converted to %s (UIDVALIDITY %u, UIDs kept)", old, MAILDIR_UIDLIST,
			 (unsigned)sc.uidvalidity);
		if (unlink(old) < 0)
			log_warn("%s: cannot remove after the conversion: %s", old,
				 strerror(errno));
	}
	*out = sc;
	memset(&sc, 0, sizeof(sc));
out:
	maildir_scan_free(&ul);
	maildir_scan_free(&sc);
	free(text);
	if (lockfd >= 0)
		close(lockfd); /* releases the flock */
	return rc;
}
