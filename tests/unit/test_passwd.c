/* test_passwd.c - names (the CVE-2020-7247 allow-list), passwd-file lines and files
 * (malformed lines name file:line and never crash), password schemes, writing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/passwd.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"

/* Hashes made with `openssl passwd -6 -salt ...` / `-5` (cheap rounds for the tests). */
#define H6_SECRET                                                                                  \
	"$6$rounds=1000$abcdefgh$"                                                                 \
	"nhYjN017qxiYztzyUpZtPnUQcnLy62KsunSLHNeLahp2EHPlAKmFFlrjEwSXGo2kgY5hR2.peKEg2VGUqIJJu1"
#define H5_SECRET "$5$rounds=1000$abcdefgh$XIppta5rT8zJUu4vAOKQXrwq9uY4Ijlz6VjyOmkx5i4"

struct name_case {
	const char *s;
	bool ok;
};

static const struct name_case user_cases[] = {
    {"joe", true},
    {"j.doe", true},
    {"a_b-c+d", true},
    {"0", true},
    {"postmaster", true},
    {"x.", true},
    {"", false},
    {".x", false},
    {"a..b", false},
    {"../x", false},
    {"a/b", false},
    {"Joe", false},
    {"a b", false},
    {"a:b", false},
    {"a@b", false},
    {"a\\b", false},
    {"a%b", false},
    {"a\nb", false},
    {"\xc3\xa9", false},
    {"..", false},
    {".", false},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true},	  /* 64 */
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false}, /* 65 */
};

static const struct name_case domain_cases[] = {
    {"example.test", true},
    {"a.b.c", true},
    {"x", true},
    {"mx-1.example.test", true},
    {"1.2.3.4", true},
    {"", false},
    {".example", false},
    {"example.", false},
    {"a..b", false},
    {"../etc", false},
    {"a/b", false},
    {"-a.b", false},
    {"a-.b", false},
    {"a.-b", false},
    {"Example.test", false},
    {"ex_ample.test", false},
    {"[127.0.0.1]", false},
    {"a b", false},
    {"..", false},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b", true},   /* 63 */
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b", false}, /* 64 */
};

static void test_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(user_cases); i++)
		if (passwd_user_valid(user_cases[i].s) != user_cases[i].ok)
			fail_msg("user '%s': want %d", user_cases[i].s, user_cases[i].ok);
	for (size_t i = 0; i < MGW_ARRAY_LEN(domain_cases); i++)
		if (passwd_domain_valid(domain_cases[i].s) != domain_cases[i].ok)
			fail_msg("domain '%s': want %d", domain_cases[i].s, domain_cases[i].ok);
}

struct addr_case {
	const char *s;
	size_t len; /* 0: strlen */
	int rc;
	const char *user, *domain;
};

static const struct addr_case addr_cases[] = {
    {"joe@example.test", 0, MGW_PARSE_OK, "joe", "example.test"},
    {"Joe.Doe@Example.TEST", 0, MGW_PARSE_OK, "joe.doe", "example.test"},
    {"a@b@example.test", 0, MGW_PARSE_SYNTAX, NULL, NULL}, /* '@' in the local part */
    {"joe", 0, MGW_PARSE_SYNTAX, NULL, NULL},
    {"@example.test", 0, MGW_PARSE_SYNTAX, NULL, NULL},
    {"joe@", 0, MGW_PARSE_SYNTAX, NULL, NULL},
    {"../x@example.test", 0, MGW_PARSE_SYNTAX, NULL, NULL},
    {"joe@../etc", 0, MGW_PARSE_SYNTAX, NULL, NULL},
    {"a/b@example.test", 0, MGW_PARSE_SYNTAX, NULL, NULL},
    {".x@example.test", 0, MGW_PARSE_SYNTAX, NULL, NULL},
    {"joe\0x@example.test", 18, MGW_PARSE_SYNTAX, NULL, NULL},
    {"joe@[127.0.0.1]", 0, MGW_PARSE_SYNTAX, NULL, NULL},
    {"\"joe\"@example.test", 0, MGW_PARSE_SYNTAX, NULL, NULL},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x", 0, MGW_PARSE_TOO_LONG,
     NULL, NULL},
};

