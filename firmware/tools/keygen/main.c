/*
 * main.c - mailgw-keygen: make the appliance's server key and self-signed certificate
 * on first boot, or print the fingerprint of an existing certificate.
 *
 *   mailgw-keygen -k KEY -c CERT -n NAME [-d DAYS]   new key + certificate
 *   mailgw-keygen -c CERT -f                          fingerprint only
 *
 * Prints "SHA256 Fingerprint=AA:BB:..." (the shape of `openssl x509 -fingerprint
 * -sha256`), so an admin can compare what a client shows with what the console showed.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/err.h"
#include "tls/keygen.h"

#define KEYGEN_DAYS_DEFAULT 3650

static void usage(FILE *f)
{
	fprintf(f, "usage: mailgw-keygen -k KEY -c CERT -n NAME [-d DAYS]\n"
		   "       mailgw-keygen -c CERT -f\n");
}

int main(int argc, char **argv)
{
	const char *key = NULL, *crt = NULL, *name = NULL;
	char fp[TLS_KEYGEN_FP_MAX], why[512] = "";
	unsigned long days = KEYGEN_DAYS_DEFAULT;
	bool fp_only = false;
	char *end;
	int opt, rc;

	while ((opt = getopt(argc, argv, "k:c:n:d:fh")) != -1) {
		switch (opt) {
		case 'k':
			key = optarg;
			break;
		case 'c':
			crt = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'd':
			days = strtoul(optarg, &end, 10);
			if (*end != '\0' || days == 0 || days > TLS_KEYGEN_DAYS_MAX) {
				fprintf(stderr, "mailgw-keygen: -d: 1 to %d days\n",
					TLS_KEYGEN_DAYS_MAX);
				return 2;
			}
			break;
		case 'f':
			fp_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || crt == NULL || (!fp_only && (key == NULL || name == NULL))) {
		usage(stderr);
		return 2;
	}
	if (fp_only)
		rc = tls_keygen_fingerprint(crt, fp, why, sizeof(why));
	else
		rc = tls_keygen_selfsigned(key, crt, name, (unsigned)days, fp, why, sizeof(why));
	if (rc < 0) {
		fprintf(stderr, "mailgw-keygen: %s\n", why);
		return rc == -MGW_EEXIST ? 3 : 1;
	}
	printf("SHA256 Fingerprint=%s\n", fp);
	return 0;
}
