/*
 * main.c - the netsim command (README "netsim"):
 *   netsim -p PKI_DIR -w WORK_DIR -s SEED [-c FILE.pcap] [-v]   one run, a replay
 *   netsim -p PKI_DIR -w WORK_DIR -f FUZZ_INPUT [-c FILE.pcap] [-v]  a fuzzer's input
 *   netsim -p PKI_DIR -w WORK_DIR -m FIRST-LAST [-r N]           the seed matrix
 * Exit status 0 when every property held. In the matrix each seed runs in a child
 * process of its own (a fresh lwIP and crypto state, so a seed replays alone exactly as
 * it ran there); a failing seed is printed with the one command that replays it and the
 * SHA-256 of its packet trace, which the replay's pcap has. Determinism is checked there
 * too: N seeds spread over the range (-r, default 20) run a second time and must give
 * the same pcap and the same delivered Maildir bytes, and no two seeds of the matrix may
 * give the same pcap.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netsim.h"

#define NETSIM_WALL_MAX_S 120 /* real seconds per seed (virtual time is bounded in run.c) */
#define NETSIM_RERUN_DEFAULT 20

/* What a seed's child reports to the matrix. */
struct netsim_trace {
	uint8_t pcap[32], maildir[32];
};

static void netsim_hex(const uint8_t *h, char out[65])
{
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static int netsim_one(uint64_t seed, const char *file, const struct netsim_env *env, bool quiet,
		      struct netsim_trace *t)
{
	struct netsim_params p;
	struct netsim_result r;
	char desc[512], pcap[65], mdir[65];
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
		       "lost, %u corrupted, %u duplicated); %.1f s virtual; stall max %zu B "
		       "(POP3S), %zu B (IMAPS)\n",
		       desc, r.ok ? "ok" : "FAILED", r.acked, r.retrieved, r.gate_refused,
		       r.packets, r.dropped, r.corrupted, r.duplicated, (double)r.vtime_ms / 1000.0,
		       r.max_server_buffered, r.max_server_buffered_imap);
	netsim_hex(r.pcap_sha256, pcap);
	netsim_hex(r.maildir_sha256, mdir);
	if (!quiet || !r.ok)
		printf("  pcap sha256 %s, delivered Maildir sha256 %s\n", pcap, mdir);
	if (!r.ok)
		printf("  property violated: %s\n", r.err);
	fflush(stdout);
	if (t) {
		memcpy(t->pcap, r.pcap_sha256, sizeof(t->pcap));
		memcpy(t->maildir, r.maildir_sha256, sizeof(t->maildir));
	}
	return r.ok ? 0 : 1;
}

/* Runs seed in a child process; its trace comes back through a pipe. 0 when every
 * property held and the trace arrived. */
static int netsim_child(uint64_t seed, const struct netsim_env *env, struct netsim_trace *t)
{
	int fd[2], st = 0;
	ssize_t n = 0;
	pid_t pid;

	memset(t, 0, sizeof(*t));
	fflush(stdout); /* the child must not print the parent's buffered lines again */
	if (pipe(fd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct netsim_trace mine;
		int rc;

		close(fd[0]);
		alarm(NETSIM_WALL_MAX_S); /* a seed that hangs the CPU fails, named */
		rc = netsim_one(seed, NULL, env, true, &mine);
		if (write(fd[1], &mine, sizeof(mine)) != (ssize_t)sizeof(mine))
			rc = 2;
		_exit(rc);
	}
	close(fd[1]);
	if (pid > 0)
		n = read(fd[0], t, sizeof(*t));
	close(fd[0]);
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
	    n != (ssize_t)sizeof(*t)) {
		if (pid > 0 && WIFSIGNALED(st))
			printf("seed %" PRIu64 ": killed by signal %d\n", seed, WTERMSIG(st));
		return -1;
	}
	return 0;
}

static int netsim_trace_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct netsim_trace));
}