static void test_addr(void **state)
{
	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(addr_cases); i++) {
		const struct addr_case *c = &addr_cases[i];
		struct passwd_addr a;
		int rc = passwd_addr_parse(c->s, c->len ? c->len : strlen(c->s), &a);

		if (rc != c->rc)
			fail_msg("case %zu: rc %d want %d", i, rc, c->rc);
		if (c->user && (strcmp(a.user, c->user) != 0 || strcmp(a.domain, c->domain) != 0))
			fail_msg("case %zu: got %s / %s", i, a.user, a.domain);
	}
}

struct line_case {
	const char *line;
	int rc;
	const char *user; /* for OK */
	const char *hash; /* for OK */
	const char *home; /* for OK */
	const char *why;  /* substring of the reason for SYNTAX */
};

static const struct line_case line_cases[] = {
    {"joe:{SHA512-CRYPT}$6$x$y:1000:1000::/home/joe::userdb_quota=1G", MGW_PARSE_OK, "joe",
     "{SHA512-CRYPT}$6$x$y", "/home/joe", NULL},
    {"joe:$6$x$y", MGW_PARSE_OK, "joe", "$6$x$y", "", NULL},
    {"joe:$6$x$y::", MGW_PARSE_OK, "joe", "$6$x$y", "", NULL},
    {"joe:$6$x$y:::::::a:b c", MGW_PARSE_OK, "joe", "$6$x$y", "", NULL},
    {"", MGW_PARSE_NEED_MORE, NULL, NULL, NULL, NULL},
    {"   ", MGW_PARSE_NEED_MORE, NULL, NULL, NULL, NULL},
    {"# joe:x", MGW_PARSE_NEED_MORE, NULL, NULL, NULL, NULL},
    {"joe", MGW_PARSE_SYNTAX, NULL, NULL, NULL, "expected user:hash"},
    {"joe:", MGW_PARSE_SYNTAX, NULL, NULL, NULL, "empty password hash"},
    {":$6$x$y", MGW_PARSE_SYNTAX, NULL, NULL, NULL, "invalid user name"},
    {"../x:$6$x$y", MGW_PARSE_SYNTAX, NULL, NULL, NULL, "invalid user name"},
    {"Joe:$6$x$y", MGW_PARSE_SYNTAX, NULL, NULL, NULL, "invalid user name"},
    {"joe:$6$x$y:10x0", MGW_PARSE_SYNTAX, NULL, NULL, NULL, "uid is not a number"},
    {"joe:$6$x$y:1:-1", MGW_PARSE_SYNTAX, NULL, NULL, NULL, "gid is not a number"},
    {"joe:$6$x$y:99999999999", MGW_PARSE_SYNTAX, NULL, NULL, NULL, "uid is not a number"},
    {"joe:$6$x$y\r", MGW_PARSE_SYNTAX, NULL, NULL, NULL, "CR"},
};

static void test_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(line_cases); i++) {
		const struct line_case *c = &line_cases[i];
		struct passwd_entry e;
		const char *why;
		int rc = passwd_line_parse(c->line, strlen(c->line), &e, &why);

		if (rc != c->rc)
			fail_msg("case %zu '%s': rc %d want %d", i, c->line, rc, c->rc);
		if (rc == MGW_PARSE_OK &&
		    (strcmp(e.user, c->user) || strcmp(e.hash, c->hash) || strcmp(e.home, c->home)))
			fail_msg("case %zu: got %s %s %s", i, e.user, e.hash, e.home);
		if (c->why && (why == NULL || strstr(why, c->why) == NULL))
			fail_msg("case %zu: why '%s' want '%s'", i, why ? why : "(null)", c->why);
	}
}

