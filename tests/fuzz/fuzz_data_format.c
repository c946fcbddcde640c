/* fuzz_data_format.c - libFuzzer target: the parser of /data's state/data-format file
 * (admin/migrate.c), which firmware of any version reads at every boot, possibly written
 * by a newer one or cut by a power loss. Whatever it accepts must be a format no older
 * than its needs= and must read back the same from the text migrate_run writes; whatever
 * it refuses must be explained as FILE:LINE. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/migrate.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char path[] = "/data/state/data-format";
	struct migrate_format f, back;
	char msg[MIGRATE_LINE_MAX], text[128];
	char *in;
	int rc;

	if (size > MIGRATE_FORMAT_MAX)
		return 0;
	in = malloc(size + 1);
	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	msg[0] = '\0';
	rc = migrate_format_parse(path, in, &f, msg, sizeof(msg));
	free(in);
	if (rc != 0) {
		if (rc != -MGW_EINVAL || strncmp(msg, path, sizeof(path) - 1) != 0 ||
		    msg[sizeof(path) - 1] != ':')
			__builtin_trap();
		return 0;
	}
	if (f.needs > f.format || f.format > 1000000)
		__builtin_trap();
	snprintf(text, sizeof(text), "# a comment\nformat=%u\nneeds=%u\n", f.format, f.needs);
	if (migrate_format_parse(path, text, &back, msg, sizeof(msg)) != 0 ||
	    back.format != f.format || back.needs != f.needs)
		__builtin_trap();
	return 0;
}
