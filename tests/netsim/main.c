/*
 * main.c - the netsim command (README "netsim"):
 *   netsim -p PKI_DIR -w WORK_DIR -s SEED [-c FILE.pcap] [-v]   one run, a replay
 *   netsim -p PKI_DIR -w WORK_DIR -f FUZZ_INPUT [-c FILE.pcap] [-v]  a fuzzer's input
 *   netsim -p PKI_DIR -w WORK_DIR -m FIRST-LAST                  the seed matrix
 * Exit status 0 when every property held. In the matrix each seed runs in a child
 * process of its own (a fresh lwIP, so a seed replays alone exactly as it ran there); a
 * failing seed is printed with the one command that replays it and writes its pcap.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netsim.h"

#define NETSIM_WALL_MAX_S 120 /* real seconds per seed (virtual time is bounded in run.c) */

static int netsim_one(uint64_t seed, const char *file, const struct netsim_env *env, bool quiet)
{
	struct netsim_params p;
	struct netsim_result r;
	char desc[512];
	int rc;

	if (file) { /* a fuzzer input (fuzz_netsim): its network, replayed */
		uint8_t b[64];
		FILE *f = fopen(file, "rb");
		size_t n = f ? fread(b, 1, sizeof(b), f) : 0;

		if (f == NULL) {
			perror(file);
			return 2;
		}
		fclose(f);
		netsim_params_from_bytes(b, n, &p);
	} else
		netsim_params_from_seed(seed, &p);
	netsim_params_print(&p, desc, sizeof(desc));
	rc = netsim_run(&p, env, &r);
	if (rc < 0) {
		fprintf(stderr, "netsim: %s: could not run (%d)\n", desc, rc);
		return 2;
	}
	if (!quiet || !r.ok)
		printf("%s\n  %s: %u acked, %u retrieved, %u refused by the gate; %u packets (%u "
		       "lost, %u corrupted, %u duplicated); %.1f s virtual; stall max %zu B\n",
		       desc, r.ok ? "ok" : "FAILED", r.acked, r.retrieved, r.gate_refused,
		       r.packets, r.dropped, r.corrupted, r.duplicated, (double)r.vtime_ms / 1000.0,
		       r.max_server_buffered);
	if (!r.ok)
		printf("  property violated: %s\n", r.err);
	fflush(stdout);
	return r.ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct netsim_env env = {0};
	uint64_t seed = 0, first = 0, last = 0;
	bool matrix = false, have_seed = false;
	const char *file = NULL;
	unsigned failed = 0;
	int o;

	while ((o = getopt(argc, argv, "p:w:s:f:m:c:v")) != -1) {
		switch (o) {
		case 'p':
			env.pki_dir = optarg;
			break;
		case 'w':
			env.work_dir = optarg;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			have_seed = true;
			break;
		case 'm':
			if (sscanf(optarg, "%" SCNu64 "-%" SCNu64, &first, &last) != 2 ||
			    last < first) {
				fprintf(stderr, "netsim: -m FIRST-LAST\n");
				return 2;
			}
			matrix = true;
			break;
		case 'f':
			file = optarg;
			have_seed = true;
			break;
		case 'c':
			env.pcap = optarg;
			break;
		case 'v':
			env.verbose = true;
			break;
		default:
			fprintf(stderr, "usage: netsim -p PKI_DIR -w WORK_DIR (-s SEED [-c "
					"FILE.pcap] [-v] | -m FIRST-LAST)\n");
			return 2;
		}
	}
	if (env.pki_dir == NULL || env.work_dir == NULL || matrix == have_seed) {
		fprintf(stderr, "usage: netsim -p PKI_DIR -w WORK_DIR (-s SEED [-c FILE.pcap] [-v] "
				"| -m FIRST-LAST)\n");
		return 2;
	}
	if (!matrix)
		return netsim_one(seed, file, &env, false);
	for (seed = first; seed <= last; seed++) {
		pid_t pid;
		int st;

		fflush(stdout); /* the child must not print the parent's buffered lines again */
		pid = fork();
		if (pid == 0) {
			alarm(NETSIM_WALL_MAX_S); /* a seed that hangs the CPU fails, named */
			_exit(netsim_one(seed, NULL, &env, true));
		}
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			if (pid > 0 && WIFSIGNALED(st))
				printf("seed %" PRIu64 ": killed by signal %d\n", seed,
				       WTERMSIG(st));
			printf("  replay: make netsim-replay SEED=%" PRIu64 "\n", seed);
			failed++;
		}
	}
	printf("netsim: %" PRIu64 " seeds, %u failed\n", last - first + 1, failed);
	return failed ? 1 : 0;
}
