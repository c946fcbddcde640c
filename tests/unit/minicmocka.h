/*
 * minicmocka.h - the few cmocka calls test_gcm.c and test_chachapoly.c make, for their
 * builds where no cmocka library exists (the aarch64 and armhf builds run under qemu-user,
 * tests/tests.mk). Each test runs until its first failed assertion; the run ends with
 * cmocka's summary lines and the plain "N passed, N failed" line, and exits non-zero when
 * a test failed.
 */
#ifndef MAILGW_MINICMOCKA_H
#define MAILGW_MINICMOCKA_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct CMUnitTest {
	const char *name;
	void (*fn)(void **state);
};

static jmp_buf minicmocka_jmp;

#define cmocka_unit_test(f)                                                                        \
	{                                                                                          \
#f, f                                                                              \
	}
#define minicmocka_fail(...)                                                                       \
	do {                                                                                       \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                    \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fprintf(stderr, "\n");                                                             \
		longjmp(minicmocka_jmp, 1);                                                        \
	} while (0)
#define fail_msg(...) minicmocka_fail(__VA_ARGS__)
#define assert_true(c)                                                                             \
	do {                                                                                       \
		if (!(c))                                                                          \
			minicmocka_fail("%s is false", #c);                                        \
	} while (0)
#define assert_int_equal(a, b)                                                                     \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_)                                                                      \
			minicmocka_fail("%lld != %lld", a_, b_);                                   \
	} while (0)
#define assert_memory_equal(a, b, n)                                                               \
	do {                                                                                       \
		if (memcmp((a), (b), (n)) != 0)                                                    \
			minicmocka_fail("%s and %s differ", #a, #b);                               \
	} while (0)
#define assert_string_equal(a, b)                                                                  \
	do {                                                                                       \
		if (strcmp((a), (b)) != 0)                                                         \
			minicmocka_fail("\"%s\" != \"%s\"", (a), (b));                             \
	} while (0)

static int minicmocka_run(const struct CMUnitTest *t, size_t n)
{
	volatile size_t failed = 0;

	printf("[==========] Running %zu test(s).\n", n);
	for (size_t i = 0; i < n; i++) {
		printf("[ RUN      ] %s\n", t[i].name);
		if (setjmp(minicmocka_jmp) == 0) {
			t[i].fn(NULL);
			printf("[       OK ] %s\n", t[i].name);
		} else {
			printf("[  FAILED  ] %s\n", t[i].name);
			failed++;
		}
	}
	printf("[==========] %zu test(s) run.\n[  PASSED  ] %zu test(s).\n", n, n - failed);
	printf("%zu passed, %zu failed\n", n - failed, failed);
	return failed ? 1 : 0;
}

#define cmocka_run_group_tests(t, setup, teardown) minicmocka_run((t), sizeof(t) / sizeof((t)[0]))

#endif
