/* test_pop3_parse.c - the POP3 command parser and base64, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/base64.h"
#include "proto/pop3_parse.h"

struct pcase {
	const char *line;
	int rc;
	enum pop3_cmd_id id;
	unsigned nargs;
	const char *arg0, *arg1; /* words, or PASS text in arg0 */
	uint32_t n0, n1;
};

static const struct pcase pcases[] = {
    {"USER joe@example.test", MGW_PARSE_OK, POP3_CMD_USER, 1, "joe@example.test", NULL, 0, 0},
    {"user joe", MGW_PARSE_OK, POP3_CMD_USER, 1, "joe", NULL, 0, 0},
    {"USER", MGW_PARSE_SYNTAX, POP3_CMD_USER, 0, NULL, NULL, 0, 0},
    {"USER ", MGW_PARSE_SYNTAX, POP3_CMD_USER, 0, NULL, NULL, 0, 0},
    {"USER  joe", MGW_PARSE_SYNTAX, POP3_CMD_USER, 0, NULL, NULL, 0, 0},
    {"USER joe x", MGW_PARSE_SYNTAX, POP3_CMD_USER, 0, NULL, NULL, 0, 0},
    {"PASS se cret ", MGW_PARSE_OK, POP3_CMD_PASS, 0, "se cret ", NULL, 0, 0},
    {"PASS", MGW_PARSE_SYNTAX, POP3_CMD_PASS, 0, NULL, NULL, 0, 0},
    {"AUTH", MGW_PARSE_OK, POP3_CMD_AUTH, 0, NULL, NULL, 0, 0},
    {"AUTH PLAIN", MGW_PARSE_OK, POP3_CMD_AUTH, 1, "PLAIN", NULL, 0, 0},
    {"AUTH PLAIN AGpvZQBwdw==", MGW_PARSE_OK, POP3_CMD_AUTH, 2, "PLAIN", "AGpvZQBwdw==", 0, 0},
    {"AUTH PLAIN a b", MGW_PARSE_SYNTAX, POP3_CMD_AUTH, 0, NULL, NULL, 0, 0},
    {"AUTH  x", MGW_PARSE_SYNTAX, POP3_CMD_AUTH, 0, NULL, NULL, 0, 0},
    {"STAT", MGW_PARSE_OK, POP3_CMD_STAT, 0, NULL, NULL, 0, 0},
    {"STAT 1", MGW_PARSE_SYNTAX, POP3_CMD_STAT, 0, NULL, NULL, 0, 0},
    {"LIST", MGW_PARSE_OK, POP3_CMD_LIST, 0, NULL, NULL, 0, 0},
    {"LIST 12", MGW_PARSE_OK, POP3_CMD_LIST, 1, "12", NULL, 12, 0},
    {"LIST 4294967295", MGW_PARSE_OK, POP3_CMD_LIST, 1, "4294967295", NULL, 4294967295u, 0},
    {"LIST 4294967296", MGW_PARSE_SYNTAX, POP3_CMD_LIST, 0, NULL, NULL, 0, 0},
    {"LIST -1", MGW_PARSE_SYNTAX, POP3_CMD_LIST, 0, NULL, NULL, 0, 0},
    {"UIDL 3", MGW_PARSE_OK, POP3_CMD_UIDL, 1, "3", NULL, 3, 0},
    {"RETR 1", MGW_PARSE_OK, POP3_CMD_RETR, 1, "1", NULL, 1, 0},
    {"RETR", MGW_PARSE_SYNTAX, POP3_CMD_RETR, 0, NULL, NULL, 0, 0},
    {"RETR 1 2", MGW_PARSE_SYNTAX, POP3_CMD_RETR, 0, NULL, NULL, 0, 0},
    {"DELE 7", MGW_PARSE_OK, POP3_CMD_DELE, 1, "7", NULL, 7, 0},
    {"TOP 1 99999999", MGW_PARSE_OK, POP3_CMD_TOP, 2, "1", "99999999", 1, 99999999},
    {"TOP 1", MGW_PARSE_SYNTAX, POP3_CMD_TOP, 0, NULL, NULL, 0, 0},
    {"top 2 0", MGW_PARSE_OK, POP3_CMD_TOP, 2, "2", "0", 2, 0},
    {"NOOP", MGW_PARSE_OK, POP3_CMD_NOOP, 0, NULL, NULL, 0, 0},
    {"RSET", MGW_PARSE_OK, POP3_CMD_RSET, 0, NULL, NULL, 0, 0},
    {"QUIT", MGW_PARSE_OK, POP3_CMD_QUIT, 0, NULL, NULL, 0, 0},
    {"QUIT ", MGW_PARSE_SYNTAX, POP3_CMD_QUIT, 0, NULL, NULL, 0, 0},
    {"CAPA", MGW_PARSE_OK, POP3_CMD_CAPA, 0, NULL, NULL, 0, 0},
    {"LAST", MGW_PARSE_OK, POP3_CMD_LAST, 0, NULL, NULL, 0, 0},
    {"APOP joe 0123", MGW_PARSE_OK, POP3_CMD_APOP, 0, NULL, NULL, 0, 0},
    {"XTND XMIT", MGW_PARSE_OK, POP3_CMD_UNKNOWN, 0, NULL, NULL, 0, 0},
    {"", MGW_PARSE_SYNTAX, POP3_CMD_UNKNOWN, 0, NULL, NULL, 0, 0},
    {"RETRIEVE 1", MGW_PARSE_SYNTAX, POP3_CMD_UNKNOWN, 0, NULL, NULL, 0, 0},
    {"QU1T", MGW_PARSE_SYNTAX, POP3_CMD_UNKNOWN, 0, NULL, NULL, 0, 0},
    {"NOOP\r", MGW_PARSE_SYNTAX, POP3_CMD_UNKNOWN, 0, NULL, NULL, 0, 0},
};

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *t = &pcases[i];
		struct pop3_cmd cmd;
		int rc = pop3_cmd_parse((const uint8_t *)t->line, strlen(t->line), &cmd);

		if (rc != t->rc)
			fail_msg("'%s': rc %d, want %d", t->line, rc, t->rc);
		if (rc != MGW_PARSE_OK)
			continue;
		assert_int_equal(cmd.id, t->id);
		if (t->id == POP3_CMD_PASS) {
			assert_int_equal(cmd.passlen, strlen(t->arg0));
			assert_memory_equal(cmd.pass, t->arg0, cmd.passlen);
			continue;
		}
		assert_int_equal(cmd.nargs, t->nargs);
		if (t->nargs > 0) {
			assert_int_equal(cmd.arglen[0], strlen(t->arg0));
			assert_memory_equal(cmd.arg[0], t->arg0, cmd.arglen[0]);
			assert_int_equal(cmd.num[0], t->n0);
		}
		if (t->nargs > 1) {
			assert_int_equal(cmd.arglen[1], strlen(t->arg1));
			assert_memory_equal(cmd.arg[1], t->arg1, cmd.arglen[1]);
			assert_int_equal(cmd.num[1], t->n1);
		}
	}
}

