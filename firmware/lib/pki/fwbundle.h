/*
 * fwbundle.h - the firmware update bundle: one file holding a slot's files (kernel,
 * initramfs, device tree), a manifest describing them and an ECDSA P-256 signature over
 * the manifest.
 *
 *   offset 0   "MGWFWUP1"                    8 bytes, the magic
 *          8   manifest length, u32 big-endian (1 .. FWB_MANIFEST_MAX)
 *         12   signature length, u32 big-endian (1 .. FWB_SIG_MAX)
 *         16   manifest (text, below)
 *              signature: DER ECDSA-Sig-Value over SHA-256(manifest)
 *              payload: the files, in manifest order, back to back; nothing after them
 *
 * The manifest is printable ASCII lines, each ended by LF:
 *
 *   mailgw-firmware 1
 *   board=qemu_aarch64_virt
 *   version=<git describe>           (shown to the admin)
 *   revision=<git commit>
 *   build-time=<seconds since 1970>  (the version order: older is a downgrade)
 *   key=development|release         (which kind of key signed it)
 *   file=<name> <size> <sha256 hex>  (1 .. FWB_FILES_MAX of them)
 *
 * Every field but file appears exactly once; unknown keys are refused; names are
 * [A-Za-z0-9][A-Za-z0-9._-]* (never a path); sizes are bounded by FWB_FILE_MAX. The
 * parser never allocates and consumes the whole manifest. Only after the signature
 * checks out is anything in the manifest believed; only after every file's hash checks
 * out is anything written (fwb_install), and then into a slot directory the caller
 * chose, one file at a time (temporary name, fsync, rename, directory fsync).
 */
#ifndef MGW_FWBUNDLE_H
#define MGW_FWBUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FWB_MAGIC "MGWFWUP1"
#define FWB_HEAD_LEN 16
#define FWB_MANIFEST_MAX 4096
#define FWB_SIG_MAX 160
#define FWB_FILES_MAX 4
#define FWB_FILE_MAX (128ull << 20) /* one slot file: 128 MiB */
#define FWB_NAME_MAX 64
#define FWB_FIELD_MAX 64 /* board, version, revision */
#define FWB_KEYS_MAX 8	 /* public keys in the trusted directory */
#define FWB_PREFIX_MAX (FWB_HEAD_LEN + FWB_MANIFEST_MAX + FWB_SIG_MAX)
#define FWB_MANIFEST_NAME "manifest" /* the manifest's copy in an installed slot */

struct fwb_file {
	char name[FWB_NAME_MAX + 1];
	uint64_t size;
	uint64_t offset; /* from the start of the bundle */
	uint8_t sha256[32];
};

struct fwb_manifest {
	char board[FWB_FIELD_MAX + 1];
	char version[FWB_FIELD_MAX + 1];
	char revision[FWB_FIELD_MAX + 1];
	char key[16];
	uint64_t build_time;
	unsigned nfiles;
	struct fwb_file files[FWB_FILES_MAX];
};

/* A parsed bundle prefix. manifest and sig are borrowed from the buffer given to
 * fwb_parse(), valid as long as it is. */
struct fwb {
	struct fwb_manifest m;
	const uint8_t *manifest;
	uint32_t mlen;
	const uint8_t *sig;
	uint32_t slen;
	uint64_t payload_off;
};

/* What the board accepts: its name, the running build time, the trusted keys. */
struct fwb_policy {
	const char *board;
	uint64_t build_time;
	const char *keys_dir; /* *.pem public keys */
	bool force;	      /* accept a downgrade */
};

/*
 * Parses the manifest text p[0..len). MGW_PARSE_OK, or MGW_PARSE_SYNTAX / _TOO_LONG /
 * _LIMIT with the reason ("manifest line N: ...") in why.
 */
int fwb_manifest_parse(const char *p, size_t len, struct fwb_manifest *m, char *why, size_t whysz);

/*
 * Parses a bundle whose first len bytes are p (at least the header, manifest and
 * signature) and whose whole size is total. Checks that the files the manifest lists
 * fill the rest exactly (a truncated or padded bundle is refused). MGW_PARSE_OK,
 * MGW_PARSE_NEED_MORE (p too short for what the header announces), or an error with the
 * reason in why. Does not check the signature.
 */
int fwb_parse(const uint8_t *p, size_t len, uint64_t total, struct fwb *b, char *why, size_t whysz);

/* Checks b's signature against each *.pem public key in keys_dir (at most FWB_KEYS_MAX).
 * 0 when one of them made it; -MGW_EAUTH (none did), -MGW_ENOENT (no keys) or -MGW_EIO,
 * the reason in why. */
int fwb_sig_verify(const struct fwb *b, const char *keys_dir, char *why, size_t whysz);

/* Board and version policy on a verified manifest: 0, or -MGW_EPERM with the reason. */
int fwb_policy_check(const struct fwb_manifest *m, const struct fwb_policy *pol, char *why,
		     size_t whysz);

/* An open, verified bundle file (fwb_open); fwb_close releases it. */
struct fwb_open {
	int fd;
	uint8_t *prefix; /* owned: header + manifest + signature */
	struct fwb b;
};

/*
 * Opens the bundle at path and verifies all of it: structure, signature, policy, and
 * every file's SHA-256 (read once in full). Nothing is written. 0 or a negative code
 * with the reason in why; on success o must be fwb_close()d.
 */
int fwb_open(const char *path, const struct fwb_policy *pol, struct fwb_open *o, char *why,
	     size_t whysz);
void fwb_close(struct fwb_open *o);

/*
 * Writes o's files into slot_dir, which must exist: first removes the slot's manifest
 * copy (a half-written slot has no version), then each file under a temporary name,
 * hashed again while copied (the medium may have changed since fwb_open), fsynced and
 * renamed, then the manifest copy last, each step followed by a directory fsync.
 * 0 or a negative code with the reason in why; on failure the slot has no manifest.
 */
int fwb_install(struct fwb_open *o, const char *slot_dir, char *why, size_t whysz);

/* Signing, for the build (mgw-bundle): a new P-256 key (private PEM 0600 at key_path,
 * public PEM at pub_path), its public half, and a signature over a manifest. 0 or a
 * negative code, the reason in why. */
int fwb_keygen(const char *key_path, const char *pub_path, char *why, size_t whysz);
/* Writes the public half of the private key at key_path to pub_path (PEM). */
int fwb_pubkey(const char *key_path, const char *pub_path, char *why, size_t whysz);
int fwb_sign(const uint8_t *manifest, size_t mlen, const char *key_path, uint8_t *sig, size_t sigsz,
	     size_t *slen, char *why, size_t whysz);

#endif
