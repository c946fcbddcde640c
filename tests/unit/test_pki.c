/* test_pki.c - the office CA's small parts: logins it issues for, revocation reasons,
 * the index.txt database (a bad line names index.txt:LINE and is never skipped), the
 * one-time passphrase, and the CRL's countdown and "re-sign before nextUpdate" decision
 * under a moved clock. Round trips against openssl are in tests/integration/test_pki.py. */
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
#include "core/file.h"
#include "pki/pki.h"

static const struct {
	const char *s;
	bool ok;
} login_cases[] = {
    {"joe@example.test", true},
    {"j.doe+x@mail.example.test", true},
    {"a_b-c@x", true},
    {"joe", false},
    {"@example.test", false},
    {"joe@", false},
    {"Joe@example.test", false},
    {"joe@Example.test", false},
    {"a@b@example.test", false},
    {"../x@example.test", false},
    {"joe@example.test/..", false},
    {"joe@-bad.test", false},
    {"joe@bad-.test", false},
    {"joe@a..b", false},
    {"jo e@example.test", false},
    {"joe@example.test\n", false},
    {"j,oe@example.test", false},
    {"CN=x@example.test", false},
};

static void test_login(void **state)
{
	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(login_cases); i++) {
		if (pki_login_ok(login_cases[i].s) != login_cases[i].ok)
			fail_msg("login %s: expected %d", login_cases[i].s, login_cases[i].ok);
	}
}

static void test_reasons(void **state)
{
	static const struct {
		const char *in;
		int rc;
		enum pki_reason r;
	} cases[] = {
	    {"unspecified", 0, PKI_REASON_UNSPECIFIED},
	    {"keyCompromise", 0, PKI_REASON_KEY_COMPROMISE},
	    {"key-compromise", 0, PKI_REASON_KEY_COMPROMISE},
	    {"KEYCOMPROMISE", 0, PKI_REASON_KEY_COMPROMISE},
	    {"CACompromise", 0, PKI_REASON_CA_COMPROMISE},
	    {"affiliationChanged", 0, PKI_REASON_AFFILIATION_CHANGED},
	    {"superseded", 0, PKI_REASON_SUPERSEDED},
	    {"cessationOfOperation", 0, PKI_REASON_CESSATION},
	    {"certificateHold", -MGW_EINVAL, 0},
	    {"", -MGW_EINVAL, 0},
	    {"key", -MGW_EINVAL, 0},
	};
	(void)state;
	for (size_t i = 0; i < MGW_ARRAY_LEN(cases); i++) {
		enum pki_reason r = PKI_REASON_UNSPECIFIED;

		assert_int_equal(pki_reason_parse(cases[i].in, &r), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(r, cases[i].r);
			/* the name written to index.txt parses back to the same reason */
			assert_int_equal(pki_reason_parse(pki_reason_name(r), &r), 0);
			assert_int_equal(r, cases[i].r);
		}
	}
}

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_pki.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return chmod(dir, 0700);
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void write_index(const char *text)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/index.txt", dir);
	assert_int_equal(file_write_atomic(path, text, strlen(text), 0600), 0);
}

static void test_index(void **state)
{
	struct pki_cert_entry *e, one;
	char why[PKI_WHY_MAX], fp[PKI_FP_MAX];
	time_t nb;
	size_t n;
	/* 2030-01-01 and 2051-06-01 (GeneralizedTime form) */
	const time_t now = 1800000000;

	(void)state;
	write_index(
	    "V\t300101000000Z\t\t1A2B\tunknown\t/CN=joe@example.test\n"
	    "R\t300101000000Z\t270101000000Z,keyCompromise\t0C\tunknown\t/CN=ann@example.test\n"
	    "V\t20510601000000Z\t\t0D\tunknown\t/CN=far@example.test/O=x\n"
	    "V\t260101000000Z\t\t0E\tunknown\t/CN=old@example.test\n"
	    "R\t300101000000Z\t270101000000Z\t0F\tunknown\t/O=nocn\n");
	assert_int_equal(pki_cert_list(dir, now, &e, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 5);
	assert_int_equal(e[0].status, 'V');
	assert_string_equal(e[0].serial, "1A2B");
	assert_string_equal(e[0].login, "joe@example.test");
	assert_int_equal(e[0].not_after, 1893456000);
	assert_int_equal(e[1].status, 'R');
	assert_int_equal(e[1].revoked_at, 1798761600);
	assert_int_equal(e[1].reason, PKI_REASON_KEY_COMPROMISE);
	assert_int_equal(e[2].not_after, 2569190400);
	assert_string_equal(e[2].login, "far@example.test");
	assert_int_equal(e[3].status, 'E'); /* expired at now, not revoked */
	assert_int_equal(e[4].reason, PKI_REASON_UNSPECIFIED);
	assert_string_equal(e[4].login, "");
	free(e);

	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
	    {"V\t300101000000Z\t\t1A\tunknown\t/CN=a@b\nX\t300101000000Z\t\t1B\tunknown\t/CN=c@d\n",
	     "index.txt:2: not a valid line"},
	    {"V\t300101000000Z\t\t1A\tunknown\n", "index.txt:1: not a valid line"},
	    {"V\t3001010000Z\t\t1A\tunknown\t/CN=a@b\n", "index.txt:1: not a valid line"},
	    {"R\t300101000000Z\t\t1A\tunknown\t/CN=a@b\n", "index.txt:1: not a valid line"},
	    {"R\t300101000000Z\t270101000000Z,bogus\t1A\tunknown\t/CN=a@b\n",
	     "index.txt:1: not a valid line"},
	    {"V\t300101000000Z\t270101000000Z\t1A\tunknown\t/CN=a@b\n",
	     "index.txt:1: not a valid line"},
	    {"V\t300101000000Z\t\tXYZ\tunknown\t/CN=a@b\n", "index.txt:1: not a valid line"},
	    {"V\t300101000000Z\t\t1A\tunknown\t/CN=a@b", "index.txt:1: last line not complete"},
	    {"V\t301301000000Z\t\t1A\tunknown\t/CN=a@b\n", "index.txt:1: not a valid line"},
	};
	for (size_t i = 0; i < MGW_ARRAY_LEN(bad); i++) {
		why[0] = '\0';
		write_index(bad[i].text);
		assert_int_equal(pki_cert_list(dir, now, &e, &n, why, sizeof(why)), -MGW_EINVAL);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("case %zu: reason '%s', expected '%s'", i, why, bad[i].why);
	}
	write_index("V\t300101000000Z\t\t1A\tunknown\t/CN=a@b\n");
	why[0] = '\0';
	assert_int_equal(pki_cert_show(dir, "ff", now, &one, &nb, fp, NULL, why, sizeof(why)),
			 -MGW_ENOENT);
	assert_non_null(strstr(why, "no certificate with serial FF"));
	assert_int_equal(pki_cert_show(dir, "x1", now, &one, &nb, fp, NULL, why, sizeof(why)),
			 -MGW_EINVAL);
}

