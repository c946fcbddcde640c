/* test_cfg.c - the configuration parser: good files, and every error naming file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cfg/cfg.h"
#include "core/err.h"

struct cfg_case {
	const char *text;
	const char *err; /* NULL: must parse; else the exact error line */
};

static const struct cfg_case cfg_cases[] = {
	{ "# comment\n\nhostname = mx.example.test\n", NULL },
	{ "max_connections = 192\r\nlog_level = debug\n[control]\nsocket = /run/x\n", NULL },
	{ "shutdown_grace = 2m\n", NULL },
	{ "bogus = 1\n", "t.conf:1: unknown key 'bogus'" },
	{ "\n[control]\nuser = x\n", "t.conf:3: unknown key 'user' in [control]" },
	{ "[nope]\n", "t.conf:1: unknown section [nope]" },
	{ "[control\n", "t.conf:1: malformed section header" },
	{ "max_connections = 3\n", "t.conf:1: max_connections: out of range (4 to 10000)" },
	{ "max_connections = 12x\n", "t.conf:1: max_connections: expected a whole number" },
	{ "max_connections = -5\n", "t.conf:1: max_connections: expected a whole number" },
	{ "shutdown_grace = 10y\n", "t.conf:1: shutdown_grace: expected a duration such as 30s, 10m, 2h or 7d" },
	{ "shutdown_grace = 6m\n", "t.conf:1: shutdown_grace: out of range (0 to 300)" },
	{ "log_syslog = maybe\n", "t.conf:1: log_syslog: expected yes or no" },
	{ "data_dir = relative\n", "t.conf:1: data_dir: must be an absolute path" },
	{ "user = a b\n", "t.conf:1: user: not a valid name (letters, digits, '_', '-', '.')" },
	{ "hostname = bad_host!\n", "t.conf:1: hostname: not a valid host name" },
	{ "log_level = loud\n", "t.conf:1: log_level: expected error, warning, info or debug" },
	/* Every listening service's share must fit in the total. */
	{ "max_connections = 100\n[smtp]\nlisten = 127.0.0.1:25\n[pop3s]\nlisten = 127.0.0.1:995\n"
	  "[imaps]\nlisten = off\n",
	  "t.conf: the services' shares ([smtp] max_connections 64 + [pop3s] max_connections 64 + "
	  "[imaps] max_connections 0) exceed max_connections 100" },
	{ "max_connections = 100\n[smtp]\nlisten = off\n[pop3s]\nlisten = 127.0.0.1:995\n"
	  "[imaps]\nlisten = off\n", NULL },
	{ "max_connections = 150\n[smtp]\nmax_connections = 50\n[pop3s]\nmax_connections = 50\n"
	  "[imaps]\nmax_connections = 50\n", NULL },
	/* IMAPS's share counts as POP3S's. */
	{ "max_connections = 150\n[smtp]\nmax_connections = 50\n[pop3s]\nmax_connections = 50\n"
	  "[imaps]\nlisten = 127.0.0.1:993\nmax_connections = 51\n",
	  "t.conf: the services' shares ([smtp] max_connections 50 + [pop3s] max_connections 50 + "
	  "[imaps] max_connections 51) exceed max_connections 150" },
	{ "max_connections = 128\n[smtp]\nlisten = 127.0.0.1:25\n[pop3s]\nlisten = off\n"
	  "[imaps]\nlisten = 127.0.0.1:993\n", NULL },
	{ "[imaps]\nmax_per_address = 0\n", "t.conf:2: max_per_address: out of range (1 to 10000)" },
	{ "[imaps]\nrate = 0\n", "t.conf:2: rate: out of range (1 to 1000000)" },
	{ "ipv6_prefix = 8\n", "t.conf:1: ipv6_prefix: out of range (16 to 128)" },
	{ "[tls]\nhandshake_timeout = 2m\n", "t.conf:2: handshake_timeout: out of range (1 to 60)" },
	/* [smtp] quota: a size or a share of the data filesystem. */
	{ "[smtp]\nquota = 25%\n", NULL },
	{ "[smtp]\nquota = 500M\n", NULL },
	{ "[smtp]\nquota = 0%\n", "t.conf:2: quota: expected a size such as 500M or 1G, or 1% to 100%" },
	{ "[smtp]\nquota = 101%\n", "t.conf:2: quota: expected a size such as 500M or 1G, or 1% to 100%" },
	{ "[smtp]\nquota = x%\n", "t.conf:2: quota: expected a size such as 500M or 1G, or 1% to 100%" },
	{ "[smtp]\nquota = 5X\n", "t.conf:2: quota: expected a size such as 500M or 1G, or 1% to 100%" },
	{ "user = a\nuser = b\n", "t.conf:2: 'user' given twice" },
	{ "just words\n", "t.conf:1: expected 'key = value'" },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cfg_cases) / sizeof(cfg_cases[0]); i++) {
		struct mgw_cfg cfg;
		char err[CFG_ERR_MAX] = "";
		int rc;

		cfg_defaults(&cfg);
		rc = cfg_parse("t.conf", cfg_cases[i].text, strlen(cfg_cases[i].text), &cfg, err, sizeof(err));
		if (cfg_cases[i].err == NULL) {
			if (rc != 0)
				fail_msg("case %zu: unexpected error '%s'", i, err);
		} else {
			if (rc != -MGW_ECONFIG)
				fail_msg("case %zu: accepted, want '%s'", i, cfg_cases[i].err);
			if (strcmp(err, cfg_cases[i].err) != 0)
				fail_msg("case %zu: got '%s' want '%s'", i, err, cfg_cases[i].err);
		}
	}
}

