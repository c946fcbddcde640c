/* test_admin.c - the admin operations (admin/admin.h) on a temporary data directory:
 * domains, users, aliases, the postmaster list; what each refuses and the message it
 * gives; the files they leave (read back by the daemon's own parsers) and their modes;
 * a symlink in the way is refused, never followed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pwd.h>

#include <cmocka.h>

#include "admin/admin.h"
#include "auth/passwd.h"
#include "cfg/cfg.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "proto/smtp_rcpt.h"

static char tmpdir[64];
static struct layout lay;
static char msg[LAYOUT_MSG_MAX];

static int setup(void **state)
{
	struct passwd *pw = getpwuid(geteuid());

	(void)state;
	log_set_level(LOG_LVL_ERR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_admin.XXXXXX");
	if (mkdtemp(tmpdir) == NULL || pw == NULL)
		return -1;
	/* the daemon's user: ourselves, so the test runs as any user */
	return layout_open(&lay, tmpdir, pw->pw_name, msg, sizeof(msg)) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	layout_close(&lay);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static mode_t mode_of(const char *rel)
{
	char p[256];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	if (lstat(p, &sb) < 0)
		return 0;
	return sb.st_mode & 07777;
}

/* Collects a listing as "name=value;" */
static char listed[1024];

static int collect(void *arg, const char *name, const char *value)
{
	size_t n = strlen(listed);

	(void)arg;
	snprintf(listed + n, sizeof(listed) - n, "%s%s%s;", name, value ? "=" : "",
		 value ? value : "");
	return 0;
}

#define LIST(call)                                                                                 \
	do {                                                                                       \
		listed[0] = '\0';                                                                  \
		assert_int_equal((call), 0);                                                       \
	} while (0)

static void test_domains(void **state)
{
	(void)state;
	assert_int_equal(admin_domain_add(&lay, "b.test", msg, sizeof(msg)), 0);
	assert_string_equal(msg, "domain b.test added");
	assert_int_equal(admin_domain_add(&lay, "a.test", msg, sizeof(msg)), 0);
	assert_int_equal(admin_domain_add(&lay, "a.test", msg, sizeof(msg)), -MGW_EEXIST);
	assert_string_equal(msg, "domain a.test already exists");
	assert_int_equal(admin_domain_add(&lay, "../etc", msg, sizeof(msg)), -MGW_EINVAL);
	assert_non_null(strstr(msg, "'../etc' is not a valid domain name"));
	assert_int_equal(admin_domain_add(&lay, "Upper.test", msg, sizeof(msg)), -MGW_EINVAL);
	assert_true(admin_domain_exists(&lay, "a.test"));
	assert_false(admin_domain_exists(&lay, "c.test"));
	LIST(admin_domain_list(&lay, collect, NULL, msg, sizeof(msg)));
	assert_string_equal(listed, "a.test;b.test;");
	/* the layout's modes; the daemon's resolver sees the domain */
	assert_int_equal(mode_of("etc"), 0750);
	assert_int_equal(mode_of("etc/domains"), 0750);
	assert_int_equal(mode_of("etc/domains/a.test"), 0750);
	assert_int_equal(mode_of("etc/domains/a.test/passwd"), 0640);
	assert_int_equal(smtp_domain_local(tmpdir, "a.test"), 1);
	assert_int_equal(smtp_domain_local(tmpdir, "c.test"), 0);
}

