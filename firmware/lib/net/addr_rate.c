/* addr_rate.c - fixed windows per address, oldest-window eviction. */
#include "net/addr_rate.h"

#include <stdio.h>
#include <string.h>

void addr_rate_init(struct addr_rate *r, uint64_t window_ms)
{
	memset(r, 0, sizeof(*r));
	r->window_ms = window_ms;
}

bool addr_rate_allow(struct addr_rate *r, const char *addr, uint64_t now_ms, uint32_t limit)
{
	struct addr_rate_slot *hit = NULL, *victim = &r->slot[0];

	for (size_t i = 0; i < ADDR_RATE_SLOTS; i++) {
		struct addr_rate_slot *s = &r->slot[i];

		if (s->addr[0] && strcmp(s->addr, addr) == 0) {
			hit = s;
			break;
		}
		/* A free slot, else the oldest window, is where a new address goes. */
		if (victim->addr[0] &&
		    (s->addr[0] == '\0' || s->window_start_ms < victim->window_start_ms))
			victim = s;
	}
	if (hit == NULL) {
		hit = victim;
		snprintf(hit->addr, sizeof(hit->addr), "%s", addr);
		hit->window_start_ms = now_ms;
		hit->count = 0;
	}
	if (now_ms - hit->window_start_ms >= r->window_ms) {
		hit->window_start_ms = now_ms;
		hit->count = 0;
	}
	if (hit->count >= limit)
		return false;
	hit->count++;
	return true;
}