/* The matrix, then the determinism checks over its traces. */
static int netsim_matrix(uint64_t first, uint64_t last, unsigned reruns,
			 const struct netsim_env *env)
{
	static const struct netsim_trace none;
	uint64_t n = last - first + 1;
	struct netsim_trace *t = calloc(n, sizeof(*t)), again;
	bool *ok = calloc(n, sizeof(*ok));
	unsigned failed = 0, differ = 0, same = 0;
	char h1[65], h2[65];

	if (t == NULL || ok == NULL) {
		free(t);
		free(ok);
		return 2;
	}
	for (uint64_t i = 0; i < n; i++) {
		ok[i] = netsim_child(first + i, env, &t[i]) == 0;
		if (!ok[i]) {
			netsim_hex(t[i].pcap, h1);
			printf("  replay: make netsim-replay SEED=%" PRIu64 "%s%s%s\n", first + i,
			       memcmp(&t[i], &none, sizeof(none)) ? " (the same pcap: sha256 " : "",
			       memcmp(&t[i], &none, sizeof(none)) ? h1 : "",
			       memcmp(&t[i], &none, sizeof(none)) ? ")" : "");
			failed++;
		}
	}
	printf("netsim: %" PRIu64 " seeds, %u failed\n", n, failed);
	/* Same seed, same trace: a second run of seeds spread over the range (every profile). */
	if (reruns > n)
		reruns = (unsigned)n;
	for (unsigned k = 0; k < reruns; k++) {
		uint64_t i = k * (n / reruns);

		if (!ok[i])
			continue; /* reported above */
		if (netsim_child(first + i, env, &again) < 0) {
			printf("seed %" PRIu64 ": failed when run again\n", first + i);
			differ++;
		} else if (memcmp(&again, &t[i], sizeof(again)) != 0) {
			netsim_hex(t[i].pcap, h1);
			netsim_hex(again.pcap, h2);
			printf("seed %" PRIu64 ": not deterministic: pcap sha256 %s, then %s; the "
			       "delivered Maildir %s\n",
			       first + i, h1, h2,
			       memcmp(again.maildir, t[i].maildir, 32) ? "differs" : "is the same");
			differ++;
		}
	}
	/* Different seeds, different traces. */
	for (uint64_t i = 0; i < n; i++)
		if (!ok[i])
			t[i] = none;
	qsort(t, n, sizeof(*t), netsim_trace_cmp);
	for (uint64_t i = 1; i < n; i++)
		if (memcmp(t[i].pcap, t[i - 1].pcap, 32) == 0 && memcmp(&t[i], &none, 32) != 0)
			same++;
	printf("netsim: determinism: %u seeds run twice, %u gave another trace; %u pcaps "
	       "equal to another seed's\n",
	       reruns, differ, same);
	free(t);
	free(ok);
	return failed || differ || same ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct netsim_env env = {0};
	uint64_t seed = 0, first = 0, last = 0;
	bool matrix = false, have_seed = false;
	const char *file = NULL;
	unsigned reruns = NETSIM_RERUN_DEFAULT;
	int o;

	while ((o = getopt(argc, argv, "p:w:s:f:m:r:c:v")) != -1) {
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
		case 'r':
			reruns = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			env.pcap = optarg;
			break;
		case 'v':
			env.verbose = true;
			break;
		default:
			fprintf(stderr, "usage: netsim -p PKI_DIR -w WORK_DIR (-s SEED [-c "
					"FILE.pcap] [-v] | -m FIRST-LAST [-r N])\n");
			return 2;
		}
	}
	if (env.pki_dir == NULL || env.work_dir == NULL || matrix == have_seed) {
		fprintf(stderr, "usage: netsim -p PKI_DIR -w WORK_DIR (-s SEED [-c FILE.pcap] [-v] "
				"| -m FIRST-LAST [-r N])\n");
		return 2;
	}
	if (!matrix)
		return netsim_one(seed, file, &env, false, NULL);
	return netsim_matrix(first, last, reruns, &env);
}
