/*
 * wire.c - netifs joined by a lossy link, in virtual time.
 *
 * Every decision (drop, duplicate, corrupt one bit, extra delay that reorders) is drawn
 * from the wire's xorshift generator in packet order, so a seed fixes the schedule.
 * Corruption flips a bit anywhere in the packet: the IP or TCP checksum must catch it.
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "arch/sys_arch.h"
#include "core/err.h"
#include "lwip/init.h"
#include "lwip/ip4.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "tls/hash.h"

struct wire_pkt {
	uint64_t at, seq;
	struct netif *to;
	uint16_t len;
	struct wire_pkt *next;
	uint8_t data[];
};

static struct netif wire_netifs[WIRE_NETIFS_MAX];
static unsigned wire_nnetifs;
static struct wire *wire_cur; /* lwIP's output callback has no room for our pointer */

uint32_t wire_rand(struct wire *w)
{
	uint64_t x = w->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	w->rng = x;
	return (uint32_t)(x >> 32);
}

bool wire_chance(struct wire *w, uint32_t ppm)
{
	return ppm > 0 && wire_rand(w) % 1000000u < ppm;
}

/* The capture goes to the file (if any) and into its SHA-256, which every run reports:
 * two runs of one seed must give the same (README "netsim", determinism). */
static void wire_pcap_put(struct wire *w, const void *p, size_t n)
{
	hash_update(&w->pcap_hash, p, n);
	if (w->pcap)
		fwrite(p, 1, n, w->pcap);
}

static void wire_pcap_u32(struct wire *w, uint32_t v)
{
	wire_pcap_put(w, &v, 4); /* pcap is written in host order; its magic tells readers */
}

int wire_init(struct wire *w, const struct netsim_params *p, const char *pcap, uint64_t now_ms)
{
	memset(w, 0, sizeof(*w));
	w->now_ms = w->t0_ms = w->busy_until_ms = now_ms;
	w->p = p;
	w->rng = p->seed * 0x9e3779b97f4a7c15ull + 1;
	hash_init(&w->pcap_hash, HASH_SHA256);
	if (pcap) {
		w->pcap = fopen(pcap, "wb");
		if (w->pcap == NULL)
			return -MGW_EIO;
	}
	wire_pcap_u32(w, 0xa1b2c3d4u); /* microsecond timestamps */
	wire_pcap_put(w, (const uint16_t[]){2, 4}, 4);
	wire_pcap_u32(w, 0);	 /* thiszone */
	wire_pcap_u32(w, 0);	 /* sigfigs */
	wire_pcap_u32(w, 65535); /* snaplen */
	wire_pcap_u32(w, 101);	 /* LINKTYPE_RAW */
	wire_cur = w;
	return 0;
}

static void wire_enqueue(struct wire *w, struct wire_pkt *k)
{
	struct wire_pkt **pp = &w->queue;

	k->seq = w->seq++;
	while (*pp && ((*pp)->at < k->at || ((*pp)->at == k->at && (*pp)->seq < k->seq)))
		pp = &(*pp)->next;
	k->next = *pp;
	*pp = k;
}

static struct netif *wire_netif_for(const uint8_t *ip, uint16_t len)
{
	uint32_t dst;

	if (len < 20)
		return NULL;
	memcpy(&dst, ip + 16, 4);
	for (unsigned i = 0; i < wire_nnetifs; i++)
		if (ip4_addr_get_u32(netif_ip4_addr(&wire_netifs[i])) == dst)
			return &wire_netifs[i];
	return NULL;
}

