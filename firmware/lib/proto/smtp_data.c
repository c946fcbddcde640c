/*
 * smtp_data.c - dot-unstuffing and terminator detection, one byte at a time.
 *
 * Why a byte machine and not a line reader: the terminator must be recognised only as
 * CRLF "." CRLF (RFC 5321 §4.1.1.4) and a line reader that accepts "\n" as a line end is
 * exactly what SMTP smuggling exploits. A bare LF or CR moves the machine into the middle
 * of a line, so nothing after it can look like the start of a line until a real CRLF.
 */
#include "proto/smtp_data.h"

#include <stdbool.h>
#include <string.h>

#include "core/err.h"

void smtp_data_init(struct smtp_data *d, uint64_t max_size)
{
	memset(d, 0, sizeof(*d));
	d->state = SMTP_DATA_ST_BOL;
	d->max_size = max_size;
}

/* Appends message bytes unless the message is already refused. */
static void smtp_data_emit(struct smtp_data *d, const char *bytes, size_t n, uint8_t *out,
			   size_t *outlen)
{
	d->size += n;
	if (d->max_size && d->size > d->max_size)
		d->faults |= SMTP_DATA_F_TOO_BIG;
	if (d->faults)
		return;
	memcpy(out + *outlen, bytes, n);
	*outlen += n;
}

int smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t len, size_t *used, uint8_t *out,
		   size_t outcap, size_t *outlen)
{
	size_t i = 0;
	bool again = false; /* c is being looked at a second time: already counted */

	while (i < len && d->state != SMTP_DATA_ST_END && outcap - *outlen >= 2) {
		uint8_t c = in[i];

		if (!again) {
			if (c == '\0')
				d->faults |= SMTP_DATA_F_NUL;
			/* §4.5.3.1.6: the limit counts the CRLF; a longer line is refused. */
			if (++d->line_len > SMTP_DATA_LINE_MAX)
				d->faults |= SMTP_DATA_F_LONG_LINE;
		}
		again = false;
		switch (d->state) {
		case SMTP_DATA_ST_BOL:
			if (c == '.') {
				d->state = SMTP_DATA_ST_DOT;
				break;
			}
			/* any other byte starts the line's text */
			/* fall through */
		case SMTP_DATA_ST_MID:
			if (c == '\r') {
				d->state = SMTP_DATA_ST_CR;
			} else if (c == '\n') {
				d->faults |= SMTP_DATA_F_BARE_LF;
				d->state = SMTP_DATA_ST_MID;
			} else {
				smtp_data_emit(d, (const char *)&c, 1, out, outlen);
				d->state = SMTP_DATA_ST_MID;
			}
			break;
		case SMTP_DATA_ST_DOT:
			/* §4.5.2: a leading '.' is removed; what follows is ordinary text. */
			if (c == '\r') {
				d->state = SMTP_DATA_ST_DOT_CR;
			} else if (c == '\n') {
				d->faults |= SMTP_DATA_F_BARE_LF; /* ".\n" is no terminator */
				d->state = SMTP_DATA_ST_MID;
			} else {
				smtp_data_emit(d, (const char *)&c, 1, out, outlen);
				d->state = SMTP_DATA_ST_MID;
			}
			break;
		case SMTP_DATA_ST_DOT_CR:
			if (c == '\n') {
				d->state = SMTP_DATA_ST_END;
				break;
			}
			d->faults |= SMTP_DATA_F_BARE_CR;
			d->state = SMTP_DATA_ST_MID;
			again = true; /* c is examined again as line text (it may be a CR) */
			continue;
		case SMTP_DATA_ST_CR:
			if (c == '\n') {
				smtp_data_emit(d, "\r\n", 2, out, outlen);
				d->state = SMTP_DATA_ST_BOL;
				d->line_len = 0;
				break;
			}
			d->faults |= SMTP_DATA_F_BARE_CR;
			d->state = SMTP_DATA_ST_MID;
			again = true;
			continue;
		case SMTP_DATA_ST_END:
			break;
		}
		i++;
	}
	*used = i;
	return d->state == SMTP_DATA_ST_END ? MGW_PARSE_OK : MGW_PARSE_NEED_MORE;
}
