/*
 * hello.h - which cipher suites a TLS ClientHello offers, read from the first bytes of a
 * connection before mbedTLS sees them, so that the server's own cipher preference can be
 * applied (mbedTLS 3.6 picks TLS 1.3 suites in the client's order: sess.c, conf.c).
 *
 * Only reads: nothing is allocated, nothing is consumed from the connection (the caller
 * peeks), and the bytes are trusted for nothing else: mbedTLS parses the ClientHello
 * again, fully, afterwards. Reads a prefix only (up to the end of the cipher_suites
 * list), by design.
 */
#ifndef MGW_TLS_HELLO_H
#define MGW_TLS_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * p[0..len): the first bytes of a TLS connection. For each of the nwant suite ids in
 * want, offered[i] is set to whether the ClientHello's cipher_suites list holds it.
 * MGW_PARSE_OK: the whole list was read (RFC 8446 5.1 record header, 4 handshake header,
 * 4.1.2 legacy_version, random, legacy_session_id, cipher_suites); MGW_PARSE_NEED_MORE:
 * the bytes end before the list does, inside the first record; MGW_PARSE_SYNTAX: not a
 * TLS ClientHello, a session id over 32 octets, a list that is empty or odd, or one that
 * does not fit in the first record (a hello split over records is not followed).
 * offered[] is all false unless OK.
 */
int tls_hello_offers(const uint8_t *p, size_t len, const uint16_t *want, size_t nwant,
		     bool *offered);

#endif