static void test_users(void **state)
{
	struct passwd_entry e;

	(void)state;
	assert_int_equal(admin_user_add(&lay, "joe@c.test", "pw", 2, 1000, msg, sizeof(msg)),
			 -MGW_ENOENT);
	assert_string_equal(msg, "no domain c.test (add it first)");
	assert_int_equal(admin_user_add(&lay, "Joe@A.test", "joe pw", 6, 1000, msg, sizeof(msg)),
			 0);
	assert_string_equal(msg, "user joe@a.test added");
	assert_int_equal(admin_user_add(&lay, "joe@a.test", "x", 1, 1000, msg, sizeof(msg)),
			 -MGW_EEXIST);
	assert_int_equal(admin_user_add(&lay, "ann@a.test", "", 0, 1000, msg, sizeof(msg)),
			 -MGW_EINVAL);
	assert_string_equal(msg, "empty password refused");
	assert_int_equal(admin_user_add(&lay, "a b@a.test", "x", 1, 1000, msg, sizeof(msg)),
			 -MGW_EINVAL);
	assert_int_equal(admin_user_add(&lay, "ann@a.test", "ann pw", 6, 1000, msg, sizeof(msg)),
			 0);
	assert_int_equal(passwd_auth(tmpdir, "a.test", "joe", "joe pw", 6, 0), 0);
	assert_int_equal(admin_user_passwd(&lay, "joe@a.test", "new pw", 6, 1000, msg, sizeof(msg)),
			 0);
	assert_string_equal(msg, "password of joe@a.test changed");
	assert_int_equal(passwd_auth(tmpdir, "a.test", "joe", "joe pw", 6, 0), -MGW_EAUTH);
	assert_int_equal(passwd_auth(tmpdir, "a.test", "joe", "new pw", 6, 0), 0);
	assert_int_equal(admin_user_passwd(&lay, "zed@a.test", "x", 1, 1000, msg, sizeof(msg)),
			 -MGW_ENOENT);
	assert_string_equal(msg, "no user zed@a.test");
	/* set: creates the domain too (mailgw-passwd set) */
	assert_int_equal(admin_user_set(&lay, "sam@new.test", "sam pw", 6, 1000, msg, sizeof(msg)),
			 0);
	assert_true(admin_user_exists(&lay, "sam@new.test"));
	LIST(admin_user_list(&lay, NULL, collect, NULL, msg, sizeof(msg)));
	assert_string_equal(listed, "joe@a.test;ann@a.test;sam@new.test;");
	LIST(admin_user_list(&lay, "a.test", collect, NULL, msg, sizeof(msg)));
	assert_string_equal(listed, "joe@a.test;ann@a.test;");
	assert_int_equal(admin_user_del(&lay, "ann@a.test", msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "user ann@a.test deleted (its mail under "));
	assert_int_equal(admin_user_del(&lay, "ann@a.test", msg, sizeof(msg)), -MGW_ENOENT);
	assert_int_equal(passwd_lookup(tmpdir, "a.test", "ann", &e), -MGW_ENOENT);
	assert_int_equal(passwd_lookup(tmpdir, "a.test", "joe", &e), 0);
	assert_int_equal(mode_of("etc/domains/new.test/passwd"), 0640);
	/* a domain with users is kept unless forced */
	assert_int_equal(admin_domain_del(&lay, "new.test", false, msg, sizeof(msg)), -MGW_EEXIST);
	assert_string_equal(msg, "domain new.test still has 1 user: delete them first");
	assert_int_equal(admin_domain_del(&lay, "new.test", true, msg, sizeof(msg)), 0);
	assert_false(admin_domain_exists(&lay, "new.test"));
	assert_int_equal(admin_domain_del(&lay, "new.test", true, msg, sizeof(msg)), -MGW_ENOENT);
}

static void test_aliases(void **state)
{
	char path[256], err[256];

	(void)state;
	assert_int_equal(admin_user_add(&lay, "bob@b.test", "bob pw", 6, 1000, msg, sizeof(msg)),
			 0);
	assert_int_equal(admin_alias_add(&lay, "info@a.test", "joe, nobody", msg, sizeof(msg)),
			 -MGW_ENOENT);
	assert_string_equal(msg, "alias target nobody@a.test is not an existing user");
	assert_int_equal(admin_alias_add(&lay, "joe@a.test", "bob@b.test", msg, sizeof(msg)),
			 -MGW_EEXIST);
	assert_int_equal(admin_alias_add(&lay, "info@a.test", "joe,, bob", msg, sizeof(msg)),
			 -MGW_EINVAL);
	assert_string_equal(msg, "alias info@a.test: empty target");
	assert_int_equal(admin_alias_add(&lay, "info@a.test", "joe\nx: y", msg, sizeof(msg)),
			 -MGW_EINVAL);
	assert_int_equal(admin_alias_add(&lay, "info@a.test", "JOE, bob@b.test", msg, sizeof(msg)),
			 0);
	assert_string_equal(msg, "alias info@a.test set: joe, bob@b.test");
	assert_int_equal(admin_alias_add(&lay, "sales@a.test", "joe", msg, sizeof(msg)), 0);
	assert_int_equal(admin_alias_add(&lay, "info@a.test", "bob@b.test", msg, sizeof(msg)), 0);
	LIST(admin_alias_list(&lay, NULL, collect, NULL, msg, sizeof(msg)));
	assert_string_equal(listed, "info@a.test=bob@b.test;sales@a.test=joe@a.test;");
	/* the daemon's reader accepts the file as written */
	snprintf(path, sizeof(path), "%s/etc/domains/a.test/aliases", tmpdir);
	assert_int_equal(smtp_alias_file_check(path, err, sizeof(err)), 0);
	assert_int_equal(mode_of("etc/domains/a.test/aliases"), 0640);
	assert_int_equal(admin_alias_del(&lay, "info@a.test", msg, sizeof(msg)), 0);
	assert_int_equal(admin_alias_del(&lay, "info@a.test", msg, sizeof(msg)), -MGW_ENOENT);
	assert_string_equal(msg, "no alias info@a.test");
	LIST(admin_alias_list(&lay, "a.test", collect, NULL, msg, sizeof(msg)));
	assert_string_equal(listed, "sales@a.test=joe@a.test;");
}

