/* num.h - strict number parsing shared by the parsers (no sign, no blanks, no NUL needed). */
#ifndef MGW_NUM_H
#define MGW_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* p[0..len) is a decimal number of 1 to 10 digits that fits in 32 bits: *out, true. */
bool num_parse_u32(const void *p, size_t len, uint32_t *out);

#endif
