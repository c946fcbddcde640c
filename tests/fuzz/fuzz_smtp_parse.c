/*
 * fuzz_smtp_parse.c - libFuzzer target: one SMTP command line.
 *
 * Checks what the parser promises beyond not crashing: every pointer it returns lies
 * inside the line, and OK for RCPT implies a forward-check verdict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"
#include "proto/smtp_parse.h"

static void fuzz_in(const uint8_t *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
	if (n && (p < lo || p + n > hi))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmd cmd;
	int rc = smtp_parse_cmd(data, data + size, &cmd);

	if (rc != MGW_PARSE_OK && rc != MGW_PARSE_SYNTAX && rc != MGW_PARSE_TOO_LONG &&
	    rc != MGW_PARSE_LIMIT)
		abort();
	if (rc == MGW_PARSE_OK) {
		fuzz_in(cmd.arg, cmd.arg_len, data, data + size);
		fuzz_in(cmd.path.local, cmd.path.local_len, data, data + size);
		fuzz_in(cmd.path.domain, cmd.path.domain_len, data, data + size);
		if (cmd.verb == SMTP_V_RCPT && cmd.path.local_len > SMTP_LOCAL_MAX)
			abort();
		if (cmd.verb == SMTP_V_RCPT)
			(void)smtp_path_forward_check(&cmd.path);
	} else if (cmd.why == SMTP_WHY_NONE) {
		abort(); /* every refusal says why */
	}
	(void)smtp_parse_helo(data, data + size);
	return 0;
}
