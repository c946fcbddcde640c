/*
 * lwipopts.h - lwIP 2.2.1 configuration for mailgw: NO_SYS=1, raw (callback) API only,
 * IPv4 + TCP, no sockets/netconn, no threads. Used by the network simulator
 * (tests/netsim) and meant as the starting point of an MCU build.
 *
 * Memory is from lwIP's own pools and heap (not the C library), with statistics on, so
 * a test can count pbufs, segments and PCBs left over at the end of a run.
 */
#ifndef MGW_LWIPOPTS_H
#define MGW_LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0

#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_UDP 0
#define LWIP_DHCP 0
#define LWIP_DNS 0
#define LWIP_IGMP 0
#define LWIP_TCP 1
#define IP_REASSEMBLY 0
#define IP_FRAG 0
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_HAVE_LOOPIF 0

/* Memory: lwIP's heap for PBUF_RAM (TCP segments we write), pools for the rest. */
#define MEM_LIBC_MALLOC 0
#define MEMP_MEM_MALLOC 0
#define MEM_ALIGNMENT 8
#define MEM_SIZE (1024 * 1024)
#define MEMP_NUM_PBUF 256
#define MEMP_NUM_TCP_PCB 32
#define MEMP_NUM_TCP_PCB_LISTEN 8
#define MEMP_NUM_TCP_SEG 1024
#define PBUF_POOL_SIZE 512
#define PBUF_POOL_BUFSIZE 1600

/* TCP: a normal MSS and window by default; the simulator may shrink both per run
 * (tcp_mss via the MSS option, windows via tcp_recved pacing). */
#define TCP_MSS 1460
#define TCP_WND (8 * TCP_MSS)
#define TCP_SND_BUF (16 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS + 8)
#define TCP_QUEUE_OOSEQ 1
#define TCP_OOSEQ_MAX_PBUFS 64
#define TCP_LISTEN_BACKLOG 1
#define LWIP_TCP_KEEPALIVE 0
#define LWIP_WND_SCALE 0
#define TCP_MAXRTX 12
#define TCP_SYNMAXRTX 6
#define TCP_CALCULATE_EFF_SEND_MSS 1
#define LWIP_CALLBACK_API 1
#define LWIP_TCP_TIMESTAMPS 0

#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_TCP 1

/* Statistics: the simulator's "no memory grows without bound" checks read them. */
#define LWIP_STATS 1
#define MEM_STATS 1
#define MEMP_STATS 1
#define PBUF_STATS 0
#define TCP_STATS 1
#define IP_STATS 1
#define LINK_STATS 1
#define LWIP_STATS_DISPLAY 0

/* Several netifs share one stack: a packet leaves by the netif that owns its source
 * address (the simulator's wire joins them), never by lwIP's own choice of route. */
struct netif;
struct ip4_addr;
struct netif *lwip_port_route_src(const struct ip4_addr *src, const struct ip4_addr *dest);
#define LWIP_HOOK_IP4_ROUTE_SRC(src, dest) lwip_port_route_src((src), (dest))

/* Initial sequence numbers from the seeded generator (arch/cc.h), not lwIP's counter that
 * carries over from one simulated run to the next inside a process. */
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) lwip_port_rand()

#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0
#define LWIP_SINGLE_NETIF 0

#define LWIP_DEBUG 0
#define LWIP_NOASSERT 0

#endif
