/*
 * pki.h - the built-in office CA: create or import the CA, issue client certificates
 * (or sign a user's CSR), keep the database of issued certificates, revoke, write and
 * re-sign the CRL, and write a user's bundle (PKCS#12, PEMs, .fetchmailrc, README) to a
 * USB key. Used by the console (`mailgw ca|cert|crl ...`) and by crlwatch.
 *
 * A CA directory (`/data/ca/` on the board; every function takes it as `dir`) holds, all
 * root-only (directory and certs/ 0700, files 0600), in the shape of `openssl ca`:
 *   ca.key      the CA's private key (PEM), absent for an imported CA without its key
 *   ca.crt      the CA certificate (PEM)
 *   crl.pem     the CA's current CRL (PEM) - the file the caller installs as
 *               /data/etc/tls/crl.pem
 *   index.txt   the database: one line per issued certificate, openssl's format:
 *               V<TAB>expiry<TAB><TAB>SERIAL<TAB>unknown<TAB>/CN=joe@example.test
 *               R<TAB>expiry<TAB>revoked[,reason]<TAB>SERIAL<TAB>unknown<TAB>/CN=...
 *               (times YYMMDDHHMMSSZ, SERIAL upper-case hex)
 *   serial      the next certificate serial (hex; random, positive, 16 bytes)
 *   crlnumber   the next CRL number (hex, monotonic)
 *   certs/      SERIAL.pem: a copy of every issued certificate
 * Every file is rewritten atomically (temporary name, fsync, rename, fsync of the
 * directory), never through a symlink; mutating calls hold an exclusive lock
 * (flock on dir/.lock) so two consoles cannot interleave.
 *
 * Errors: every function returns 0 or a negative -MGW_E* code (core/err.h) and, on
 * failure, writes a one-line human reason naming the file ("FILE: problem") into
 * why[whysz] (PKI_WHY_MAX is enough). `now` is the current time (time(NULL)); it is a
 * parameter so that the tests can move the clock.
 *
 * Memory: buffers returned through `char **` are heap-allocated, NUL-terminated and owned
 * by the caller (free(), or the named *_free function which also wipes secrets).
 */
#ifndef MGW_PKI_H
#define MGW_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PKI_WHY_MAX 512
#define PKI_FP_MAX 96		/* "AA:BB:..." SHA-256 fingerprint, NUL included */
#define PKI_SERIAL_MAX 41	/* up to 20 bytes as upper-case hex, NUL included */
#define PKI_DN_MAX 320		/* subject/issuer as text ("CN=joe@example.test") */
#define PKI_LOGIN_MAX 254	/* user@domain */
#define PKI_PASS_MAX 32		/* one-time PKCS#12 passphrase, NUL included */
#define PKI_PATH_MAX_INFO 512	/* pki_ca_info.replaced */
#define PKI_CA_DAYS 3650	/* 10 years */
#define PKI_CRL_DAYS 30		/* default CRL validity (thisUpdate to nextUpdate) */
#define PKI_CRL_REFRESH_DAYS 29 /* default: re-sign when nextUpdate is closer than this */
#define PKI_CERT_YEARS_MIN 1
#define PKI_CERT_YEARS_MAX 3

/* Flags for pki_ca_create / pki_ca_import. PKI_F_REPLACE: replace an existing CA; its
 * files (key, certificate, CRL, database, certs/) are moved to dir/replaced-DATE/ (kept,
 * not destroyed), and moved back if the new CA cannot be written. */
#define PKI_F_REPLACE 1u

/* CRL reason codes (RFC 5280 section 5.3.1); the index.txt spelling is openssl's. */
enum pki_reason {
	PKI_REASON_UNSPECIFIED = 0, /* no reasonCode extension in the CRL entry */
	PKI_REASON_KEY_COMPROMISE = 1,
	PKI_REASON_CA_COMPROMISE = 2,
	PKI_REASON_AFFILIATION_CHANGED = 3,
	PKI_REASON_SUPERSEDED = 4,
	PKI_REASON_CESSATION = 5, /* cessationOfOperation */
};

/* Parses an openssl reason name ("keyCompromise", case-insensitive; also "key-compromise"
 * style with dashes). 0 or -MGW_EINVAL. */
int pki_reason_parse(const char *s, enum pki_reason *r);
/* openssl's name of r ("unspecified", "keyCompromise", ...); never NULL. */
const char *pki_reason_name(enum pki_reason r);

/* ---- the CA ------------------------------------------------------------------------ */

