/* base64.c - strict base64 decoding (RFC 4648 section 4). */
#include "proto/base64.h"

#include "core/err.h"

int base64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t outsz, size_t *outlen)
{
	size_t o = 0;

	*outlen = 0;
	if (len % 4 != 0)
		return MGW_PARSE_SYNTAX;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		unsigned pad = 0;
		uint32_t w;

		for (unsigned j = 0; j < 4; j++) {
			if (in[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad) /* data after '=' */
				return MGW_PARSE_SYNTAX;
			v[j] = base64_value(in[i + j]);
			if (v[j] < 0)
				return MGW_PARSE_SYNTAX;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		    (uint32_t)v[3];
		/* Canonical encoding: the bits under the padding are zero. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return MGW_PARSE_SYNTAX;
		if (o + 3 - pad > outsz)
			return MGW_PARSE_TOO_LONG;
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*outlen = o;
	return MGW_PARSE_OK;
}
