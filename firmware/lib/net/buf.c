/* buf.c - the only place that does arithmetic on buffer pointers. */
#include "net/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define BUF_MIN_CAP 512

void buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void buf_free(struct buf *b)
{
	if (b->data) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	buf_init(b, b->max);
}

size_t buf_len(const struct buf *b)
{
	return b->end - b->start;
}

size_t buf_room(const struct buf *b)
{
	return b->max - buf_len(b);
}

const uint8_t *buf_data(const struct buf *b)
{
	return b->data ? b->data + b->start : (const uint8_t *)"";
}

void buf_reset(struct buf *b)
{
	b->start = b->end = 0;
}

void buf_consume(struct buf *b, size_t len)
{
	if (len > buf_len(b))
		len = buf_len(b);
	b->start += len;
	if (b->start == b->end)
		b->start = b->end = 0;
}

/* Makes room for `need` more bytes at the tail: compacts, then grows. */
static int buf_make_room(struct buf *b, size_t need)
{
	size_t len = buf_len(b), cap;
	uint8_t *p;

	if (need > buf_room(b))
		return -MGW_ELIMIT;
	if (b->cap - b->end >= need)
		return 0;
	if (b->start > 0) {
		memmove(b->data, b->data + b->start, len);
		b->start = 0;
		b->end = len;
		if (b->cap - b->end >= need)
			return 0;
	}
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < len + need)
		cap *= 2;
	if (cap > b->max)
		cap = b->max;
	p = realloc(b->data, cap);
	if (p == NULL)
		return -MGW_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t len)
{
	int rc = buf_make_room(b, len);

	if (rc < 0 || len == 0)
		return rc;
	memcpy(b->data + b->end, p, len);
	b->end += len;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -MGW_EINVAL;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	{
		int rc = buf_make_room(b, (size_t)n + 1);

		if (rc < 0)
			return rc;
		va_start(ap, fmt);
		vsnprintf((char *)b->data + b->end, (size_t)n + 1, fmt, ap);
		va_end(ap);
		b->end += (size_t)n;
	}
	return 0;
}

uint8_t *buf_tail(struct buf *b, size_t want, size_t *got)
{
	size_t room = buf_room(b);

	*got = 0;
	if (want > room)
		want = room;
	if (want == 0)
		return NULL;
	/* Try for the whole want, settle for what compaction alone gives. */
	if (buf_make_room(b, want) < 0) {
		if (b->cap - b->end == 0 && buf_make_room(b, 1) < 0)
			return NULL;
		want = b->cap - b->end;
	}
	if (want > b->cap - b->end)
		want = b->cap - b->end;
	*got = want;
	return b->data + b->end;
}

void buf_commit(struct buf *b, size_t len)
{
	if (len > b->cap - b->end)
		len = b->cap - b->end;
	b->end += len;
}

void buf_lr_init(struct buf_lr *lr, size_t max)
{
	memset(lr, 0, sizeof(*lr));
	lr->max = max;
}

int buf_lr_next(struct buf_lr *lr, struct buf *b, struct buf_line *line)
{
	for (;;) {
		const uint8_t *p = buf_data(b);
		size_t len = buf_len(b);
		const uint8_t *lf = lr->scanned < len ? memchr(p + lr->scanned, '\n', len - lr->scanned) : NULL;

		if (lr->discarding) {
			if (lf == NULL) {
				buf_consume(b, len);
				lr->scanned = 0;
				return MGW_PARSE_NEED_MORE;
			}
			buf_consume(b, (size_t)(lf - p) + 1);
			lr->discarding = false;
			lr->scanned = 0;
			continue;
		}
		if (lf == NULL) {
			lr->scanned = len;
			if (len >= lr->max) {
				lr->discarding = true;
				return MGW_PARSE_TOO_LONG;
			}
			return MGW_PARSE_NEED_MORE;
		}
		if ((size_t)(lf - p) + 1 > lr->max) {
			buf_consume(b, (size_t)(lf - p) + 1);
			lr->scanned = 0;
			return MGW_PARSE_TOO_LONG;
		}
		line->text = p;
		line->len = (size_t)(lf - p);
		line->crlf = line->len > 0 && p[line->len - 1] == '\r';
		if (line->crlf)
			line->len--;
		lr->scanned = 0;
		return MGW_PARSE_OK;
	}
}

void buf_lr_done(struct buf_lr *lr, struct buf *b, const struct buf_line *line)
{
	buf_consume(b, line->len + (line->crlf ? 2u : 1u));
	lr->scanned = 0;
}