struct pki_ca_info {
	char subject[PKI_DN_MAX];
	char fp[PKI_FP_MAX]; /* SHA-256 of the certificate's DER */
	time_t not_before, not_after;
	bool has_key;			  /* dir/ca.key present (the gateway can sign) */
	bool has_crl;			  /* a CRL came with it / dir/crl.pem present */
	time_t crl_next_update;		  /* when has_crl */
	char replaced[PKI_PATH_MAX_INFO]; /* create/import with PKI_F_REPLACE: the folder the
					   * old CA was moved to (dir/replaced-DATE), else "" */
};

/*
 * Creates a new office CA in dir (created 0700 if missing): an ECDSA P-256 key (ca.key
 * 0600), a self-signed certificate valid PKI_CA_DAYS from now - 1 hour, with
 * basicConstraints CA:TRUE (critical), keyUsage keyCertSign+cRLSign (critical), SKI;
 * an empty index.txt, serial, crlnumber, certs/ and the initial CRL (crl_days, 0 means
 * PKI_CRL_DAYS) in crl.pem. name is either a plain common name ("Example Office CA":
 * letters, digits, space and -._@' only) or a DN in mbedTLS's syntax
 * ("CN=Example Office CA,O=Example Ltd,C=IE"). Without PKI_F_REPLACE an existing
 * dir/ca.crt or ca.key is -MGW_EEXIST. Fills info when not NULL.
 * 0, -MGW_EEXIST, -MGW_EINVAL (bad name), -MGW_EIO, -MGW_ENOSPC, -MGW_ETLS.
 */
int pki_ca_create(const char *dir, const char *name, unsigned crl_days, unsigned flags, time_t now,
		  struct pki_ca_info *info, char *why, size_t whysz);

/*
 * Reads a CA certificate file without writing anything, for the console to show the
 * fingerprint before the admin confirms an import. crt_path may be the reference
 * article's CAcrl-bundle (the CA certificate, then the CRL, PEM); a bundled CRL is
 * validated (issuer = the CA, signature) and reported in info->has_crl. key_path (NULL:
 * none) must be the certificate's key. The certificate must be a CA (basicConstraints
 * CA:TRUE). 0, -MGW_ENOENT, -MGW_EINVAL (not a CA, key does not match, bad CRL), -MGW_EIO.
 */
int pki_ca_inspect(const char *crt_path, const char *key_path, time_t now, struct pki_ca_info *info,
		   char *why, size_t whysz);

/*
 * Imports an existing CA into dir: the checks of pki_ca_inspect, then ca.crt, ca.key (when
 * key_path is given; checked to match the certificate, else refused with -MGW_EINVAL),
 * crl.pem from the bundle or from crl_path (NULL: none; validated against the CA), a new
 * empty database. Without any CRL but with the key, an initial CRL is signed; without CRL
 * and key, info->has_crl is false and the caller must `crl import` one before the gateway
 * can use the CA. Without PKI_F_REPLACE an existing CA is -MGW_EEXIST.
 */
int pki_ca_import(const char *dir, const char *crt_path, const char *key_path, const char *crl_path,
		  unsigned crl_days, unsigned flags, time_t now, struct pki_ca_info *info,
		  char *why, size_t whysz);

/* Describes the CA in dir (-MGW_ENOENT when there is none). */
int pki_ca_info(const char *dir, time_t now, struct pki_ca_info *info, char *why, size_t whysz);

/* Describes certificate number index (0: the first) of an installed CA file, which may
 * hold several CAs ([tls] ca): subject, fingerprint and dates only (has_key and has_crl
 * false). -MGW_ENOENT when the file is missing or has no certificate index, -MGW_EINVAL
 * naming the file when it does not parse, -MGW_EIO. */
int pki_ca_show_nth(const char *crt_path, unsigned index, struct pki_ca_info *info, char *why,
		    size_t whysz);

/* ---- certificates -------------------------------------------------------------------- */

/* A certificate just issued. key_pem is NULL for pki_cert_sign (the user kept the key). */
struct pki_issued {
	char login[PKI_LOGIN_MAX + 1];
	char serial[PKI_SERIAL_MAX];
	char fp[PKI_FP_MAX];
	time_t not_before, not_after;
	char *crt_pem; /* owned */
	size_t crt_len;
	char *key_pem; /* owned, secret: wiped by pki_issued_free */
	size_t key_len;
};

/* Frees and wipes what pki_cert_issue / pki_cert_sign put in is; safe on a zeroed one. */
void pki_issued_free(struct pki_issued *is);

/* True when login is user@domain in the syntax the gateway accepts for its users
 * (lower-case letters, digits and .-_+ in the local part, a DNS name after the '@'). */
bool pki_login_ok(const char *login);