static void test_values_land(void **state)
{
	static const char text[] = "hostname = mx.example.test\nmax_connections = 192\n"
				   "shutdown_grace = 2m\nlog_syslog = off\n[control]\nsocket = /tmp/c\n";
	struct mgw_cfg cfg;
	char err[CFG_ERR_MAX];

	(void)state;
	cfg_defaults(&cfg);
	assert_int_equal(cfg_parse("t.conf", text, sizeof(text) - 1, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.hostname, "mx.example.test");
	assert_int_equal(cfg.max_connections, 192);
	assert_int_equal(cfg.shutdown_grace, 120);
	assert_false(cfg.log_syslog);
	assert_string_equal(cfg.control_socket, "/tmp/c");
}

static void test_nul_and_long_lines(void **state)
{
	struct mgw_cfg cfg;
	char err[CFG_ERR_MAX];
	char longline[CFG_LINE_MAX + 10];

	(void)state;
	cfg_defaults(&cfg);
	assert_int_equal(cfg_parse("t.conf", "user = a\0b\n", 11, &cfg, err, sizeof(err)), -MGW_ECONFIG);
	assert_string_equal(err, "t.conf:1: NUL byte in line");
	memset(longline, 'a', sizeof(longline));
	assert_int_equal(cfg_parse("t.conf", longline, sizeof(longline), &cfg, err, sizeof(err)), -MGW_ECONFIG);
	assert_string_equal(err, "t.conf:1: line too long (at most 1024 bytes)");
}

static void test_units(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t size;
	} sizes[] = { { "0", 0, 0 }, { "10", 0, 10 }, { "512K", 0, 524288 }, { "25M", 0, 26214400 },
		      { "1G", 0, 1073741824 }, { "1KB", -MGW_EINVAL, 0 }, { "", -MGW_EINVAL, 0 },
		      { "99999999999999999999", -MGW_EINVAL, 0 }, { "20000000000G", -MGW_EINVAL, 0 } };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t v = 0;

		assert_int_equal(cfg_parse_size(sizes[i].s, &v), sizes[i].rc);
		if (sizes[i].rc == 0)
			assert_int_equal(v, sizes[i].size);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_values_land),
		cmocka_unit_test(test_nul_and_long_lines),
		cmocka_unit_test(test_units),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
