/*
 * main.c - mgw-bundle: make, sign and check firmware update bundles (format in
 * firmware/lib/pki/fwbundle.h). Runs on the build machine; the board verifies with the
 * same code (mailgw firmware update).
 *
 *   mgw-bundle keygen KEY PUB
 *   mgw-bundle pubkey KEY PUB
 *   mgw-bundle create -k KEY -K development|release -b BOARD -v VERSION -r REVISION
 *                     -t BUILD_TIME -o OUT [-m MANIFEST] FILE...
 *   mgw-bundle verify -d KEYS_DIR -b BOARD [-t RUNNING_BUILD_TIME] [-f] BUNDLE
 *
 * create names each file in the bundle after its last path component and writes OUT
 * atomically (and with -m a copy of the manifest, which the image puts in its first
 * slot). verify checks everything the board checks (structure, signature, board,
 * downgrade unless -f, every file's SHA-256) and prints the manifest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "pki/fwbundle.h"
#include "tls/hash.h"

#define BUNDLE_CHUNK 65536

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mgw-bundle keygen KEY PUB\n"
		"       mgw-bundle pubkey KEY PUB\n"
		"       mgw-bundle create -k KEY -K development|release -b BOARD -v VERSION\n"
		"                         -r REVISION -t BUILD_TIME -o OUT [-m MANIFEST] FILE...\n"
		"       mgw-bundle verify -d KEYS_DIR -b BOARD [-t BUILD_TIME] [-f] BUNDLE\n");
}

/* "mgw-bundle: what[: why]" on stderr; the exit status 1. */
static int fail(const char *what, const char *why)
{
	fprintf(stderr, "mgw-bundle: %s%s%s\n", what, why != NULL ? ": " : "",
		why != NULL ? why : "");
	return 1;
}

