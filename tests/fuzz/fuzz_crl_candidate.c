/*
 * fuzz_crl_candidate.c - libFuzzer target for crlwatch's one validation path
 * (pki/crlcheck.h): any bytes as a candidate CRL against a real CA (made once, with its
 * key, in a temporary directory) and its real installed CRL. The contract: a verdict
 * (NEWER / SAME) only with a PEM of its own and nextUpdate in the future; otherwise a
 * negative code with a one-line reason; never a crash, never a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "pki/crlcheck.h"
#include "pki/pki.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char ca_path[96];
static char *ca_file, *installed;
static size_t ca_len, installed_len;
static time_t t0;

static char dir[] = "/tmp/fuzz_crl_candidate.XXXXXX";

/* The CA's files go at exit (pki.h names them). */
static void cleanup(void)
{
	static const char *const names[] = {"ca.key", "ca.crt",	   "crl.pem", "index.txt",
					    "serial", "crlnumber", ".lock",   "certs"};
	char path[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (unlink(path) < 0)
			rmdir(path);
	}
	rmdir(dir);
	free(ca_file);
	free(installed);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char why[PKI_WHY_MAX], crl_path[96];
	struct pki_ca_info info;

	(void)argc;
	(void)argv;
	t0 = time(NULL);
	if (mkdtemp(dir) == NULL ||
	    pki_ca_create(dir, "Fuzz CA", 0, 0, t0, &info, why, sizeof(why)) < 0)
		__builtin_trap();
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", dir);
	snprintf(crl_path, sizeof(crl_path), "%s/crl.pem", dir);
	atexit(cleanup);
	if (file_read_all(ca_path, PKI_CRL_SIZE_MAX, &ca_file, &ca_len) < 0 ||
	    file_read_all(crl_path, PKI_CRL_SIZE_MAX, &installed, &installed_len) < 0)
		__builtin_trap();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pki_crl_policy pol = {.max_size = 64 * 1024, .skew_s = 300};
	struct pki_crl_ca ca = {.data = ca_file, .len = ca_len, .name = ca_path};
	struct pki_crl_cand c;
	char why[PKI_WHY_MAX] = "";
	/* the first byte chooses: compare with the installed CRL or not */
	bool with_installed = size > 0 && (data[0] & 1);
	int rc;

	rc = pki_crl_candidate(&ca, data, size, with_installed ? installed : NULL,
			       with_installed ? installed_len : 0, &pol, t0, &c, "fuzz", why,
			       sizeof(why));
	if (rc == PKI_CRL_NEWER || rc == PKI_CRL_SAME) {
		if (c.pem == NULL || c.pem_len == 0 || c.next_update <= t0 ||
		    strncmp(c.pem, "-----BEGIN X509 CRL-----", 24) != 0)
			__builtin_trap();
		pki_crl_cand_free(&c);
	} else if (rc >= 0 || why[0] == '\0' || strchr(why, '\n') != NULL || c.pem != NULL) {
		__builtin_trap();
	}
	return 0;
}
