/*
 * fuzz_netsim.c - libFuzzer chooses the network (tests/netsim): the seed of the wire's
 * decisions and the fault schedule (loss, duplication, reordering, corruption, delay,
 * bandwidth, segment size, a reset at a chosen packet, a zero-window stall, half-close,
 * message sizes, whether the gate's refusals are tried over POP3S or IMAPS), then the full
 * flow runs: SMTP delivery with PIPELINING to two mailboxes, POP3S with the client
 * certificate (RETR/TOP/DELE/QUIT), IMAPS likewise (UID FETCH, STORE \Deleted, EXPUNGE),
 * and the gate against three bad clients.
 * A violated property (netsim.h) aborts, so libFuzzer keeps the input as a crash; clients
 * that give up on a network too bad for TCP are not a violation.
 *
 * Paths: NETSIM_PKI (default <exe>/../../netsim/pki, made by make) and a work folder
 * <exe>/../../netsim/fuzz-work for the data directories.
 */
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netsim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_pki[PATH_MAX], fuzz_work[PATH_MAX];

static void fuzz_paths(void)
{
	char exe[PATH_MAX];
	ssize_t n;

	if (fuzz_pki[0])
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	/* <O>/fuzz/tests/fuzz_netsim -> <O> */
	snprintf(fuzz_work, sizeof(fuzz_work), "%s", dirname(dirname(dirname(exe))));
	if (getenv("NETSIM_PKI"))
		snprintf(fuzz_pki, sizeof(fuzz_pki), "%s", getenv("NETSIM_PKI"));
	else
		snprintf(fuzz_pki, sizeof(fuzz_pki), "%.3000s/netsim/pki", fuzz_work);
	strncat(fuzz_work, "/netsim/fuzz-work", sizeof(fuzz_work) - strlen(fuzz_work) - 1);
	mkdir(fuzz_work, 0755);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netsim_params p;
	struct netsim_result r;
	struct netsim_env env = {0};
	char desc[512];

	fuzz_paths();
	env.pki_dir = fuzz_pki;
	env.work_dir = fuzz_work;
	/* libFuzzer's own timeouts read the clocks the simulation would replace (simos.h). */
	env.real_time = true;
	netsim_params_from_bytes(data, size, &p);
	if (netsim_run(&p, &env, &r) < 0) {
		fprintf(stderr, "fuzz_netsim: cannot set up a run (PKI in %s?)\n", fuzz_pki);
		abort();
	}
	if (!r.ok) {
		netsim_params_print(&p, desc, sizeof(desc));
		fprintf(stderr, "fuzz_netsim: %s\nproperty violated: %s\n", desc, r.err);
		abort();
	}
	return 0;
}
