/*
 * flushjob.c - a flush job owns copies of its paths; the loop thread's handle on it is
 * only ever used to set "abandoned", which the completion (also on the loop thread) reads.
 * The table of files not known durable yet is here too (loop thread only).
 */
#include "store/flushjob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "store/dirsync.h"
#include "store/folder.h"
#include "store/maildir_int.h"
#include "store/mdcreate.h"

struct maildir_flush {
	struct work_job w;
	maildir_flush_done_fn done; /* loop thread */
	void *arg;		    /* loop thread; never read on the worker */
	struct maildir_flush **out; /* the owner's handle, cleared at completion */
	bool abandoned;		    /* loop thread */
	int rc;			    /* written by the worker, read by the completion */
	struct maildir_dirs dirs;   /* the job's own copy */
	/* maildir_prepare_start: the Maildir to make (copies), with the folders or not */
	bool prepare, folders;
	struct maildir_store st;
	char domain[MAILDIR_NAME_MAX + 1], user[MAILDIR_NAME_MAX + 1];
};

/* The files replaced without a flush whose last write is not known durable yet
 * (flushjob.h). Loop thread only. */
static struct {
	char path[MAILDIR_PATH_MAX];
	uint64_t gen; /* 0: free */
} maildir_unflushed[MAILDIR_UNFLUSHED_MAX];
static uint64_t maildir_unflushed_last;

uint64_t *maildir_unflushed_slot(const char *path, bool add)
{
	size_t i, free_i = MAILDIR_UNFLUSHED_MAX;

	for (i = 0; i < MAILDIR_UNFLUSHED_MAX; i++) {
		if (maildir_unflushed[i].gen == 0) {
			if (free_i == MAILDIR_UNFLUSHED_MAX)
				free_i = i;
		} else if (strcmp(maildir_unflushed[i].path, path) == 0) {
			return &maildir_unflushed[i].gen;
		}
	}
	if (!add || free_i == MAILDIR_UNFLUSHED_MAX || strlen(path) >= MAILDIR_PATH_MAX)
		return NULL;
	memcpy(maildir_unflushed[free_i].path, path, strlen(path) + 1);
	return &maildir_unflushed[free_i].gen;
}

uint64_t maildir_unflushed_next(void)
{
	return ++maildir_unflushed_last;
}

uint64_t maildir_unflushed_gen(const char *path)
{
	uint64_t *g = maildir_unflushed_slot(path, false);

	return g != NULL ? *g : 0;
}

/* path's write gen (or a later one) is durable: forgotten unless written again since. */
static void maildir_unflushed_done(const char *path, uint64_t gen)
{
	uint64_t *g = maildir_unflushed_slot(path, false);

	if (g != NULL && *g <= gen)
		*g = 0;
}

int maildir_dirs_add(struct maildir_dirs *l, const char *dir)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->d[i], dir) == 0)
			return 0;
	if (l->n == MAILDIR_FLUSH_DIRS)
		return -MGW_ELIMIT;
	if (maildir_fmt(l->d[l->n], sizeof(l->d[l->n]), "%s", dir) < 0)
		return -MGW_ELIMIT;
	l->n++;
	return 0;
}

