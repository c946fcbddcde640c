/* num.c - strict decimal parsing. */
#include "core/num.h"

bool num_parse_u32(const void *text, size_t len, uint32_t *out)
{
	const uint8_t *p = text;
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}
