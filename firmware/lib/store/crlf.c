/* crlf.c - size of a stored message in its CRLF form (see crlf.h for the rule). */
#include "store/crlf.h"

#include <string.h>

void crlf_count_add(struct crlf_count *c, const void *p, size_t len)
{
	const uint8_t *b = p, *end = b + len, *lf;
	uint8_t prev = c->last;

	if (len == 0)
		return;
	c->n += len;
	/* memchr keeps this fast on long lines: only the LFs need a look behind them. */
	while ((lf = memchr(b, '\n', (size_t)(end - b))) != NULL) {
		if ((lf == p ? prev : lf[-1]) != '\r')
			c->n++;
		b = lf + 1;
	}
	c->last = end[-1];
	c->any = 1;
}

uint64_t crlf_count_total(const struct crlf_count *c)
{
	return c->n + (c->any && c->last != '\n' ? 2 : 0);
}
