/*
 * flushjob.c - a flush job owns copies of its paths; the loop thread's handle on it is
 * only ever used to set "abandoned", which the completion (also on the loop thread) reads.
 */
#include "store/flushjob.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/dirsync.h"
#include "store/maildir_int.h"

struct maildir_flush {
	struct work_job w;
	maildir_flush_done_fn done; /* loop thread */
	void *arg;		    /* loop thread; never read on the worker */
	struct maildir_flush **out; /* the owner's handle, cleared at completion */
	bool abandoned;		    /* loop thread */
	int rc;			    /* written by the worker, read by the completion */
	struct maildir_dirs dirs;   /* the job's own copy */
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

	f->rc = maildir_dirs_flush(&f->dirs);
}

/* Loop thread. */
static void maildir_flush_done(struct work_job *j)
{
	struct maildir_flush *f = (struct maildir_flush *)j;
	int rc = j->status < 0 ? j->status : f->rc;

	if (!f->abandoned) {
		*f->out = NULL;
		f->done(f->arg, rc);
	}
	free(f);
}

int maildir_flush_start(struct work_pool *pool, const struct maildir_dirs *dirs,
			maildir_flush_done_fn done, void *arg, struct maildir_flush **out)
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
