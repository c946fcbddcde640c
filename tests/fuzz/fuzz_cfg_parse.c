/* fuzz_cfg_parse.c - libFuzzer target: the configuration parser on arbitrary bytes must
 * return 0 or -MGW_ECONFIG with a terminated one-line message, and never crash. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfg/cfg.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mgw_cfg cfg;
	char err[CFG_ERR_MAX];
	int rc;

	cfg_defaults(&cfg);
	err[0] = '\0';
	rc = cfg_parse("fuzz.conf", (const char *)data, size, &cfg, err, sizeof(err));
	if (rc != 0 && rc != -MGW_ECONFIG)
		__builtin_trap();
	if (rc != 0 && (strchr(err, '\n') != NULL || strncmp(err, "fuzz.conf:", 10) != 0))
		__builtin_trap();
	return 0;
}
