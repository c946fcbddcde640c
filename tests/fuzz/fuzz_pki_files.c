/* fuzz_pki_files.c - libFuzzer target: the files the office CA reads that may come from
 * a USB key or a damaged /data - index.txt, a CRL (PEM or DER; our extension walker reads
 * its CRL number and reason codes), a CA certificate or CAcrl-bundle - must give 0 or a
 * negative code with a one-line reason, and never crash. The first byte picks the kind. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void put(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		__builtin_trap();
	close(fd);
}

static void cleanup(void)
{
	static const char *const names[] = {"index.txt", "crl.pem", "ca.crt", ".lock"};
	char path[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void reason_ok(int rc, const char *why)
{
	if (rc > 0 || (rc < 0 && (why[0] == '\0' || strchr(why, '\n') != NULL)))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[128], why[PKI_WHY_MAX];
	int rc;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/fuzz_pki.XXXXXX");
		if (mkdtemp(dir) == NULL)
			__builtin_trap();
		atexit(cleanup);
	}
	if (size < 1)
		return 0;
	why[0] = '\0';
	switch (data[0] % 3) {
	case 0: {
		struct pki_cert_entry *e = NULL;
		size_t n;

		snprintf(path, sizeof(path), "%s/index.txt", dir);
		put(path, data + 1, size - 1);
		rc = pki_cert_list(dir, 1800000000, &e, &n, why, sizeof(why));
		reason_ok(rc, why);
		free(e);
		break;
	}
	case 1: {
		struct pki_crl_info ci;

		snprintf(path, sizeof(path), "%s/crl.pem", dir);
		put(path, data + 1, size - 1);
		rc = pki_crl_show(path, NULL, 1800000000, &ci, why, sizeof(why));
		reason_ok(rc, why);
		if (rc == 0 && ci.n > 0 && ci.entries == NULL)
			__builtin_trap();
		pki_crl_info_free(&ci);
		break;
	}
	default: {
		struct pki_ca_info ca;

		snprintf(path, sizeof(path), "%s/ca.crt", dir);
		put(path, data + 1, size - 1);
		rc = pki_ca_inspect(path, NULL, 1800000000, &ca, why, sizeof(why));
		reason_ok(rc, why);
		break;
	}
	}
	return 0;
}
