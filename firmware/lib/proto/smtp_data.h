/*
 * smtp_data.h - the DATA phase as a pure state machine (RFC 5321 §4.1.1.4, §4.5.2).
 *
 * Bytes from the wire go in, the unstuffed message comes out into a caller buffer, and
 * the machine says when it has consumed the terminator CRLF "." CRLF. Nothing is buffered
 * inside beyond one pending CR, so a message of any size streams through a fixed buffer.
 *
 * Only CRLF "." CRLF ends the data. A bare LF or a bare CR anywhere (the 2023 SMTP
 * smuggling class: "\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r" ...) never ends it and never
 * starts a new line; it marks the message as refused (SMTP_DATA_F_BARE_LF/_BARE_CR) and
 * the caller keeps reading to the real terminator, then rejects the whole message. The
 * same holds for NUL bytes, lines over SMTP_DATA_LINE_MAX and messages over max_size:
 * from the first fault on no more output is produced, only the terminator is looked for.
 */
#ifndef MGW_SMTP_DATA_H
#define MGW_SMTP_DATA_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_DATA_LINE_MAX 1000 /* RFC 5321 §4.5.3.1.6: text line incl. CRLF */

/* Faults, as a bit set; 0 means the message is good so far. */
#define SMTP_DATA_F_BARE_LF 0x01u
#define SMTP_DATA_F_BARE_CR 0x02u
#define SMTP_DATA_F_NUL 0x04u
#define SMTP_DATA_F_LONG_LINE 0x08u
#define SMTP_DATA_F_TOO_BIG 0x10u

enum smtp_data_state {
	SMTP_DATA_ST_BOL = 0, /* at the beginning of a line (after CRLF) */
	SMTP_DATA_ST_DOT,     /* a '.' at the beginning of a line */
	SMTP_DATA_ST_DOT_CR,  /* ".\r" at the beginning of a line */
	SMTP_DATA_ST_MID,     /* inside a line */
	SMTP_DATA_ST_CR,      /* a CR inside a line, LF expected */
	SMTP_DATA_ST_END,     /* the terminator was consumed */
};

struct smtp_data {
	enum smtp_data_state state;
	unsigned faults;
	size_t line_len;   /* wire octets of the current line so far */
	uint64_t size;	   /* unstuffed octets produced (or that would have been) */
	uint64_t max_size; /* 0 = no limit */
};

/* Starts a message of at most max_size unstuffed octets (0: unlimited). */
void smtp_data_init(struct smtp_data *d, uint64_t max_size);

/*
 * Consumes wire bytes in[0, len). Unstuffed message bytes are appended to out[*outlen,
 * outcap) (outcap must be at least 2; *outlen is advanced). *used is set to the bytes
 * consumed: fewer than len when out filled up (call again with a drained out) or when
 * the terminator was reached. Returns MGW_PARSE_OK once the terminator has been consumed
 * (check d->faults), MGW_PARSE_NEED_MORE otherwise.
 */
int smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t len, size_t *used, uint8_t *out,
		   size_t outcap, size_t *outlen);

#endif