static void test_line_limits(void **state)
{
	static char line[PASSWD_LINE_MAX + 10];
	struct passwd_entry e;
	const char *why;

	(void)state;
	/* NUL inside a line */
	assert_int_equal(passwd_line_parse("joe:a\0b", 7, &e, &why), MGW_PARSE_SYNTAX);
	assert_non_null(strstr(why, "NUL"));
	/* an overlong line */
	memset(line, 'a', sizeof(line));
	memcpy(line, "joe:", 4);
	assert_int_equal(passwd_line_parse(line, sizeof(line), &e, &why), MGW_PARSE_TOO_LONG);
	/* an overlong hash field within the line limit */
	assert_int_equal(passwd_line_parse(line, PASSWD_HASH_MAX + 10, &e, &why), MGW_PARSE_SYNTAX);
	assert_non_null(strstr(why, "too long"));
	/* formatting round-trips */
	assert_int_equal(passwd_line_parse("joe:$6$x$y:1:2::/h::q=1", 23, &e, &why), MGW_PARSE_OK);
	assert_int_equal(passwd_entry_format(&e, line, sizeof(line)), 0);
	assert_string_equal(line, "joe:$6$x$y:1:2::/h::q=1");
}

struct verify_case {
	const char *hash;
	const char *pw;
	unsigned flags;
	int rc;
};

static const struct verify_case verify_cases[] = {
    {"{SHA512-CRYPT}" H6_SECRET, "secret", 0, 0},
    {"{sha512-crypt}" H6_SECRET, "secret", 0, 0},
    {H6_SECRET, "secret", 0, 0}, /* bare, as in /etc/shadow */
    {"{CRYPT}" H6_SECRET, "secret", 0, 0},
    {"{SHA256-CRYPT}" H5_SECRET, "secret", 0, 0},
    {H5_SECRET, "secret", 0, 0},
    {"{SHA512-CRYPT}" H6_SECRET, "Secret", 0, -MGW_EAUTH},
    {"{SHA512-CRYPT}" H6_SECRET, "", 0, -MGW_EAUTH},
    {"{SHA256-CRYPT}" H6_SECRET, "secret", 0, -MGW_EAUTH}, /* scheme/prefix mismatch */
    {"{SHA512-CRYPT}" H5_SECRET, "secret", 0, -MGW_EAUTH},
    {"!" H6_SECRET, "secret", 0, -MGW_EAUTH}, /* locked (shadow) */
    {"*", "secret", 0, -MGW_EAUTH},
    {"!", "", 0, -MGW_EAUTH},
    {"{PLAIN}secret", "secret", 0, -MGW_EAUTH}, /* not allowed */
    {"{PLAIN}secret", "secret", PASSWD_ALLOW_PLAIN, 0},
    {"{PLAIN}secret", "secre", PASSWD_ALLOW_PLAIN, -MGW_EAUTH},
    {"{PLAIN}secret", "secrets", PASSWD_ALLOW_PLAIN, -MGW_EAUTH},
    {"{SSHA}abcdef", "secret", PASSWD_ALLOW_PLAIN, -MGW_EAUTH},
    {"$1$abc$9zxTBo5Uh7ZNdlLdsVKOR/", "secret", 0, -MGW_EAUTH}, /* MD5-crypt */
    {"{SHA512-CRYPT", "secret", 0, -MGW_EAUTH},
    {"{}secret", "secret", PASSWD_ALLOW_PLAIN, -MGW_EAUTH},
    {"$6$rounds=99999999$abc$x", "secret", 0, -MGW_EAUTH}, /* refused, too slow */
};

static void test_verify(void **state)
{
	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(verify_cases); i++) {
		const struct verify_case *c = &verify_cases[i];
		int rc = passwd_hash_verify(c->hash, c->pw, strlen(c->pw), c->flags);

		if (rc != c->rc)
			fail_msg("case %zu (%s): rc %d want %d", i, c->hash, rc, c->rc);
	}
}

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_passwd.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void put_file(const char *domain, const char *text)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/etc/domains/%s", tmpdir, domain);
	assert_int_equal(file_mkdirs(path, 0750), 0);
	strcat(path, "/passwd");
	assert_int_equal(file_write_atomic(path, text, strlen(text), 0640), 0);
}

