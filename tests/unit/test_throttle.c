/* test_throttle.c - failed-login delays and limits over a clock the test controls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/throttle.h"
#include "core/err.h"

enum op { CHECK, FAIL, OK };

struct step {
	enum op op;
	const char *key;
	uint64_t now;
	int rc;         /* CHECK: expected return */
	uint32_t delay; /* CHECK and FAIL: expected delay */
};

/* Defaults: 500 ms doubling to 8 s, 10 failures per 15 minutes. */
static const struct step steps[] = {
	{ CHECK, "addr:10.0.0.1", 0, 0, 0 },
	{ FAIL, "addr:10.0.0.1", 1000, 0, 500 },
	{ CHECK, "addr:10.0.0.1", 1001, 0, 500 },
	{ CHECK, "addr:10.0.0.2", 1001, 0, 0 }, /* other keys unaffected */
	{ FAIL, "addr:10.0.0.1", 2000, 0, 1000 },
	{ FAIL, "addr:10.0.0.1", 3000, 0, 2000 },
	{ FAIL, "addr:10.0.0.1", 4000, 0, 4000 },
	{ FAIL, "addr:10.0.0.1", 5000, 0, 8000 },
	{ FAIL, "addr:10.0.0.1", 6000, 0, 8000 }, /* capped */
	{ FAIL, "addr:10.0.0.1", 7000, 0, 8000 },
	{ FAIL, "addr:10.0.0.1", 8000, 0, 8000 },
	{ FAIL, "addr:10.0.0.1", 9000, 0, 8000 },
	{ CHECK, "addr:10.0.0.1", 9500, 0, 8000 }, /* 9 failures: still allowed */
	{ FAIL, "addr:10.0.0.1", 10000, 0, 8000 },
	{ CHECK, "addr:10.0.0.1", 10001, -MGW_ELIMIT, 8000 }, /* 10: refused */
	{ CHECK, "addr:10.0.0.1", 1000 + 15 * 60 * 1000 - 1, -MGW_ELIMIT, 8000 },
	{ CHECK, "addr:10.0.0.1", 1000 + 15 * 60 * 1000, 0, 0 }, /* the window has passed */
	{ FAIL, "addr:10.0.0.1", 1000 + 15 * 60 * 1000, 0, 500 }, /* and counting restarts */
	/* A success forgets the key. */
	{ FAIL, "cert:01", 0, 0, 500 },
	{ FAIL, "cert:01", 10, 0, 1000 },
	{ OK, "cert:01", 20, 0, 0 },
	{ CHECK, "cert:01", 30, 0, 0 },
	{ FAIL, "cert:01", 40, 0, 500 },
};

static void test_steps(void **state)
{
	static struct throttle t;

	(void)state;
	throttle_init(&t, NULL);
	for (size_t i = 0; i < MGW_ARRAY_LEN(steps); i++) {
		const struct step *s = &steps[i];
		size_t kl = strlen(s->key);
		uint32_t d = 12345;
		int rc = 0;

		switch (s->op) {
		case CHECK:
			rc = throttle_check(&t, s->key, kl, s->now, &d);
			break;
		case FAIL:
			d = throttle_fail(&t, s->key, kl, s->now);
			break;
		case OK:
			throttle_success(&t, s->key, kl);
			d = 0;
			break;
		}
		if (rc != s->rc || d != s->delay)
			fail_msg("step %zu: rc %d delay %u, want %d %u", i, rc, d, s->rc, s->delay);
	}
}

static void test_params(void **state)
{
	static struct throttle t;
	struct throttle_params p = { .base_ms = 100, .max_delay_ms = 250, .limit = 3,
				     .window_ms = 1000 };
	uint32_t d;

	(void)state;
	throttle_init(&t, &p);
	assert_int_equal(throttle_fail(&t, "k", 1, 0), 100);
	assert_int_equal(throttle_fail(&t, "k", 1, 0), 200);
	assert_int_equal(throttle_fail(&t, "k", 1, 0), 250);
	assert_int_equal(throttle_check(&t, "k", 1, 999, &d), -MGW_ELIMIT);
	assert_int_equal(throttle_check(&t, "k", 1, 1000, &d), 0);
	assert_int_equal(throttle_failures(&t, "k", 1, 999), 3);
	/* Many failures never overflow the shift. */
	for (int i = 0; i < 100; i++)
		d = throttle_fail(&t, "k", 1, 2000);
	assert_int_equal(d, 250);
}

static void test_bounded_lru(void **state)
{
	static struct throttle t;
	char key[32];
	uint32_t d;

	(void)state;
	throttle_init(&t, NULL);
	/* The victim fails early but keeps being checked (used); a flood of other keys must
	 * evict the idle ones first, never grow memory. */
	throttle_fail(&t, "cert:victim", 11, 0);
	throttle_fail(&t, "cert:idle", 9, 0);
	for (unsigned i = 0; i < 3 * THROTTLE_SLOTS; i++) {
		int n = snprintf(key, sizeof(key), "addr:flood%u", i);

		throttle_check(&t, "cert:victim", 11, 10 + i, &d);
		throttle_fail(&t, key, (size_t)n, 10 + i);
	}
	assert_int_equal(throttle_failures(&t, "cert:victim", 11, 10000), 1);
	assert_int_equal(throttle_failures(&t, "cert:idle", 9, 10000), 0);
	/* Only the most recent flood keys are still there. */
	assert_int_equal(throttle_failures(&t, "addr:flood0", 11, 10000), 0);
	int n = snprintf(key, sizeof(key), "addr:flood%u", 3 * THROTTLE_SLOTS - 1);
	assert_int_equal(throttle_failures(&t, key, (size_t)n, 10000), 1);
}

static void test_long_keys(void **state)
{
	static struct throttle t;
	char a[200], b[200];
	uint32_t d;

	(void)state;
	throttle_init(&t, NULL);
	memset(a, 'x', sizeof(a));
	memcpy(b, a, sizeof(b));
	b[sizeof(b) - 1] = 'y'; /* differs only after THROTTLE_KEY_MAX bytes */
	throttle_fail(&t, a, sizeof(a), 0);
	assert_int_equal(throttle_failures(&t, a, sizeof(a), 1), 1);
	assert_int_equal(throttle_failures(&t, b, sizeof(b), 1), 0);
	/* An empty key is never recorded. */
	assert_int_equal(throttle_fail(&t, "", 0, 0), 0);
	assert_int_equal(throttle_check(&t, "", 0, 0, &d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_bounded_lru),
		cmocka_unit_test(test_long_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
