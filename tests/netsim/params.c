/*
 * params.c - a run's network from a seed (the CI matrix, replays) or from fuzzer bytes.
 *
 * A seed picks one of the fault profiles below and draws its knobs; the profiles are
 * chosen so that every run must succeed: what they test is that the daemon delivers,
 * gates and ends its sessions correctly over a bad network, not that a network can be
 * made too bad for TCP.
 */
#include <stdio.h>
#include <string.h>

#include "netsim.h"

static uint32_t params_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 32);
}

static uint32_t params_upto(uint64_t *s, uint32_t max)
{
	return params_rand(s) % (max + 1);
}

enum {
	PROFILE_CLEAN,
	PROFILE_LOSSY,
	PROFILE_TINY,
	PROFILE_SLOW,
	PROFILE_STALL,
	PROFILE_RESET,
	PROFILE_HALFCLOSE,
	PROFILE_MIXED,
	PROFILE_COUNT,
};

void netsim_params_from_seed(uint64_t seed, struct netsim_params *p)
{
	uint64_t s = seed * 0x2545f4914f6cdd1dull + 0x9e3779b97f4a7c15ull;

	memset(p, 0, sizeof(*p));
	p->seed = seed;
	p->mss = 1460;
	p->delay_ms = 1 + params_upto(&s, 20);
	p->nmsgs = 1 + params_upto(&s, 3);
	p->msg_max = 200 + params_upto(&s, 20000);
	/* The gate's refusals over IMAPS in every other pair of profile rounds, so that every
	 * profile (1-byte segments included, see PROFILE_TINY) tries both protocols. */
	p->gate_imap = seed / PROFILE_COUNT / 2 % 2;
	switch (seed % PROFILE_COUNT) {
	case PROFILE_CLEAN:
		break;
	case PROFILE_LOSSY:
		p->loss_ppm = params_upto(&s, 30000);
		p->dup_ppm = params_upto(&s, 20000);
		p->reorder_ppm = params_upto(&s, 50000);
		p->corrupt_ppm = params_upto(&s, 20000);
		p->jitter_ms = params_upto(&s, 20);
		break;
	case PROFILE_TINY:
		/* Every other tiny seed: 1-byte segments, handshake records included. */
		p->mss = (uint16_t)(1 + params_upto(&s, 15));
		if (seed / PROFILE_COUNT % 2)
			p->mss = 1;
		p->msg_max = 200 + params_upto(&s, 3000);
		p->reorder_ppm = params_upto(&s, 20000);
		break;
	case PROFILE_SLOW:
		p->bw_bytes_per_ms = 1 + params_upto(&s, 50);
		p->delay_ms = 20 + params_upto(&s, 100);
		break;
	case PROFILE_STALL:
		p->nmsgs = 1;
		p->msg_max = 150000 + params_upto(&s, 50000);
		p->stall_ms = 5000 + params_upto(&s, 115000);
		p->loss_ppm = params_upto(&s, 5000);
		break;
	case PROFILE_RESET:
		p->rst_at_pkt = 3 + params_upto(&s, 60);
		p->loss_ppm = params_upto(&s, 5000);
		break;
	case PROFILE_HALFCLOSE:
		p->smtp_half_close = true;
		p->loss_ppm = params_upto(&s, 20000);
		p->reorder_ppm = params_upto(&s, 20000);
		break;
	case PROFILE_MIXED:
		p->loss_ppm = params_upto(&s, 10000);
		p->dup_ppm = params_upto(&s, 10000);
		p->reorder_ppm = params_upto(&s, 10000);
		p->corrupt_ppm = params_upto(&s, 10000);
		p->jitter_ms = params_upto(&s, 10);
		p->mss = (uint16_t)(40 + params_upto(&s, 500));
		p->bw_bytes_per_ms = params_upto(&s, 1) ? 0 : 20 + params_upto(&s, 200);
		p->smtp_half_close = params_upto(&s, 1);
		break;
	}
}

/* The fuzzer decides everything, within bounds that keep a run finite. */
void netsim_params_from_bytes(const uint8_t *d, size_t len, struct netsim_params *p)
{
	uint8_t b[24];

	memset(b, 0, sizeof(b));
	memcpy(b, d, len < sizeof(b) ? len : sizeof(b));
	memset(p, 0, sizeof(*p));
	p->seed =
	    (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24;
	p->loss_ppm = b[4] % 64 * 1000u;
	p->dup_ppm = b[5] % 64 * 1000u;
	p->reorder_ppm = b[6] % 128 * 1000u;
	p->corrupt_ppm = b[7] % 64 * 1000u;
	p->delay_ms = b[8] % 100;
	p->jitter_ms = b[9] % 50;
	p->bw_bytes_per_ms = b[10] % 4 ? 0 : 1u + b[11];
	p->mss = b[12] % 2 ? (uint16_t)(1 + b[13] % 32) : (uint16_t)(40 + b[13] * 5);
	p->rst_at_pkt = b[14] % 4 == 0 ? 3u + b[15] : 0;
	p->stall_ms = b[16] % 4 == 0 ? 1000u * b[17] : 0;
	p->smtp_half_close = b[18] & 1;
	p->nmsgs = 1 + b[19] % 3;
	p->msg_max = 100 + (uint32_t)b[20] * 200;
	p->gate_imap = b[21] & 1;
	p->lenient = true;
}

void netsim_params_print(const struct netsim_params *p, char *out, size_t outsz)
{
	snprintf(out, outsz,
		 "seed %llu: loss %u dup %u reorder %u corrupt %u ppm, delay %u+%u ms, bw %u B/ms, "
		 "mss %u, rst at packet %u, stall %u ms, half-close %d, %u msgs up to %u B, gate "
		 "refusals over %s",
		 (unsigned long long)p->seed, p->loss_ppm, p->dup_ppm, p->reorder_ppm,
		 p->corrupt_ppm, p->delay_ms, p->jitter_ms, p->bw_bytes_per_ms, p->mss,
		 p->rst_at_pkt, p->stall_ms, p->smtp_half_close, p->nmsgs, p->msg_max,
		 p->gate_imap ? "IMAPS" : "POP3S");
}
