/*
 * crlf.h - the form in which a stored message goes out: CRLF line ends.
 *
 * Maildirs hold messages with CRLF line ends (what our SMTP stores) or with LF (what
 * dovecot, procmail and most copies from another server hold), sometimes mixed. POP3
 * (RFC 1939 section 3) and IMAP (RFC 3501 section 4.3, RFC822.SIZE) send CRLF, so readers
 * convert while they stream, by one rule:
 *
 *   - a LF that does not follow a CR becomes CR LF; a CR LF stays as it is;
 *   - a message that is not empty and does not end in LF gets a final CR LF.
 *
 * The size of a message in that form (dovecot calls it the virtual size and records it
 * as ",W=<n>" in the file name) is what LIST, STAT and "+OK n octets" report. This
 * counter computes it over a stream of chunks, without holding the message. Pure: no I/O.
 */
#ifndef MGW_CRLF_H
#define MGW_CRLF_H

#include <stddef.h>
#include <stdint.h>

struct crlf_count {
	uint64_t n;   /* octets of the CRLF form so far (without the final CR LF) */
	uint8_t last; /* the last byte seen, 0 before the first */
	uint8_t any;  /* at least one byte seen */
};

/* Adds len bytes of the stored form. c starts zeroed. */
void crlf_count_add(struct crlf_count *c, const void *p, size_t len);

/* The size of the whole CRLF form (the final CR LF included when it is added). */
uint64_t crlf_count_total(const struct crlf_count *c);

#endif
