/* test_maildir.c - the Maildir store: all-or-nothing delivery, stable UIDs, rescans
 * during an open mailbox, flags, expunge, the session lock, start-up cleanup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "store/flushjob.h"
#include "store/folder.h"
#include "store/keywords.h"
#include "store/maildir.h"
#include "store/quota.h"

static char tmpdir[64];
static struct maildir_store st;

static const char msg1[] = "From: a@b.test\r\nSubject: one\r\n\r\nbody one\r\n";
static const char msg2[] = "From: a@b.test\r\nSubject: two\r\n\r\nsecond body\r\n.. dots\r\n";

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_maildir.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return maildir_store_init(&st, tmpdir, "host/with:odd.chars", 0);
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s'; rm -rf '%s'", tmpdir, tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Number of entries (not starting with '.') in <data>/mail/<d>/<u>/Maildir/<sub>. */
static int count_dir(const char *domain, const char *user, const char *sub)
{
	char p[512];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/mail/%s/%s/Maildir/%s", tmpdir, domain, user, sub);
	d = opendir(p);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int count_spool(void)
{
	char p[512];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/spool", tmpdir);
	d = opendir(p);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int deliver(const char *text, const struct maildir_rcpt *r, size_t n)
{
	struct maildir_dlv d;
	size_t len = strlen(text);

	assert_int_equal(maildir_dlv_begin(&st, &d), 0);
	/* in two chunks, as DATA arrives */
	assert_int_equal(maildir_dlv_write(&d, text, len / 2), 0);
	assert_int_equal(maildir_dlv_write(&d, text + len / 2, len - len / 2), 0);
	return maildir_dlv_commit(&d, r, n);
}

static void read_msg(struct maildir_box *b, size_t i, const char *want)
{
	char buf[4096];
	ssize_t n;
	int fd;

	assert_int_equal(maildir_msg_open(b, i, &fd), 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
	assert_int_equal(b->msgs[i].size, strlen(want));
}

static void test_deliver_two(void **state)
{
	const struct maildir_rcpt r[] = {
	    {"example.test", "joe"},
	    {"example.test", "ann"},
	    {"example.test", "joe"},
	};
	struct maildir_box b;
	char want[64];

	(void)state;
	assert_int_equal(deliver(msg1, r, 3), 0);
	/* duplicates get it once; nothing left in tmp/ or the spool */
	assert_int_equal(count_dir("example.test", "joe", "new"), 1);
	assert_int_equal(count_dir("example.test", "ann", "new"), 1);
	assert_int_equal(count_dir("example.test", "joe", "tmp"), 0);
	assert_int_equal(count_spool(), 0);

	assert_int_equal(maildir_box_open(&b, &st, "example.test", "joe", 0), 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.msgs[0].uid, 1);
	assert_true(b.msgs[0].in_new);
	assert_int_equal(b.msgs[0].flags, 0);
	/* a unique name in the spec's form, host made safe, exact size in S= */
	snprintf(want, sizeof(want), ".host_with_odd.chars,S=%zu", strlen(msg1));
	assert_non_null(strstr(b.msgs[0].name, want));
	assert_non_null(strstr(b.msgs[0].name, ".M"));
	read_msg(&b, 0, msg1);
	assert_int_equal(maildir_box_size(&b), strlen(msg1));
	maildir_box_close(&b);
}

static void assert_nothing_visible(const char *domain, const char *user)
{
	assert_int_equal(count_dir(domain, user, "new"), 0);
	assert_int_equal(count_dir(domain, user, "cur"), 0);
	assert_int_equal(count_dir(domain, user, "tmp"), 0);
}

struct fail_case {
	const char *what;
	const char *user; /* the failing recipient (last of three) */
	const char *sub;  /* its Maildir/<sub> is made a plain file; "" the user dir itself */
	int rc;
};

static const struct fail_case fail_cases[] = {
    {"new/ is not a directory", "bad1", "new", -MGW_EIO},
    {"tmp/ is not a directory", "bad2", "tmp", -MGW_EIO},
    {"user dir is a file", "bad3", "", -MGW_EIO},
    {"invalid name", "../x", NULL, -MGW_EINVAL},
    {"invalid name", "a/b", NULL, -MGW_EINVAL},
};

static void break_path(const char *user, const char *sub)
{
	char p[512];

	if (sub[0] != '\0') {
		assert_int_equal(maildir_create(&st, "f.test", user), 0);
		snprintf(p, sizeof(p), "%s/mail/f.test/%s/Maildir/%s", tmpdir, user, sub);
		assert_int_equal(rmdir(p), 0);
	} else {
		snprintf(p, sizeof(p), "%s/mail/f.test", tmpdir);
		assert_int_equal(file_mkdirs(p, 0700), 0);
		snprintf(p, sizeof(p), "%s/mail/f.test/%s", tmpdir, user);
	}
	assert_int_equal(file_write_atomic(p, "x", 1, 0600), 0);
}

static void test_all_or_nothing(void **state)
{
	(void)state;
	/* One recipient's Maildir exists already, one is created by the delivery. */
	assert_int_equal(maildir_create(&st, "f.test", "good1"), 0);
	for (size_t i = 0; i < MGW_ARRAY_LEN(fail_cases); i++) {
		const struct fail_case *c = &fail_cases[i];
		const struct maildir_rcpt r[] = {
		    {"f.test", "good1"},
		    {"f.test", "good2"},
		    {"f.test", c->user},
		};
		int rc;

		if (c->sub != NULL)
			break_path(c->user, c->sub);
		rc = deliver(msg2, r, 3);
		if (rc != c->rc)
			fail_msg("%s: rc %d want %d", c->what, rc, c->rc);
		assert_nothing_visible("f.test", "good1");
		assert_nothing_visible("f.test", "good2");
		assert_int_equal(count_spool(), 0);
	}
}

static void test_write_failure(void **state)
{
	const struct maildir_rcpt r[] = {{"w.test", "joe"}};
	struct rlimit old, small = {100, 100};
	struct maildir_dlv d;
	static char big[1000];

	(void)state;
	/* A write that fails (file size limit, like a full disk) fails the commit. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	assert_int_equal(maildir_dlv_begin(&st, &d), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	memset(big, 'x', sizeof(big));
	assert_int_equal(maildir_dlv_write(&d, big, sizeof(big)), -MGW_EIO);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(maildir_dlv_write(&d, "y", 1), -MGW_EIO); /* remembered */
	assert_int_equal(maildir_dlv_commit(&d, r, 1), -MGW_EIO);
	assert_nothing_visible("w.test", "joe");
	assert_int_equal(count_spool(), 0);
	/* Abort of a finished delivery, and of a fresh one. */
	maildir_dlv_abort(&d);
	assert_int_equal(maildir_dlv_begin(&st, &d), 0);
	assert_int_equal(count_spool(), 1);
	maildir_dlv_abort(&d);
	assert_int_equal(count_spool(), 0);
	/* A zeroed delivery (fd 0 there) is inactive: nothing is written, nothing closed. */
	memset(&d, 0, sizeof(d));
	assert_int_equal(maildir_dlv_write(&d, "x", 1), -MGW_EINVAL);
	assert_int_equal(maildir_dlv_commit(&d, r, 1), -MGW_EINVAL);
	maildir_dlv_abort(&d);
	assert_true(fcntl(0, F_GETFD) >= 0);
	/* Too many recipients. */
	assert_int_equal(maildir_dlv_begin(&st, &d), 0);
	assert_int_equal(maildir_dlv_commit(&d, r, MAILDIR_RCPT_MAX + 1), -MGW_ELIMIT);
	assert_int_equal(count_spool(), 0);
}

static void test_uids_stable(void **state)
{
	const struct maildir_rcpt r[] = {{"u.test", "joe"}};
	struct maildir_box b;
	uint32_t uv, u[3];

	(void)state;
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(deliver(msg2, r, 1), 0);
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(maildir_box_open(&b, &st, "u.test", "joe", 0), 0);
	assert_int_equal(b.count, 3);
	uv = b.uidvalidity;
	assert_true(uv != 0);
	for (int i = 0; i < 3; i++)
		u[i] = b.msgs[i].uid;
	assert_true(u[0] < u[1] && u[1] < u[2]);
	read_msg(&b, 1, msg2); /* arrival order */
	/* A flag change moves the message to cur/ with :2,S and keeps its UID. */
	assert_int_equal(maildir_msg_flags_set(&b, 1, MAILDIR_F_SEEN | MAILDIR_F_REPLIED), 0);
	assert_false(b.msgs[1].in_new);
	assert_non_null(strstr(b.msgs[1].name, ":2,RS"));
	read_msg(&b, 1, msg2);
	maildir_box_close(&b);
	assert_int_equal(count_dir("u.test", "joe", "cur"), 1);

	assert_int_equal(maildir_box_open(&b, &st, "u.test", "joe", 0), 0);
	assert_int_equal(b.count, 3);
	assert_int_equal(b.uidvalidity, uv);
	for (int i = 0; i < 3; i++)
		assert_int_equal(b.msgs[i].uid, u[i]);
	assert_int_equal(b.msgs[1].flags, MAILDIR_F_SEEN | MAILDIR_F_REPLIED);
	assert_int_equal(maildir_box_find_uid(&b, u[2]), 2);
	assert_int_equal(maildir_box_find_uid(&b, 999), -MGW_ENOENT);
	/* Clearing flags keeps it in cur/ with an empty info part. */
	assert_int_equal(maildir_msg_flags_set(&b, 1, 0), 0);
	assert_non_null(strstr(b.msgs[1].name, ":2,"));
	assert_int_equal(b.msgs[1].flags, 0);
	maildir_box_close(&b);
}

static void test_rescan_and_expunge(void **state)
{
	const struct maildir_rcpt r[] = {{"r.test", "joe"}};
	struct maildir_box b, b2;
	size_t added = 99, failed = 99, del[2];
	uint32_t u0, u1, u2, u3;

	(void)state;
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(deliver(msg2, r, 1), 0);
	assert_int_equal(maildir_box_open(&b, &st, "r.test", "joe", MAILDIR_OPEN_EXCL), 0);
	assert_int_equal(b.count, 2);
	u0 = b.msgs[0].uid;
	u1 = b.msgs[1].uid;

	/* The POP3 session lock: a second exclusive opener is refused, a plain one is not. */
	assert_int_equal(maildir_box_open(&b2, &st, "r.test", "joe", MAILDIR_OPEN_EXCL),
			 -MGW_EEXIST);
	maildir_box_close(&b2); /* harmless on a failed open */

	/* A delivery while the box is open: the snapshot does not change by itself... */
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(b.count, 2);
	read_msg(&b, 0, msg1);
	/* ...and shows up on rescan with a higher UID. */
	assert_int_equal(maildir_box_rescan(&b, &added), 0);
	assert_int_equal(added, 1);
	assert_int_equal(b.count, 3);
	u2 = b.msgs[2].uid;
	assert_true(u2 > u1);
	read_msg(&b, 2, msg1);

	/* Another (non-exclusive) session changes flags: our snapshot still opens it. */
	assert_int_equal(maildir_box_open(&b2, &st, "r.test", "joe", 0), 0);
	assert_int_equal(b2.msgs[0].uid, u0);
	assert_int_equal(maildir_msg_flags_set(&b2, 0, MAILDIR_F_FLAGGED), 0);
	maildir_box_close(&b2);
	read_msg(&b, 0, msg1);
	assert_int_equal(b.msgs[0].flags, MAILDIR_F_FLAGGED);

	/* Expunge 0 and 2 (given out of order and twice). */
	del[0] = 2;
	del[1] = 0;
	size_t del3[3] = {del[0], del[1], 2};
	assert_int_equal(maildir_box_expunge(&b, del3, 3, &failed), 0);
	assert_int_equal(failed, 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.msgs[0].uid, u1);
	maildir_box_close(&b);

	/* The lock is released by close. */
	assert_int_equal(maildir_box_open(&b, &st, "r.test", "joe", MAILDIR_OPEN_EXCL), 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.msgs[0].uid, u1);
	read_msg(&b, 0, msg2);
	maildir_box_close(&b);

	/* UIDs of expunged messages are never reused. */
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(maildir_box_open(&b, &st, "r.test", "joe", 0), 0);
	assert_int_equal(b.count, 2);
	u3 = b.msgs[1].uid;
	assert_true(u3 > u2);
	maildir_box_close(&b);
}

static void test_expunge_failure(void **state)
{
	const struct maildir_rcpt r[] = {{"x.test", "joe"}};
	struct maildir_box b;
	size_t failed = 0, idx = 0;
	char p[512], q[512], keep[600];

	(void)state;
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(maildir_box_open(&b, &st, "x.test", "joe", 0), 0);
	/* Make the unlink fail even for root: a non-empty directory under the message's
	 * name (unlink gives EISDIR). */
	snprintf(p, sizeof(p), "%s/mail/x.test/joe/Maildir/new/%s", tmpdir, b.msgs[0].name);
	snprintf(q, sizeof(q), "%s/aside", tmpdir);
	assert_int_equal(rename(p, q), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(keep, sizeof(keep), "%s/f", p);
	assert_int_equal(file_write_atomic(keep, "x", 1, 0600), 0);
	assert_int_equal(maildir_box_expunge(&b, &idx, 1, &failed), -MGW_EIO);
	assert_int_equal(failed, 1);
	assert_int_equal(b.count, 1); /* still listed */
	assert_int_equal(unlink(keep), 0);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(rename(q, p), 0);
	read_msg(&b, 0, msg1);
	/* and now it goes */
	assert_int_equal(maildir_box_expunge(&b, &idx, 1, &failed), 0);
	assert_int_equal(b.count, 0);
	maildir_box_close(&b);
	assert_int_equal(count_dir("x.test", "joe", "new"), 0);
}

static void put(const char *rel, const char *text)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	assert_int_equal(file_write_atomic(p, text, strlen(text), 0600), 0);
}

static void test_foreign_files(void **state)
{
	struct maildir_box b;
	char p[512], q[512];

	(void)state;
	assert_int_equal(maildir_create(&st, "d.test", "joe"), 0);
	/* dovecot-style names, out of order; flags parsed; odd entries ignored */
	put("mail/d.test/joe/Maildir/cur/1700000200.M5P1.mx,S=3,W=4:2,FS", "two");
	put("mail/d.test/joe/Maildir/new/1700000100.M9P1.mx", "one");
	put("mail/d.test/joe/Maildir/new/1700000100.M10P1.mx", "one-b");
	put("mail/d.test/joe/Maildir/cur/.hidden", "x");
	snprintf(p, sizeof(p), "%s/mail/d.test/joe/Maildir/cur/link", tmpdir);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	snprintf(p, sizeof(p), "%s/mail/d.test/joe/Maildir/cur/adir", tmpdir);
	assert_int_equal(mkdir(p, 0700), 0);

	assert_int_equal(maildir_box_open(&b, &st, "d.test", "joe", 0), 0);
	assert_int_equal(b.count, 3);
	assert_non_null(strstr(b.msgs[0].name, "1700000100.M9P1"));
	assert_non_null(strstr(b.msgs[1].name, "1700000100.M10P1")); /* usec numerically */
	assert_non_null(strstr(b.msgs[2].name, "1700000200"));
	assert_int_equal(b.msgs[2].flags, MAILDIR_F_FLAGGED | MAILDIR_F_SEEN);
	assert_int_equal(b.msgs[2].size, 3); /* the file's size, not S= */

	/* Somebody else renames a message: opening it still works. */
	snprintf(p, sizeof(p), "%s/mail/d.test/joe/Maildir/new/1700000100.M9P1.mx", tmpdir);
	snprintf(q, sizeof(q), "%s/mail/d.test/joe/Maildir/cur/1700000100.M9P1.mx:2,S", tmpdir);
	assert_int_equal(rename(p, q), 0);
	read_msg(&b, 0, "one");
	assert_int_equal(b.msgs[0].flags, MAILDIR_F_SEEN);
	/* ... and a message removed behind our back is reported gone. */
	assert_int_equal(unlink(q), 0);
	int fd;
	assert_int_equal(maildir_msg_open(&b, 0, &fd), -MGW_ENOENT);
	assert_true(b.msgs[0].gone);
	/* Sizes as sent: "one-b" gets a final CRLF (7); "two" has W=4 in its name. */
	assert_int_equal(maildir_box_size(&b), 7 + 4);
	/* Keyword letters are flag bits: kept when the caller keeps them, dropped when it
	 * drops them; other unknown info characters survive. */
	put("mail/d.test/joe/Maildir/cur/1700000300.M1P1.mx:2,S9ab", "kw");
	size_t added;
	assert_int_equal(maildir_box_rescan(&b, &added), 0);
	assert_int_equal(added, 1);
	assert_true(b.msgs[0].gone);
	assert_int_equal(b.msgs[3].flags, MAILDIR_F_SEEN | MAILDIR_F_KW(0) | MAILDIR_F_KW(1));
	assert_int_equal(
	    maildir_msg_flags_set(&b, 3, MAILDIR_F_DRAFT | MAILDIR_F_KW(0) | MAILDIR_F_KW(1)), 0);
	assert_non_null(strstr(b.msgs[3].name, ":2,9Dab"));
	assert_int_equal(maildir_msg_flags_set(&b, 3, MAILDIR_F_DRAFT | MAILDIR_F_KW(2)), 0);
	assert_non_null(strstr(b.msgs[3].name, ":2,9Dc"));
	maildir_box_close(&b);
}

static void test_uidlist_corrupt(void **state)
{
	const struct maildir_rcpt r[] = {{"c.test", "joe"}};
	struct maildir_box b;
	uint32_t uv;

	(void)state;
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(maildir_box_open(&b, &st, "c.test", "joe", 0), 0);
	uv = b.uidvalidity;
	maildir_box_close(&b);
	sleep(1); /* UIDVALIDITY is a time: a recreated list must differ */
	put("mail/c.test/joe/Maildir/dovecot-uidlist", "3 Vx N2\n");
	assert_int_equal(maildir_box_open(&b, &st, "c.test", "joe", 0), 0);
	assert_int_not_equal(b.uidvalidity, uv);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.msgs[0].uid, 1);
	maildir_box_close(&b);
	/* A torn last line (no LF) is also refused, not half-trusted. */
	put("mail/c.test/joe/Maildir/dovecot-uidlist", "3 V5 N9\n3 :abc");
	assert_int_equal(maildir_box_open(&b, &st, "c.test", "joe", 0), 0);
	assert_int_not_equal(b.uidvalidity, 5);
	maildir_box_close(&b);
}

/*
 * A uidlist that cannot be read for a transient reason (an I/O error from a failing SD
 * card, memory exhausted) is an error for this open, not damage: UIDVALIDITY and UIDs
 * stay. The read error here is a real EIO from read(2): the list is replaced by a link
 * to /proc/self/mem, which opens fine and fails every read at offset 0.
 */
static void test_uidlist_read_error_keeps_uids(void **state)
{
	const struct maildir_rcpt r[] = {{"t.test", "joe"}};
	char p[512], *saved = NULL;
	struct maildir_box b;
	struct stat sb;
	size_t len;
	uint32_t uv;

	(void)state;
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(deliver(msg2, r, 1), 0);
	assert_int_equal(maildir_box_open(&b, &st, "t.test", "joe", 0), 0);
	uv = b.uidvalidity;
	maildir_box_close(&b);
	snprintf(p, sizeof(p), "%s/mail/t.test/joe/Maildir/dovecot-uidlist", tmpdir);
	assert_int_equal(file_read_all(p, 1 << 20, &saved, &len), 0);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("/proc/self/mem", p), 0);
	sleep(1); /* a recreated list would get a different UIDVALIDITY */

	/* The open fails (POP3 answers -ERR [SYS/TEMP]) and the list is not replaced. */
	assert_int_equal(maildir_box_open(&b, &st, "t.test", "joe", 0), -MGW_EIO);
	assert_int_equal(lstat(p, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	/* The error goes away: the same UIDVALIDITY and UIDs. */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(file_write_atomic(p, saved, len, 0600), 0);
	free(saved);
	assert_int_equal(maildir_box_open(&b, &st, "t.test", "joe", 0), 0);
	assert_int_equal(b.uidvalidity, uv);
	assert_int_equal(b.count, 2);
	assert_int_equal(b.msgs[0].uid, 1);
	assert_int_equal(b.msgs[1].uid, 2);
	maildir_box_close(&b);
}

/* Sizes as sent (CRLF form): from W= in our own names, computed once for LF files and
 * kept in the uidlist; a version 1 uidlist is read and keeps its UIDs. */
static void test_vsize(void **state)
{
	const struct maildir_rcpt r[] = {{"v.test", "joe"}};
	char p[512], *text = NULL;
	struct maildir_box b;
	size_t len;
	(void)state;
	assert_int_equal(deliver(msg1, r, 1), 0);
	put("mail/v.test/joe/Maildir/new/1700000001.M1P1.lf", "a: b\n\nline\n.x\n");
	put("mail/v.test/joe/Maildir/new/1700000002.M1P1.nonl", "a: b\r\n\r\nx\ny");
	assert_int_equal(maildir_box_open(&b, &st, "v.test", "joe", 0), 0);
	assert_int_equal(b.count, 3);
	assert_non_null(strstr(b.msgs[2].name, ",W=")); /* ours, delivered last */
	assert_int_equal(b.msgs[2].vsize, strlen(msg1));
	assert_int_equal(b.msgs[0].size, 14);
	assert_int_equal(b.msgs[0].vsize, 18);
	assert_int_equal(b.msgs[1].vsize, 11 + 1 + 2); /* one lone LF, a final CRLF */
	maildir_box_close(&b);
	snprintf(p, sizeof(p), "%s/mail/v.test/joe/Maildir/dovecot-uidlist", tmpdir);
	assert_int_equal(file_read_all(p, 1 << 20, &text, &len), 0);
	/* dovecot's format: W only where the name does not carry it */
	assert_non_null(strstr(text, "\n1 W18 :1700000001.M1P1.lf\n"));
	/* no final newline: dovecot's W counts no CRLF there, ours (X) does */
	assert_non_null(strstr(text, "\n2 W12 X14 :1700000002.M1P1.nonl\n"));
	assert_non_null(strstr(text, "\n3 :"));
	free(text);
	/* The cached value is what is used (a Maildir file's content never changes). Our
	 * former lists (version 2, and 1 without sizes) are converted with their UIDs
	 * when there is no dovecot-uidlist, then removed; a list dovecot wrote (its N
	 * behind the last UID, as dovecot leaves it after appending records) is read. */
	static const struct {
		const char *list;
		uint32_t uv, uid;
		uint64_t vsize;
	} lists[] = {
	    {"3 V76 N2 G0123456789abcdef0123456789abcdef\n7 W99 :1700000001.M1P1.lf:2,S\n", 76, 7,
	     99},
	    {"mailgw-uidlist 2\nuidvalidity 77\nuidnext 9\n4 99 1700000001.M1P1.lf\n", 77, 4, 99},
	    {"mailgw-uidlist 1\nuidvalidity 78\nuidnext 9\n5 1700000001.M1P1.lf\n", 78, 5, 18},
	};
	for (size_t i = 0; i < MGW_ARRAY_LEN(lists); i++) {
		bool old = lists[i].list[0] == 'm';
		char q[512];

		unlink(p);
		put(old ? "mail/v.test/joe/Maildir/mailgw-uidlist"
			: "mail/v.test/joe/Maildir/dovecot-uidlist",
		    lists[i].list);
		assert_int_equal(maildir_box_open(&b, &st, "v.test", "joe", 0), 0);
		assert_int_equal(b.uidvalidity, lists[i].uv);
		assert_int_equal(b.msgs[0].uid, lists[i].uid);
		assert_int_equal(b.msgs[0].vsize, lists[i].vsize);
		assert_int_equal(b.msgs[1].vsize, 14);
		assert_true(b.uidnext > b.msgs[b.count - 1].uid);
		maildir_box_close(&b);
		snprintf(q, sizeof(q), "%s/mail/v.test/joe/Maildir/mailgw-uidlist", tmpdir);
		assert_int_equal(access(q, F_OK), -1); /* converted, removed */
		assert_int_equal(file_read_all(p, 1 << 20, &text, &len), 0);
		if (i == 0) /* dovecot's mailbox GUID is kept */
			assert_non_null(strstr(text, " G0123456789abcdef0123456789abcdef\n"));
		free(text);
	}
	assert_int_equal(file_read_all(p, 1 << 20, &text, &len), 0);
	assert_true(strncmp(text, "3 V78 N", 7) == 0);
	free(text);
}

/* Usage for the quota: recalculated when missing, kept by deliveries and expunges,
 * recalculated after a torn line and when a full mailbox's count has gone stale. */
static void test_quota_usage(void **state)
{
	const struct maildir_rcpt r[] = {{"q.test", "joe"}};
	struct timeval old[2] = {{1000, 0}, {1000, 0}};
	uint64_t bytes, msgs;
	struct maildir_box b;
	size_t idx = 0;
	char p[512];
	int fd;

	(void)state;
	assert_int_equal(maildir_quota_get(&st, "q.test", "joe", 0, &bytes, &msgs), 0);
	assert_int_equal(bytes, 0); /* no Maildir, nothing created */
	assert_int_equal(count_dir("q.test", "joe", "new"), 0);
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(maildir_quota_get(&st, "q.test", "joe", 100, &bytes, &msgs), 0);
	assert_int_equal(bytes, strlen(msg1));
	assert_int_equal(msgs, 1);
	assert_int_equal(deliver(msg2, r, 1), 0); /* appended */
	assert_int_equal(maildir_quota_get(&st, "q.test", "joe", 100, &bytes, &msgs), 0);
	assert_int_equal(bytes, strlen(msg1) + strlen(msg2));
	assert_int_equal(msgs, 2);
	assert_int_equal(maildir_box_open(&b, &st, "q.test", "joe", 0), 0);
	assert_int_equal(maildir_box_expunge(&b, &idx, 1, NULL), 0);
	maildir_box_close(&b);
	assert_int_equal(maildir_quota_get(&st, "q.test", "joe", 100, &bytes, &msgs), 0);
	assert_int_equal(bytes, strlen(msg2));
	assert_int_equal(msgs, 1);
	/* A torn line: recalculated, not trusted. */
	snprintf(p, sizeof(p), "%s/mail/q.test/joe/Maildir/maildirsize", tmpdir);
	fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "999999 1", 8), 8);
	close(fd);
	assert_int_equal(maildir_quota_get(&st, "q.test", "joe", 100, &bytes, &msgs), 0);
	assert_int_equal(bytes, strlen(msg2));
	/* A count saying "full" is believed while fresh, re-checked when stale. */
	fd = open(p, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "999999 1\n", 9), 9);
	close(fd);
	assert_int_equal(maildir_quota_get(&st, "q.test", "joe", 1000, &bytes, &msgs), 0);
	assert_int_equal(bytes, strlen(msg2) + 999999);
	assert_int_equal(utimes(p, old), 0);
	assert_int_equal(maildir_quota_get(&st, "q.test", "joe", 1000, &bytes, &msgs), 0);
	assert_int_equal(bytes, strlen(msg2));
}

