/* addr_rate.c - fixed windows per address; eviction of the least busy address. */
#include "net/addr_rate.h"

#include <stdio.h>
#include <string.h>

void addr_rate_init(struct addr_rate *r, uint64_t window_ms)
{
	memset(r, 0, sizeof(*r));
	r->window_ms = window_ms;
}

/* Connections that still count for s at now: none once its window has passed. */
static uint32_t addr_rate_live(const struct addr_rate *r, const struct addr_rate_slot *s,
			       uint64_t now_ms)
{
	if (s->addr[0] == '\0' || now_ms - s->window_start_ms >= r->window_ms)
		return 0;
	return s->count;
}

/* Where a new address goes: a free or expired slot, else the slot with the fewest
 * connections in its window (the oldest window among those). A busy address is never
 * the one forgotten while a less busy one is held, however many new addresses come. */
static bool addr_rate_better_victim(const struct addr_rate *r, const struct addr_rate_slot *s,
				    const struct addr_rate_slot *v, uint64_t now_ms)
{
	uint32_t sc = addr_rate_live(r, s, now_ms), vc = addr_rate_live(r, v, now_ms);

	return sc < vc || (sc == vc && s->window_start_ms < v->window_start_ms);
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
		if (addr_rate_better_victim(r, s, victim, now_ms))
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
