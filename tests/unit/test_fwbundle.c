/*
 * test_fwbundle.c - the firmware update bundle (firmware/lib/pki/fwbundle.c): a bundle
 * made and signed here with a fresh key is accepted and installs into a slot directory;
 * a bad signature, another board, a truncated or padded bundle, a downgrade (unless
 * forced), oversize entries and malformed manifests are each refused with a reason, and
 * a refused bundle writes nothing into the slot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "pki/fwbundle.h"
#include "tls/hash.h"

static char dir[64], keys[128], key[128], otherkey[128], slot[128];

static const struct fwb_policy pol_base = {"qemu_aarch64_virt", 1000, NULL, false};

/* A bundle in buf: header, manifest (with the given board, build time and the two files'
 * real sizes and hashes), signature by keypath, files. Its length. */
static size_t make(uint8_t *buf, size_t bufsz, const char *board, unsigned long long btime,
		   const char *keypath)
{
	static const char *names[] = {"Image", "rootfs.cpio.gz"};
	static const char *data[] = {"kernel bytes\n", "initramfs\n"};
	char m[FWB_MANIFEST_MAX];
	uint8_t sig[FWB_SIG_MAX], d[32];
	size_t slen = 0, off;
	int n = snprintf(m, sizeof(m),
			 "mailgw-firmware 1\nboard=%s\nversion=v%llu\nrevision=abc\n"
			 "build-time=%llu\nkey=development\n",
			 board, btime, btime);

	for (int i = 0; i < 2; i++) {
		hash_once(HASH_SHA256, data[i], strlen(data[i]), d);
		n += snprintf(m + n, sizeof(m) - (size_t)n, "file=%s %zu ", names[i],
			      strlen(data[i]));
		for (int j = 0; j < 32; j++)
			n += snprintf(m + n, sizeof(m) - (size_t)n, "%02x", d[j]);
		n += snprintf(m + n, sizeof(m) - (size_t)n, "\n");
	}
	assert_int_equal(
	    fwb_sign((uint8_t *)m, (size_t)n, keypath, sig, sizeof(sig), &slen, NULL, 0), 0);
	memcpy(buf, FWB_MAGIC, 8);
	for (int i = 0; i < 4; i++) {
		buf[8 + i] = (uint8_t)((unsigned)n >> (24 - 8 * i));
		buf[12 + i] = (uint8_t)(slen >> (24 - 8 * i));
	}
	memcpy(buf + 16, m, (size_t)n);
	memcpy(buf + 16 + n, sig, slen);
	off = 16 + (size_t)n + slen;
	for (int i = 0; i < 2; i++) {
		memcpy(buf + off, data[i], strlen(data[i]));
		off += strlen(data[i]);
	}
	assert_true(off <= bufsz);
	return off;
}

