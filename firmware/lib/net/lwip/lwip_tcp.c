/*
 * lwip_tcp.c - a transport over one lwIP TCP pcb (raw API, callbacks).
 *
 * Invariant: ctx->pcb is NULL once lwIP has freed the pcb (tcp_err: reset or abort) or
 * we closed it; every op checks it. lwIP's callbacks only queue data and set flags: the
 * conn learns of them through the ready op, polled by the loop.
 */
#include "net/lwip/lwip_tcp.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/loop.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

struct lwip_tcp {
	struct tcp_pcb *pcb;
	struct pbuf *rx; /* received, not yet read; rx_off bytes of its head already read */
	uint16_t rx_off;
	bool connected, eof, reset;
	bool wr_blocked; /* lwIP refused a write for memory: wait for an ACK (tcp_sent) */
};

struct lwip_tcp_listener {
	struct tcp_pcb *pcb;
	lwip_tcp_accept_cb cb;
	void *arg;
};

static size_t lwip_tcp_nlive;
static size_t lwip_tcp_nqueued;

static void lwip_tcp_detach(struct lwip_tcp *t)
{
	if (t->pcb == NULL)
		return;
	tcp_arg(t->pcb, NULL);
	tcp_recv(t->pcb, NULL);
	tcp_sent(t->pcb, NULL);
	tcp_err(t->pcb, NULL);
	tcp_poll(t->pcb, NULL, 0);
	t->pcb = NULL;
}

static err_t lwip_tcp_recv_cb(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct lwip_tcp *t = arg;

	(void)pcb;
	if (p == NULL) {
		t->eof = true;
		return ERR_OK;
	}
	if (err != ERR_OK) {
		pbuf_free(p);
		return err;
	}
	lwip_tcp_nqueued += p->tot_len;
	if (t->rx)
		pbuf_cat(t->rx, p);
	else
		t->rx = p;
	return ERR_OK;
}

static void lwip_tcp_err_cb(void *arg, err_t err)
{
	struct lwip_tcp *t = arg;

	(void)err;
	if (t == NULL)
		return;
	t->pcb = NULL; /* already freed by lwIP */
	t->reset = true;
}

static err_t lwip_tcp_connected_cb(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct lwip_tcp *t = arg;

	(void)pcb;
	t->connected = err == ERR_OK;
	return ERR_OK;
}

static err_t lwip_tcp_sent_cb(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct lwip_tcp *t = arg;

	(void)pcb;
	(void)len;
	t->wr_blocked = false;
	return ERR_OK;
}

static struct lwip_tcp *lwip_tcp_wrap(struct tcp_pcb *pcb)
{
	struct lwip_tcp *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->pcb = pcb;
	tcp_arg(pcb, t);
	tcp_recv(pcb, lwip_tcp_recv_cb);
	tcp_sent(pcb, lwip_tcp_sent_cb);
	tcp_err(pcb, lwip_tcp_err_cb);
	tcp_nagle_disable(pcb);
	lwip_tcp_nlive++;
	return t;
}

static ssize_t lwip_tcp_read(void *ctx, void *buf, size_t len)
{
	struct lwip_tcp *t = ctx;
	size_t n = 0;

	if (t->rx == NULL) {
		if (t->reset)
			return -MGW_ECLOSED;
		return t->eof ? 0 : -MGW_EWANTREAD;
	}
	while (t->rx && n < len) {
		size_t avail = t->rx->len - t->rx_off;
		size_t k = len - n < avail ? len - n : avail;
		struct pbuf *head = t->rx;

		n += pbuf_copy_partial(head, (uint8_t *)buf + n, (u16_t)k, t->rx_off);
		t->rx_off = (uint16_t)(t->rx_off + k);
		if (t->rx_off == head->len) {
			t->rx = head->next;
			if (t->rx)
				pbuf_ref(t->rx);
			pbuf_free(head);
			t->rx_off = 0;
		}
	}
	lwip_tcp_nqueued -= n;
	/* Only now does the peer get this window back: back-pressure (RFC 9293 3.8.6). */
	if (t->pcb)
		tcp_recved(t->pcb, (u16_t)n);
	return (ssize_t)n;
}

/* What one tcp_write can take: the send buffer, and as many segments as the queue has
 * room for (with a 1-byte MSS a write of n bytes is n segments). */
static size_t lwip_tcp_room(const struct lwip_tcp *t)
{
	size_t segs, room;

	if (t->pcb == NULL || !t->connected || t->wr_blocked ||
	    tcp_sndqueuelen(t->pcb) >= TCP_SND_QUEUELEN - 4)
		return 0;
	segs = (size_t)(TCP_SND_QUEUELEN - 4 - tcp_sndqueuelen(t->pcb));
	room = tcp_sndbuf(t->pcb);
	if (room > segs * tcp_mss(t->pcb))
		room = segs * tcp_mss(t->pcb);
	return room;
}

static ssize_t lwip_tcp_write(void *ctx, const void *buf, size_t len)
{
	struct lwip_tcp *t = ctx;
	size_t n = lwip_tcp_room(t);
	err_t e;

	if (t->pcb == NULL)
		return -MGW_ECLOSED;
	if (n == 0)
		return -MGW_EWANTWRITE;
	if (n > len)
		n = len;
	if (n > 0xffffu)
		n = 0xffffu;
	e = tcp_write(t->pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY);
	if (e == ERR_MEM) {
		t->wr_blocked = tcp_sndqueuelen(t->pcb) > 0; /* an ACK will come and unblock */
		return -MGW_EWANTWRITE;
	}
	if (e != ERR_OK)
		return -MGW_ECLOSED;
	tcp_output(t->pcb);
	return (ssize_t)n;
}

