/*
 * dirsync.c - tickets per directory: each call takes the next ticket of its directory;
 * an fsync that starts when the last ticket handed out is T makes every ticket up to T
 * durable (those renames had completed before their tickets were taken). A caller
 * whose ticket is not covered yet either waits for the running fsync or, when none
 * runs, starts one covering every ticket handed out so far.
 */
#include "store/dirsync.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "store/maildir.h"

struct dirsync_slot {
	char path[MAILDIR_PATH_MAX];
	unsigned users; /* callers using the slot; 0: free */
	uint64_t seq;	/* last ticket handed out */
	uint64_t done;	/* every ticket up to this one is durable */
	bool busy;	/* an fsync of path is running */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct dirsync_slot slot[DIRSYNC_SLOTS];
	uint64_t calls, fsyncs;
} ds = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static struct dirsync_slot *dirsync_slot_get(const char *dir)
{
	struct dirsync_slot *free_slot = NULL;

	for (size_t i = 0; i < DIRSYNC_SLOTS; i++) {
		struct dirsync_slot *s = &ds.slot[i];

		if (s->users > 0 && strcmp(s->path, dir) == 0)
			return s;
		if (s->users == 0 && free_slot == NULL)
			free_slot = s;
	}
	if (free_slot == NULL || strlen(dir) >= sizeof(free_slot->path))
		return NULL;
	snprintf(free_slot->path, sizeof(free_slot->path), "%s", dir);
	free_slot->seq = free_slot->done = 0;
	free_slot->busy = false;
	return free_slot;
}

int dirsync_fsync(const char *dir)
{
	struct dirsync_slot *s;
	uint64_t ticket;
	int rc = 0;

	pthread_mutex_lock(&ds.mu);
	ds.calls++;
	s = dirsync_slot_get(dir);
	if (s == NULL) {
		ds.fsyncs++;
		pthread_mutex_unlock(&ds.mu);
		return file_dir_fsync(dir);
	}
	s->users++;
	ticket = ++s->seq;
	while (s->done < ticket) {
		uint64_t target;

		if (s->busy) {
			pthread_cond_wait(&ds.cv, &ds.mu);
			continue;
		}
		s->busy = true;
		target = s->seq;
		ds.fsyncs++;
		pthread_mutex_unlock(&ds.mu);
		rc = file_dir_fsync(dir);
		pthread_mutex_lock(&ds.mu);
		s->busy = false;
		if (rc == 0 && s->done < target)
			s->done = target;
		pthread_cond_broadcast(&ds.cv);
		if (rc < 0)
			break; /* the others try their own fsync */
	}
	s->users--;
	pthread_mutex_unlock(&ds.mu);
	return rc;
}

void dirsync_stats(uint64_t *calls, uint64_t *fsyncs)
{
	pthread_mutex_lock(&ds.mu);
	*calls = ds.calls;
	*fsyncs = ds.fsyncs;
	pthread_mutex_unlock(&ds.mu);
}
