/*
 * mdcreate.c - maildir_create and the table of Maildirs not known durable (mdcreate.h
 * says who touches what). A slot's number says which creation entered it last; a flush
 * takes a Maildir out only when no creation entered it since the flush began.
 */
#include "store/mdcreate.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/dirsync.h"
#include "store/maildir_int.h"

static struct {
	pthread_mutex_t mu;
	struct {
		char md[MAILDIR_PATH_MAX];
		uint64_t gen; /* the last creation that entered it; 0: the slot is free */
	} slot[MAILDIR_PENDING_MAX];
	uint64_t last; /* the last number given */
	unsigned used; /* slots in use: written under mu, read without it (atomic) */
} mdc = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Under mu: md's slot, or NULL. */
static uint64_t *maildir_pending_slot(const char *md)
{
	for (size_t i = 0; i < MAILDIR_PENDING_MAX; i++)
		if (mdc.slot[i].gen != 0 && strcmp(mdc.slot[i].md, md) == 0)
			return &mdc.slot[i].gen;
	return NULL;
}

/* The number md was last entered with, 0 when it is not in the table. */
static uint64_t maildir_pending_gen(const char *md)
{
	uint64_t *g, gen = 0;

	if (__atomic_load_n(&mdc.used, __ATOMIC_SEQ_CST) == 0)
		return 0; /* steady state: no mutex */
	pthread_mutex_lock(&mdc.mu);
	g = maildir_pending_slot(md);
	if (g != NULL)
		gen = *g;
	pthread_mutex_unlock(&mdc.mu);
	return gen;
}

bool maildir_create_pending(const char *md)
{
	return maildir_pending_gen(md) != 0;
}

/* A creation of md begins: entered with a new number (*gen). 0, or -MGW_EIO when the
 * table is full (logged; nothing is made). */
static int maildir_pending_enter(const char *md, uint64_t *gen)
{
	uint64_t *g = NULL;

	pthread_mutex_lock(&mdc.mu);
	g = maildir_pending_slot(md);
	for (size_t i = 0; g == NULL && i < MAILDIR_PENDING_MAX; i++) {
		if (mdc.slot[i].gen == 0) {
			memcpy(mdc.slot[i].md, md, strlen(md) + 1); /* fits: maildir_path */
			g = &mdc.slot[i].gen;
			__atomic_add_fetch(&mdc.used, 1, __ATOMIC_SEQ_CST);
		}
	}
	if (g != NULL)
		*g = *gen = ++mdc.last;
	pthread_mutex_unlock(&mdc.mu);
	if (g != NULL)
		return 0;
	log_err("%s: not made: %u Maildirs wait for their first flush already", md,
		MAILDIR_PENDING_MAX);
	return -MGW_EIO;
}

/* A flush of md's levels that began when its number was gen succeeded. */
static void maildir_pending_done(const char *md, uint64_t gen)
{
	uint64_t *g;

	pthread_mutex_lock(&mdc.mu);
	g = maildir_pending_slot(md);
	if (g != NULL && *g <= gen) {
		*g = 0;
		__atomic_sub_fetch(&mdc.used, 1, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&mdc.mu);
}

/* mkdir; an existing directory is fine (another thread, or an earlier try, made it). */
static int maildir_mkdir(const char *p)
{
	if (mkdir(p, 0700) == 0 || errno == EEXIST)
		return 0;
	log_err("%s: mkdir: %s", p, strerror(errno));
	return maildir_errno_code(errno);
}

int maildir_create(const struct maildir_store *st, const char *domain, const char *user)
{
	static const char *const subs[] = {"cur", "new", "tmp"};
	/* lv: .../mail, .../mail/<domain>, .../<user>, .../Maildir: each new entry is in the
	 * one before it, and cur/ new/ tmp/ are in the last */
	char lv[4][MAILDIR_PATH_MAX], p[MAILDIR_PATH_MAX];
	const char *dirs[4];
	uint64_t gen;
	size_t i;
	int rc;

	rc = maildir_path(st, domain, user, lv[3], sizeof(lv[3])); /* validates the names */
	if (rc == 0)
		rc = maildir_fmt(lv[0], sizeof(lv[0]), "%s/mail", st->data_dir);
	if (rc == 0)
		rc = maildir_fmt(lv[1], sizeof(lv[1]), "%s/%s", lv[0], domain);
	if (rc == 0)
		rc = maildir_fmt(lv[2], sizeof(lv[2]), "%s/%s", lv[1], user);
	if (rc < 0)
		return rc;
	/* Fast path: an existing Maildir, durable unless the table says otherwise. */
	for (i = 0; i < MGW_ARRAY_LEN(subs); i++)
		if (maildir_fmt(p, sizeof(p), "%s/%s", lv[3], subs[i]) < 0 || access(p, F_OK) < 0)
			break;
	if (i == MGW_ARRAY_LEN(subs)) {
		gen = maildir_pending_gen(lv[3]);
		if (gen == 0)
			return 0;
		/* Being made on another thread, or its flush failed: ours must succeed. */
		log_info("%s: not known durable yet: flushing its directories", lv[3]);
	} else {
		/* Entered before the first mkdir: whoever finds the directories finds the
		 * entry, and flushes them too (even when every mkdir below is another
		 * thread's). */
		rc = maildir_pending_enter(lv[3], &gen);
		for (i = 1; rc == 0 && i < MGW_ARRAY_LEN(lv); i++)
			rc = maildir_mkdir(lv[i]);
		for (i = 0; rc == 0 && i < MGW_ARRAY_LEN(subs); i++) {
			rc = maildir_fmt(p, sizeof(p), "%s/%s", lv[3], subs[i]);
			if (rc == 0)
				rc = maildir_mkdir(p);
		}
		if (rc < 0)
			return rc; /* stays in the table: the next caller makes it again */
	}
	/* The new directory entries must be durable before a message in them is
	 * acknowledged: every level is flushed (shared flushes: dirsync.h). */
	for (i = 0; i < MGW_ARRAY_LEN(lv); i++)
		dirs[i] = lv[MGW_ARRAY_LEN(lv) - 1 - i];
	rc = dirsync_fsync_n(dirs, MGW_ARRAY_LEN(dirs));
	if (rc == 0)
		maildir_pending_done(lv[3], gen);
	else
		log_err("%s: its directories are not durable: %s", lv[3], mgw_strerror(rc));
	return rc;
}