static void test_lookup_and_auth(void **state)
{
	struct passwd_entry e;
	char err[512], path[512];

	(void)state;
	put_file("example.test", "# users\n"
				 "broken line without colon\n"
				 "joe:{SHA512-CRYPT}" H6_SECRET ":1000:100::/home/joe::\n"
				 "BAD:$6$x$y\n"
				 "ann:" H5_SECRET "\n"
				 "pat:{PLAIN}plain\n"
				 "locked:!" H6_SECRET "\n"
				 "joe:{PLAIN}second-line-ignored"); /* no final LF */
	assert_true(passwd_domain_exists(tmpdir, "example.test"));
	assert_false(passwd_domain_exists(tmpdir, "other.test"));
	assert_false(passwd_domain_exists(tmpdir, "../example.test"));

	/* Broken lines before the user do not hide it. */
	assert_int_equal(passwd_lookup(tmpdir, "example.test", "joe", &e), 0);
	assert_true(e.has_uid && e.uid == 1000 && e.gid == 100);
	assert_string_equal(e.home, "/home/joe");
	assert_int_equal(passwd_lookup(tmpdir, "example.test", "ann", &e), 0);
	assert_int_equal(passwd_lookup(tmpdir, "example.test", "nobody", &e), -MGW_ENOENT);
	assert_int_equal(passwd_lookup(tmpdir, "other.test", "joe", &e), -MGW_ENOENT);
	assert_int_equal(passwd_lookup(tmpdir, "example.test", "../joe", &e), -MGW_EINVAL);
	assert_int_equal(passwd_lookup(tmpdir, "../example.test", "joe", &e), -MGW_EINVAL);

	assert_int_equal(passwd_auth(tmpdir, "example.test", "joe", "secret", 6, 0), 0);
	assert_int_equal(passwd_auth(tmpdir, "example.test", "joe", "secreT", 6, 0), -MGW_EAUTH);
	assert_int_equal(passwd_auth(tmpdir, "example.test", "ann", "secret", 6, 0), 0);
	assert_int_equal(passwd_auth(tmpdir, "example.test", "nobody", "secret", 6, 0), -MGW_EAUTH);
	assert_int_equal(passwd_auth(tmpdir, "nowhere.test", "joe", "secret", 6, 0), -MGW_EAUTH);
	assert_int_equal(passwd_auth(tmpdir, "example.test", "pat", "plain", 5, 0), -MGW_EAUTH);
	assert_int_equal(passwd_auth(tmpdir, "example.test", "pat", "plain", 5, PASSWD_ALLOW_PLAIN),
			 0);
	assert_int_equal(passwd_auth(tmpdir, "example.test", "locked", "secret", 6, 0), -MGW_EAUTH);
	assert_int_equal(passwd_auth(tmpdir, "example.test", "a/b", "secret", 6, 0), -MGW_EINVAL);

	/* The whole-file check names the first bad line. */
	snprintf(path, sizeof(path), "%s/etc/domains/example.test/passwd", tmpdir);
	assert_int_equal(passwd_file_check(path, err, sizeof(err)), -MGW_ECONFIG);
	assert_non_null(strstr(err, "/etc/domains/example.test/passwd:2: expected user:hash"));

	put_file("dup.test", "a:$6$x$y\nb:$6$x$y\na:$6$x$z\n");
	snprintf(path, sizeof(path), "%s/etc/domains/dup.test/passwd", tmpdir);
	assert_int_equal(passwd_file_check(path, err, sizeof(err)), -MGW_ECONFIG);
	assert_non_null(strstr(err, "passwd:3: user 'a' appears twice"));

	put_file("good.test", "a:$6$x$y\n\n# c\nb:$6$x$y:::::\n");
	snprintf(path, sizeof(path), "%s/etc/domains/good.test/passwd", tmpdir);
	assert_int_equal(passwd_file_check(path, err, sizeof(err)), 0);

	snprintf(path, sizeof(path), "%s/etc/domains/none.test/passwd", tmpdir);
	assert_int_equal(passwd_file_check(path, err, sizeof(err)), -MGW_ENOENT);
	assert_non_null(strstr(err, "none.test/passwd: cannot read"));
}

