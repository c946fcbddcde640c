/* test_smtp_rcpt.c - recipient resolution over a temporary data directory. */
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

#include "core/err.h"
#include "net/addr_rate.h"
#include "proto/smtp_parse.h"
#include "proto/smtp_rcpt.h"

static char dir[256];

static void put(const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char p[512];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_smtp_rcpt.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/etc", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/etc/domains", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/etc/domains/example.com", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/etc/domains/example.org", dir);
	mkdir(p, 0700);
	put("etc/domains/example.com/passwd", "alice:{PLAIN}x::::::\nbob:{PLAIN}y::::::\n");
	put("etc/domains/example.org/passwd", "carol:{PLAIN}z::::::\n");
	put("etc/domains/example.com/aliases",
	    "# comment\n\nteam: alice, bob\nsales : carol@example.org , alice\nbad line\n"
	    "ghost: nobody\nfar: x@foreign.example\npostmaster: bob\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct rcpt_case {
	const char *line;
	enum smtp_rcpt_res res;
	const char *boxes; /* "user@domain,..." added to an empty set */
};

static const struct rcpt_case cases[] = {
	{ "RCPT TO:<alice@example.com>", SMTP_RCPT_OK, "alice@example.com" },
	{ "RCPT TO:<ALICE@Example.COM>", SMTP_RCPT_OK, "alice@example.com" },
	{ "RCPT TO:<team@example.com>", SMTP_RCPT_OK, "alice@example.com,bob@example.com" },
	{ "RCPT TO:<sales@example.com>", SMTP_RCPT_OK, "carol@example.org,alice@example.com" },
	{ "RCPT TO:<postmaster@example.com>", SMTP_RCPT_OK, "bob@example.com" },
	{ "RCPT TO:<postmaster@example.org>", SMTP_RCPT_OK, "carol@example.org" },
	{ "RCPT TO:<abuse@example.org>", SMTP_RCPT_OK, "carol@example.org" },
	{ "RCPT TO:<postmaster>", SMTP_RCPT_OK, "carol@example.org" },
	{ "RCPT TO:<nobody@example.com>", SMTP_RCPT_UNKNOWN, "" },
	{ "RCPT TO:<ghost@example.com>", SMTP_RCPT_TEMP, "" },
	{ "RCPT TO:<far@example.com>", SMTP_RCPT_TEMP, "" },
	{ "RCPT TO:<alice@foreign.example>", SMTP_RCPT_RELAY, "" },
	{ "RCPT TO:<alice@sub.example.com>", SMTP_RCPT_RELAY, "" },
	{ "RCPT TO:<alice@[127.0.0.1]>", SMTP_RCPT_RELAY, "" },
	{ "RCPT TO:<alice%foreign.example@example.com>", SMTP_RCPT_RELAY, "" },
	{ "RCPT TO:<@example.com:alice@example.com>", SMTP_RCPT_RELAY, "" },
	{ "RCPT TO:<\"alice\"@example.com>", SMTP_RCPT_UNKNOWN, "" },
	{ "RCPT TO:<a!b@example.com>", SMTP_RCPT_UNKNOWN, "" },
};

static void test_resolve(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcpt_case *c = &cases[i];
		struct smtp_mbox_set *set = calloc(1, sizeof(*set));
		struct smtp_cmd cmd;
		char got[512] = "";
		enum smtp_rcpt_res res;

		assert_int_equal(smtp_parse_cmd((const uint8_t *)c->line,
						(const uint8_t *)c->line + strlen(c->line), &cmd),
				 MGW_PARSE_OK);
		res = smtp_rcpt_resolve(dir, "carol@example.org", &cmd.path, set, 100);
		for (size_t j = 0; j < set->n; j++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s@%s", j ? "," : "",
				 set->mb[j].user, set->mb[j].domain);
		if (res != c->res || strcmp(got, c->boxes) != 0)
			fail_msg("%s: res %d boxes '%s'", c->line, res, got);
		free(set);
	}
}

