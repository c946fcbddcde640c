/*
 * buf.h - bounded byte buffers with checked accessors, and a resumable line reader.
 *
 * A buf owns its storage (heap, grown on demand up to max, wiped on free). Data lives in
 * [start, end); nothing outside buf.c does pointer arithmetic on it. Pointers returned by
 * buf_data() and buf_lr_next() are borrowed until the next call that changes the buf.
 */
#ifndef MGW_BUF_H
#define MGW_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t cap, start, end;
	size_t max; /* hard limit on buffered bytes */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b); /* wipes the contents */

size_t buf_len(const struct buf *b);
size_t buf_room(const struct buf *b); /* bytes that may still be added */
const uint8_t *buf_data(const struct buf *b);
/* -MGW_ELIMIT (nothing added) if len exceeds buf_room(). */
int buf_append(struct buf *b, const void *p, size_t len);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(struct buf *b, size_t len);
void buf_reset(struct buf *b);
/* A writable tail of at least 1 and at most want bytes (want capped by the room); NULL
 * when the buf is full or memory is short. Follow with buf_commit(). */
uint8_t *buf_tail(struct buf *b, size_t want, size_t *got);
void buf_commit(struct buf *b, size_t len);

/* A line as the reader found it: text without its terminator. */
struct buf_line {
	const uint8_t *text;
	size_t len;
	bool crlf; /* ended in CR LF; false: ended in a bare LF */
};

/* Line reader state: resumable across reads, never rescans bytes it has seen. */
struct buf_lr {
	size_t max;      /* maximum line length including the terminator */
	size_t scanned;  /* bytes of the current line already searched for LF */
	bool discarding; /* an overlong line is being skipped up to its LF */
};

void buf_lr_init(struct buf_lr *lr, size_t max);
/*
 * Finds the next line in b. MGW_PARSE_OK: *line is set; its text stays in b (borrowed)
 * until the caller calls buf_lr_done(). MGW_PARSE_NEED_MORE: no full line yet.
 * MGW_PARSE_TOO_LONG: a line exceeded max; it is reported once and then skipped up to and
 * including its LF, after which reading resumes normally.
 */
int buf_lr_next(struct buf_lr *lr, struct buf *b, struct buf_line *line);
/* Consumes the line returned by the last successful buf_lr_next(). */
void buf_lr_done(struct buf_lr *lr, struct buf *b, const struct buf_line *line);

#endif