static void test_garbage_files(void **state)
{
	/* Random bytes, NULs, CRs, very long lines: a lookup never crashes, never matches. */
	static char junk[PASSWD_LINE_MAX * 3];
	struct passwd_entry e;
	char path[512], err[512];
	unsigned seed = 1;

	(void)state;
	log_set_level(LOG_LVL_ERR); /* thousands of "line skipped" warnings otherwise */
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			seed = seed * 1103515245u + 12345u;
			junk[i] = (char)(seed >> 16);
			if (round % 2 && junk[i] == 'x')
				junk[i] = ':';
		}
		snprintf(path, sizeof(path), "%s/etc/domains/junk.test", tmpdir);
		assert_int_equal(file_mkdirs(path, 0750), 0);
		strcat(path, "/passwd");
		assert_int_equal(file_write_atomic(path, junk, sizeof(junk), 0640), 0);
		assert_int_equal(passwd_lookup(tmpdir, "junk.test", "joe", &e), -MGW_ENOENT);
		(void)passwd_file_check(path, err, sizeof(err));
	}
	log_set_level(LOG_LVL_INFO);
}

static void test_set_and_new(void **state)
{
	struct passwd_entry e;
	char h[256], path[512];
	struct stat sb;

	(void)state;
	assert_int_equal(passwd_hash_new("new pw", 6, 1000, h, sizeof(h)), 0);
	assert_memory_equal(h, "{SHA512-CRYPT}$6$rounds=1000$", 29);
	assert_int_equal(strlen(h), 14 + 3 + 12 + 16 + 1 + 86);
	assert_int_equal(passwd_hash_verify(h, "new pw", 6, 0), 0);
	assert_int_equal(passwd_hash_verify(h, "new pW", 6, 0), -MGW_EAUTH);

	/* A new user in an empty file. */
	{
		char *t;
		size_t n;

		assert_int_equal(passwd_text_set("", 0, "zed", h, &t, &n), 0);
		put_file("new.test", t);
		passwd_text_free(t, n);
	}
	assert_int_equal(passwd_auth(tmpdir, "new.test", "zed", "new pw", 6, 0), 0);

	/* Replacing keeps the other fields and other lines (including comments). */
	{
		static const char old[] = "# admins\nann:$6$x$y:5:6::/h/ann::q=1\nbob:$6$x$y\n";
		char *t;
		size_t n;

		assert_int_equal(passwd_text_set(old, strlen(old), "ann", h, &t, &n), 0);
		put_file("keep.test", t);
		passwd_text_free(t, n);
		/* deleting drops only that user's line */
		assert_int_equal(passwd_text_del(old, strlen(old), "bob", &t, &n), 0);
		assert_int_equal(n, strlen(old) - strlen("bob:$6$x$y\n"));
		assert_memory_equal(t, old, n);
		passwd_text_free(t, n);
		assert_int_equal(passwd_text_del(old, strlen(old), "zed", &t, &n), -MGW_ENOENT);

		/* Refused: names and hashes that would break the file. */
		assert_int_equal(passwd_text_set(old, strlen(old), "../x", h, &t, &n), -MGW_EINVAL);
		assert_int_equal(passwd_text_set(old, strlen(old), "ann", "a:b", &t, &n),
				 -MGW_EINVAL);
		assert_int_equal(passwd_text_set(old, strlen(old), "ann", "a\nb:c", &t, &n),
				 -MGW_EINVAL);
		assert_int_equal(passwd_text_set(old, strlen(old), "ann", "", &t, &n), -MGW_EINVAL);
	}
	assert_int_equal(passwd_lookup(tmpdir, "keep.test", "ann", &e), 0);
	assert_string_equal(e.hash, h);
	assert_string_equal(e.home, "/h/ann");
	assert_string_equal(e.extra, "q=1");
	assert_int_equal(e.uid, 5);
	assert_int_equal(passwd_lookup(tmpdir, "keep.test", "bob", &e), 0);
	assert_string_equal(e.hash, "$6$x$y");

	/* Whole-file text (the import tool's path). */
	{
		char *t;
		size_t n;

		memset(&e, 0, sizeof(e));
		strcpy(e.user, "one");
		strcpy(e.hash, "{SHA512-CRYPT}" H6_SECRET);
		assert_int_equal(passwd_text_build(&e, 1, &t, &n), 0);
		put_file("w.test", t);
		passwd_text_free(t, n);
		assert_int_equal(passwd_auth(tmpdir, "w.test", "one", "secret", 6, 0), 0);
		strcpy(e.hash, "x:y");
		assert_int_equal(passwd_text_build(&e, 1, &t, &n), -MGW_EINVAL);
	}
	(void)path;
	(void)sb;
}