/* Sizing a large copied LF Maildir reads at most 32 MiB per scan: what is not sized yet
 * stays out of the snapshot (UID already assigned) and comes with a later open. */
static void test_vsize_budget(void **state)
{
	const size_t big = 17u << 20;
	char p[512], *text = NULL, *body = malloc(big);
	struct maildir_box b;
	size_t len;

	(void)state;
	assert_non_null(body);
	for (size_t i = 0; i < big; i++)
		body[i] = i % 72 == 71 ? '\n' : 'x';
	assert_int_equal(maildir_create(&st, "w.test", "joe"), 0);
	for (int i = 1; i <= 3; i++) {
		snprintf(p, sizeof(p), "%s/mail/w.test/joe/Maildir/cur/170000000%d.M1P1.old:2,S",
			 tmpdir, i);
		assert_int_equal(file_write_atomic(p, body, big, 0600), 0);
	}
	free(body);
	assert_int_equal(maildir_box_open(&b, &st, "w.test", "joe", 0), 0);
	assert_int_equal(b.count, 2); /* 2 x 17 MiB read, the budget is spent */
	assert_int_equal(b.msgs[1].uid, 2);
	assert_int_equal(b.msgs[1].vsize, big + big / 72 + 2); /* last line: no LF */
	maildir_box_close(&b);
	snprintf(p, sizeof(p), "%s/mail/w.test/joe/Maildir/dovecot-uidlist", tmpdir);
	assert_int_equal(file_read_all(p, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "\n3 :1700000003.M1P1.old\n")); /* no W: not sized yet */
	free(text);
	assert_int_equal(maildir_box_open(&b, &st, "w.test", "joe", 0), 0);
	assert_int_equal(b.count, 3);
	assert_int_equal(b.msgs[2].uid, 3);
	assert_int_equal(b.msgs[2].vsize, big + big / 72 + 2);
	maildir_box_close(&b);
}