/*
 * Issues a client certificate for login (which the caller has checked is an existing
 * user): a new ECDSA P-256 key; subject CN=login; subjectAltName email:login; EKU
 * clientAuth; keyUsage digitalSignature (critical); basicConstraints CA:FALSE; AKI =
 * the CA's SKI; SKI; valid from now - 1 hour for years (1..3) years; a unique random
 * serial. Records it in index.txt and certs/. Needs the CA key.
 * 0, -MGW_EINVAL (bad login/years), -MGW_ENOENT (no CA, no CA key), -MGW_EIO,
 * -MGW_ENOSPC, -MGW_ETLS.
 */
int pki_cert_issue(const char *dir, const char *login, unsigned years, time_t now,
		   struct pki_issued *out, char *why, size_t whysz);

/*
 * Signs the PEM or DER CSR at csr_path for login, like pki_cert_issue but with the CSR's
 * public key (EC P-256/P-384 or RSA >= 2048). The CSR's signature must verify. A CSR
 * naming another identity (its subject CN, emailAddress or any email SAN differs from
 * login, ignoring case) is refused with -MGW_EPERM. Whatever else the CSR asks for
 * (other names, extensions, CA:TRUE) is ignored: the certificate's identity is login and
 * its extensions are the ones above.
 */
int pki_cert_sign(const char *dir, const char *login, const char *csr_path, unsigned years,
		  time_t now, struct pki_issued *out, char *why, size_t whysz);

/* One line of the database. */
struct pki_cert_entry {
	char status; /* 'V' valid, 'R' revoked, 'E' expired at `now` (not revoked) */
	time_t not_after;
	time_t revoked_at; /* 0 unless revoked */
	enum pki_reason reason;
	char serial[PKI_SERIAL_MAX];
	char subject[PKI_DN_MAX];      /* as in index.txt: "/CN=joe@example.test" */
	char login[PKI_LOGIN_MAX + 1]; /* the CN, "" if the subject has none */
};

/* All certificates of the database in file order, as a new array (free()). *n may be 0.
 * 0, -MGW_ENOENT (no CA), -MGW_EINVAL (index.txt:LINE: bad line), -MGW_EIO. */
int pki_cert_list(const char *dir, time_t now, struct pki_cert_entry **entries, size_t *n,
		  char *why, size_t whysz);

/* One certificate by serial (hex, any case, ':' separators allowed), with its PEM from
 * certs/ (owned, NULL when crt_pem is NULL) and its not_before and fingerprint.
 * -MGW_ENOENT when unknown. */
int pki_cert_show(const char *dir, const char *serial, time_t now, struct pki_cert_entry *e,
		  time_t *not_before, char fp[PKI_FP_MAX], char **crt_pem, char *why, size_t whysz);

/*
 * Revokes: which is a serial (as for pki_cert_show) or a login (every valid, unexpired
 * certificate of that login). Marks the lines R with now and reason, signs a new CRL
 * (crl_days, 0: PKI_CRL_DAYS) into dir/crl.pem and returns it in *crl_pem (when crl_pem
 * is not NULL; the caller installs it as /data/etc/tls/crl.pem and reloads mailgwd).
 * *count (when not NULL) is the number of certificates revoked now.
 * 0, -MGW_ENOENT (no such certificate, or nothing valid left for that login),
 * -MGW_EEXIST (that serial is already revoked), -MGW_ENOENT (no CA key), -MGW_EIO, ...
 */
int pki_cert_revoke(const char *dir, const char *which, enum pki_reason reason, unsigned crl_days,
		    time_t now, unsigned *count, char **crl_pem, size_t *crl_len, char *why,
		    size_t whysz);

/* ---- the CRL --------------------------------------------------------------------------- */

struct pki_crl_entry {
	char serial[PKI_SERIAL_MAX];
	time_t revoked_at;
	enum pki_reason reason;
};

struct pki_crl_info {
	char issuer[PKI_DN_MAX];
	time_t this_update, next_update;
	long long seconds_left;	     /* next_update - now; negative once expired */
	char number[PKI_SERIAL_MAX]; /* CRL number, hex ("" when the CRL has none) */
	bool verified;		     /* signature checked against the CA */
	size_t n;
	struct pki_crl_entry *entries; /* owned: pki_crl_info_free */
};

void pki_crl_info_free(struct pki_crl_info *ci);

/* Reads the CRL at crl_path (PEM or DER) and, when ca_path is not NULL, checks that the
 * CA at ca_path issued and signed it (else -MGW_EINVAL naming the file). */
int pki_crl_show(const char *crl_path, const char *ca_path, time_t now, struct pki_crl_info *ci,
		 char *why, size_t whysz);
