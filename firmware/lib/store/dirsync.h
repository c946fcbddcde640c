/*
 * dirsync.h - group commit for directory fsyncs: deliveries that finish at about the
 * same time share one fsync per directory.
 *
 * dirsync_fsync(dir) returns once an fsync of dir has completed that *started after*
 * the call began, so every entry the caller created or renamed in dir before the call is
 * durable. Callers on several worker threads (core/work.h) that ask for the same
 * directory while an fsync of it is running wait for it to end, and then one of them
 * runs a single fsync for all of them: with k deliveries waiting, the directory is
 * fsynced about twice, not k times.
 *
 * Thread-safe (one process-wide mutex, never held across the fsync). Blocking: call it
 * from a worker, never from the event loop.
 */
#ifndef MGW_DIRSYNC_H
#define MGW_DIRSYNC_H

#include <stdint.h>

#define DIRSYNC_SLOTS 32 /* directories synced at once; more fall back to a plain fsync */

/* 0, or -MGW_EIO (logged with the path). */
int dirsync_fsync(const char *dir);

/* Since the start: calls of dirsync_fsync and the fsyncs they really ran. */
void dirsync_stats(uint64_t *calls, uint64_t *fsyncs);

#endif