/* Folder names: what a client may send, and what never reaches a path. */
static void test_folder_names(void **state)
{
	static const char *const good[] = {"Sent",    "Archive.2026", "Entw&APw-rfe", "a&-b",
					   "INBOX.x", "&2D3eAA-",     "x y"};
	static const char *const bad[] = {
	    "",	  "INBOX", "inbox", "Inbox.x", "../x", "a/b", ".x",   "x.",  "a..b", "x*",
	    "x%", "&Jjo",  "&AGE-", "&2D0-",   "a\\b", "q\"", "\x01", "&-&", "&AAA-"};
	char longname[MAILDIR_FOLDER_MAX + 2];

	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(good); i++)
		assert_true(maildir_folder_valid(good[i]));
	for (size_t i = 0; i < MGW_ARRAY_LEN(bad); i++)
		if (maildir_folder_valid(bad[i]))
			fail_msg("accepted %s", bad[i]);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[MAILDIR_FOLDER_MAX] = '\0';
	assert_true(maildir_folder_valid(longname));
	longname[MAILDIR_FOLDER_MAX] = 'x';
	longname[MAILDIR_FOLDER_MAX + 1] = '\0';
	assert_false(maildir_folder_valid(longname));
}

/* Folders: the special-use ones at the first login, create/rename/delete, a delivery
 * into a folder counted in the Maildir's maildirsize. */
