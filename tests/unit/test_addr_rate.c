/* test_addr_rate.c - the per-address connection rate table and the IPv6 aggregation of
 * client addresses (net/addr_rate.h, net/addr_net.h), over a clock the test controls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "core/err.h"
#include "net/addr_net.h"
#include "net/addr_rate.h"

#define WINDOW 60000

static void test_limit_per_window(void **state)
{
	static struct addr_rate r;

	(void)state;
	addr_rate_init(&r, WINDOW);
	for (int i = 0; i < 3; i++)
		assert_true(addr_rate_allow(&r, "192.0.2.1", 1000 + i, 3));
	assert_false(addr_rate_allow(&r, "192.0.2.1", 2000, 3));
	assert_true(addr_rate_allow(&r, "192.0.2.2", 2000, 3)); /* others unaffected */
	assert_false(addr_rate_allow(&r, "192.0.2.1", 1000 + WINDOW - 1, 3));
	assert_true(addr_rate_allow(&r, "192.0.2.1", 1000 + WINDOW, 3)); /* a new window */
}

/* A busy address keeps its window however many fresh addresses come in between: the
 * table is full of addresses with one connection each, which go first. */
static void test_fresh_addresses_do_not_reset_a_busy_one(void **state)
{
	static struct addr_rate r;
	char a[32];
	uint64_t now = 1000;

	(void)state;
	addr_rate_init(&r, WINDOW);
	for (int i = 0; i < 60; i++)
		assert_true(addr_rate_allow(&r, "198.51.100.7", now++, 60));
	assert_false(addr_rate_allow(&r, "198.51.100.7", now++, 60));
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < ADDR_RATE_SLOTS + 10; i++) {
			snprintf(a, sizeof(a), "10.%d.%d.%d", round, i / 256, i % 256);
			assert_true(addr_rate_allow(&r, a, now++, 60));
		}
		assert_false(addr_rate_allow(&r, "198.51.100.7", now++, 60));
	}
	/* Only the end of its own window frees it. */
	assert_true(addr_rate_allow(&r, "198.51.100.7", 1000 + WINDOW, 60));
}

/* Slots whose window has passed are reused before any live one. */
static void test_expired_slots_go_first(void **state)
{
	static struct addr_rate r;
	char a[32];

	(void)state;
	addr_rate_init(&r, WINDOW);
	for (int i = 0; i < ADDR_RATE_SLOTS; i++) {
		snprintf(a, sizeof(a), "10.0.%d.%d", i / 256, i % 256);
		assert_true(addr_rate_allow(&r, a, 0, 5));
	}
	for (int i = 0; i < 5 - 1; i++)
		assert_true(addr_rate_allow(&r, "203.0.113.9", WINDOW + 10, 5));
	/* More fresh addresses than slots: the old, expired entries make room. */
	for (int i = 0; i < ADDR_RATE_SLOTS - 1; i++) {
		snprintf(a, sizeof(a), "10.1.%d.%d", i / 256, i % 256);
		assert_true(addr_rate_allow(&r, a, WINDOW + 20, 5));
	}
	assert_true(addr_rate_allow(&r, "203.0.113.9", WINDOW + 30, 5));
	assert_false(addr_rate_allow(&r, "203.0.113.9", WINDOW + 40, 5));
}

struct net_case {
	const char *addr;
	unsigned prefix;
	const char *want;
};

static const struct net_case net_cases[] = {
	{ "192.0.2.7", 64, "192.0.2.7" },
	{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:2::1", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:3::1", 64, "2001:db8:1:3::/64" },
	{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 56, "2001:db8:1::/56" },
	{ "2001:db8:1:2ff:1::1", 56, "2001:db8:1:200::/56" },
	{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 128, "2001:db8:1:2:aaaa:bbbb:cccc:dddd" },
	{ "2001:db8::1", 48, "2001:db8::/48" },
	{ "::1", 64, "::/64" },
	{ "2001:db8:1:2::1", 7, "2001::/16" }, /* clamped to the minimum */
};

static void test_ipv6_aggregation(void **state)
{
	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(net_cases); i++) {
		const struct net_case *c = &net_cases[i];
		struct sockaddr_storage ss;
		socklen_t len;
		char out[64];

		memset(&ss, 0, sizeof(ss));
		if (strchr(c->addr, ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, c->addr, &s6->sin6_addr), 1);
			len = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, c->addr, &s4->sin_addr), 1);
			len = sizeof(*s4);
		}
		addr_net_format((struct sockaddr *)&ss, len, c->prefix, out, sizeof(out));
		assert_string_equal(out, c->want);
	}
}

/* 2^64 addresses of one /64 count as one client for the rate. */
static void test_rate_counts_a_64_as_one(void **state)
{
	static struct addr_rate r;
	struct sockaddr_in6 s6;
	char net[64];

	(void)state;
	addr_rate_init(&r, WINDOW);
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:5:6::", &s6.sin6_addr), 1);
	for (int i = 0; i < 10; i++) {
		s6.sin6_addr.s6_addr[15] = (uint8_t)i;
		s6.sin6_addr.s6_addr[9] = (uint8_t)(i * 7);
		addr_net_format((struct sockaddr *)&s6, sizeof(s6), 64, net, sizeof(net));
		assert_int_equal(addr_rate_allow(&r, net, 100, 5), i < 5);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_per_window),
		cmocka_unit_test(test_fresh_addresses_do_not_reset_a_busy_one),
		cmocka_unit_test(test_expired_slots_go_first),
		cmocka_unit_test(test_ipv6_aggregation),
		cmocka_unit_test(test_rate_counts_a_64_as_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
