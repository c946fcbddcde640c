/*
 * fwbundle.c - the firmware update bundle (format and rules in fwbundle.h): parser,
 * signature check, policy, verification of a bundle file, installation into a slot, and
 * the build side (key generation, signing).
 *
 * Order of trust: the header's lengths are bounded before anything is read after them;
 * the manifest is parsed strictly but believed only after its signature checks out
 * against a key baked into the image; file contents are believed only after their
 * SHA-256 matches the signed manifest, and they are hashed again while being written,
 * because a USB key can change between two reads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "mbedtls/ecp.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"
#include "pki/fwbundle.h"
#include "pki/pki_int.h"

#define FWB_IO_CHUNK 65536
#define FWB_KEY_FILE_MAX 4096

static uint32_t fwb_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- the manifest ------------------------------------------------------------------ */

static bool fwb_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > FWB_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');

		if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
			return false;
	}
	return n != strlen(FWB_MANIFEST_NAME) || memcmp(s, FWB_MANIFEST_NAME, n) != 0;
}

/* A decimal number of at most 20 digits without sign or leading zero. */
static bool fwb_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static int fwb_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1; /* upper case is refused: one spelling per hash */
}

static int fwb_file_parse(const char *v, size_t n, struct fwb_file *f)
{
	const char *sp1 = memchr(v, ' ', n), *sp2;

	if (sp1 == NULL || !fwb_name_ok(v, (size_t)(sp1 - v)))
		return -1;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - v));
	if (sp2 == NULL || !fwb_u64(sp1 + 1, (size_t)(sp2 - sp1 - 1), &f->size))
		return -1;
	if ((size_t)(v + n - (sp2 + 1)) != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int hi = fwb_hexval(sp2[1 + 2 * i]), lo = fwb_hexval(sp2[2 + 2 * i]);

		if (hi < 0 || lo < 0)
			return -1;
		f->sha256[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(f->name, v, (size_t)(sp1 - v));
	f->name[sp1 - v] = '\0';
	return 0;
}

static int fwb_field(char *dst, size_t dstsz, const char *v, size_t n)
{
	if (n == 0 || n >= dstsz)
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

int fwb_manifest_parse(const char *p, size_t len, struct fwb_manifest *m, char *why, size_t whysz)
{
	static const char first[] = "mailgw-firmware 1\n";
	enum { SEEN_BOARD = 1, SEEN_VERSION = 2, SEEN_REV = 4, SEEN_TIME = 8, SEEN_KEY = 16 };
	unsigned seen = 0, lineno = 1;
	size_t pos;

	memset(m, 0, sizeof(*m));
	if (len > FWB_MANIFEST_MAX)
		return pki_why(why, whysz, MGW_PARSE_TOO_LONG, "manifest: %zu bytes, at most %d",
			       len, FWB_MANIFEST_MAX);
	if (len < sizeof(first) - 1 || memcmp(p, first, sizeof(first) - 1) != 0)
		return pki_why(why, whysz, MGW_PARSE_SYNTAX,
			       "manifest line 1: not \"mailgw-firmware 1\"");
	for (pos = sizeof(first) - 1; pos < len;) {
		const char *line = p + pos, *eq, *v;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n, klen, vlen;
		unsigned bit = 0;
		int bad = 0;

		lineno++;
		if (nl == NULL)
			return pki_why(why, whysz, MGW_PARSE_SYNTAX,
				       "manifest line %u: no line end", lineno);
		n = (size_t)(nl - line);
		pos += n + 1;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
				return pki_why(why, whysz, MGW_PARSE_SYNTAX,
					       "manifest line %u: a control or non-ASCII byte",
					       lineno);
		eq = memchr(line, '=', n);
		if (eq == NULL)
			return pki_why(why, whysz, MGW_PARSE_SYNTAX, "manifest line %u: no '='",
				       lineno);
		klen = (size_t)(eq - line);
		v = eq + 1;
		vlen = n - klen - 1;
#define FWB_KEY(k) (klen == strlen(k) && memcmp(line, k, klen) == 0)
		if (FWB_KEY("board")) {
			bit = SEEN_BOARD;
			bad = fwb_field(m->board, sizeof(m->board), v, vlen) < 0 ||
			      !fwb_name_ok(v, vlen);
		} else if (FWB_KEY("version")) {
			bit = SEEN_VERSION;
			bad = fwb_field(m->version, sizeof(m->version), v, vlen);
		} else if (FWB_KEY("revision")) {
			bit = SEEN_REV;
			bad = fwb_field(m->revision, sizeof(m->revision), v, vlen);
		} else if (FWB_KEY("build-time")) {
			bit = SEEN_TIME;
			bad = !fwb_u64(v, vlen, &m->build_time);
		} else if (FWB_KEY("key")) {
			bit = SEEN_KEY;
			bad = !((vlen == 11 && memcmp(v, "development", 11) == 0) ||
				(vlen == 7 && memcmp(v, "release", 7) == 0)) ||
			      fwb_field(m->key, sizeof(m->key), v, vlen);
		} else if (FWB_KEY("file")) {
			struct fwb_file *f = &m->files[m->nfiles];

			if (m->nfiles == FWB_FILES_MAX)
				return pki_why(why, whysz, MGW_PARSE_LIMIT,
					       "manifest line %u: more than %d files", lineno,
					       FWB_FILES_MAX);
			if (fwb_file_parse(v, vlen, f) < 0)
				return pki_why(why, whysz, MGW_PARSE_SYNTAX,
					       "manifest line %u: file=NAME SIZE SHA256 expected",
					       lineno);
			if (f->size > FWB_FILE_MAX)
				return pki_why(why, whysz, MGW_PARSE_LIMIT,
					       "manifest line %u: %s is %llu bytes, at most %llu",
					       lineno, f->name, (unsigned long long)f->size,
					       (unsigned long long)FWB_FILE_MAX);
			for (unsigned i = 0; i < m->nfiles; i++)
				if (strcmp(m->files[i].name, f->name) == 0)
					return pki_why(why, whysz, MGW_PARSE_SYNTAX,
						       "manifest line %u: %s listed twice", lineno,
						       f->name);
			m->nfiles++;
			continue;
		} else {
			return pki_why(why, whysz, MGW_PARSE_SYNTAX,
				       "manifest line %u: unknown key \"%.*s\"", lineno,
				       (int)(klen < 32 ? klen : 32), line);
		}
#undef FWB_KEY
		if (seen & bit)
			return pki_why(why, whysz, MGW_PARSE_SYNTAX,
				       "manifest line %u: \"%.*s\" given twice", lineno, (int)klen,
				       line);
		if (bad)
			return pki_why(why, whysz, MGW_PARSE_SYNTAX,
				       "manifest line %u: bad value for \"%.*s\"", lineno,
				       (int)klen, line);
		seen |= bit;
	}
	if (seen != (SEEN_BOARD | SEEN_VERSION | SEEN_REV | SEEN_TIME | SEEN_KEY) || m->nfiles == 0)
		return pki_why(why, whysz, MGW_PARSE_SYNTAX,
			       "manifest: board, version, revision, build-time, key and at least "
			       "one file are required");
	return MGW_PARSE_OK;
}

int fwb_parse(const uint8_t *p, size_t len, uint64_t total, struct fwb *b, char *why, size_t whysz)
{
	uint64_t off;
	int rc;

	memset(b, 0, sizeof(*b));
	if (len < FWB_HEAD_LEN)
		return total < FWB_HEAD_LEN || len == total
			   ? pki_why(why, whysz, MGW_PARSE_SYNTAX,
				     "not a firmware bundle (%llu bytes)",
				     (unsigned long long)total)
			   : MGW_PARSE_NEED_MORE;
	if (memcmp(p, FWB_MAGIC, 8) != 0)
		return pki_why(why, whysz, MGW_PARSE_SYNTAX, "not a firmware bundle (no %s)",
			       FWB_MAGIC);
	b->mlen = fwb_be32(p + 8);
	b->slen = fwb_be32(p + 12);
	if (b->mlen == 0 || b->mlen > FWB_MANIFEST_MAX)
		return pki_why(why, whysz, MGW_PARSE_LIMIT, "manifest length %u (1 to %d)", b->mlen,
			       FWB_MANIFEST_MAX);
	if (b->slen == 0 || b->slen > FWB_SIG_MAX)
		return pki_why(why, whysz, MGW_PARSE_LIMIT, "signature length %u (1 to %d)",
			       b->slen, FWB_SIG_MAX);
	b->payload_off = FWB_HEAD_LEN + (uint64_t)b->mlen + b->slen;
	if (total < b->payload_off)
		return pki_why(why, whysz, MGW_PARSE_SYNTAX,
			       "truncated: %llu bytes, the header alone announces %llu",
			       (unsigned long long)total, (unsigned long long)b->payload_off);
	if (len < b->payload_off)
		return MGW_PARSE_NEED_MORE;
	b->manifest = p + FWB_HEAD_LEN;
	b->sig = b->manifest + b->mlen;
	rc = fwb_manifest_parse((const char *)b->manifest, b->mlen, &b->m, why, whysz);
	if (rc != MGW_PARSE_OK)
		return rc;
	off = b->payload_off;
	for (unsigned i = 0; i < b->m.nfiles; i++) {
		b->m.files[i].offset = off;
		off += b->m.files[i].size; /* each is at most FWB_FILE_MAX: no overflow */
	}
	if (total < off)
		return pki_why(why, whysz, MGW_PARSE_SYNTAX,
			       "truncated: %llu bytes, the manifest lists %llu",
			       (unsigned long long)total, (unsigned long long)off);
	if (total > off)
		return pki_why(why, whysz, MGW_PARSE_SYNTAX,
			       "%llu bytes after the last file (the manifest lists %llu)",
			       (unsigned long long)(total - off), (unsigned long long)off);
	return MGW_PARSE_OK;
}

/* ---- signature and policy ---------------------------------------------------------- */

static int fwb_key_verify(const char *path, const uint8_t hash[32], const struct fwb *b)
{
	mbedtls_pk_context pk;
	char *pem = NULL;
	size_t len = 0;
	int rc = -MGW_EAUTH;

	mbedtls_pk_init(&pk);
	if (file_read_all(path, FWB_KEY_FILE_MAX, &pem, &len) != 0) {
		rc = -MGW_EIO;
		goto out;
	}
	/* PEM wants its NUL counted; file_read_all appended one. */
	if (mbedtls_pk_parse_public_key(&pk, (const unsigned char *)pem, len + 1) != 0 ||
	    !mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECKEY) ||
	    mbedtls_pk_ec(pk)->MBEDTLS_PRIVATE(grp).id != MBEDTLS_ECP_DP_SECP256R1) {
		rc = -MGW_EIO;
		goto out;
	}
	if (mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, hash, 32, b->sig, b->slen) == 0)
		rc = 0;
out:
	mbedtls_pk_free(&pk);
	free(pem);
	return rc;
}