static void test_folders(void **state)
{
	const struct maildir_rcpt r[] = {{"fo.test", "joe", "Sent"}};
	struct timeval old[2] = {{1000, 0}, {1000, 0}};
	struct maildir_folders f;
	char p[512];
	struct maildir_box b;
	uint64_t bytes, msgs;

	(void)state;
	assert_int_equal(maildir_folder_defaults(&st, "fo.test", "joe"), 0);
	assert_int_equal(maildir_folder_list(&st, "fo.test", "joe", &f), 0);
	assert_int_equal(f.n, 5);
	assert_string_equal(f.names[0], "Archive");
	maildir_folders_free(&f);
	assert_int_equal(maildir_subs_list(&st, "fo.test", "joe", &f), 0);
	assert_int_equal(f.n, 5);
	assert_string_equal(f.names[0], "Sent");
	maildir_folders_free(&f);
	/* A stale file in a folder's tmp/ (an APPEND cut off by a crash) goes at start. */
	put("mail/fo.test/joe/Maildir/.Sent/tmp/1000.M1P1.x", "x");
	snprintf(p, sizeof(p), "%s/mail/fo.test/joe/Maildir/.Sent/tmp/1000.M1P1.x", tmpdir);
	assert_int_equal(utimes(p, old), 0);
	assert_int_equal(maildir_store_cleanup(&st, time(NULL), NULL), 0);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(maildir_folder_create(&st, "fo.test", "joe", "Sent"), -MGW_EEXIST);
	assert_int_equal(maildir_folder_create(&st, "fo.test", "joe", "../x"), -MGW_EINVAL);
	assert_int_equal(maildir_quota_get(&st, "fo.test", "joe", 0, &bytes, &msgs), 0);
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(maildir_folder_open(&b, &st, "fo.test", "joe", "Sent", 0), 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.msgs[0].uid, 1);
	maildir_box_close(&b);
	assert_int_equal(maildir_quota_get(&st, "fo.test", "joe", 0, &bytes, &msgs), 0);
	assert_int_equal(msgs, 1);
	/* A recalculation (maildirsize lost) counts the folders too, as dovecot's. */
	snprintf(p, sizeof(p), "%s/mail/fo.test/joe/Maildir/maildirsize", tmpdir);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(maildir_quota_get(&st, "fo.test", "joe", 0, &bytes, &msgs), 0);
	assert_int_equal(msgs, 1);
	assert_int_equal(bytes, strlen(msg1));
	assert_int_equal(maildir_folder_open(&b, &st, "fo.test", "joe", "Nope", 0), -MGW_ENOENT);
	assert_int_equal(maildir_folder_rename(&st, "fo.test", "joe", "Sent", "Archive"),
			 -MGW_EEXIST);
	assert_int_equal(maildir_folder_rename(&st, "fo.test", "joe", "Sent", "Old"), 0);
	assert_int_equal(maildir_folder_open(&b, &st, "fo.test", "joe", "Old", 0), 0);
	assert_int_equal(b.count, 1);
	maildir_box_close(&b);
	assert_int_equal(maildir_folder_delete(&st, "fo.test", "joe", "Old"), 0);
	assert_int_equal(maildir_folder_delete(&st, "fo.test", "joe", "Old"), -MGW_ENOENT);
	assert_int_equal(maildir_quota_get(&st, "fo.test", "joe", 0, &bytes, &msgs), 0);
	assert_int_equal(msgs, 0);
}