static err_t wire_output(struct netif *n, struct pbuf *p, const ip4_addr_t *ipaddr)
{
	struct wire *w = wire_cur;
	const struct netsim_params *prm = w->p;
	struct wire_pkt *k;
	uint64_t at;
	unsigned copies = 1;

	(void)n;
	(void)ipaddr;
	w->packets++;
	if (w->on_packet)
		w->on_packet(w->on_packet_arg, w->packets);
	if (wire_chance(w, prm->loss_ppm)) {
		w->dropped++;
		return ERR_OK; /* lost on the wire: the sender does not know */
	}
	if (wire_chance(w, prm->dup_ppm)) {
		w->duplicated++;
		copies = 2;
	}
	/* Serialisation at the link's rate, then propagation delay and jitter. */
	at = w->now_ms > w->busy_until_ms ? w->now_ms : w->busy_until_ms;
	if (prm->bw_bytes_per_ms)
		at += p->tot_len / prm->bw_bytes_per_ms;
	w->busy_until_ms = at;
	for (unsigned c = 0; c < copies; c++) {
		k = malloc(sizeof(*k) + p->tot_len);
		if (k == NULL)
			return ERR_MEM;
		k->len = p->tot_len;
		pbuf_copy_partial(p, k->data, p->tot_len, 0);
		k->to = wire_netif_for(k->data, k->len);
		k->at =
		    at + prm->delay_ms + (prm->jitter_ms ? wire_rand(w) % (prm->jitter_ms + 1) : 0);
		if (wire_chance(w, prm->reorder_ppm))
			k->at += 1 + wire_rand(w) % (2 * prm->delay_ms + 20);
		if (wire_chance(w, prm->corrupt_ppm)) {
			uint32_t bit = wire_rand(w) % (8u * k->len);

			k->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			w->corrupted++;
		}
		if (k->to == NULL) {
			free(k);
			continue;
		}
		wire_enqueue(w, k);
	}
	return ERR_OK;
}

static err_t wire_netif_init(struct netif *n)
{
	n->output = wire_output;
	n->name[0] = 's';
	n->name[1] = 'm';
	return ERR_OK;
}

int wire_netif_add(struct wire *w, uint32_t addr, uint16_t mss)
{
	struct netif *n;
	ip4_addr_t ip, mask, gw;

	(void)w;
	if (wire_nnetifs == WIRE_NETIFS_MAX)
		return -MGW_ENOMEM;
	n = &wire_netifs[wire_nnetifs];
	IP4_ADDR(&ip, addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff);
	IP4_ADDR(&mask, 255, 255, 255, 0);
	ip4_addr_set_zero(&gw);
	if (netif_add(n, &ip, &mask, &gw, NULL, wire_netif_init, ip4_input) == NULL)
		return -MGW_EIO;
	n->mtu = (u16_t)(40 + mss);
	netif_set_up(n);
	netif_set_link_up(n);
	wire_nnetifs++;
	return 0;
}

static void wire_pcap_write(struct wire *w, const struct wire_pkt *k)
{
	wire_pcap_u32(w, (uint32_t)((k->at - w->t0_ms) / 1000));
	wire_pcap_u32(w, (uint32_t)((k->at - w->t0_ms) % 1000 * 1000));
	wire_pcap_u32(w, k->len);
	wire_pcap_u32(w, k->len);
	wire_pcap_put(w, k->data, k->len);
}

bool wire_deliver(struct wire *w)
{
	bool any = false;

	while (w->queue && w->queue->at <= w->now_ms) {
		struct wire_pkt *k = w->queue;
		struct pbuf *p;

		w->queue = k->next;
		wire_pcap_write(w, k);
		p = pbuf_alloc(PBUF_RAW, k->len, PBUF_POOL);
		if (p) {
			pbuf_take(p, k->data, k->len);
			if (k->to->input(p, k->to) != ERR_OK)
				pbuf_free(p);
		}
		free(k);
		any = true;
	}
	return any;
}

bool wire_next(const struct wire *w, uint64_t *at_ms)
{
	if (w->queue == NULL)
		return false;
	*at_ms = w->queue->at;
	return true;
}

int wire_free(struct wire *w)
{
	int rc = 0;

	while (w->queue) {
		struct wire_pkt *k = w->queue;

		w->queue = k->next;
		free(k);
	}
	for (unsigned i = 0; i < wire_nnetifs; i++)
		netif_remove(&wire_netifs[i]);
	wire_nnetifs = 0;
	if (w->pcap && fclose(w->pcap) != 0)
		rc = -MGW_EIO;
	w->pcap = NULL;
	if (hash_finish(&w->pcap_hash, w->pcap_sha256) < 0)
		rc = -MGW_EIO;
	wire_cur = NULL;
	return rc;
}