int fwb_sig_verify(const struct fwb *b, const char *keys_dir, char *why, size_t whysz)
{
	char path[PKI_PATH_MAX];
	uint8_t hash[32];
	struct dirent *de;
	unsigned nkeys = 0, nbad = 0;
	int rc = -MGW_EAUTH;
	DIR *d;

	if (mbedtls_sha256(b->manifest, b->mlen, hash, 0) != 0)
		return pki_why(why, whysz, -MGW_EIO, "SHA-256 failed");
	d = opendir(keys_dir);
	if (d == NULL)
		return pki_why(why, whysz, -MGW_ENOENT, "no update keys in %s: %s", keys_dir,
			       strerror(errno));
	while (rc != 0 && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n < 5 || strcmp(de->d_name + n - 4, ".pem") != 0)
			continue;
		if (nkeys == FWB_KEYS_MAX || pki_path(path, keys_dir, de->d_name) != 0)
			break;
		nkeys++;
		rc = fwb_key_verify(path, hash, b);
		if (rc == -MGW_EIO) {
			nbad++;
			rc = -MGW_EAUTH;
		}
	}
	closedir(d);
	if (rc == 0)
		return 0;
	if (nkeys == nbad)
		return pki_why(why, whysz, -MGW_ENOENT, "no usable update key in %s", keys_dir);
	return pki_why(why, whysz, -MGW_EAUTH,
		       "bad signature: the bundle is not signed by a key this gateway trusts");
}