/* The same for CRL number index (0: the first) of a file that may hold several (the
 * installed [tls] crl holds one per CA of [tls] ca): the CA of ca_path that issued it must
 * have signed it. -MGW_ENOENT when the file has no CRL index. */
int pki_crl_show_nth(const char *crl_path, const char *ca_path, unsigned index, time_t now,
		     struct pki_crl_info *ci, char *why, size_t whysz);

/* Signs a new CRL now from the database (every R line), valid crl_days (0: PKI_CRL_DAYS),
 * with the next CRL number; writes dir/crl.pem and returns it like pki_cert_revoke. */
int pki_crl_sign(const char *dir, unsigned crl_days, time_t now, char **crl_pem, size_t *crl_len,
		 char *why, size_t whysz);

/*
 * Re-signs the CRL when dir/crl.pem is missing, unreadable or its nextUpdate is closer than
 * min_days (0: PKI_CRL_REFRESH_DAYS) days from now; *resigned tells which. With
 * *resigned true the new CRL is returned like pki_crl_sign (else *crl_pem is NULL).
 * The CA key is needed only when re-signing.
 */
int pki_crl_refresh(const char *dir, unsigned min_days, unsigned crl_days, time_t now,
		    bool *resigned, char **crl_pem, size_t *crl_len, char *why, size_t whysz);

/* Imports a CRL (PEM or DER) for the CA in dir (an imported CA without its key): checks
 * issuer and signature against dir/ca.crt, writes dir/crl.pem, returns the PEM. */
int pki_crl_import(const char *dir, const char *crl_path, time_t now, char **crl_pem,
		   size_t *crl_len, char *why, size_t whysz);

/* ---- PKCS#12 and the user's bundle ---------------------------------------------------- */

/* Writes a random one-time passphrase (about 99 bits: 20 characters from 31 unambiguous
 * ones, in groups of five: "k7mq2-x9fpa-...") into pass. 0 or -MGW_ETLS. */
int pki_passphrase(char pass[PKI_PASS_MAX]);

/*
 * Builds a PKCS#12 (RFC 7292) file in DER: the private key (key_pem) in a
 * pkcs8ShroudedKeyBag, the certificate (crt_pem) and the CA certificate (ca_pem, NULL:
 * none) in certBags inside an encryptedData; both encrypted with PBES2 (PBKDF2-HMAC-SHA256,
 * AES-256-CBC, random salt and IV), MAC HMAC-SHA256 (RFC 7292 appendix B key derivation);
 * friendlyName (NULL: none) and a localKeyID pairing key and certificate. *der is owned by
 * the caller (free()).
 */
int pki_p12_build(const char *key_pem, const char *crt_pem, const char *ca_pem,
		  const char *friendly, const char *pass, unsigned char **der, size_t *len,
		  char *why, size_t whysz);

/* What the bundle's .fetchmailrc, curl example and README.txt say about the gateway. */
struct pki_bundle_opts {
	const char *host;	/* the gateway's name as users reach it */
	unsigned pop3s_port;	/* 0: 995 */
	unsigned imaps_port;	/* 0: no IMAPS line in README.txt */
	const char *server_crt; /* the server certificate (PEM) for its fingerprint; NULL:
				 * README.txt says the fingerprint is unknown */
	const char *cert_dir;	/* where the user will keep the files, for .fetchmailrc
				 * (NULL: "/home/LOCAL/.certs"; fetchmail wants
				 * absolute paths; the file's comment says so) */
};

/*
 * Writes the bundle for is into out_dir (which must exist; a USB key's mount point or a
 * folder on it): LOCAL.p12 (when is->key_pem; PKCS#12 protected by a new one-time
 * passphrase, returned in pass for the caller to show once, "" without a key),
 * LOCAL.crt, LOCAL.key (0600, when is->key_pem), office-ca.pem (the CA certificate of
 * ca_dir), .fetchmailrc (0600), curl-example.sh and README.txt (server fingerprint,
 * POP3S/IMAPS settings). LOCAL is the login's local part ("joe"). When the office CA did
 * not issue o->server_crt (self-signed at first boot), that file goes along as
 * server.pem and .fetchmailrc/curl-example.sh trust it instead of office-ca.pem.
 * All files are written to temporary names first, fsynced, then renamed; when anything
 * fails (a full key: -MGW_ENOSPC, a key pulled out: -MGW_EIO) every file of this call
 * is removed again and why names the file and the cause.
 */
int pki_bundle_write(const char *out_dir, const char *ca_dir, const struct pki_issued *is,
		     const struct pki_bundle_opts *o, char pass[PKI_PASS_MAX], char *why,
		     size_t whysz);

#endif
