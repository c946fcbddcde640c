/*
 * http_resp.c - one HTTP/1.1 response (http_resp.h). RFC 9112 sections cited inline.
 */
#include "proto/http_resp.h"

#include <string.h>

#include "core/err.h"

/* tchar, RFC 9110 5.6.2 */
static bool http_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool http_ieq(const uint8_t *p, size_t n, const char *s)
{
	size_t sl = strlen(s);

	if (n != sl)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t a = p[i], b = (uint8_t)s[i];

		if (a >= 'A' && a <= 'Z')
			a = (uint8_t)(a + 32);
		if (a != b)
			return false;
	}
	return true;
}

/* Finds the end of one line (CRLF) in [p, end): its length without CRLF, or -1 when
 * incomplete, -2 on a bare CR / bare LF. */
static long http_line(const uint8_t *p, const uint8_t *end)
{
	for (const uint8_t *q = p; q < end; q++) {
		if (*q == '\n')
			return -2;
		if (*q == '\r') {
			if (q + 1 == end)
				return -1;
			return q[1] == '\n' ? (long)(q - p) : -2;
		}
	}
	return -1;
}

/* Copies a field value (blanks trimmed) into out when it fits, else leaves "". */
static void http_copy(char *out, size_t outsz, const uint8_t *v, size_t n)
{
	out[0] = '\0';
	if (n < outsz) {
		memcpy(out, v, n);
		out[n] = '\0';
	}
}

static int http_field(const uint8_t *p, size_t n, struct http_resp *r)
{
	const uint8_t *colon = memchr(p, ':', n), *v, *vend = p + n;
	size_t nl;

	if (colon == NULL || colon == p)
		return MGW_PARSE_SYNTAX;
	nl = (size_t)(colon - p);
	for (size_t i = 0; i < nl; i++) /* no blank before ':' (RFC 9112 5.1) */
		if (!http_tchar(p[i]))
			return MGW_PARSE_SYNTAX;
	v = colon + 1;
	while (v < vend && (*v == ' ' || *v == '\t'))
		v++;
	while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
		vend--;
	for (const uint8_t *q = v; q < vend; q++)
		if ((*q < 0x20 && *q != '\t') || *q == 0x7f)
			return MGW_PARSE_SYNTAX;
	if (http_ieq(p, nl, "content-length")) {
		uint64_t cl = 0;

		/* two lengths are a smuggling attempt, even when equal (RFC 9112 6.3) */
		if (r->has_length || v == vend)
			return MGW_PARSE_SYNTAX;
		for (const uint8_t *q = v; q < vend; q++) {
			if (*q < '0' || *q > '9' || cl > (UINT64_MAX - 9) / 10)
				return MGW_PARSE_SYNTAX;
			cl = cl * 10 + (uint64_t)(*q - '0');
		}
		r->has_length = true;
		r->content_length = cl;
	} else if (http_ieq(p, nl, "transfer-encoding")) {
		if (r->chunked || !http_ieq(v, (size_t)(vend - v), "chunked"))
			return MGW_PARSE_SYNTAX;
		r->chunked = true;
	} else if (http_ieq(p, nl, "etag")) {
		http_copy(r->etag, sizeof(r->etag), v, (size_t)(vend - v));
	} else if (http_ieq(p, nl, "last-modified")) {
		http_copy(r->last_modified, sizeof(r->last_modified), v, (size_t)(vend - v));
	}
	return MGW_PARSE_OK;
}

