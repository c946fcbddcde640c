/*
 * sys_arch.c - lwIP's NO_SYS port: sys_now() is a clock the program sets (virtual time
 * in the simulator), LWIP_RAND() a xorshift generator it seeds. Nothing here reads the
 * real clock or the system's entropy: a run is determined by its seed.
 */
#include "lwip/opt.h"
#include "lwip/netif.h"
#include "lwip/sys.h"

#include "arch/sys_arch.h"

static uint32_t lwip_port_now;
static uint64_t lwip_port_state = 0x9e3779b97f4a7c15ull;

void lwip_port_set_time(uint32_t now_ms)
{
	lwip_port_now = now_ms;
}

u32_t sys_now(void)
{
	return lwip_port_now;
}

void lwip_port_seed(uint64_t seed)
{
	lwip_port_state = (seed + 1) * 0x9e3779b97f4a7c15ull; /* never 0, well mixed */
}

uint32_t lwip_port_rand(void)
{
	uint64_t x = lwip_port_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	lwip_port_state = x;
	return (uint32_t)(x >> 32);
}

/* A packet leaves by the netif that owns its source address; NULL: lwIP's own routing. */
struct netif *lwip_port_route_src(const struct ip4_addr *src, const struct ip4_addr *dest)
{
	struct netif *n;

	(void)dest;
	if (src == NULL || ip4_addr_isany(src))
		return NULL;
	NETIF_FOREACH(n)
	if (netif_is_up(n) && ip4_addr_eq(src, netif_ip4_addr(n)))
		return n;
	return NULL;
}