static void test_postmaster(void **state)
{
	static const char conf[] = "# the admin's comment\n"
				   "user = nobody\n"
				   "[smtp]\n"
				   "# before\n"
				   "listen = off\n"
				   "postmaster = old@a.test\n"
				   "[pop3s]\n"
				   "listen = off\n";
	char path[256], out[CFG_STR_MAX], *text;
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/etc/mailgw.conf", tmpdir);
	/* no configuration yet: a [smtp] section is added */
	assert_int_equal(admin_postmaster_set(&lay, "joe@a.test", msg, sizeof(msg)), 0);
	assert_int_equal(admin_postmaster_get(&lay, out, sizeof(out), msg, sizeof(msg)), 0);
	assert_string_equal(out, "joe@a.test");
	assert_int_equal(mode_of("etc/mailgw.conf"), 0640);

	assert_int_equal(
	    layout_write(&lay, "etc/mailgw.conf", conf, strlen(conf), msg, sizeof(msg)), 0);
	assert_int_equal(admin_postmaster_set(&lay, "nobody@a.test", msg, sizeof(msg)),
			 -MGW_ENOENT);
	assert_string_equal(msg, "postmaster nobody@a.test is not an existing user");
	assert_int_equal(admin_postmaster_set(&lay, "joe", msg, sizeof(msg)), -MGW_EINVAL);
	assert_int_equal(admin_postmaster_set(&lay, "joe@a.test, bob@b.test", msg, sizeof(msg)), 0);
	assert_int_equal(file_read_all(path, 4096, &text, &len), 0);
	/* only the key's line changed */
	assert_string_equal(text, "# the admin's comment\n"
				  "user = nobody\n"
				  "[smtp]\n"
				  "# before\n"
				  "listen = off\n"
				  "postmaster = joe@a.test, bob@b.test\n"
				  "[pop3s]\n"
				  "listen = off\n");
	free(text);
	/* unset, then set again inside the existing section */
	assert_int_equal(admin_postmaster_set(&lay, "", msg, sizeof(msg)), 0);
	assert_int_equal(admin_postmaster_get(&lay, out, sizeof(out), msg, sizeof(msg)), 0);
	assert_string_equal(out, "");
	assert_int_equal(admin_postmaster_set(&lay, "bob@b.test", msg, sizeof(msg)), 0);
	assert_int_equal(file_read_all(path, 4096, &text, &len), 0);
	assert_non_null(strstr(text, "listen = off\npostmaster = bob@b.test\n[pop3s]\n"));
	free(text);
	/* a configuration that does not load is not made worse: nothing written */
	assert_int_equal(layout_write(&lay, "etc/mailgw.conf", "bogus = 1\n", 10, msg, sizeof(msg)),
			 0);
	assert_int_equal(admin_postmaster_set(&lay, "joe@a.test", msg, sizeof(msg)), -MGW_ECONFIG);
	assert_non_null(strstr(msg, "mailgw.conf (after the change): etc/mailgw.conf:1:"));
	assert_int_equal(file_read_all(path, 4096, &text, &len), 0);
	assert_string_equal(text, "bogus = 1\n");
	free(text);
}

static void test_symlink_refused(void **state)
{
	char link[320], target[128];
	struct stat sb;

	(void)state;
	snprintf(target, sizeof(target), "%s/elsewhere", tmpdir);
	assert_int_equal(mkdir(target, 0700), 0);
	snprintf(link, sizeof(link), "%s/etc/domains/evil.test", tmpdir);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(admin_user_set(&lay, "x@evil.test", "pw", 2, 1000, msg, sizeof(msg)),
			 -MGW_EINVAL);
	assert_non_null(strstr(msg, "evil.test: a symlink or not a directory (not followed)"));
	snprintf(link, sizeof(link), "%s/passwd", target);
	assert_int_equal(stat(link, &sb), -1);
	/* layout_write refuses a path the table does not name */
	assert_int_equal(layout_write(&lay, "etc/other", "x", 1, msg, sizeof(msg)), -MGW_EINVAL);
	assert_int_equal(layout_write(&lay, "etc/../x", "x", 1, msg, sizeof(msg)), -MGW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_domains),	    cmocka_unit_test(test_users),
	    cmocka_unit_test(test_aliases),	    cmocka_unit_test(test_postmaster),
	    cmocka_unit_test(test_symlink_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