static int setup(void **state)
{
	char pub[160];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_fwbundle.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(slot, sizeof(slot), "%s/slot", dir);
	mkdir(keys, 0755);
	mkdir(slot, 0755);
	snprintf(key, sizeof(key), "%s/dev.key", dir);
	snprintf(pub, sizeof(pub), "%s/dev.pem", keys);
	assert_int_equal(fwb_keygen(key, pub, NULL, 0), 0);
	snprintf(otherkey, sizeof(otherkey), "%s/other.key", dir);
	snprintf(pub, sizeof(pub), "%s/other.pub", dir); /* not trusted: outside keys/ */
	assert_int_equal(fwb_keygen(otherkey, pub, NULL, 0), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_good_bundle_verifies(void **state)
{
	uint8_t buf[8192];
	size_t n = make(buf, sizeof(buf), "qemu_aarch64_virt", 2000, key);
	char why[256] = "";
	struct fwb b;

	(void)state;
	assert_int_equal(fwb_parse(buf, n, n, &b, why, sizeof(why)), MGW_PARSE_OK);
	assert_int_equal(fwb_sig_verify(&b, keys, why, sizeof(why)), 0);
	assert_int_equal(fwb_policy_check(&b.m, &pol_base, why, sizeof(why)), 0);
	assert_string_equal(b.m.version, "v2000");
	assert_int_equal(b.m.nfiles, 2);
	assert_string_equal(b.m.files[1].name, "rootfs.cpio.gz");
	assert_int_equal(b.m.files[1].offset + b.m.files[1].size, n);
}

static void test_bad_signature_refused(void **state)
{
	uint8_t buf[8192];
	size_t n = make(buf, sizeof(buf), "qemu_aarch64_virt", 2000, otherkey);
	char why[256] = "";
	struct fwb b;

	(void)state;
	assert_int_equal(fwb_parse(buf, n, n, &b, why, sizeof(why)), MGW_PARSE_OK);
	assert_int_equal(fwb_sig_verify(&b, keys, why, sizeof(why)), -MGW_EAUTH);
	assert_non_null(strstr(why, "bad signature"));
	/* a trusted key's signature over a manifest changed afterwards */
	n = make(buf, sizeof(buf), "qemu_aarch64_virt", 2000, key);
	memcpy(strstr((char *)buf + 16, "v2000"), "v9000", 5);
	assert_int_equal(fwb_parse(buf, n, n, &b, why, sizeof(why)), MGW_PARSE_OK);
	assert_int_equal(fwb_sig_verify(&b, keys, why, sizeof(why)), -MGW_EAUTH);
}

static void test_other_board_refused(void **state)
{
	uint8_t buf[8192];
	size_t n = make(buf, sizeof(buf), "raspberrypi4_64", 2000, key);
	char why[256] = "";
	struct fwb b;

	(void)state;
	assert_int_equal(fwb_parse(buf, n, n, &b, why, sizeof(why)), MGW_PARSE_OK);
	assert_int_equal(fwb_sig_verify(&b, keys, why, sizeof(why)), 0);
	assert_int_equal(fwb_policy_check(&b.m, &pol_base, why, sizeof(why)), -MGW_EPERM);
	assert_non_null(strstr(why, "for board raspberrypi4_64"));
}

static void test_truncated_and_padded_refused(void **state)
{
	uint8_t buf[8192];
	size_t n = make(buf, sizeof(buf), "qemu_aarch64_virt", 2000, key);
	char why[256] = "";
	struct fwb b;

	(void)state;
	for (size_t cut = 0; cut < n; cut++) {
		int rc = fwb_parse(buf, cut, cut, &b, why, sizeof(why));

		assert_int_not_equal(rc, MGW_PARSE_OK);
		assert_int_not_equal(rc, MGW_PARSE_NEED_MORE); /* the whole file was given */
	}
	assert_int_equal(fwb_parse(buf, n - 1, n - 1, &b, why, sizeof(why)), MGW_PARSE_SYNTAX);
	assert_non_null(strstr(why, "truncated"));
	assert_int_equal(fwb_parse(buf, n, n + 1, &b, why, sizeof(why)), MGW_PARSE_SYNTAX);
	assert_non_null(strstr(why, "after the last file"));
	/* a prefix of a larger file is not enough to judge it */
	assert_int_equal(fwb_parse(buf, 20, n, &b, why, sizeof(why)), MGW_PARSE_NEED_MORE);
}

static void test_downgrade_refused_unless_forced(void **state)
{
	uint8_t buf[8192];
	size_t n = make(buf, sizeof(buf), "qemu_aarch64_virt", 999, key);
	struct fwb_policy pol = pol_base;
	char why[256] = "";
	struct fwb b;

	(void)state;
	assert_int_equal(fwb_parse(buf, n, n, &b, why, sizeof(why)), MGW_PARSE_OK);
	assert_int_equal(fwb_policy_check(&b.m, &pol, why, sizeof(why)), -MGW_EPERM);
	assert_non_null(strstr(why, "downgrade"));
	pol.force = true;
	assert_int_equal(fwb_policy_check(&b.m, &pol, why, sizeof(why)), 0);
	/* the same build again is not a downgrade */
	pol.force = false;
	pol.build_time = 999;
	assert_int_equal(fwb_policy_check(&b.m, &pol, why, sizeof(why)), 0);
}

static void test_oversize_header_fields_refused(void **state)
{
	uint8_t buf[8192];
	size_t n = make(buf, sizeof(buf), "qemu_aarch64_virt", 2000, key);
	char why[256] = "";
	struct fwb b;

	(void)state;
	buf[8] = 0x7f; /* manifest length 2 GiB */
	assert_int_equal(fwb_parse(buf, n, n, &b, why, sizeof(why)), MGW_PARSE_LIMIT);
	assert_non_null(strstr(why, "manifest length"));
	n = make(buf, sizeof(buf), "qemu_aarch64_virt", 2000, key);
	buf[14] = 0x10; /* signature length 4 KiB */
	assert_int_equal(fwb_parse(buf, n, n, &b, why, sizeof(why)), MGW_PARSE_LIMIT);
	assert_non_null(strstr(why, "signature length"));
}

static const char hash64[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* the cases are printf formats filled with hash64 */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void test_bad_manifests_refused(void **state)
{
	static const struct {
		const char *extra; /* appended to a valid head */
		int rc;
		const char *why;
	} cases[] = {
	    {"file=Image 137438953472 %s\n", MGW_PARSE_LIMIT, "at most"}, /* 128 GiB */
	    {"file=Image 1 %s\nfile=Image 1 %s\n", MGW_PARSE_SYNTAX, "listed twice"},
	    {"file=a 1 %s\nfile=b 1 %s\nfile=c 1 %s\nfile=d 1 %s\nfile=e 1 %s\n", MGW_PARSE_LIMIT,
	     "more than"},
	    {"file=../etc/passwd 1 %s\n", MGW_PARSE_SYNTAX, "file=NAME"},
	    {"file=.hidden 1 %s\n", MGW_PARSE_SYNTAX, "file=NAME"},
	    {"file=manifest 1 %s\n", MGW_PARSE_SYNTAX, "file=NAME"},
	    {"file=Image 01 %s\n", MGW_PARSE_SYNTAX, "file=NAME"},
	    {"file=Image 1 %sA\n", MGW_PARSE_SYNTAX, "file=NAME"},
	    {"file=Image 1 %s", MGW_PARSE_SYNTAX, "no line end"},
	    {"file=Image 1 %s\nboard=x\n", MGW_PARSE_SYNTAX, "given twice"},
	    {"file=Image 1 %s\nowner=x\n", MGW_PARSE_SYNTAX, "unknown key"},
	    {"file=Image 1 %s\r\n", MGW_PARSE_SYNTAX, "control"},
	    {"", MGW_PARSE_SYNTAX, "at least one file"},
	};
	const char head[] = "mailgw-firmware 1\nboard=b\nversion=v\nrevision=r\nbuild-time=1\n"
			    "key=development\n";
	struct fwb_manifest m;
	char text[2048], why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(text, sizeof(text), "%s", head);

		n += snprintf(text + n, sizeof(text) - (size_t)n, cases[i].extra, hash64, hash64,
			      hash64, hash64, hash64);
		why[0] = '\0';
		assert_int_equal(fwb_manifest_parse(text, (size_t)n, &m, why, sizeof(why)),
				 cases[i].rc);
		if (strstr(why, cases[i].why) == NULL)
			fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, why, cases[i].why);
	}
	/* a NUL inside a value */
	snprintf(text, sizeof(text), "%sfile=Image 1 %s\n", head, hash64);
	text[strlen(head) + 6] = '\0';
	assert_int_equal(fwb_manifest_parse(text, strlen(head) + 80, &m, why, sizeof(why)),
			 MGW_PARSE_SYNTAX);
}

static void test_install_writes_slot_and_refused_writes_nothing(void **state)
{
	struct fwb_policy pol = pol_base;
	uint8_t buf[8192];
	char path[192], why[256] = "", *got = NULL;
	size_t n = make(buf, sizeof(buf), "qemu_aarch64_virt", 2000, key), len = 0;
	struct fwb_open o;
	struct stat st;

	(void)state;
	pol.keys_dir = keys;
	snprintf(path, sizeof(path), "%s/good.mgwfw", dir);
	assert_int_equal(file_write_atomic(path, buf, n, 0644), 0);
	assert_int_equal(fwb_open(path, &pol, &o, why, sizeof(why)), 0);
	assert_int_equal(fwb_install(&o, slot, why, sizeof(why)), 0);
	fwb_close(&o);
	snprintf(path, sizeof(path), "%s/rootfs.cpio.gz", slot);
	assert_int_equal(file_read_all(path, 100, &got, &len), 0);
	assert_string_equal(got, "initramfs\n");
	free(got);
	snprintf(path, sizeof(path), "%s/manifest", slot);
	assert_int_equal(file_read_all(path, 4096, &got, &len), 0);
	assert_non_null(strstr(got, "version=v2000\n"));
	free(got);

	/* a file whose bytes do not match the signed hash: refused before writing */
	buf[n - 2] ^= 1;
	snprintf(path, sizeof(path), "%s/corrupt.mgwfw", dir);
	assert_int_equal(file_write_atomic(path, buf, n, 0644), 0);
	assert_int_equal(fwb_open(path, &pol, &o, why, sizeof(why)), -MGW_EINVAL);
	assert_non_null(strstr(why, "does not match its SHA-256"));
	assert_int_equal(o.fd, -1);
	snprintf(path, sizeof(path), "%s/manifest", slot);
	assert_int_equal(stat(path, &st), 0); /* the installed slot is untouched */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_bundle_verifies),
	    cmocka_unit_test(test_bad_signature_refused),
	    cmocka_unit_test(test_other_board_refused),
	    cmocka_unit_test(test_truncated_and_padded_refused),
	    cmocka_unit_test(test_downgrade_refused_unless_forced),
	    cmocka_unit_test(test_oversize_header_fields_refused),
	    cmocka_unit_test(test_bad_manifests_refused),
	    cmocka_unit_test(test_install_writes_slot_and_refused_writes_nothing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
