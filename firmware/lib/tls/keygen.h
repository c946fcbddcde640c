/*
 * keygen.h - the appliance's first-boot server identity: an ECDSA P-256 key and a
 * self-signed certificate for it, written as PEM files.
 *
 * The key file is created 0600 and never overwritten; both files are written to a
 * temporary name, fsynced and renamed, so a power cut leaves either nothing or a whole
 * file. The admin may later replace the certificate with one signed by the office CA.
 */
#ifndef MGW_TLS_KEYGEN_H
#define MGW_TLS_KEYGEN_H

#include <stddef.h>

#define TLS_KEYGEN_FP_MAX 96 /* "AA:BB:..." for 32 bytes, NUL included */
#define TLS_KEYGEN_DAYS_MAX 36500

/*
 * Generates a new key at key_path and a self-signed certificate at crt_path with subject
 * CN=cn and a DNS subjectAltName cn, valid from now - 1 day for days days. Writes the
 * certificate's SHA-256 fingerprint (hex pairs separated by ':') into fp.
 * Returns 0, -MGW_EEXIST when key_path exists, -MGW_EINVAL, -MGW_EIO or -MGW_ETLS; the
 * reason is in why.
 */
int tls_keygen_selfsigned(const char *key_path, const char *crt_path, const char *cn, unsigned days,
			  char fp[TLS_KEYGEN_FP_MAX], char *why, size_t whysz);

/* Reads the PEM certificate at crt_path and writes its SHA-256 fingerprint into fp. */
int tls_keygen_fingerprint(const char *crt_path, char fp[TLS_KEYGEN_FP_MAX], char *why,
			   size_t whysz);

/* Checks that the private key at key_path (PEM or DER, unencrypted) belongs to the
 * certificate at crt_path. 0, -MGW_EINVAL (unreadable, or not its key; why says which),
 * -MGW_ETLS. */
int tls_keygen_check_pair(const char *key_path, const char *crt_path, char *why, size_t whysz);

#endif