int fwb_policy_check(const struct fwb_manifest *m, const struct fwb_policy *pol, char *why,
		     size_t whysz)
{
	if (strcmp(m->board, pol->board) != 0)
		return pki_why(why, whysz, -MGW_EPERM,
			       "the bundle is for board %s, this gateway is %s", m->board,
			       pol->board);
	if (m->build_time < pol->build_time && !pol->force)
		return pki_why(why, whysz, -MGW_EPERM,
			       "downgrade: the bundle (%s) was built before the running "
			       "firmware; 'force' installs it anyway",
			       m->version);
	return 0;
}

/* ---- a bundle file ------------------------------------------------------------------- */

static int fwb_pread_all(int fd, uint8_t *buf, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, buf, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -MGW_EIO;
		buf += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Hashes f's bytes in the bundle; when out_fd >= 0 also writes them there. */
static int fwb_copy(int fd, const struct fwb_file *f, int out_fd, uint8_t *buf, uint8_t hash[32])
{
	mbedtls_sha256_context sha;
	uint64_t done = 0;
	int rc = 0;

	mbedtls_sha256_init(&sha);
	if (mbedtls_sha256_starts(&sha, 0) != 0)
		rc = -MGW_EIO;
	while (rc == 0 && done < f->size) {
		size_t n = f->size - done < FWB_IO_CHUNK ? (size_t)(f->size - done) : FWB_IO_CHUNK;

		rc = fwb_pread_all(fd, buf, n, f->offset + done);
		if (rc == 0 && mbedtls_sha256_update(&sha, buf, n) != 0)
			rc = -MGW_EIO;
		if (rc == 0 && out_fd >= 0)
			rc = file_write_all(out_fd, buf, n);
		done += n;
	}
	if (rc == 0 && mbedtls_sha256_finish(&sha, hash) != 0)
		rc = -MGW_EIO;
	mbedtls_sha256_free(&sha);
	return rc;
}

int fwb_open(const char *path, const struct fwb_policy *pol, struct fwb_open *o, char *why,
	     size_t whysz)
{
	uint8_t hash[32], *buf = NULL;
	struct stat st;
	size_t want;
	int rc = -MGW_EINVAL;

	memset(o, 0, sizeof(*o));
	o->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (o->fd < 0)
		return pki_why(why, whysz, -MGW_ENOENT, "%s: %s", path, strerror(errno));
	if (fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: not a regular file", path);
		goto out;
	}
	want = (uint64_t)st.st_size < FWB_PREFIX_MAX ? (size_t)st.st_size : FWB_PREFIX_MAX;
	o->prefix = malloc(want + 1);
	buf = malloc(FWB_IO_CHUNK);
	if (o->prefix == NULL || buf == NULL) {
		rc = pki_why(why, whysz, -MGW_ENOMEM, "out of memory");
		goto out;
	}
	if (fwb_pread_all(o->fd, o->prefix, want, 0) != 0) {
		rc = pki_why(why, whysz, -MGW_EIO, "%s: read error: %s", path, strerror(errno));
		goto out;
	}
	switch (fwb_parse(o->prefix, want, (uint64_t)st.st_size, &o->b, why, whysz)) {
	case MGW_PARSE_OK:
		break;
	case MGW_PARSE_NEED_MORE: /* cannot happen: want covers every legal prefix */
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: truncated", path);
		goto out;
	default:
		rc = -MGW_EINVAL;
		goto out;
	}
	rc = fwb_sig_verify(&o->b, pol->keys_dir, why, whysz);
	if (rc == 0)
		rc = fwb_policy_check(&o->b.m, pol, why, whysz);
	for (unsigned i = 0; rc == 0 && i < o->b.m.nfiles; i++) {
		const struct fwb_file *f = &o->b.m.files[i];

		rc = fwb_copy(o->fd, f, -1, buf, hash);
		if (rc != 0)
			pki_why(why, whysz, rc, "%s: read error in %s", path, f->name);
		else if (memcmp(hash, f->sha256, 32) != 0)
			rc = pki_why(why, whysz, -MGW_EINVAL,
				     "%s: %s does not match its SHA-256 in the manifest", path,
				     f->name);
	}
out:
	free(buf);
	if (rc != 0)
		fwb_close(o);
	return rc;
}

void fwb_close(struct fwb_open *o)
{
	if (o->fd > 0)
		close(o->fd);
	o->fd = -1;
	free(o->prefix);
	o->prefix = NULL;
}

/* Writes one file of the bundle into dfd as name: temporary, fsync, rename, dir fsync. */
static int fwb_install_file(struct fwb_open *o, int dfd, const struct fwb_file *f, uint8_t *buf,
			    char *why, size_t whysz)
{
	char tmp[FWB_NAME_MAX + 16];
	uint8_t hash[32];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", f->name);
	unlinkat(dfd, tmp, 0); /* left by an interrupted update */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return pki_why(why, whysz, -MGW_EIO, "%s: %s", tmp, strerror(errno));
	rc = fwb_copy(o->fd, f, fd, buf, hash);
	if (rc == 0 && memcmp(hash, f->sha256, 32) != 0)
		rc =
		    pki_why(why, whysz, -MGW_EINVAL,
			    "%s changed while it was written: the medium is not reliable", f->name);
	else if (rc != 0)
		pki_why(why, whysz, rc, "writing %s: %s", f->name,
			rc == -MGW_ENOSPC ? "the boot partition is full" : strerror(errno));
	if (rc == 0 && fsync(fd) < 0)
		rc = pki_why(why, whysz, -MGW_EIO, "fsync %s: %s", f->name, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = pki_why(why, whysz, -MGW_EIO, "close %s: %s", f->name, strerror(errno));
	if (rc == 0 && renameat(dfd, tmp, dfd, f->name) < 0)
		rc = pki_why(why, whysz, -MGW_EIO, "rename %s: %s", f->name, strerror(errno));
	if (rc != 0)
		unlinkat(dfd, tmp, 0);
	if (rc == 0 && fsync(dfd) < 0)
		rc = pki_why(why, whysz, -MGW_EIO, "fsync of the slot: %s", strerror(errno));
	return rc;
}

int fwb_install(struct fwb_open *o, const char *slot_dir, char *why, size_t whysz)
{
	char path[PKI_PATH_MAX];
	uint8_t *buf = malloc(FWB_IO_CHUNK);
	int dfd = open(slot_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc = -MGW_EIO;

	if (dfd < 0 || buf == NULL) {
		rc = pki_why(why, whysz, -MGW_EIO, "%s: %s", slot_dir, strerror(errno));
		goto out;
	}
	if (unlinkat(dfd, FWB_MANIFEST_NAME, 0) < 0 && errno != ENOENT) {
		rc = pki_why(why, whysz, -MGW_EIO, "%s/%s: %s", slot_dir, FWB_MANIFEST_NAME,
			     strerror(errno));
		goto out;
	}
	if (fsync(dfd) < 0) {
		rc = pki_why(why, whysz, -MGW_EIO, "fsync %s: %s", slot_dir, strerror(errno));
		goto out;
	}
	rc = 0;
	for (unsigned i = 0; rc == 0 && i < o->b.m.nfiles; i++)
		rc = fwb_install_file(o, dfd, &o->b.m.files[i], buf, why, whysz);
	if (rc == 0 && pki_path(path, slot_dir, FWB_MANIFEST_NAME) != 0)
		rc = pki_why(why, whysz, -MGW_ELIMIT, "%s: path too long", slot_dir);
	if (rc == 0 && file_write_atomic(path, o->b.manifest, o->b.mlen, 0644) != 0)
		rc = pki_why(why, whysz, -MGW_EIO, "writing %s failed", path);
out:
	if (dfd >= 0)
		close(dfd);
	free(buf);
	return rc;
}

/* ---- the build side ------------------------------------------------------------------ */

int fwb_keygen(const char *key_path, const char *pub_path, char *why, size_t whysz)
{
	unsigned char pem[1024];
	mbedtls_pk_context pk;
	struct pki_rng rng;
	int rc = -MGW_ETLS;

	mbedtls_pk_init(&pk);
	if (pki_rng_init(&rng) != 0)
		goto out;
	if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
				mbedtls_ctr_drbg_random, &rng.drbg) != 0 ||
	    mbedtls_pk_write_key_pem(&pk, pem, sizeof(pem)) != 0)
		goto out;
	rc = file_write_atomic(key_path, pem, strlen((char *)pem), 0600);
	if (rc == 0)
		rc = mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem)) != 0
			 ? -MGW_ETLS
			 : file_write_atomic(pub_path, pem, strlen((char *)pem), 0644);