static void lwip_tcp_shutdown(void *ctx)
{
	struct lwip_tcp *t = ctx;

	if (t->pcb)
		tcp_shutdown(t->pcb, 0, 1);
}

static void lwip_tcp_destroy(void *ctx)
{
	struct lwip_tcp *t = ctx;

	if (t->pcb) {
		struct tcp_pcb *pcb = t->pcb;

		lwip_tcp_detach(t);
		if (tcp_close(pcb) != ERR_OK)
			tcp_abort(pcb);
	}
	if (t->rx) {
		lwip_tcp_nqueued -= t->rx->tot_len - t->rx_off;
		pbuf_free(t->rx);
	}
	lwip_tcp_nlive--;
	free(t);
}

static uint32_t lwip_tcp_ready(void *ctx)
{
	struct lwip_tcp *t = ctx;
	uint32_t r = 0;

	if (t->rx || t->eof || t->reset)
		r |= LOOP_READ;
	if (lwip_tcp_room(t) > 0)
		r |= LOOP_WRITE;
	if (t->reset)
		r |= LOOP_HUP;
	return r;
}

void lwip_tcp_abort(void *ctx)
{
	struct lwip_tcp *t = ctx;

	if (t->pcb) {
		struct tcp_pcb *pcb = t->pcb;

		lwip_tcp_detach(t);
		tcp_abort(pcb); /* sends RST */
		t->reset = true;
	}
}

const struct transport_ops lwip_tcp_ops = {
    .name = "lwip-tcp",
    .read = lwip_tcp_read,
    .write = lwip_tcp_write,
    .shutdown = lwip_tcp_shutdown,
    .destroy = lwip_tcp_destroy,
    .ready = lwip_tcp_ready,
};

static err_t lwip_tcp_accepted(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct lwip_tcp_listener *l = arg;
	struct lwip_tcp *t;
	struct transport tr;
	char peer[32];

	if (err != ERR_OK || pcb == NULL)
		return ERR_VAL;
	t = lwip_tcp_wrap(pcb);
	if (t == NULL) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	t->connected = true;
	snprintf(peer, sizeof(peer), "%s:%u", ip4addr_ntoa(ip_2_ip4(&pcb->remote_ip)),
		 (unsigned)pcb->remote_port);
	tr.ops = &lwip_tcp_ops;
	tr.ctx = t;
	l->cb(l->arg, &tr, peer);
	/* The callback may have closed it already (a refusal): lwIP must not touch it then. */
	return ERR_OK;
}

int lwip_tcp_listen(uint32_t addr, uint16_t port, lwip_tcp_accept_cb cb, void *arg,
		    struct lwip_tcp_listener **out)
{
	struct lwip_tcp_listener *l = calloc(1, sizeof(*l));
	struct tcp_pcb *pcb;
	ip_addr_t ip;

	if (l == NULL)
		return -MGW_ENOMEM;
	pcb = tcp_new();
	if (pcb == NULL) {
		free(l);
		return -MGW_ENOMEM;
	}
	ip_addr_set_ip4_u32(&ip, lwip_htonl(addr));
	if (tcp_bind(pcb, &ip, port) != ERR_OK) {
		tcp_close(pcb);
		free(l);
		return -MGW_EIO;
	}
	l->pcb = tcp_listen(pcb);
	if (l->pcb == NULL) {
		tcp_close(pcb);
		free(l);
		return -MGW_ENOMEM;
	}
	l->cb = cb;
	l->arg = arg;
	tcp_arg(l->pcb, l);
	tcp_accept(l->pcb, lwip_tcp_accepted);
	*out = l;
	return 0;
}

void lwip_tcp_listener_close(struct lwip_tcp_listener *l)
{
	if (l == NULL)
		return;
	tcp_arg(l->pcb, NULL);
	tcp_accept(l->pcb, NULL);
	tcp_close(l->pcb);
	free(l);
}

int lwip_tcp_connect(uint32_t local, uint32_t remote, uint16_t port, struct transport *out)
{
	struct tcp_pcb *pcb = tcp_new();
	struct lwip_tcp *t;
	ip_addr_t lip, rip;

	if (pcb == NULL)
		return -MGW_ENOMEM;
	ip_addr_set_ip4_u32(&lip, lwip_htonl(local));
	ip_addr_set_ip4_u32(&rip, lwip_htonl(remote));
	if (tcp_bind(pcb, &lip, 0) != ERR_OK) {
		tcp_close(pcb);
		return -MGW_EIO;
	}
	t = lwip_tcp_wrap(pcb);
	if (t == NULL) {
		tcp_close(pcb);
		return -MGW_ENOMEM;
	}
	if (tcp_connect(pcb, &rip, port, lwip_tcp_connected_cb) != ERR_OK) {
		lwip_tcp_destroy(t);
		return -MGW_EIO;
	}
	out->ops = &lwip_tcp_ops;
	out->ctx = t;
	return 0;
}

size_t lwip_tcp_live(void)
{
	return lwip_tcp_nlive;
}

size_t lwip_tcp_queued(void)
{
	return lwip_tcp_nqueued;
}

size_t lwip_tcp_unsent(uint16_t local_port)
{
	size_t n = 0;

	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
		if (pcb->local_port == local_port)
			n += TCP_SND_BUF - pcb->snd_buf;
	return n;
}
