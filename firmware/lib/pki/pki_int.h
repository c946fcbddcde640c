/*
 * pki_int.h - what the files of firmware/lib/pki share (not for other modules).
 *
 * Ownership: struct pki_ca owns its certificate and key contexts (pki_ca_free);
 * struct pki_rng owns its DRBG (pki_rng_free); struct pki_db owns its lines.
 */
#ifndef MGW_PKI_INT_H
#define MGW_PKI_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/pk.h"
#include "mbedtls/x509_crl.h"
#include "mbedtls/x509_crt.h"
#include "pki/pki.h"

#define PKI_PATH_MAX 4096
#define PKI_FILE_MAX (1024 * 1024)   /* a certificate, key, CSR or CRL file */
#define PKI_DB_MAX (8 * 1024 * 1024) /* index.txt */
#define PKI_DER_MAX 4096	     /* one certificate or key */
#define PKI_SERIAL_LEN 16	     /* random serial bytes */
#define PKI_KEYID_MAX 64

#define PKI_F_CA_KEY "ca.key"
#define PKI_F_CA_CRT "ca.crt"
#define PKI_F_CRL "crl.pem"
#define PKI_F_INDEX "index.txt"
#define PKI_F_SERIAL "serial"
#define PKI_F_CRLNUMBER "crlnumber"
#define PKI_F_CERTS "certs"
#define PKI_F_LOCK ".lock"