/* The per-user quota in dovecot's extra field (userdb_quota_rule=*:storage=...). */
static void test_quota_rule(void **state)
{
	static const struct {
		const char *extra;
		int rc;
		bool found;
		uint64_t bytes;
	} cases[] = {
		{ "", 0, false, 0 },
		{ "userdb_quota_rule=*:storage=500M", 0, true, 500ull << 20 },
		{ "userdb_mail=maildir:~/Maildir userdb_quota_rule=*:storage=2G", 0, true, 2ull << 30 },
		{ "quota_rule=*:storage=100", 0, true, 100ull << 10 }, /* no unit: kilobytes */
		{ "userdb_quota_rule=*:storage=1024b:messages=10", 0, true, 1024 },
		{ "userdb_quota_rule=*:storage=0", 0, true, 0 }, /* 0: no limit */
		{ "userdb_quota_rule=*:messages=10", 0, true, 0 },
		{ "userdb_quota_rule=Trash:storage=10M", 0, false, 0 }, /* folders: not ours */
		{ "userdb_quota_rule=*:storage=5X", -MGW_EINVAL, true, 0 },
		{ "userdb_quota_rule=*:storage=", -MGW_EINVAL, true, 0 },
		{ "userdb_quota_rule=*:storage=+10%", -MGW_EINVAL, true, 0 },
		{ "userdb_quota_rule=*:storage=99999999999999999999G", -MGW_EINVAL, true, 0 },
	};
	struct passwd_entry e;
	const char *why = NULL;
	char line[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t bytes = 1;
		bool found = false;

		assert_int_equal(passwd_extra_quota(cases[i].extra, &bytes, &found, &why),
				 cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(found, cases[i].found);
			assert_int_equal(bytes, cases[i].bytes);
		}
	}
	/* As field 8 of a line; a malformed rule makes the line malformed, with a reason. */
	snprintf(line, sizeof(line), "joe:%s::::::userdb_quota_rule=*:storage=1M", H6_SECRET);
	assert_int_equal(passwd_line_parse(line, strlen(line), &e, &why), MGW_PARSE_OK);
	assert_true(e.has_quota);
	assert_int_equal(e.quota, 1u << 20);
	snprintf(line, sizeof(line), "joe:%s::::::userdb_quota_rule=*:storage=lots", H6_SECRET);
	assert_int_equal(passwd_line_parse(line, strlen(line), &e, &why), MGW_PARSE_SYNTAX);
	assert_non_null(strstr(why, "quota_rule"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_quota_rule),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_line_limits),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_lookup_and_auth),
		cmocka_unit_test(test_garbage_files),
		cmocka_unit_test(test_set_and_new),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