static void test_passphrase(void **state)
{
	char a[PKI_PASS_MAX], b[PKI_PASS_MAX];

	(void)state;
	assert_int_equal(pki_passphrase(a), 0);
	assert_int_equal(pki_passphrase(b), 0);
	assert_int_equal(strlen(a), 23);
	assert_string_not_equal(a, b);
	for (size_t i = 0; i < 23; i++) {
		if (i % 6 == 5)
			assert_int_equal(a[i], '-');
		else
			assert_non_null(strchr("23456789abcdefghjkmnpqrstuvwxyz", a[i]));
	}
}

static void test_crl_countdown_and_refresh(void **state)
{
	char ca[128], crl[160], crt[160], why[PKI_WHY_MAX];
	struct pki_crl_info ci;
	struct pki_ca_info info;
	char *pem = NULL;
	size_t len;
	bool re;
	const time_t t0 = time(NULL);

	(void)state;
	snprintf(ca, sizeof(ca), "%s/ca", dir);
	snprintf(crl, sizeof(crl), "%s/crl.pem", ca);
	snprintf(crt, sizeof(crt), "%s/ca.crt", ca);
	assert_int_equal(pki_ca_create(ca, "Unit CA", 10, 0, t0, &info, why, sizeof(why)), 0);
	assert_true(info.has_key && info.has_crl);
	assert_int_equal(pki_crl_show(crl, crt, t0 + 86400, &ci, why, sizeof(why)), 0);
	assert_int_equal(ci.seconds_left, 9 * 86400);
	assert_string_equal(ci.number, "01");
	assert_true(ci.verified);
	assert_int_equal(ci.n, 0);
	pki_crl_info_free(&ci);
	/* 10-day CRL, re-sign when closer than 7 days: not on day 2, yes on day 4 */
	assert_int_equal(
	    pki_crl_refresh(ca, 7, 10, t0 + 2 * 86400, &re, &pem, &len, why, sizeof(why)), 0);
	assert_false(re);
	assert_null(pem);
	assert_int_equal(
	    pki_crl_refresh(ca, 7, 10, t0 + 4 * 86400, &re, &pem, &len, why, sizeof(why)), 0);
	assert_true(re);
	assert_non_null(pem);
	assert_int_equal(len, strlen(pem));
	assert_non_null(strstr(pem, "-----BEGIN X509 CRL-----"));
	free(pem);
	assert_int_equal(pki_crl_show(crl, crt, t0 + 4 * 86400, &ci, why, sizeof(why)), 0);
	assert_int_equal(ci.this_update, t0 + 4 * 86400);
	assert_int_equal(ci.seconds_left, 10 * 86400);
	assert_string_equal(ci.number, "02");
	pki_crl_info_free(&ci);
	/* expired: a negative countdown */
	assert_int_equal(pki_crl_show(crl, crt, t0 + 20 * 86400, &ci, why, sizeof(why)), 0);
	assert_int_equal(ci.seconds_left, -6 * 86400);
	pki_crl_info_free(&ci);
	/* a CRL checked against the wrong CA is refused, naming the file */
	snprintf(ca, sizeof(ca), "%s/other", dir);
	assert_int_equal(pki_ca_create(ca, "Other CA", 0, 0, t0, NULL, why, sizeof(why)), 0);
	snprintf(crt, sizeof(crt), "%s/ca.crt", ca);
	assert_int_equal(pki_crl_show(crl, crt, t0, &ci, why, sizeof(why)), -MGW_EINVAL);
	assert_non_null(strstr(why, "not issued by this CA"));
	assert_non_null(strstr(why, crl));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login),
	    cmocka_unit_test(test_reasons),
	    cmocka_unit_test_setup_teardown(test_index, setup, teardown),
	    cmocka_unit_test(test_passphrase),
	    cmocka_unit_test_setup_teardown(test_crl_countdown_and_refresh, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
