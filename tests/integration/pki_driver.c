/*
 * pki_driver.c - a thin command-line front to firmware/lib/pki for the integration tests
 * (tests/integration/test_pki.py): each command calls one pki_* function and prints its
 * results as key=value lines; a failure prints the function's reason on stderr and exits
 * 1. PKI_TEST_NOW_OFFSET (seconds) moves the clock the functions are given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "pki/pki.h"

static char why[PKI_WHY_MAX];

static time_t now(void)
{
	const char *off = getenv("PKI_TEST_NOW_OFFSET");

	return time(NULL) + (off ? atol(off) : 0);
}

static const char *opt(const char *s)
{
	return (s == NULL || strcmp(s, "-") == 0) ? NULL : s;
}

static int fail(int rc)
{
	fprintf(stderr, "error %d (%s): %s\n", rc, mgw_strerror(rc), why);
	return rc == -MGW_EPERM ? 3 : 1;
}

static void print_ca(const struct pki_ca_info *i)
{
	printf("subject=%s\nfp=%s\nnot_before=%lld\nnot_after=%lld\nhas_key=%d\nhas_crl=%d\n"
	       "crl_next_update=%lld\nreplaced=%s\n",
	       i->subject, i->fp, (long long)i->not_before, (long long)i->not_after, i->has_key,
	       i->has_crl, (long long)i->crl_next_update, i->replaced);
}

static void print_issued(const struct pki_issued *is)
{
	printf("login=%s\nserial=%s\nfp=%s\nnot_before=%lld\nnot_after=%lld\nhas_key=%d\n",
	       is->login, is->serial, is->fp, (long long)is->not_before, (long long)is->not_after,
	       is->key_pem != NULL);
}

/* [OUTDIR HOST SERVER_CRT CERT_DIR PORT] after an issue/sign: writes the bundle. */
static int bundle(struct pki_issued *is, const char *ca_dir, int argc, char **argv)
{
	struct pki_bundle_opts o = {0};
	char pass[PKI_PASS_MAX];
	int rc;

	if (argc < 2)
		return 0;
	o.host = argv[1];
	o.pop3s_port = 995;
	o.imaps_port = 993;
	o.server_crt = opt(argc > 2 ? argv[2] : NULL);
	o.cert_dir = opt(argc > 3 ? argv[3] : NULL);
	if (argc > 4)
		o.pop3s_port = (unsigned)atoi(argv[4]);
	rc = pki_bundle_write(argv[0], ca_dir, is, &o, pass, why, sizeof(why));
	if (rc < 0)
		return rc;
	printf("passphrase=%s\n", pass);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct pki_ca_info ca;
	struct pki_issued is = {0};
	char *pem = NULL;
	size_t len = 0;
	int rc = -MGW_EINVAL;

	if (strcmp(cmd, "ca-create") == 0 && argc >= 4) {
		rc = pki_ca_create(argv[2], argv[3], argc > 4 ? (unsigned)atoi(argv[4]) : 0,
				   argc > 5 && strcmp(argv[5], "replace") == 0 ? PKI_F_REPLACE : 0,
				   now(), &ca, why, sizeof(why));
		if (rc == 0)
			print_ca(&ca);
	} else if (strcmp(cmd, "ca-inspect") == 0 && argc >= 3) {
		rc = pki_ca_inspect(argv[2], opt(argv[3]), now(), &ca, why, sizeof(why));
		if (rc == 0)
			print_ca(&ca);
	} else if (strcmp(cmd, "ca-import") == 0 && argc >= 4) {
		rc =
		    pki_ca_import(argv[2], argv[3], opt(argv[4]), argc > 5 ? opt(argv[5]) : NULL, 0,
				  argc > 6 && strcmp(argv[6], "replace") == 0 ? PKI_F_REPLACE : 0,
				  now(), &ca, why, sizeof(why));
		if (rc == 0)
			print_ca(&ca);
	} else if (strcmp(cmd, "ca-info") == 0 && argc >= 3) {
		rc = pki_ca_info(argv[2], now(), &ca, why, sizeof(why));
		if (rc == 0)
			print_ca(&ca);
	} else if (strcmp(cmd, "issue") == 0 && argc >= 5) {
		/* issue DIR LOGIN YEARS [OUTDIR HOST SERVER_CRT CERT_DIR PORT] */
		rc = pki_cert_issue(argv[2], argv[3], (unsigned)atoi(argv[4]), now(), &is, why,
				    sizeof(why));
		if (rc == 0)
			rc = bundle(&is, argv[2], argc - 5, argv + 5);
		if (rc == 0)
			print_issued(&is);
	} else if (strcmp(cmd, "sign") == 0 && argc >= 6) {
		/* sign DIR LOGIN CSR YEARS [OUTDIR HOST SERVER_CRT CERT_DIR PORT] */
		rc = pki_cert_sign(argv[2], argv[3], argv[4], (unsigned)atoi(argv[5]), now(), &is,
				   why, sizeof(why));
		if (rc == 0)
			rc = bundle(&is, argv[2], argc - 6, argv + 6);
		if (rc == 0)
			print_issued(&is);
	} else if (strcmp(cmd, "revoke") == 0 && argc >= 4) {
		enum pki_reason r = PKI_REASON_UNSPECIFIED;
		unsigned n = 0;

		rc = argc > 4 ? pki_reason_parse(argv[4], &r) : 0;
		if (rc < 0)
			snprintf(why, sizeof(why), "%s: unknown reason", argv[4]);
		else
			rc = pki_cert_revoke(argv[2], argv[3], r, 0, now(), &n, &pem, &len, why,
					     sizeof(why));
		if (rc == 0)
			printf("revoked=%u\ncrl_bytes=%zu\n", n, len);
	} else if (strcmp(cmd, "list") == 0 && argc >= 3) {
		struct pki_cert_entry *e;
		size_t n;

		rc = pki_cert_list(argv[2], now(), &e, &n, why, sizeof(why));
		for (size_t i = 0; rc == 0 && i < n; i++)
			printf("%c %s %s %lld %lld %s\n", e[i].status, e[i].serial, e[i].login,
			       (long long)e[i].not_after, (long long)e[i].revoked_at,
			       pki_reason_name(e[i].reason));
		if (rc == 0)
			free(e);
	} else if (strcmp(cmd, "show") == 0 && argc >= 4) {
		struct pki_cert_entry e;
		char fp[PKI_FP_MAX];
		time_t nb;

		rc = pki_cert_show(argv[2], argv[3], now(), &e, &nb, fp, &pem, why, sizeof(why));
		if (rc == 0)
			printf("status=%c\nserial=%s\nsubject=%s\nnot_before=%lld\nnot_after=%lld\n"
			       "fp=%s\n%s",
			       e.status, e.serial, e.subject, (long long)nb, (long long)e.not_after,
			       fp, pem);
	} else if (strcmp(cmd, "crl-show") == 0 && argc >= 3) {
		struct pki_crl_info ci;

		rc = pki_crl_show(argv[2], opt(argc > 3 ? argv[3] : NULL), now(), &ci, why,
				  sizeof(why));
		if (rc == 0) {
			printf("issuer=%s\nthis_update=%lld\nnext_update=%lld\nseconds_left=%lld\n"
			       "number=%s\nverified=%d\nentries=%zu\n",
			       ci.issuer, (long long)ci.this_update, (long long)ci.next_update,
			       ci.seconds_left, ci.number, ci.verified, ci.n);
			for (size_t i = 0; i < ci.n; i++)
				printf("entry=%s %lld %s\n", ci.entries[i].serial,
				       (long long)ci.entries[i].revoked_at,
				       pki_reason_name(ci.entries[i].reason));
			pki_crl_info_free(&ci);
		}
	} else if (strcmp(cmd, "crl-sign") == 0 && argc >= 3) {
		rc = pki_crl_sign(argv[2], argc > 3 ? (unsigned)atoi(argv[3]) : 0, now(), &pem,
				  &len, why, sizeof(why));
	} else if (strcmp(cmd, "crl-refresh") == 0 && argc >= 4) {
		bool re;

		rc = pki_crl_refresh(argv[2], (unsigned)atoi(argv[3]),
				     argc > 4 ? (unsigned)atoi(argv[4]) : 0, now(), &re, &pem, &len,
				     why, sizeof(why));
		if (rc == 0)
			printf("resigned=%d\n", re);
	} else if (strcmp(cmd, "crl-import") == 0 && argc >= 4) {
		rc = pki_crl_import(argv[2], argv[3], now(), &pem, &len, why, sizeof(why));
	} else if (strcmp(cmd, "passphrase") == 0) {
		char pass[PKI_PASS_MAX];

		rc = pki_passphrase(pass);
		if (rc == 0)
			printf("%s\n", pass);
	} else {
		fprintf(stderr,
			"usage: pki_driver ca-create|ca-inspect|ca-import|ca-info|issue|sign|"
			"revoke|list|show|crl-show|crl-sign|crl-refresh|crl-import ARGS\n");
		return 2;
	}
	pki_issued_free(&is);
	free(pem);
	return rc < 0 ? fail(rc) : 0;
}