out:
	mbedtls_platform_zeroize(pem, sizeof(pem));
	mbedtls_pk_free(&pk);
	pki_rng_free(&rng);
	if (rc != 0)
		pki_why(why, whysz, rc, "cannot make the key pair %s, %s: %s", key_path, pub_path,
			mgw_strerror(rc));
	return rc;
}

/* Loads the P-256 private key at key_path into pk (initialised by the caller) with a
 * seeded rng (pki_rng_free by the caller, also on failure). 0 or -MGW_EINVAL. */
static int fwb_load_private(mbedtls_pk_context *pk, struct pki_rng *rng, const char *key_path,
			    char *why, size_t whysz)
{
	if (pki_rng_init(rng) != 0 ||
	    mbedtls_pk_parse_keyfile(pk, key_path, NULL, mbedtls_ctr_drbg_random, &rng->drbg) !=
		0 ||
	    !mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY) ||
	    mbedtls_pk_ec(*pk)->MBEDTLS_PRIVATE(grp).id != MBEDTLS_ECP_DP_SECP256R1)
		return pki_why(why, whysz, -MGW_EINVAL, "%s: not an ECDSA P-256 private key",
			       key_path);
	return 0;
}

int fwb_pubkey(const char *key_path, const char *pub_path, char *why, size_t whysz)
{
	unsigned char pem[1024];
	mbedtls_pk_context pk;
	struct pki_rng rng;
	int rc;

	mbedtls_pk_init(&pk);
	rc = fwb_load_private(&pk, &rng, key_path, why, whysz);
	if (rc == 0 && mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem)) != 0)
		rc = pki_why(why, whysz, -MGW_ETLS, "cannot write the public key");
	if (rc == 0 && file_write_atomic(pub_path, pem, strlen((char *)pem), 0644) != 0)
		rc = pki_why(why, whysz, -MGW_EIO, "%s: cannot write it", pub_path);
	mbedtls_pk_free(&pk);
	pki_rng_free(&rng);
	return rc;
}

int fwb_sign(const uint8_t *manifest, size_t mlen, const char *key_path, uint8_t *sig, size_t sigsz,
	     size_t *slen, char *why, size_t whysz)
{
	mbedtls_pk_context pk;
	struct pki_rng rng;
	uint8_t hash[32];
	int rc;

	mbedtls_pk_init(&pk);
	rc = fwb_load_private(&pk, &rng, key_path, why, whysz);
	if (rc == 0 && (mbedtls_sha256(manifest, mlen, hash, 0) != 0 ||
			mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sigsz,
					slen, mbedtls_ctr_drbg_random, &rng.drbg) != 0 ||
			*slen > FWB_SIG_MAX))
		rc = pki_why(why, whysz, -MGW_ETLS, "signing failed");
	mbedtls_pk_free(&pk);
	pki_rng_free(&rng);
	return rc;
}