int maildir_dirs_add_file(struct maildir_dirs *l, const char *path, uint64_t gen)
{
	char dir[MAILDIR_PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t i;

	if (slash == NULL || maildir_fmt(dir, sizeof(dir), "%.*s", (int)(slash - path), path) < 0)
		return -MGW_ELIMIT;
	for (i = 0; i < l->nf && strcmp(l->f[i], path) != 0; i++)
		;
	if (i == l->nf) {
		if (l->nf == MAILDIR_FLUSH_FILES ||
		    maildir_fmt(l->f[i], sizeof(l->f[i]), "%s", path) < 0)
			return -MGW_ELIMIT;
		l->gen[i] = 0;
		l->nf++;
	}
	if (gen > l->gen[i])
		l->gen[i] = gen;
	return maildir_dirs_add(l, dir);
}

int maildir_dirs_add_pending(struct maildir_dirs *l, const char *path)
{
	uint64_t gen = maildir_unflushed_gen(path);

	return gen != 0 ? maildir_dirs_add_file(l, path, gen) : 0;
}

int maildir_write_later(const char *path, const void *data, size_t len, struct maildir_dirs *later)
{
	uint64_t *slot = later != NULL ? maildir_unflushed_slot(path, true) : NULL;
	struct maildir_dirs l;
	int rc;

	if (slot == NULL)
		/* Flushed here (without later also on a worker: the table stays untouched; an
		 * entry of path left there only costs its next reader a flush). */
		return file_write_atomic(path, data, len, 0600);
	/* Room for it in later, checked before anything is written. */
	l = *later;
	rc = maildir_dirs_add_file(&l, path, 1);
	if (rc == 0)
		rc = file_write_cache(path, data, len, 0600);
	if (rc < 0)
		return rc;
	*slot = maildir_unflushed_next();
	return maildir_dirs_add_file(later, path, *slot);
}

int maildir_dirs_flush(const struct maildir_dirs *l)
{
	const char *p[MAILDIR_FLUSH_DIRS];
	int rc = 0, fd;

	for (size_t i = 0; rc == 0 && i < l->nf; i++) {
		/* By path: the file there now, whoever renamed it (a later write renames a
		 * superset over it, and that one must be durable). */
		fd = open(l->f[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_err("%s: open: %s", l->f[i], strerror(errno));
			return -MGW_EIO;
		}
		rc = dirsync_file(fd, l->f[i]);
		close(fd);
	}
	for (size_t i = 0; i < l->n; i++)
		p[i] = l->d[i];
	return rc == 0 && l->n ? dirsync_fsync_n(p, l->n) : rc;
}

/* Worker thread: touches only the job. */
static void maildir_flush_run(struct work_job *j)
{
	struct maildir_flush *f = (struct maildir_flush *)j;

	if (!f->prepare) {
		f->rc = maildir_dirs_flush(&f->dirs);
		return;
	}
	/* The Maildir first: it may exist already but not be known durable (its
	 * creation's flush failed), with the subscriptions file there or not. */
	f->rc = maildir_create(&f->st, f->domain, f->user);
	if (f->rc == 0 && f->folders)
		f->rc = maildir_folder_defaults(&f->st, f->domain, f->user);
}

/* Loop thread. */
static void maildir_flush_done(struct work_job *j)
{
	struct maildir_flush *f = (struct maildir_flush *)j;
	int rc = j->status < 0 ? j->status : f->rc;

	for (size_t i = 0; rc == 0 && i < f->dirs.nf; i++)
		if (f->dirs.gen[i] != 0)
			maildir_unflushed_done(f->dirs.f[i], f->dirs.gen[i]);
	if (!f->abandoned) {
		*f->out = NULL;
		f->done(f->arg, rc);
	}
	free(f);
}

static int maildir_flush_submit(struct work_pool *pool, struct maildir_flush *f,
				maildir_flush_done_fn done, void *arg, struct maildir_flush **out)
{
	int rc;

	f->done = done;
	f->arg = arg;
	f->out = out;
	work_job_init(&f->w, maildir_flush_run, maildir_flush_done, NULL);
	/* Set before the submit: without a pool the completion runs inside it and clears. */
	*out = f;
	rc = work_submit(pool, &f->w);
	if (rc < 0) {
		*out = NULL;
		free(f);
	}
	return rc;
}

int maildir_flush_start(struct work_pool *pool, const struct maildir_dirs *dirs,
			maildir_flush_done_fn done, void *arg, struct maildir_flush **out)
{
	struct maildir_flush *f;

	*out = NULL;
	if (dirs->n == 0 || dirs->n > MAILDIR_FLUSH_DIRS || dirs->nf > MAILDIR_FLUSH_FILES)
		return -MGW_EINVAL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -MGW_ENOMEM;
	f->dirs = *dirs;
	return maildir_flush_submit(pool, f, done, arg, out);
}

bool maildir_prepare_needed(const struct maildir_store *st, const char *domain, const char *user,
			    bool folders)
{
	static const char *const subs[] = {"cur", "new", "tmp"};
	char p[MAILDIR_PATH_MAX], md[MAILDIR_PATH_MAX];
	struct stat sb;

	if (maildir_path(st, domain, user, md, sizeof(md)) < 0)
		return false; /* the open refuses the name */
	if (maildir_create_pending(md))
		return true; /* being made elsewhere, or its flush failed: flushed by the job */
	if (folders)
		/* maildir_folder_defaults: a first login has no subscriptions file (or an
		 * empty one: created, but its data lost by a crash before its flush). */
		return maildir_fmt(p, sizeof(p), "%s/%s", md, MAILDIR_SUBS_FILE) == 0 &&
		       (stat(p, &sb) < 0 || sb.st_size == 0);
	for (size_t i = 0; i < MGW_ARRAY_LEN(subs); i++)
		if (maildir_fmt(p, sizeof(p), "%s/%s", md, subs[i]) < 0 || access(p, F_OK) < 0)
			return true;
	return false;
}

int maildir_prepare_start(struct work_pool *pool, const struct maildir_store *st,
			  const char *domain, const char *user, bool folders,
			  maildir_flush_done_fn done, void *arg, struct maildir_flush **out)
{
	struct maildir_flush *f;

	*out = NULL;
	if (strlen(domain) >= sizeof(f->domain) || strlen(user) >= sizeof(f->user))
		return -MGW_EINVAL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -MGW_ENOMEM;
	f->prepare = true;
	f->folders = folders;
	f->st = *st; /* the worker reads only data_dir of it */
	f->st.notify = NULL;
	f->st.notify_arg = NULL;
	memcpy(f->domain, domain, strlen(domain) + 1);
	memcpy(f->user, user, strlen(user) + 1);
	return maildir_flush_submit(pool, f, done, arg, out);
}

int maildir_dirs_add_uidlist(struct maildir_dirs *l, const char *md, uint64_t gen)
{
	char p[MAILDIR_PATH_MAX], root[MAILDIR_PATH_MAX];
	int rc;

	/* A new list's UIDVALIDITY is durable with it (maildir_uidvalidity_next). */
	rc = maildir_root_of(md, root, sizeof(root));
	if (rc == 0)
		rc = maildir_fmt(p, sizeof(p), "%s/%s", root, MAILDIR_UIDVALIDITY_FILE);
	if (rc == 0)
		rc = maildir_dirs_add_pending(l, p);
	if (rc == 0)
		rc = maildir_fmt(p, sizeof(p), "%s/%s", md, MAILDIR_UIDLIST);
	if (rc == 0 && gen == 0)
		rc = maildir_dirs_add_pending(l, p);
	else if (rc == 0)
		rc = maildir_dirs_add_file(l, p, gen);
	return rc;
}

int maildir_flush_uidlist(struct work_pool *pool, const char *md, uint64_t gen,
			  maildir_flush_done_fn done, void *arg, struct maildir_flush **out)
{
	struct maildir_dirs l = {0};
	int rc;

	*out = NULL;
	rc = maildir_dirs_add_uidlist(&l, md, gen);
	if (rc == 0)
		rc = maildir_dirs_add(&l, md);
	return rc < 0 ? rc : maildir_flush_start(pool, &l, done, arg, out);
}

int maildir_flush_box(struct work_pool *pool, const char *md, maildir_flush_done_fn done, void *arg,
		      struct maildir_flush **out)
{
	struct maildir_dirs l = {0};
	char p[MAILDIR_PATH_MAX];

	*out = NULL;
	if (maildir_fmt(p, sizeof(p), "%s/new", md) < 0 || maildir_dirs_add(&l, p) < 0 ||
	    maildir_fmt(p, sizeof(p), "%s/cur", md) < 0 || maildir_dirs_add(&l, p) < 0)
		return -MGW_ELIMIT;
	return maildir_flush_start(pool, &l, done, arg, out);
}

void maildir_flush_abandon(struct maildir_flush *f)
{
	if (f != NULL)
		f->abandoned = true;
}