/* "FILE: problem" into why; returns rc so that callers can `return pki_why(...)`. */
int pki_why(char *why, size_t whysz, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An mbedTLS error code as text. */
const char *pki_tls_err(int ret, char *buf, size_t sz);

/* Random numbers: CTR-DRBG seeded from the platform entropy source (getrandom). */
struct pki_rng {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};
int pki_rng_init(struct pki_rng *r);
void pki_rng_free(struct pki_rng *r);

/* dir/name into out (PKI_PATH_MAX); -MGW_ELIMIT when too long. */
int pki_path(char out[PKI_PATH_MAX], const char *dir, const char *name);
/* Reads dir/name (or path when dir is NULL), at most PKI_FILE_MAX, NUL-terminated, not
 * through a symlink. Owned by the caller. */
int pki_read(const char *dir, const char *name, char **data, size_t *len, char *why, size_t whysz);
/* Atomic replace of dir/name with mode (core/file.h). */
int pki_write(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
	      char *why, size_t whysz);
/* Makes sure dir is a real directory owned by us with mode (creating it when create). */
int pki_dir_check(const char *dir, mode_t mode, bool create, char *why, size_t whysz);
/* Exclusive lock on dir/.lock; returns the fd (>= 0) to give to pki_unlock. */
int pki_lock(const char *dir, char *why, size_t whysz);
void pki_unlock(int fd);

/* Times. */
void pki_time_validity(time_t t, char out[16]); /* "YYYYMMDDHHMMSS" for x509write */
/* ASN.1 time text, as index.txt has it too: YYMMDDHHMMSSZ (UTCTime, true) through 2049,
 * YYYYMMDDHHMMSSZ (GeneralizedTime, false) from 2050. */
bool pki_time_index(time_t t, char out[16]);
int pki_time_index_parse(const char *s, time_t *t);
time_t pki_time_x509(const mbedtls_x509_time *xt);

/* Hex and fingerprints. */
void pki_hex(const unsigned char *p, size_t n, char *out, size_t outsz); /* upper-case */
/* Normalises a serial (hex, ':' allowed, leading zeros kept to even length) into out. */
int pki_serial_norm(const char *in, char out[PKI_SERIAL_MAX]);
int pki_fp(const unsigned char *der, size_t len, char fp[PKI_FP_MAX]);
/* mbedTLS serial buffer to the index.txt spelling. */
void pki_serial_of(const mbedtls_x509_buf *serial, char out[PKI_SERIAL_MAX]);

/* The loaded CA. */
struct pki_ca {
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	bool has_key;
	unsigned char keyid[PKI_KEYID_MAX]; /* its SKI (or SHA-1 of its public key) */
	size_t keyid_len;
};
int pki_ca_load(const char *dir, bool need_key, struct pki_ca *ca, char *why, size_t whysz);
void pki_ca_free(struct pki_ca *ca);
/* The key identifier of a CA certificate, for AKI (its SKI, else RFC 5280 method 1). */
int pki_ca_keyid(const mbedtls_x509_crt *crt, unsigned char *id, size_t *len);

/* The database (index.txt). */
struct pki_db {
	struct pki_cert_entry *e;
	size_t n, cap;
};
int pki_db_load(const char *dir, time_t now, struct pki_db *db, char *why, size_t whysz);
int pki_db_save(const char *dir, const struct pki_db *db, char *why, size_t whysz);
int pki_db_add(struct pki_db *db, const struct pki_cert_entry *e);
void pki_db_free(struct pki_db *db);
/* Reads a hex counter file (serial, crlnumber) into bytes (at most 20). */
int pki_counter_read(const char *dir, const char *name, unsigned char *b, size_t *n, char *why,
		     size_t whysz);
int pki_counter_write(const char *dir, const char *name, const unsigned char *b, size_t n,
		      char *why, size_t whysz);

/* CRL core: signs a CRL of the database's revoked lines with ca's key into PEM. */
int pki_crl_make(const struct pki_ca *ca, const struct pki_db *db, const unsigned char *number,
		 size_t number_len, time_t now, unsigned days, struct pki_rng *rng, char **pem,
		 size_t *pem_len, char *why, size_t whysz);
/* True when crl's signature verifies with ca's key (names are not compared). */
bool pki_crl_signed_by(const mbedtls_x509_crl *crl, const mbedtls_x509_crt *ca);
/* Parses and checks a CRL (PEM/DER buffer) against ca: issuer and signature. */
int pki_crl_check(const mbedtls_x509_crt *ca, const char *buf, size_t len, const char *name,
		  char *why, size_t whysz);
/* Like pki_crl_check but leaves the parsed CRL in crl (caller frees; also on failure).
 * buf must be NUL-terminated at buf[len]. */
int pki_crl_parse_checked(mbedtls_x509_crl *crl, const mbedtls_x509_crt *ca, const char *buf,
			  size_t len, const char *name, char *why, size_t whysz);
/* Signs the next CRL of the CA in dir (lock held, CA loaded with its key). */
int pki_crl_sign_locked(const char *dir, const struct pki_ca *ca, unsigned days, time_t now,
			char **crl_pem, size_t *crl_len, char *why, size_t whysz);

/* DER writing on mbedTLS's backwards ASN.1 writer (mbedtls/asn1write.h): each returns the
 * number of bytes written before *p, or a negative mbedTLS error. */
int pki_der_hdr(unsigned char **p, unsigned char *start, size_t len, unsigned char tag);
int pki_der_uint(unsigned char **p, unsigned char *start, const unsigned char *b, size_t n);
int pki_der_time(unsigned char **p, unsigned char *start, time_t t);
int pki_der_ext(unsigned char **p, unsigned char *start, const char *oid, size_t oidlen,
		const unsigned char *val, size_t vlen);
/* Finds extension oid in the Extensions SEQUENCE at p (bounded by end); its extnValue
 * content in val and vlen. 0, or -MGW_ENOENT. */
int pki_der_find_ext(const unsigned char *p, const unsigned char *end, const char *oid,
		     size_t oidlen, const unsigned char **val, size_t *vlen);
/* PEM-encodes der between "-----BEGIN label-----" lines, into a new NUL-terminated buffer. */
int pki_pem(const char *label, const unsigned char *der, size_t len, char **pem, size_t *pem_len);

/* Writes one certificate (X.509 v3, SHA-256 signature) into a new DER buffer (free()). */
struct pki_crt_spec {
	mbedtls_pk_context *subject_key; /* the public key certified */
	mbedtls_pk_context *issuer_key;	 /* the signing key */
	const char *subject;		 /* DN in mbedTLS's syntax */
	const char *issuer;		 /* DN in mbedTLS's syntax */
	const unsigned char *aki;	 /* the issuer's key identifier */
	size_t aki_len;
	const unsigned char *serial;
	size_t serial_len;
	time_t from, to;
	bool ca;	   /* CA:TRUE, keyCertSign+cRLSign; else an end entity (clientAuth) */
	const char *email; /* subjectAltName email, NULL: none */
};
int pki_crt_make(const struct pki_crt_spec *s, struct pki_rng *rng, unsigned char **der,
		 size_t *der_len, char *why, size_t whysz);
/* A new random positive serial of PKI_SERIAL_LEN bytes. */
int pki_serial_new(struct pki_rng *rng, unsigned char serial[PKI_SERIAL_LEN]);

/* An empty database, serial and crlnumber; certs/. */
int pki_db_create(const char *dir, struct pki_rng *rng, char *why, size_t whysz);

#endif