static void test_parse_nul_and_length(void **state)
{
	static const uint8_t nul[] = {'U', 'S', 'E', 'R', ' ', 'a', 0, 'b'};
	uint8_t big[POP3_LINE_MAX];
	struct pop3_cmd cmd;

	(void)state;
	assert_int_equal(pop3_cmd_parse(nul, sizeof(nul), &cmd), MGW_PARSE_SYNTAX);
	memset(big, 'a', sizeof(big));
	memcpy(big, "PASS ", 5);
	assert_int_equal(pop3_cmd_parse(big, POP3_LINE_MAX - 2, &cmd), MGW_PARSE_OK);
	assert_int_equal(pop3_cmd_parse(big, POP3_LINE_MAX - 1, &cmd), MGW_PARSE_TOO_LONG);
	memcpy(big, "USER ", 5);
	assert_int_equal(pop3_cmd_parse(big, 5 + POP3_ARG_MAX, &cmd), MGW_PARSE_OK);
	assert_int_equal(pop3_cmd_parse(big, 6 + POP3_ARG_MAX, &cmd), MGW_PARSE_TOO_LONG);
}

static void test_base64(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *out;
		size_t outlen;
	} cases[] = {
	    {"", MGW_PARSE_OK, "", 0},
	    {"Zg==", MGW_PARSE_OK, "f", 1},
	    {"Zm8=", MGW_PARSE_OK, "fo", 2},
	    {"Zm9v", MGW_PARSE_OK, "foo", 3},
	    {"AGpvZQBwdw==", MGW_PARSE_OK, "\0joe\0pw", 7},
	    {"Zg=", MGW_PARSE_SYNTAX, NULL, 0},
	    {"Zh==", MGW_PARSE_SYNTAX, NULL, 0}, /* non-zero padding bits */
	    {"Z===", MGW_PARSE_SYNTAX, NULL, 0},
	    {"Zg==Zg==", MGW_PARSE_SYNTAX, NULL, 0},
	    {"Zm 9", MGW_PARSE_SYNTAX, NULL, 0},
	    {"Zm9v\n", MGW_PARSE_SYNTAX, NULL, 0},
	};
	uint8_t out[64];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = base64_decode((const uint8_t *)cases[i].in, strlen(cases[i].in), out,
				       sizeof(out), &n);

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
		if (rc == MGW_PARSE_OK) {
			assert_int_equal(n, cases[i].outlen);
			assert_memory_equal(out, cases[i].out, n);
		}
	}
	assert_int_equal(base64_decode((const uint8_t *)"Zm9v", 4, out, 2, &n), MGW_PARSE_TOO_LONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_parse_nul_and_length),
	    cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
