/*
 * addr_rate.h - per-address connection rate: at most `limit` new connections per address
 * in each window of `window_ms`, tracked in a fixed table (no allocation).
 *
 * The table holds ADDR_RATE_SLOTS addresses (networks, see addr_net.h). When it is full,
 * a new address takes the slot of an address whose window has passed, else of the one
 * with the fewest connections in its window: a flood of fresh addresses (each with one
 * connection) can never make the table forget a busy address and so restart its window;
 * memory stays fixed.
 */
#ifndef MGW_ADDR_RATE_H
#define MGW_ADDR_RATE_H

#include <stdbool.h>
#include <stdint.h>

#include "net/conn.h"

#define ADDR_RATE_SLOTS 512

struct addr_rate_slot {
	char addr[CONN_ADDR_MAX]; /* "" = free */
	uint64_t window_start_ms;
	uint32_t count;
};

struct addr_rate {
	struct addr_rate_slot slot[ADDR_RATE_SLOTS];
	uint64_t window_ms;
};

void addr_rate_init(struct addr_rate *r, uint64_t window_ms);
/* Counts one new connection from addr at now_ms; false when it exceeds limit. */
bool addr_rate_allow(struct addr_rate *r, const char *addr, uint64_t now_ms, uint32_t limit);

#endif
