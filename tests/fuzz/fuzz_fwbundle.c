/* fuzz_fwbundle.c - libFuzzer target: the firmware bundle parser (fwb_parse, and through
 * it the manifest parser) on arbitrary bytes, as a whole bundle and as a bundle whose
 * announced size differs. An accepted bundle must be self-consistent: names allow-listed,
 * sizes bounded, files back to back after the signature and filling the bundle exactly;
 * a refusal must say why. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "pki/fwbundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(const uint8_t *data, size_t size, uint64_t total)
{
	char why[256] = "";
	struct fwb b;
	uint64_t off;
	int rc = fwb_parse(data, size, total, &b, why, sizeof(why));

	if (rc == MGW_PARSE_NEED_MORE)
		return;
	if (rc != MGW_PARSE_OK) {
		if (why[0] == '\0')
			__builtin_trap();
		return;
	}
	if (b.mlen == 0 || b.mlen > FWB_MANIFEST_MAX || b.slen == 0 || b.slen > FWB_SIG_MAX ||
	    b.m.nfiles == 0 || b.m.nfiles > FWB_FILES_MAX || b.m.board[0] == '\0')
		__builtin_trap();
	off = b.payload_off;
	for (unsigned i = 0; i < b.m.nfiles; i++) {
		const struct fwb_file *f = &b.m.files[i];

		if (f->offset != off || f->size > FWB_FILE_MAX || f->name[0] == '\0' ||
		    f->name[0] == '.' || strchr(f->name, '/') != NULL)
			__builtin_trap();
		off += f->size;
	}
	if (off != total)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_one(data, size, size);
	/* the same prefix of a larger file (the payload is never in the parser's buffer) */
	if (size >= 8) {
		uint64_t extra;

		memcpy(&extra, data + size - 8, 8);
		fuzz_one(data, size - 8, size - 8 + (extra & 0x3fffffff));
	}
	return 0;
}
