/*
 * base64.h - strict base64 decoding (RFC 4648 section 4) for SASL responses (RFC 4422,
 * RFC 5034): padding required, no whitespace, no other alphabet. Pure, never allocates.
 */
#ifndef MGW_BASE64_H
#define MGW_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The value of one base64 character (RFC 4648 table 1), -1 for any other byte. */
int base64_value(uint8_t c);

/* Decoded size of len base64 characters, at most. */
#define BASE64_DECODED_MAX(len) (((len) / 4) * 3)

/*
 * Decodes in[0..len) into out (outsz bytes). MGW_PARSE_OK and *outlen; MGW_PARSE_SYNTAX
 * for anything but canonical base64 (length not a multiple of 4, bad character,
 * misplaced '=', non-zero padding bits); MGW_PARSE_TOO_LONG when out is too small.
 */
int base64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t outsz, size_t *outlen);

#endif