static void test_cleanup_and_space(void **state)
{
	struct maildir_dlv d;
	struct timeval old[2] = {{1000, 0}, {1000, 0}};
	unsigned removed = 0;
	char p[512];

	(void)state;
	assert_int_equal(maildir_create(&st, "k.test", "joe"), 0);
	put("mail/k.test/joe/Maildir/tmp/stale", "s");
	put("mail/k.test/joe/Maildir/tmp/fresh", "f");
	put("mail/k.test/joe/Maildir/new/1.M1P1.x", "m");
	snprintf(p, sizeof(p), "%s/mail/k.test/joe/Maildir/tmp/stale", tmpdir);
	assert_int_equal(utimes(p, old), 0);
	snprintf(p, sizeof(p), "%s/mail/k.test/joe/Maildir/new/1.M1P1.x", tmpdir);
	assert_int_equal(utimes(p, old), 0);
	assert_int_equal(maildir_dlv_begin(&st, &d), 0); /* a delivery cut short by a crash */
	close(d.fd);
	assert_int_equal(count_spool(), 1);

	assert_int_equal(maildir_store_cleanup(&st, time(NULL), &removed), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(count_spool(), 0);
	assert_int_equal(count_dir("k.test", "joe", "tmp"), 1);
	assert_int_equal(count_dir("k.test", "joe", "new"), 1);

	assert_int_equal(maildir_store_space_check(&st, 1000, false), 0);
	st.reserve_bytes = UINT64_MAX / 2;
	assert_int_equal(maildir_store_space_check(&st, 0, false), -MGW_ENOSPC);
	st.reserve_bytes = 0;
	assert_int_equal(maildir_store_space_check(&st, UINT64_MAX, false), -MGW_ENOSPC);
	/* Free space between half the reserve and the reserve: only admin mail fits. */
	struct statvfs vfs;
	assert_int_equal(statvfs(tmpdir, &vfs), 0);
	st.reserve_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize / 2 * 3;
	assert_int_equal(maildir_store_space_check(&st, 0, false), -MGW_ENOSPC);
	assert_int_equal(maildir_store_space_check(&st, 0, true), 0);
	st.reserve_bytes = 0;
}

static unsigned notified;

static void on_notify(void *arg, const char *domain, const char *user)
{
	(void)arg;
	(void)domain;
	(void)user;
	notified++;
}

static void test_notify_and_paths(void **state)
{
	const struct maildir_rcpt r[] = {{"n.test", "a"}, {"n.test", "b"}};
	char p[MAILDIR_PATH_MAX];

	(void)state;
	st.notify = on_notify;
	assert_int_equal(deliver(msg1, r, 2), 0);
	st.notify = NULL;
	assert_int_equal(notified, 2);
	assert_int_equal(maildir_path(&st, "n.test", "a", p, sizeof(p)), 0);
	assert_non_null(strstr(p, "/mail/n.test/a/Maildir"));
	assert_int_equal(maildir_path(&st, "n.test", "../a", p, sizeof(p)), -MGW_EINVAL);
	assert_int_equal(maildir_path(&st, "..", "a", p, sizeof(p)), -MGW_EINVAL);
	assert_int_equal(maildir_path(&st, "n.test", "a", p, 10), -MGW_ELIMIT);
	assert_int_equal(maildir_create(&st, "n.test", ".x"), -MGW_EINVAL);
	assert_int_equal(maildir_name_flags("1.M2:2,DFPRST"), 0x3f);
	assert_int_equal(maildir_name_flags("1.M2"), 0);
	assert_int_equal(maildir_name_flags("1.M2:2,Sacz"),
			 MAILDIR_F_SEEN | MAILDIR_F_KW(0) | MAILDIR_F_KW(2) | MAILDIR_F_KW(25));
}

/* dovecot-keywords: dovecot's lines read (bad ones skipped), names found ignoring case,
 * new ones added under the first free letter, at most 26. */
static void test_keywords(void **state)
{
	struct maildir_kw kw = {0};
	char md[128], p[160], name[16];
	FILE *f;

	(void)state;
	snprintf(md, sizeof(md), "%s/kw", tmpdir);
	assert_int_equal(file_mkdirs(md, 0700), 0);
	assert_int_equal(maildir_kw_load(&kw, md), 0); /* no file: no keywords */
	assert_null(kw.name[0]);
	snprintf(p, sizeof(p), "%s/dovecot-keywords", md);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("0 $Forwarded\n2 Work\nx bad\n26 toolarge\n3\n1 $Junk\n0 dup\n", f);
	fclose(f);
	assert_int_equal(maildir_kw_load(&kw, md), 0);
	assert_string_equal(kw.name[0], "$Forwarded");
	assert_string_equal(kw.name[1], "$Junk");
	assert_string_equal(kw.name[2], "Work");
	assert_null(kw.name[3]);
	assert_int_equal(maildir_kw_find(&kw, "work", 4), 2);
	assert_int_equal(maildir_kw_find(&kw, "Wor", 3), -MGW_ENOENT);
	assert_int_equal(maildir_kw_add(&kw, md, "WORK", 4, NULL), 2);
	assert_int_equal(maildir_kw_add(&kw, md, "Todo", 4, NULL), 3);
	maildir_kw_free(&kw);
	assert_int_equal(maildir_kw_load(&kw, md), 0);
	assert_string_equal(kw.name[3], "Todo");
	for (int i = 4; i < MAILDIR_KW_MAX; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(maildir_kw_add(&kw, md, name, strlen(name), NULL), i);
	}
	assert_int_equal(maildir_kw_add(&kw, md, "one-more", 8, NULL), -MGW_ELIMIT);
	assert_int_equal(maildir_kw_add(&kw, md, "k25", 3, NULL), 25);
	maildir_kw_free(&kw);
}

static void test_concurrent_delivery(void **state)
{
	/* A second process delivers while this one rescans and changes flags: every
	 * message shows up exactly once, with a UID that never changes afterwards. */
	const struct maildir_rcpt r[] = {{"cc.test", "joe"}, {"cc.test", "ann"}};
	enum { N = 200 };
	struct maildir_box b, b2;
	uint32_t uids[N];
	size_t added, seen = 0;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(maildir_box_open(&b, &st, "cc.test", "joe", MAILDIR_OPEN_EXCL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < N; i++) {
			struct maildir_dlv d;

			if (maildir_dlv_begin(&st, &d) < 0 ||
			    maildir_dlv_write(&d, msg2, strlen(msg2)) < 0 ||
			    maildir_dlv_commit(&d, r, 2) < 0)
				_exit(1);
		}
		_exit(0);
	}
	for (time_t end = time(NULL) + 60; seen < N && time(NULL) < end;) {
		assert_int_equal(maildir_box_rescan(&b, &added), 0);
		/* flag every message we know once, moving it to cur/ under the scans */
		for (; seen < b.count; seen++) {
			read_msg(&b, seen, msg2);
			assert_int_equal(maildir_msg_flags_set(&b, seen, MAILDIR_F_SEEN), 0);
		}
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(maildir_box_rescan(&b, &added), 0);
	assert_int_equal(b.count, N);
	for (size_t i = 0; i < N; i++) {
		assert_false(b.msgs[i].gone);
		assert_true(i == 0 || b.msgs[i].uid > b.msgs[i - 1].uid);
		uids[i] = b.msgs[i].uid;
	}
	maildir_box_close(&b);
	assert_int_equal(maildir_box_open(&b2, &st, "cc.test", "joe", 0), 0);
	assert_int_equal(b2.count, N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(b2.msgs[i].uid, uids[i]);
		assert_int_equal(b2.msgs[i].flags, MAILDIR_F_SEEN);
	}
	maildir_box_close(&b2);
	assert_int_equal(count_dir("cc.test", "ann", "new"), N);
}

static void flushed(void *arg, int rc)
{
	(void)arg;
	assert_int_equal(rc, 0);
}

/* A box opened with MAILDIR_OPEN_DEFER: its rescans leave the uidlist's flush to the
 * caller (uidlist_gen) until a flush job marks it durable; a rescan whose flush failed
 * is taken back (truncate) and the next one finds the message again, same UID. */
static void test_deferred_rescan(void **state)
{
	const struct maildir_rcpt r[] = {{"df.test", "joe"}};
	struct maildir_flush *h = NULL;
	struct maildir_box b;
	size_t added = 0;
	uint32_t uid, next;

	(void)state;
	assert_int_equal(deliver(msg1, r, 1), 0);
	assert_int_equal(maildir_box_open(&b, &st, "df.test", "joe", MAILDIR_OPEN_DEFER), 0);
	assert_true(b.uidlist_gen != 0); /* a new list: not flushed yet */
	assert_int_equal(maildir_flush_uidlist(NULL, b.path, b.uidlist_gen, flushed, NULL, &h), 0);
	assert_int_equal(maildir_box_rescan(&b, &added), 0);
	assert_int_equal(added, 0);
	assert_true(b.uidlist_gen == 0); /* durable, nothing changed: nothing to wait for */
	assert_int_equal(deliver(msg2, r, 1), 0);
	next = b.uidnext;
	assert_int_equal(maildir_box_rescan(&b, &added), 0);
	assert_int_equal(added, 1);
	assert_true(b.uidlist_gen != 0);
	uid = b.msgs[1].uid;
	maildir_box_truncate(&b, 1, next); /* its flush failed: not announced */
	assert_int_equal(b.count, 1);
	assert_int_equal(b.uidnext, next);
	assert_int_equal(maildir_box_rescan(&b, &added), 0);
	assert_int_equal(added, 1);
	assert_int_equal(b.msgs[1].uid, uid);
	assert_true(b.uidlist_gen != 0); /* still not durable: waited for again */
	assert_int_equal(maildir_flush_uidlist(NULL, b.path, b.uidlist_gen, flushed, NULL, &h), 0);
	assert_int_equal(maildir_box_rescan(&b, &added), 0);
	assert_true(b.uidlist_gen == 0);
	maildir_box_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deliver_two),
	    cmocka_unit_test(test_all_or_nothing),
	    cmocka_unit_test(test_write_failure),
	    cmocka_unit_test(test_uids_stable),
	    cmocka_unit_test(test_rescan_and_expunge),
	    cmocka_unit_test(test_expunge_failure),
	    cmocka_unit_test(test_foreign_files),
	    cmocka_unit_test(test_uidlist_corrupt),
	    cmocka_unit_test(test_cleanup_and_space),
	    cmocka_unit_test(test_notify_and_paths),
	    cmocka_unit_test(test_concurrent_delivery),
	    cmocka_unit_test(test_uidlist_read_error_keeps_uids),
	    cmocka_unit_test(test_vsize),
	    cmocka_unit_test(test_vsize_budget),
	    cmocka_unit_test(test_quota_usage),
	    cmocka_unit_test(test_folder_names),
	    cmocka_unit_test(test_folders),
	    cmocka_unit_test(test_keywords),
	    cmocka_unit_test(test_deferred_rescan),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
