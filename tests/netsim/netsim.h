/*
 * netsim.h - a deterministic network simulator for mailgwd's engines (README "netsim").
 *
 * One process, one thread: the daemon's SMTP and POP3S engines (lib/proto sessions on
 * lib/net conns, the TLS gate of lib/tls) and real protocol clients (an SMTP sender, a
 * POP3S client with a client certificate) each use their own netif of one lwIP stack;
 * the netifs are joined by a virtual wire that loses, duplicates, reorders, corrupts,
 * delays and rate-limits packets, drawn from a seeded generator, in virtual time. The
 * event loop (core/loop.h) runs on the same virtual clock (loop_set_clock) and its
 * connections are lwIP connections (net/lwip/lwip_tcp.h).
 *
 * A run is determined by its parameters (netsim_params_from_seed) and the PKI: the wire's
 * decisions, lwIP's sequence numbers and ports, and through simos.h every source of
 * randomness and time the engines and mbedTLS use (TLS randoms and key shares, Received:
 * dates, Maildir names) come from the seed and the virtual clock, so two runs of one seed
 * give the same packet trace, byte for byte (pcap_sha256), and store the same files.
 */
#ifndef MGW_NETSIM_H
#define MGW_NETSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETSIM_MSGS_MAX 8
#define NETSIM_ERR_MAX 512

struct netsim_params {
	uint64_t seed;
	/* the wire, both directions (per million packets) */
	uint32_t loss_ppm, dup_ppm, reorder_ppm, corrupt_ppm;
	uint32_t delay_ms, jitter_ms;
	uint32_t bw_bytes_per_ms; /* 0: unlimited */
	uint16_t mss;		  /* the clients' netif MSS: down to 1-byte segments */
	/* faults at chosen moments */
	uint32_t rst_at_pkt;  /* reset the SMTP client's connection at this packet (0: never) */
	uint32_t stall_ms;    /* the POP3S and IMAPS clients stop reading (zero window) during
				 RETR and UID FETCH */
	bool smtp_half_close; /* the SMTP client half-closes after QUIT */
	bool gate_imap;	      /* the clients the gate must refuse use IMAPS, else POP3S */
	/* the mail */
	unsigned nmsgs;
	uint32_t msg_max; /* message sizes are drawn up to this */
	/* The fuzzer's networks may be too bad for any TCP: a client that gives up on the
	 * network is then not a violation; what the daemon did still is (delivery, gate,
	 * stalls, memory). */
	bool lenient;
};

struct netsim_result {
	bool ok;
	char err[NETSIM_ERR_MAX];  /* the first violated property */
	unsigned acked, retrieved; /* 250-acknowledged, RETRieved over POP3S */
	unsigned packets, dropped, corrupted, duplicated;
	unsigned gate_refused;	    /* of the clients that must be refused */
	uint64_t vtime_ms;	    /* virtual time at the end */
	size_t max_server_buffered; /* during the zero-window stalls: daemon-side bytes */
	size_t max_server_buffered_imap;
	uint8_t pcap_sha256[32];    /* of the capture, written to a file or not */
	uint8_t maildir_sha256[32]; /* of the delivered Maildirs (names and bytes), after SMTP */
};

struct netsim_env {
	const char *pki_dir;  /* mkpki.py's output */
	const char *work_dir; /* a fresh data directory is made below it */
	const char *pcap;     /* NULL: no capture */
	bool verbose;
	bool real_time; /* the real clocks (libFuzzer's timeouts read them too); entropy stays
			   simulated */
};

/* Parameters drawn from seed (the fault profile: clean, lossy, tiny segments, slow,
 * zero-window stall, reset, ...). */
void netsim_params_from_seed(uint64_t seed, struct netsim_params *p);
/* Parameters from fuzzer bytes: the fuzzer chooses the network's behaviour. */
void netsim_params_from_bytes(const uint8_t *data, size_t len, struct netsim_params *p);

/* Runs the full flow once; checks every property; fills r. 0 when it could run (r->ok says
 * whether the properties held), or a negative code when the run could not be set up. */
int netsim_run(const struct netsim_params *p, const struct netsim_env *env,
	       struct netsim_result *r);

void netsim_params_print(const struct netsim_params *p, char *out, size_t outsz);

#endif