/* Status line: HTTP-version SP 3DIGIT SP [reason] (RFC 9112 4). */
static int http_status(const uint8_t *p, size_t n, struct http_resp *r)
{
	/* "HTTP/1.1 200" without the SP and reason is tolerated */
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
	    (n > 12 && p[12] != ' '))
		return MGW_PARSE_SYNTAX;
	for (int i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return MGW_PARSE_SYNTAX;
	r->status =
	    (unsigned)(p[9] - '0') * 100 + (unsigned)(p[10] - '0') * 10 + (unsigned)(p[11] - '0');
	if (r->status < 100)
		return MGW_PARSE_SYNTAX;
	for (size_t i = 13; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return MGW_PARSE_SYNTAX;
	return MGW_PARSE_OK;
}

static int http_head(const uint8_t *data, size_t len, struct http_resp *r)
{
	const uint8_t *p = data, *end = data + (len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX);
	unsigned fields = 0;
	bool first = true;

	for (;;) {
		long n = http_line(p, end);
		int rc;

		if (n == -2)
			return MGW_PARSE_SYNTAX;
		if (n == -1)
			return len >= HTTP_HEAD_MAX ? MGW_PARSE_TOO_LONG : MGW_PARSE_NEED_MORE;
		if (first) {
			rc = http_status(p, (size_t)n, r);
			first = false;
		} else if (n == 0) {
			r->head_len = (size_t)(p + 2 - data);
			return MGW_PARSE_OK;
		} else if (*p == ' ' || *p == '\t') {
			rc = MGW_PARSE_SYNTAX; /* obs-fold (RFC 9112 5.2) */
		} else if (++fields > HTTP_FIELDS_MAX) {
			rc = MGW_PARSE_TOO_LONG;
		} else {
			rc = http_field(p, (size_t)n, r);
		}
		if (rc != MGW_PARSE_OK)
			return rc;
		p += n + 2;
	}
}

/* chunked body (RFC 9112 7.1): sizes in hex, extensions ignored, trailers skipped. */
static int http_chunked(const uint8_t *p, const uint8_t *end, size_t body_max, uint8_t *out,
			size_t outsz, struct http_resp *r)
{
	size_t total = 0;

	for (;;) {
		const uint8_t *lend = end - p > HTTP_CHUNK_LINE_MAX ? p + HTTP_CHUNK_LINE_MAX : end;
		long n = http_line(p, lend);
		uint64_t size = 0;
		size_t i;

		if (n == -2)
			return MGW_PARSE_SYNTAX;
		if (n == -1)
			return lend < end ? MGW_PARSE_TOO_LONG : MGW_PARSE_NEED_MORE;
		for (i = 0; i < (size_t)n; i++) {
			uint8_t c = p[i];
			unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
				     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
				     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
							    : 16u;
			if (d == 16)
				break;
			if (size > (UINT64_MAX >> 4))
				return MGW_PARSE_SYNTAX;
			size = (size << 4) | d;
		}
		if (i == 0 || (i < (size_t)n && p[i] != ';' && p[i] != ' ' && p[i] != '\t'))
			return MGW_PARSE_SYNTAX;
		p += n + 2;
		if (size == 0)
			break;
		if (size > body_max - total || total + size > outsz)
			return MGW_PARSE_LIMIT;
		if ((uint64_t)(end - p) < size + 2)
			return MGW_PARSE_NEED_MORE;
		if (p[size] != '\r' || p[size + 1] != '\n')
			return MGW_PARSE_SYNTAX;
		memcpy(out + total, p, (size_t)size);
		total += (size_t)size;
		p += size + 2;
	}
	/* trailer section, then the empty line */
	for (unsigned fields = 0;; fields++) {
		long n = http_line(p, end);

		if (n == -2)
			return MGW_PARSE_SYNTAX;
		if (n == -1)
			return MGW_PARSE_NEED_MORE;
		p += n + 2;
		if (n == 0)
			break;
		if (fields >= HTTP_FIELDS_MAX)
			return MGW_PARSE_TOO_LONG;
	}
	if (p != end)
		return MGW_PARSE_SYNTAX;
	r->body = out;
	r->body_len = total;
	return MGW_PARSE_OK;
}

int http_resp_parse(const uint8_t *data, size_t len, bool eof, size_t body_max, uint8_t *out,
		    size_t outsz, struct http_resp *r)
{
	const uint8_t *body;
	size_t have;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = http_head(data, len, r);
	if (rc != MGW_PARSE_OK)
		return rc == MGW_PARSE_NEED_MORE && eof ? MGW_PARSE_SYNTAX : rc;
	if (r->has_length && r->chunked)
		return MGW_PARSE_SYNTAX;
	body = data + r->head_len;
	have = len - r->head_len;
	if (r->status < 200 || r->status == 204 || r->status == 304)
		return MGW_PARSE_OK; /* no body belongs to these (RFC 9112 6.3): body NULL */
	if (r->chunked) {
		rc = http_chunked(body, data + len, body_max, out, outsz, r);
		return rc == MGW_PARSE_NEED_MORE && eof ? MGW_PARSE_SYNTAX : rc;
	}
	if (r->has_length) {
		if (r->content_length > body_max)
			return MGW_PARSE_LIMIT;
		if (have < r->content_length)
			return eof ? MGW_PARSE_SYNTAX : MGW_PARSE_NEED_MORE;
		if (have > r->content_length)
			return MGW_PARSE_SYNTAX;
		r->body = body;
		r->body_len = have;
		return MGW_PARSE_OK;
	}
	/* no length: the body ends with the connection (RFC 9112 6.3, item 8) */
	if (have > body_max)
		return MGW_PARSE_LIMIT;
	if (!eof)
		return MGW_PARSE_NEED_MORE;
	r->body = body;
	r->body_len = have;
	return MGW_PARSE_OK;
}

const char *http_resp_parse_name(int rc)
{
	switch (rc) {
	case MGW_PARSE_OK:
		return "complete";
	case MGW_PARSE_NEED_MORE:
		return "incomplete";
	case MGW_PARSE_SYNTAX:
		return "malformed HTTP response";
	case MGW_PARSE_TOO_LONG:
		return "HTTP header too long";
	case MGW_PARSE_LIMIT:
		return "body larger than the size limit";
	default:
		return "?";
	}
}