/* The set deduplicates and never exceeds its bound; a refusal leaves it unchanged. */
static void test_set_bound(void **state)
{
	struct smtp_mbox_set *set = calloc(1, sizeof(*set));
	const char *team = "RCPT TO:<team@example.com>", *alice = "RCPT TO:<alice@example.com>";
	struct smtp_cmd a, t;

	(void)state;
	smtp_parse_cmd((const uint8_t *)alice, (const uint8_t *)alice + strlen(alice), &a);
	smtp_parse_cmd((const uint8_t *)team, (const uint8_t *)team + strlen(team), &t);
	assert_int_equal(smtp_rcpt_resolve(dir, "", &a.path, set, 1), SMTP_RCPT_OK);
	assert_int_equal(smtp_rcpt_resolve(dir, "", &a.path, set, 1), SMTP_RCPT_OK);
	assert_int_equal(set->n, 1);
	assert_int_equal(smtp_rcpt_resolve(dir, "", &t.path, set, 1), SMTP_RCPT_FULL);
	assert_int_equal(set->n, 1);
	assert_int_equal(smtp_rcpt_resolve(dir, "", &t.path, set, 2), SMTP_RCPT_OK);
	assert_int_equal(set->n, 2);
	free(set);
}

static void test_alias_check(void **state)
{
	char path[512], err[600];

	(void)state;
	snprintf(path, sizeof(path), "%s/etc/domains/example.com/aliases", dir);
	assert_int_equal(smtp_alias_file_check(path, err, sizeof(err)), -MGW_ECONFIG);
	assert_non_null(strstr(err, "aliases:5: expected 'local: user[, user...]'"));
	put("etc/domains/example.org/aliases", "a: b\nc: d@e.example, f\n");
	snprintf(path, sizeof(path), "%s/etc/domains/example.org/aliases", dir);
	assert_int_equal(smtp_alias_file_check(path, err, sizeof(err)), 0);
	put("etc/domains/example.org/aliases", "a: b,\n");
	assert_int_equal(smtp_alias_file_check(path, err, sizeof(err)), -MGW_ECONFIG);
	assert_non_null(strstr(err, "aliases:1: empty target"));
	put("etc/domains/example.org/aliases", "x: ../etc\n");
	assert_int_equal(smtp_alias_file_check(path, err, sizeof(err)), -MGW_ECONFIG);
	unlink(path);
}

static void test_admins(void **state)
{
	char why[128];

	(void)state;
	assert_int_equal(smtp_admins_check("alice@example.com, bob@example.org", why, sizeof(why)), 0);
	assert_int_equal(smtp_admins_check("alice", why, sizeof(why)), -MGW_EINVAL);
	assert_int_equal(smtp_admins_check("a@b@c", why, sizeof(why)), -MGW_EINVAL);
}

static void test_addr_rate(void **state)
{
	static struct addr_rate r;
	char a[32];

	(void)state;
	addr_rate_init(&r, 60000);
	for (int i = 0; i < 3; i++)
		assert_true(addr_rate_allow(&r, "192.0.2.1", 1000, 3));
	assert_false(addr_rate_allow(&r, "192.0.2.1", 2000, 3));
	assert_true(addr_rate_allow(&r, "192.0.2.2", 2000, 3));
	assert_true(addr_rate_allow(&r, "192.0.2.1", 61000, 3)); /* a new window */
	/* A flood of addresses never grows the table and evicts the oldest windows. */
	for (int i = 0; i < 2 * ADDR_RATE_SLOTS; i++) {
		snprintf(a, sizeof(a), "10.0.%d.%d", i / 256, i % 256);
		assert_true(addr_rate_allow(&r, a, 70000 + (uint64_t)i, 1));
	}
	assert_false(addr_rate_allow(&r, "10.0.3.255", 80000, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_set_bound),
		cmocka_unit_test(test_alias_check),
		cmocka_unit_test(test_admins),
		cmocka_unit_test(test_addr_rate),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
