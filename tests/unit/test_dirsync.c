/*
 * test_dirsync.c - deliveries committing at the same time on several threads (as the
 * worker pool runs them): every one succeeds, every message is in new/ once, and the
 * new/ fsyncs they needed were shared (never more fsyncs than deliveries). Batches on
 * a data filesystem of its own (one syncfs for the data, one for the directories) and
 * what an I/O error does to them: the kernel's syncfs and sync_file_range fail when the
 * test says so (this binary's own definitions come before libc's, as the LD_PRELOAD
 * shim tests/integration/flushfault.c does for the daemon), or wait while the test
 * holds them: a Maildir whose creation's flush failed, or is still running on another
 * thread, is flushed again by the next caller before it returns (store/mdcreate.h).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "store/dirsync.h"
#include "store/maildir.h"

#define N 16

static unsigned syncfs_calls;
static unsigned syncfs_fail_at; /* the n-th syncfs from now fails (0: none) */
static int range_fail_fd = -1;	/* sync_file_range of this fd fails */
/* syncfs_hold: the next syncfs, once done, says so (syncfs_held) and waits until the
 * test clears syncfs_hold. */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static bool syncfs_hold, syncfs_held;

int syncfs(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
	int rc = real(fd);

	pthread_mutex_lock(&hold_mu);
	syncfs_calls++;
	if (syncfs_hold && !syncfs_held) {
		syncfs_held = true;
		pthread_cond_broadcast(&hold_cv);
		while (syncfs_hold)
			pthread_cond_wait(&hold_cv, &hold_mu);
	}
	if (syncfs_fail_at > 0 && --syncfs_fail_at == 0) {
		pthread_mutex_unlock(&hold_mu);
		errno = EIO;
		return -1;
	}
	pthread_mutex_unlock(&hold_mu);
	return rc;
}

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
	int (*real)(int, off_t, off_t, unsigned) =
	    (int (*)(int, off_t, off_t, unsigned))dlsym(RTLD_NEXT, "sync_file_range");

	if (fd == range_fail_fd) {
		errno = EIO;
		return -1;
	}
	return real(fd, off, n, flags);
}

static char tmpdir[64];
static struct maildir_store st;
static pthread_barrier_t go;

struct one {
	struct maildir_dlv d;
	struct maildir_rcpt r[2];
	int rc;
};

static void *commit_thread(void *arg)
{
	struct one *o = arg;

	pthread_barrier_wait(&go);
	o->rc = maildir_dlv_commit_run(&o->d, o->r, 2);
	return NULL;
}

static int count_in(const char *user, const char *sub)
{
	char p[512];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/%s%s%s", tmpdir, user ? "mail/example.test/" : "spool",
		 user ? user : "", user ? sub : "");
	d = opendir(p);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int count_new(const char *user)
{
	return count_in(user, "/Maildir/new");
}

static void test_concurrent_commits_share_fsyncs(void **state)
{
	static struct one o[N];
	pthread_t th[N];
	struct dirsync_stats s0, s1;
	uint64_t calls0, fsyncs0, calls, fsyncs;
	char body[64];
	char cmd[128];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_dirsync.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	assert_int_equal(maildir_store_init(&st, tmpdir, "host", 0), 0);
	/* The mailboxes exist, as after a first delivery: then only new/ is fsynced. */
	assert_int_equal(maildir_create(&st, "example.test", "ann"), 0);
	assert_int_equal(maildir_create(&st, "example.test", "bob"), 0);
	for (int i = 0; i < N; i++) {
		int n = snprintf(body, sizeof(body), "Subject: %d\r\n\r\nbody %d\r\n", i, i);

		assert_int_equal(maildir_dlv_begin(&st, &o[i].d), 0);
		assert_int_equal(maildir_dlv_write(&o[i].d, body, (size_t)n), 0);
		o[i].r[0] = (struct maildir_rcpt){.domain = "example.test", .user = "ann"};
		o[i].r[1] = (struct maildir_rcpt){.domain = "example.test", .user = "bob"};
	}
	dirsync_stats(&s0);
	assert_int_equal(pthread_barrier_init(&go, NULL, N), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_create(&th[i], NULL, commit_thread, &o[i]), 0);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < N; i++)
		assert_int_equal(o[i].rc, 0);
	assert_int_equal(count_new("ann"), N);
	assert_int_equal(count_new("bob"), N);
	dirsync_stats(&s1);
	calls0 = s0.calls;
	fsyncs0 = s0.flushes;
	calls = s1.calls;
	fsyncs = s1.flushes;
	/* One request per message's data (its own fsync) and per mailbox per delivery
	 * (new/, shared: never more fsyncs than requests). */
	assert_int_equal(calls - calls0, 3 * N);
	assert_true(fsyncs - fsyncs0 >= N + 2);
	assert_true(fsyncs - fsyncs0 <= calls - calls0);
	print_message("%d deliveries x 2 mailboxes: %llu fsyncs for %llu requests\n", N,
		      (unsigned long long)(fsyncs - fsyncs0), (unsigned long long)(calls - calls0));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
}

