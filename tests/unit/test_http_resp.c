/* test_http_resp.c - crlwatch's HTTP response parser, table-driven: complete responses,
 * partial ones (received so far), what is refused, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/http_resp.h"

#define BODY_MAX 64

struct rcase {
	const char *text;
	bool eof;
	int rc;
	unsigned status;
	const char *body; /* expected body when rc == OK (NULL: none belongs) */
	const char *etag, *lm;
};

static const struct rcase rcases[] = {
    /* Content-Length */
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, MGW_PARSE_OK, 200, "hello", "",
     ""},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false, MGW_PARSE_NEED_MORE, 0, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true, MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello!", false, MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n", false, MGW_PARSE_LIMIT, 0, NULL},
    {"HTTP/1.1 200 OK\r\ncontent-length:0\r\n\r\n", false, MGW_PARSE_OK, 200, "", "", ""},
    /* validators kept for the next conditional GET */
    {"HTTP/1.1 200 OK\r\nETag: \"5f-1a\"\r\nLast-Modified: Mon, 30 Nov 2026 17:00:00 GMT\r\n"
     "Content-Length: 1\r\n\r\nx",
     false, MGW_PARSE_OK, 200, "x", "\"5f-1a\"", "Mon, 30 Nov 2026 17:00:00 GMT"},
    {"HTTP/1.1 304 Not Modified\r\nETag: \"5f-1a\"\r\n\r\n", false, MGW_PARSE_OK, 304, NULL,
     "\"5f-1a\"", ""},
    /* chunked */
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\n"
     "\r\n",
     false, MGW_PARSE_OK, 200, "hello!", "", ""},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
     false, MGW_PARSE_OK, 200, "hello", "", ""},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", false, MGW_PARSE_NEED_MORE, 0,
     NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", true, MGW_PARSE_SYNTAX, 0,
     NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, MGW_PARSE_SYNTAX, 0,
     NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", false, MGW_PARSE_LIMIT, 0,
     NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", false,
     MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, MGW_PARSE_SYNTAX, 0, NULL},
    /* until the connection closes */
    {"HTTP/1.0 200 OK\r\n\r\nbody", false, MGW_PARSE_NEED_MORE, 0, NULL},
    {"HTTP/1.0 200 OK\r\n\r\nbody", true, MGW_PARSE_OK, 200, "body", "", ""},
    /* smuggling and malformed heads */
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", false, MGW_PARSE_SYNTAX,
     0, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", false,
     MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", false, MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", false, MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", false, MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", false, MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", false, MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/2 200\r\n\r\n", false, MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 20x OK\r\n\r\n", false, MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 099 OK\r\n\r\n", false, MGW_PARSE_SYNTAX, 0, NULL},
    {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nerr", false, MGW_PARSE_OK, 500,
     "err", "", ""},
    {"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, MGW_PARSE_OK, 200, "", "", ""},
    {"HTTP/1.1 2", false, MGW_PARSE_NEED_MORE, 0, NULL},
    {"HTTP/1.1 2", true, MGW_PARSE_SYNTAX, 0, NULL},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
		const struct rcase *c = &rcases[i];
		uint8_t out[BODY_MAX];
		struct http_resp r;
		int rc = http_resp_parse((const uint8_t *)c->text, strlen(c->text), c->eof,
					 BODY_MAX, out, sizeof(out), &r);

		if (rc != c->rc)
			fail_msg("case %zu (%s): rc %d, want %d", i, c->text, rc, c->rc);
		if (rc != MGW_PARSE_OK)
			continue;
		assert_int_equal(r.status, c->status);
		if (c->body == NULL) {
			assert_null(r.body);
		} else {
			assert_int_equal(r.body_len, strlen(c->body));
			assert_memory_equal(r.body, c->body, r.body_len);
		}
		assert_string_equal(r.etag, c->etag);
		assert_string_equal(r.last_modified, c->lm);
	}
}

static void test_head_limits(void **state)
{
	static char big[HTTP_HEAD_MAX + 64];
	uint8_t out[BODY_MAX];
	struct http_resp r;
	size_t n;

	(void)state;
	/* a head that never ends within HTTP_HEAD_MAX */
	n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX: ");
	memset(big + n, 'a', sizeof(big) - n - 1);
	assert_int_equal(http_resp_parse((const uint8_t *)big, sizeof(big) - 1, false, BODY_MAX,
					 out, sizeof(out), &r),
			 MGW_PARSE_TOO_LONG);
	/* too many fields */
	n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i <= HTTP_FIELDS_MAX; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "X-%d: y\r\n", i);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
	assert_int_equal(
	    http_resp_parse((const uint8_t *)big, n, false, BODY_MAX, out, sizeof(out), &r),
	    MGW_PARSE_TOO_LONG);
	/* NUL in the head */
	assert_int_equal(http_resp_parse((const uint8_t *)"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 27,
					 false, BODY_MAX, out, sizeof(out), &r),
			 MGW_PARSE_SYNTAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_head_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
