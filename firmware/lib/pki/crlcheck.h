/*
 * crlcheck.h - the one validation of a candidate CRL before it may replace the installed
 * one (crlwatch, `mailgw crl import`): every source (file, USB key, HTTP, re-signing)
 * goes through pki_crl_candidate and nothing else decides what is installed.
 *
 * A candidate (PEM or DER, exactly one CRL) is accepted only when:
 *   - it is at most pol->max_size bytes and parses with the mbedTLS of the gate (which
 *     refuses critical extensions it cannot honour);
 *   - its issuer is byte-for-byte the subject of one of the configured CA certificates
 *     (the CA file may hold several, as [tls] ca may) and its signature verifies with that
 *     CA's key;
 *   - thisUpdate is not later than now + pol->skew_s; nextUpdate is present and later
 *     than now;
 *   - it does not go back against the installed CRL of the same CA: its CRL number is not
 *     smaller (and present when the installed one has one), its thisUpdate not earlier.
 * A candidate equal to the installed CRL (same DER) is reported as PKI_CRL_SAME, not an
 * error: nothing needs installing.
 *
 * The installed CRL file holds one CRL per configured CA (the gate refuses a CA without
 * its CRL, and two CRLs of one CA). A candidate replaces only its own CA's CRL: the file
 * to install (cand->set) is the other CAs' installed CRLs, unchanged, with the candidate
 * in its CA's place, in the order of the CA file; installed CRLs of a CA that is no longer
 * configured are left out.
 */
#ifndef MGW_PKI_CRLCHECK_H
#define MGW_PKI_CRLCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "pki/pki.h"

#define PKI_CRL_SIZE_MAX (1024 * 1024) /* default and largest size cap of a candidate */
#define PKI_CRL_SKEW_S 300	       /* default: thisUpdate may be this far ahead */

struct pki_crl_policy {
	size_t max_size; /* bytes; 0: PKI_CRL_SIZE_MAX */
	unsigned skew_s;
};

enum pki_crl_verdict {
	PKI_CRL_NEWER = 0, /* valid and newer than the installed one: install it */
	PKI_CRL_SAME = 1,  /* valid and the very CRL already installed */
};

#define PKI_CRL_ISSUER_MAX 256

/* What was accepted. pem and set are owned (pki_crl_cand_free). */
struct pki_crl_cand {
	time_t this_update, next_update;
	char number[PKI_SERIAL_MAX];	 /* hex, "" when the CRL has none */
	size_t revoked;			 /* entries */
	char issuer[PKI_CRL_ISSUER_MAX]; /* the issuing CA's subject, for messages */
	char *pem;			 /* the CRL re-encoded as one PEM block */
	size_t pem_len;
	char *set; /* the CRL file to install: one PEM CRL per configured CA */
	size_t set_len;
	unsigned kept;	  /* other CAs' installed CRLs carried over into set */
	unsigned dropped; /* installed CRLs of no configured CA, left out of set */
};

void pki_crl_cand_free(struct pki_crl_cand *c);

/* The CA certificate file (PEM or DER, one or more certificates) as bytes the caller
 * read: the validation may run where the file itself cannot be opened (crlwatch's
 * unprivileged child). name is the file's name for messages. Borrowed. */
struct pki_crl_ca {
	const void *data;
	size_t len;
	const char *name;
};

/*
 * Validates len bytes at data (the candidate, named name in messages) against the CA
 * certificates ca and the installed CRL file (installed/ilen, NULL/0: none; an
 * installed file that does not parse is not compared against, and only the other CAs'
 * CRLs that parse are carried over).
 * Returns PKI_CRL_NEWER or PKI_CRL_SAME with c filled, or a negative -MGW_E* code
 * (-MGW_EINVAL: refused, -MGW_ELIMIT: too large, -MGW_EIO: CA unusable) with one line
 * "NAME: reason" in why.
 */
int pki_crl_candidate(const struct pki_crl_ca *ca, const void *data, size_t len,
		      const void *installed, size_t ilen, const struct pki_crl_policy *pol,
		      time_t now, struct pki_crl_cand *c, const char *name, char *why,
		      size_t whysz);

/*
 * The installed CRL file (crl_len bytes at crl, named crl_path in messages) against the
 * CA certificates ca: the earliest nextUpdate among the CRLs of the configured CAs into
 * *next, and that CA's subject into issuer. 0, or -MGW_ENOENT (unusable, or a configured
 * CA without a valid CRL: why says which).
 */
int pki_crl_set_next(const void *crl, size_t crl_len, const char *crl_path,
		     const struct pki_crl_ca *ca, time_t *next, char *issuer, size_t issuersz,
		     char *why, size_t whysz);

/* Compares two CRL numbers given as hex ("" = none): <0, 0, >0 like memcmp. */
int pki_crl_number_cmp(const char *a, const char *b);

/* The first http:// or https:// URI of the cRLDistributionPoints extension (RFC 5280
 * 4.2.1.13) of certificate number index (0: the first) of the file crt_path, into url.
 * 0, -MGW_ENOENT (none), -MGW_EIO (file unreadable), -MGW_EINVAL (the file has no
 * certificate index), -MGW_ELIMIT (longer than urlsz - 1). */
int pki_crt_crl_url(const char *crt_path, unsigned index, char *url, size_t urlsz);

#endif