static void test_missing_directory_fails(void **state)
{
	(void)state;
	assert_int_equal(dirsync_fsync("/nonexistent/dir/for/dirsync"), -MGW_EIO);
}

/* A store on a filesystem of its own (tmpfs when there is one: the test then flushes
 * nothing of the build host), in filesystem mode, with no Maildir yet. */
static void fs_store_empty(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_dirsync.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	assert_int_equal(maildir_store_init(&st, tmpdir, "host", 0), 0);
	dirsync_fs_set(tmpdir);
}

/* The same with the mailboxes made. */
static void fs_store(void)
{
	fs_store_empty();
	assert_int_equal(maildir_create(&st, "example.test", "ann"), 0);
	assert_int_equal(maildir_create(&st, "example.test", "bob"), 0);
}

static void fs_store_done(void)
{
	char cmd[128];

	dirsync_fs_set(NULL);
	syncfs_fail_at = 0;
	range_fail_fd = -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
}

#define B 4
static struct maildir_dlv bd[B];
static struct maildir_commit bc[B];
static const struct maildir_rcpt both[2] = {{.domain = "example.test", .user = "ann"},
					    {.domain = "example.test", .user = "bob"}};

/* B deliveries to ann and bob, written and ready to commit. */
static void batch_begin(void)
{
	for (int i = 0; i < B; i++) {
		assert_int_equal(maildir_dlv_begin(&st, &bd[i]), 0);
		assert_int_equal(maildir_dlv_write(&bd[i], "Subject: b\r\n\r\nbody\r\n", 19), 0);
		bc[i] = (struct maildir_commit){.d = &bd[i], .rcpts = both, .n = 2};
	}
}

static void test_fs_batch_costs_two_flushes(void **state)
{
	struct dirsync_stats s0, s1;
	unsigned calls;

	(void)state;
	fs_store();
	batch_begin();
	dirsync_stats(&s0);
	calls = syncfs_calls;
	maildir_dlv_commit_batch(bc, B);
	dirsync_stats(&s1);
	for (int i = 0; i < B; i++)
		assert_int_equal(bc[i].rc, 0);
	assert_int_equal(count_new("ann"), B);
	assert_int_equal(count_new("bob"), B);
	assert_int_equal(count_in(NULL, NULL), 0); /* the spool is empty */
	/* The data of the four, then the eight new/ entries: two syncfs in all. */
	assert_int_equal(syncfs_calls - calls, 2);
	assert_int_equal(s1.flushes - s0.flushes, 2);
	assert_true(s1.fs);
	fs_store_done();
}

/* The data flush (first syncfs) or the directories' flush (second) fails. */
static void batch_flush_fails(unsigned at)
{
	fs_store();
	batch_begin();
	syncfs_fail_at = at;
	maildir_dlv_commit_batch(bc, B);
	for (int i = 0; i < B; i++)
		assert_int_equal(bc[i].rc, -MGW_EIO);
	assert_int_equal(count_new("ann"), 0);
	assert_int_equal(count_new("bob"), 0);
	assert_int_equal(count_in(NULL, NULL), 0);
	fs_store_done();
}

static void test_fs_batch_failed_data_flush_fails_all(void **state)
{
	(void)state;
	batch_flush_fails(1);
}

static void test_fs_batch_failed_dir_flush_fails_all(void **state)
{
	(void)state;
	batch_flush_fails(2);
}

/* One delivery's own write-back error (its file's error state after the shared syncfs)
 * and one refused recipient fail those two alone; the other two are delivered. */
static void test_fs_batch_one_failure_fails_it_alone(void **state)
{
	static const struct maildir_rcpt bad = {.domain = "example.test", .user = "../x"};

	(void)state;
	fs_store();
	batch_begin();
	range_fail_fd = bd[1].fd;
	bc[2].rcpts = &bad;
	bc[2].n = 1;
	maildir_dlv_commit_batch(bc, B);
	assert_int_equal(bc[0].rc, 0);
	assert_int_equal(bc[1].rc, -MGW_EIO);
	assert_int_equal(bc[2].rc, -MGW_EINVAL);
	assert_int_equal(bc[3].rc, 0);
	assert_int_equal(count_new("ann"), 2);
	assert_int_equal(count_new("bob"), 2);
	assert_int_equal(count_in(NULL, NULL), 0);
	fs_store_done();
}

