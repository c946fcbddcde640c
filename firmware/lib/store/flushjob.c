/*
 * flushjob.c - a flush job owns copies of its paths; the loop thread's handle on it is
 * only ever used to set "abandoned", which the completion (also on the loop thread) reads.
 */
#include "store/flushjob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/dirsync.h"
#include "store/maildir_int.h"

struct maildir_flush {
	struct work_job w;
	maildir_flush_done_fn done;	/* loop thread */
	void *arg;			/* loop thread; never read on the worker */
	struct maildir_flush **out;	/* the owner's handle, cleared at completion */
	bool abandoned;			/* loop thread */
	int rc;				/* written by the worker, read by the completion */
	struct maildir_dirs dirs;	/* the job's own copy */
	uint64_t uidlist_gen;		/* maildir_flush_uidlist: the write made durable */
	char uidlist[MAILDIR_PATH_MAX]; /* its file, flushed before dirs ("": none) */
};

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

int maildir_dirs_flush(const struct maildir_dirs *l)
{
	const char *p[MAILDIR_FLUSH_DIRS];

	for (size_t i = 0; i < l->n; i++)
		p[i] = l->d[i];
	return l->n ? dirsync_fsync_n(p, l->n) : 0;
}

/* Worker thread: touches only the job. */
static void maildir_flush_run(struct work_job *j)
{
	struct maildir_flush *f = (struct maildir_flush *)j;
	int fd;

	f->rc = 0;
	if (f->uidlist[0]) {
		/* By path: the list there now, whoever renamed it. */
		fd = open(f->uidlist, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_err("%s: open: %s", f->uidlist, strerror(errno));
			f->rc = -MGW_EIO;
			return;
		}
		f->rc = dirsync_file(fd, f->uidlist);
		close(fd);
	}
	if (f->rc == 0)
		f->rc = maildir_dirs_flush(&f->dirs);
}

/* Loop thread. */
static void maildir_flush_done(struct work_job *j)
{
	struct maildir_flush *f = (struct maildir_flush *)j;
	int rc = j->status < 0 ? j->status : f->rc;

	if (rc == 0 && f->uidlist_gen != 0)
		maildir_uidlist_flushed(f->dirs.d[0], f->uidlist_gen);
	if (!f->abandoned) {
		*f->out = NULL;
		f->done(f->arg, rc);
	}
	free(f);
}

static int maildir_flush_submit(struct work_pool *pool, const struct maildir_dirs *dirs,
				const char *uidlist, uint64_t gen, maildir_flush_done_fn done,
				void *arg, struct maildir_flush **out)
{
	struct maildir_flush *f;
	int rc;

	*out = NULL;
	if (dirs->n == 0 || dirs->n > MAILDIR_FLUSH_DIRS)
		return -MGW_EINVAL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -MGW_ENOMEM;
	f->dirs = *dirs;
	if (uidlist != NULL)
		memcpy(f->uidlist, uidlist, sizeof(f->uidlist));
	f->uidlist_gen = gen;
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
	return maildir_flush_submit(pool, dirs, NULL, 0, done, arg, out);
}

int maildir_flush_uidlist(struct work_pool *pool, const char *md, uint64_t gen,
			  maildir_flush_done_fn done, void *arg, struct maildir_flush **out)
{
	struct maildir_dirs l = {0};
	char p[MAILDIR_PATH_MAX];

	*out = NULL;
	if (maildir_dirs_add(&l, md) < 0 ||
	    maildir_fmt(p, sizeof(p), "%s/%s", md, MAILDIR_UIDLIST) < 0)
		return -MGW_ELIMIT;
	return maildir_flush_submit(pool, &l, p, gen, done, arg, out);
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
