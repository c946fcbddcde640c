/*
 * http_resp.h - parser of one HTTP/1.1 response (RFC 9112) as crlwatch's CRL fetch gets
 * it: status line, header fields, then a body delimited by Content-Length, by chunked
 * transfer coding, or by the end of the connection.
 *
 * The parser works on the bytes received so far (data, len; eof true once the peer
 * closed) and never allocates: the body is described by where it is (identity) or
 * decoded into a caller buffer (chunked). It is called again with more bytes until it
 * answers OK. Limits are named and checked as the bytes come: HTTP_HEAD_MAX bytes of
 * status line and header fields, HTTP_FIELDS_MAX fields, body at most body_max.
 *
 * Refused (MGW_PARSE_SYNTAX): not "HTTP/1.x NNN", a bare CR, LF without CR, NUL or
 * other control characters in the head, obs-fold, a field without ':' or with blanks
 * before it, two Content-Length fields, a Content-Length that is not digits, both
 * Content-Length and Transfer-Encoding, a transfer coding other than "chunked", a bad
 * chunk size line, data after a Content-Length body (one request per connection).
 */
#ifndef MGW_HTTP_RESP_H
#define MGW_HTTP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX 16384 /* status line + header fields */
#define HTTP_FIELDS_MAX 64
#define HTTP_ETAG_MAX 128
#define HTTP_DATE_MAX 64
#define HTTP_CHUNK_LINE_MAX 256

struct http_resp {
	unsigned status; /* 100..999 */
	size_t head_len; /* bytes of status line + fields + empty line */
	bool chunked;
	bool has_length;
	uint64_t content_length;
	char etag[HTTP_ETAG_MAX];	   /* "" when absent (or too long) */
	char last_modified[HTTP_DATE_MAX]; /* "" when absent (or too long) */
	/* the body, when OK: for identity at data + head_len, body_len bytes; for chunked,
	 * decoded into the caller's buffer */
	const uint8_t *body;
	size_t body_len;
};

/*
 * Parses what has been received. out/outsz: the buffer chunked bodies are decoded into
 * (at least body_max bytes; may be NULL when body_max is 0). Returns MGW_PARSE_OK (r
 * complete), MGW_PARSE_NEED_MORE, MGW_PARSE_SYNTAX, MGW_PARSE_TOO_LONG (head over
 * HTTP_HEAD_MAX, too many fields, a chunk line too long) or MGW_PARSE_LIMIT (body over
 * body_max). A response to which no body belongs (1xx, 204, 304) is complete after the
 * head (body NULL, body_len 0).
 */
int http_resp_parse(const uint8_t *data, size_t len, bool eof, size_t body_max, uint8_t *out,
		    size_t outsz, struct http_resp *r);

/* The reason phrase is not kept; a short name for common errors. */
const char *http_resp_parse_name(int rc);

#endif