static bool maildir_complete(const char *user)
{
	return count_in(user, "/Maildir/cur") == 0 && count_in(user, "/Maildir/new") == 0 &&
	       count_in(user, "/Maildir/tmp") == 0;
}

/* A Maildir whose creation's flush failed is there, but not durable: every later call
 * (and a delivery into it) flushes it again and reports that flush's failure, until one
 * succeeds; after that a call flushes nothing. */
static void test_fs_failed_creation_is_flushed_again(void **state)
{
	static const struct maildir_rcpt carol = {.domain = "example.test", .user = "carol"};
	unsigned calls;

	(void)state;
	fs_store_empty();
	syncfs_fail_at = 1;
	assert_int_equal(maildir_create(&st, "example.test", "carol"), -MGW_EIO);
	assert_true(maildir_complete("carol"));
	calls = syncfs_calls;
	syncfs_fail_at = 1;
	assert_int_equal(maildir_create(&st, "example.test", "carol"), -MGW_EIO);
	assert_int_equal(syncfs_calls - calls, 1);
	/* A delivery: its data is flushed (the first syncfs), then the Maildir (the
	 * second, failing): refused, nothing in new/. */
	batch_begin();
	syncfs_fail_at = 2;
	assert_int_equal(maildir_dlv_commit_run(&bd[0], &carol, 1), -MGW_EIO);
	assert_int_equal(count_new("carol"), 0);
	calls = syncfs_calls;
	assert_int_equal(maildir_dlv_commit_run(&bd[1], &carol, 1), 0);
	/* data, the Maildir, new/ */
	assert_int_equal(syncfs_calls - calls, 3);
	assert_int_equal(count_new("carol"), 1);
	calls = syncfs_calls;
	assert_int_equal(maildir_create(&st, "example.test", "carol"), 0);
	assert_int_equal(syncfs_calls - calls, 0);
	for (int i = 2; i < B; i++)
		maildir_dlv_abort(&bd[i]);
	fs_store_done();
}

static void *create_thread(void *arg)
{
	int *rc = arg;

	__atomic_store_n(rc, maildir_create(&st, "example.test", "dave"), __ATOMIC_SEQ_CST);
	return NULL;
}

static void held_wait(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&hold_mu);
	while (!syncfs_held && pthread_cond_timedwait(&hold_cv, &hold_mu, &until) == 0)
		;
	pthread_mutex_unlock(&hold_mu);
}

/* Two callers at once: the first makes the Maildir and its flush is held; the second
 * finds the directories there, but does not return before the flush that makes them
 * durable has ended. */
static void test_fs_second_caller_waits_for_the_creation_flush(void **state)
{
	struct timespec pause = {0, 200 * 1000 * 1000};
	pthread_t a, b;
	int rca = 1, rcb = 1;
	bool b_early;

	(void)state;
	fs_store_empty();
	syncfs_hold = true;
	syncfs_held = false;
	assert_int_equal(pthread_create(&a, NULL, create_thread, &rca), 0);
	held_wait();
	assert_true(syncfs_held);
	assert_true(maildir_complete("dave"));
	assert_int_equal(pthread_create(&b, NULL, create_thread, &rcb), 0);
	nanosleep(&pause, NULL);
	pthread_mutex_lock(&hold_mu);
	b_early = __atomic_load_n(&rcb, __ATOMIC_SEQ_CST) != 1;
	syncfs_hold = false;
	pthread_cond_broadcast(&hold_cv);
	pthread_mutex_unlock(&hold_mu);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert_false(b_early);
	assert_int_equal(rca, 0);
	assert_int_equal(rcb, 0);
	fs_store_done();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_concurrent_commits_share_fsyncs),
	    cmocka_unit_test(test_missing_directory_fails),
	    cmocka_unit_test(test_fs_batch_costs_two_flushes),
	    cmocka_unit_test(test_fs_batch_failed_data_flush_fails_all),
	    cmocka_unit_test(test_fs_batch_failed_dir_flush_fails_all),
	    cmocka_unit_test(test_fs_batch_one_failure_fails_it_alone),
	    cmocka_unit_test(test_fs_failed_creation_is_flushed_again),
	    cmocka_unit_test(test_fs_second_caller_waits_for_the_creation_flush),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