/* SHA-256 and size of the file at path. */
static int file_digest(const char *path, uint8_t out[32], uint64_t *size)
{
	static uint8_t buf[BUNDLE_CHUNK];
	struct hash_ctx h;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	*size = 0;
	hash_init(&h, HASH_SHA256);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		hash_update(&h, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	close(fd);
	return n < 0 || hash_finish(&h, out) != 0 ? -1 : 0;
}

static int append_file(FILE *out, const char *path)
{
	static uint8_t buf[BUNDLE_CHUNK];
	FILE *in = fopen(path, "rb");
	size_t n;
	int rc = 0;

	if (in == NULL)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = -1;
	if (ferror(in))
		rc = -1;
	fclose(in);
	return rc;
}

static int cmd_create(int argc, char **argv)
{
	const char *key = NULL, *kind = NULL, *board = NULL, *version = NULL, *rev = NULL;
	const char *btime = NULL, *outp = NULL, *mout = NULL;
	char manifest[FWB_MANIFEST_MAX + 1], tmp[4096], why[512] = "";
	uint8_t sig[FWB_SIG_MAX], head[FWB_HEAD_LEN];
	struct fwb_manifest check;
	size_t mlen, slen = 0;
	int opt, n;
	FILE *out;

	while ((opt = getopt(argc, argv, "k:K:b:v:r:t:o:m:")) != -1) {
		switch (opt) {
		case 'k':
			key = optarg;
			break;
		case 'K':
			kind = optarg;
			break;
		case 'b':
			board = optarg;
			break;
		case 'v':
			version = optarg;
			break;
		case 'r':
			rev = optarg;
			break;
		case 't':
			btime = optarg;
			break;
		case 'o':
			outp = optarg;
			break;
		case 'm':
			mout = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!key || !kind || !board || !version || !rev || !btime || !outp || optind >= argc) {
		usage(stderr);
		return 2;
	}
	n = snprintf(
	    manifest, sizeof(manifest),
	    "mailgw-firmware 1\nboard=%s\nversion=%s\nrevision=%s\nbuild-time=%s\nkey=%s\n", board,
	    version, rev, btime, kind);
	for (int i = optind; i < argc && n > 0 && (size_t)n < sizeof(manifest); i++) {
		const char *base = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
		uint8_t d[32];
		uint64_t size;

		if (file_digest(argv[i], d, &size) < 0)
			return fail(argv[i], strerror(errno));
		n += snprintf(manifest + n, sizeof(manifest) - (size_t)n, "file=%s %llu ", base,
			      (unsigned long long)size);
		for (int j = 0; j < 32 && n > 0 && (size_t)n < sizeof(manifest); j++)
			n += snprintf(manifest + n, sizeof(manifest) - (size_t)n, "%02x", d[j]);
		if (n > 0 && (size_t)n < sizeof(manifest))
			n += snprintf(manifest + n, sizeof(manifest) - (size_t)n, "\n");
	}
	if (n < 0 || (size_t)n >= sizeof(manifest))
		return fail("the manifest is longer than 4096 bytes", NULL);
	mlen = (size_t)n;
	/* the board's parser must accept what we sign */
	if (fwb_manifest_parse(manifest, mlen, &check, why, sizeof(why)) != MGW_PARSE_OK)
		return fail(why, NULL);
	if (fwb_sign((const uint8_t *)manifest, mlen, key, sig, sizeof(sig), &slen, why,
		     sizeof(why)) != 0)
		return fail(why, NULL);
	memcpy(head, FWB_MAGIC, 8);
	for (int i = 0; i < 4; i++) {
		head[8 + i] = (uint8_t)(mlen >> (24 - 8 * i));
		head[12 + i] = (uint8_t)(slen >> (24 - 8 * i));
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", outp);
	out = fopen(tmp, "wb");
	if (out == NULL)
		return fail(tmp, strerror(errno));
	if (fwrite(head, 1, sizeof(head), out) != sizeof(head) ||
	    fwrite(manifest, 1, mlen, out) != mlen || fwrite(sig, 1, slen, out) != slen)
		n = -1;
	for (int i = optind; i < argc && n >= 0; i++)
		if (append_file(out, argv[i]) < 0)
			n = -1;
	if (fflush(out) != 0 || fsync(fileno(out)) < 0)
		n = -1;
	if (fclose(out) != 0 || n < 0 || rename(tmp, outp) < 0) {
		unlink(tmp);
		return fail(outp, strerror(errno));
	}
	if (mout != NULL && file_write_atomic(mout, manifest, mlen, 0644) != 0)
		return fail(mout, "cannot write");
	printf("%s: %s %s for %s, %d file(s), signed (%s key)\n", outp, check.version,
	       check.revision, check.board, (int)check.nfiles, kind);
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	struct fwb_policy pol = {0};
	struct fwb_open o;
	char why[512] = "";
	int opt;

	while ((opt = getopt(argc, argv, "d:b:t:f")) != -1) {
		switch (opt) {
		case 'd':
			pol.keys_dir = optarg;
			break;
		case 'b':
			pol.board = optarg;
			break;
		case 't':
			pol.build_time = strtoull(optarg, NULL, 10);
			break;
		case 'f':
			pol.force = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (pol.keys_dir == NULL || pol.board == NULL || optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	if (fwb_open(argv[optind], &pol, &o, why, sizeof(why)) != 0)
		return fail(argv[optind], why);
	fwrite(o.b.manifest, 1, o.b.mlen, stdout);
	printf("%s: signature, board, version policy and %u file hash(es) ok\n", argv[optind],
	       o.b.m.nfiles);
	fwb_close(&o);
	return 0;
}

int main(int argc, char **argv)
{
	char why[512] = "";

	if (argc >= 2 && strcmp(argv[1], "keygen") == 0 && argc == 4) {
		if (fwb_keygen(argv[2], argv[3], why, sizeof(why)) != 0)
			return fail(why, NULL);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "pubkey") == 0 && argc == 4) {
		if (fwb_pubkey(argv[2], argv[3], why, sizeof(why)) != 0)
			return fail(why, NULL);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return cmd_create(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	usage(argc >= 2 && strcmp(argv[1], "-h") == 0 ? stdout : stderr);
	return 2;
}
