/*
 * test_dirsync.c - deliveries committing at the same time on several threads (as the
 * worker pool runs them): every one succeeds, every message is in new/ once, and the
 * new/ fsyncs they needed were shared (never more fsyncs than deliveries).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "core/err.h"
#include "store/dirsync.h"
#include "store/maildir.h"

#define N 16

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

static int count_new(const char *user)
{
	char p[512];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/mail/example.test/%s/Maildir/new", tmpdir, user);
	d = opendir(p);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
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
	/* One call per mailbox per delivery; fsyncs shared, never more than calls. */
	assert_int_equal(calls - calls0, 2 * N);
	assert_true(fsyncs - fsyncs0 >= 2);
	assert_true(fsyncs - fsyncs0 <= calls - calls0);
	print_message("%d deliveries x 2 mailboxes: %llu new/ fsyncs for %llu requests\n", N,
		      (unsigned long long)(fsyncs - fsyncs0), (unsigned long long)(calls - calls0));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
}

static void test_missing_directory_fails(void **state)
{
	(void)state;
	assert_int_equal(dirsync_fsync("/nonexistent/dir/for/dirsync"), -MGW_EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_concurrent_commits_share_fsyncs),
	    cmocka_unit_test(test_missing_directory_fails),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
