/*
 * hello.c - the cipher suites a ClientHello offers (hello.h). A (p, end) reader over the
 * first record: every length is checked against what remains before it is used.
 */
#include "tls/hello.h"

#include <string.h>

#include "core/err.h"

#define TLS_HELLO_REC_HDR 5	    /* type, legacy_record_version, length (RFC 8446 5.1) */
#define TLS_HELLO_HS_HDR 4	    /* msg_type, uint24 length (RFC 8446 4) */
#define TLS_HELLO_REC_MAX 16384	    /* TLSPlaintext.length <= 2^14 */
#define TLS_HELLO_RANDOM 32	    /* Random */
#define TLS_HELLO_SESSION_ID_MAX 32 /* legacy_session_id<0..32> */
#define TLS_HELLO_CT_HANDSHAKE 22   /* ContentType handshake */
#define TLS_HELLO_HT_CLIENT_HELLO 1 /* HandshakeType client_hello */

int tls_hello_offers(const uint8_t *p, size_t len, const uint16_t *want, size_t nwant,
		     bool *offered)
{
	const uint8_t *end, *list;
	size_t reclen, n;
	int short_rc;

	memset(offered, 0, nwant * sizeof(*offered));
	if (len < TLS_HELLO_REC_HDR)
		return MGW_PARSE_NEED_MORE;
	if (p[0] != TLS_HELLO_CT_HANDSHAKE || p[1] != 3)
		return MGW_PARSE_SYNTAX;
	reclen = (size_t)p[3] << 8 | p[4];
	if (reclen > TLS_HELLO_REC_MAX)
		return MGW_PARSE_SYNTAX;
	/* end: what we have of the first record, where the list must lie. Bytes ending
	 * before the record does need more; a record ending before the list is malformed
	 * (or a hello split over records, which we do not follow: the caller falls back). */
	if (len - TLS_HELLO_REC_HDR < reclen) {
		end = p + len;
		short_rc = MGW_PARSE_NEED_MORE;
	} else {
		end = p + TLS_HELLO_REC_HDR + reclen;
		short_rc = MGW_PARSE_SYNTAX;
	}
	p += TLS_HELLO_REC_HDR;
	if ((size_t)(end - p) < TLS_HELLO_HS_HDR)
		return short_rc;
	if (p[0] != TLS_HELLO_HT_CLIENT_HELLO)
		return MGW_PARSE_SYNTAX;
	p += TLS_HELLO_HS_HDR;
	/* legacy_version and random, then the session id's length octet. */
	if ((size_t)(end - p) < 2 + TLS_HELLO_RANDOM + 1)
		return short_rc;
	p += 2 + TLS_HELLO_RANDOM;
	n = *p++;
	if (n > TLS_HELLO_SESSION_ID_MAX)
		return MGW_PARSE_SYNTAX;
	if ((size_t)(end - p) < n + 2)
		return short_rc;
	p += n;
	n = (size_t)p[0] << 8 | p[1];
	p += 2;
	if (n < 2 || n % 2 != 0)
		return MGW_PARSE_SYNTAX;
	if ((size_t)(end - p) < n)
		return short_rc;
	list = p;
	for (size_t i = 0; i < nwant; i++)
		for (const uint8_t *q = list; q < list + n; q += 2)
			if ((uint16_t)(q[0] << 8 | q[1]) == want[i])
				offered[i] = true;
	return MGW_PARSE_OK;
}
