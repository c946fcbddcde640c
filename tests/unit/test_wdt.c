/* test_wdt.c - the watchdog front end over the simulated backend: arming, the pet
 * period (a third of the timeout), the file a test reads, the clean-stop disarm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "watchdog/wdt.h"

static void wdt_file(char *path, size_t sz)
{
	int fd;

	snprintf(path, sz, "/tmp/test_wdt.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
}

static void wdt_read(const char *path, char *out, size_t sz)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(out, 1, sz - 1, f);
	out[n] = '\0';
	fclose(f);
}

static void test_pet_period(void **state)
{
	char path[64], line[64], why[128];
	struct wdt w;

	(void)state;
	wdt_file(path, sizeof(path));
	assert_int_equal(wdt_open(&w, path, 15, why, sizeof(why)), 0);
	assert_true(w.sim);
	wdt_read(path, line, sizeof(line));
	assert_string_equal(line, "armed 15\n");
	assert_int_equal(wdt_interval_ms(&w), 5000);

	/* the first call pets at once, then not before 5 s have passed */
	assert_int_equal(wdt_pet_due(&w, 1000), 0);
	wdt_read(path, line, sizeof(line));
	assert_string_equal(line, "pet 1 1000\n");
	assert_int_equal(wdt_pet_due(&w, 5999), 0);
	assert_int_equal(w.pets, 1);
	assert_int_equal(wdt_pet_due(&w, 6000), 0);
	assert_int_equal(w.pets, 2);
	wdt_read(path, line, sizeof(line));
	assert_string_equal(line, "pet 2 6000\n");

	wdt_close(&w);
	assert_false(wdt_is_open(&w));
	wdt_read(path, line, sizeof(line));
	assert_string_equal(line, "closed 2\n");
	unlink(path);
	strcat(path, ".events");
	unlink(path);
}

/* Like /dev/watchdog: one opener at a time, and a driver maximum caps the timeout. */
static void test_sim_one_opener_and_maximum(void **state)
{
	char path[64], line[64], why[128];
	struct wdt w, second;

	(void)state;
	wdt_file(path, sizeof(path));
	setenv("MAILGW_TEST_WDT_MAX", "3", 1);
	assert_int_equal(wdt_open(&w, path, 240, why, sizeof(why)), 0);
	unsetenv("MAILGW_TEST_WDT_MAX");
	assert_int_equal(w.timeout_s, 3);
	wdt_read(path, line, sizeof(line));
	assert_string_equal(line, "armed 3\n");
	assert_int_equal(wdt_open(&second, path, 15, why, sizeof(why)), -MGW_EEXIST);
	assert_non_null(strstr(why, "busy"));
	assert_false(wdt_is_open(&second));
	wdt_release(&w); /* let go without disarming: the next opener gets it */
	wdt_read(path, line, sizeof(line));
	assert_string_equal(line, "armed 3\n");
	assert_int_equal(wdt_open(&second, path, 15, why, sizeof(why)), 0);
	assert_int_equal(second.timeout_s, 15);
	wdt_close(&second);
	unlink(path);
	strcat(path, ".events");
	unlink(path);
}

static void test_refusals(void **state)
{
	struct {
		const char *path;
		unsigned timeout;
		int rc;
	} cases[] = {
	    {"/nonexistent/watchdog", 15, -MGW_ENOENT},
	    {"/tmp", 15, -MGW_EINVAL},	     /* a directory */
	    {"/dev/null", 1, -MGW_EINVAL},   /* timeout below the minimum */
	    {"/dev/null", 601, -MGW_EINVAL}, /* and above the maximum */
	};
	char why[128];
	struct wdt w;

	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(cases); i++) {
		why[0] = '\0';
		assert_int_equal(wdt_open(&w, cases[i].path, cases[i].timeout, why, sizeof(why)),
				 cases[i].rc);
		assert_false(wdt_is_open(&w));
		assert_true(why[0] != '\0');
	}
	/* petting or closing a watchdog that is not open does nothing */
	wdt_init(&w);
	assert_int_equal(wdt_pet_due(&w, 1), 0);
	wdt_close(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pet_period),
	    cmocka_unit_test(test_sim_one_opener_and_maximum),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
