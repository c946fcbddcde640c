/*
 * wire.h - the simulator's virtual wire: netifs of one lwIP stack joined by a link with
 * seeded impairments, a virtual clock, and a pcap writer (LINKTYPE_RAW: IPv4 packets as
 * they arrive at the receiving netif, stamped with virtual time).
 */
#ifndef MGW_NETSIM_WIRE_H
#define MGW_NETSIM_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "netsim.h"
#include "tls/hash.h"

#define WIRE_NETIFS_MAX 4

struct wire_pkt;

struct wire {
	const struct netsim_params *p;
	uint64_t now_ms; /* never goes back, across runs too: lwIP's timers are absolute */
	uint64_t t0_ms;	 /* this run's start (pcap timestamps are relative to it) */
	uint64_t rng;
	uint64_t seq;
	uint64_t busy_until_ms; /* the link serialises packets (bandwidth) */
	struct wire_pkt *queue; /* by (at, seq) */
	FILE *pcap;		/* NULL: no file, the capture is still hashed */
	struct hash_ctx pcap_hash;
	uint8_t pcap_sha256[HASH_SHA256_LEN]; /* the capture's, once wire_free ran */
	unsigned packets, dropped, corrupted, duplicated;
	void (*on_packet)(void *arg, unsigned n); /* faults at chosen packets */
	void *on_packet_arg;
};

uint32_t wire_rand(struct wire *w);
/* True with probability ppm per million. */
bool wire_chance(struct wire *w, uint32_t ppm);

int wire_init(struct wire *w, const struct netsim_params *p, const char *pcap, uint64_t now_ms);
/* Adds a netif with address a.b.c.d (host order) and MTU 40 + mss. */
int wire_netif_add(struct wire *w, uint32_t addr, uint16_t mss);
/* Delivers every packet due at now. True if it delivered any. */
bool wire_deliver(struct wire *w);
/* The next packet's arrival time; false when the wire is empty. */
bool wire_next(const struct wire *w, uint64_t *at_ms);
/* Drops what is still in flight, removes the netifs, closes the capture and sets
 * pcap_sha256. 0, or -MGW_EIO if the capture could not be written. */
int wire_free(struct wire *w);

#endif
