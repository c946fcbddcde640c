/*
 * addr_net.h - the network a client address counts in.
 *
 * Per-address limits (connections, connection rate) and the login throttle count an IPv4
 * client by its address and an IPv6 client by its prefix: a site or a customer usually
 * gets a whole /64 and can use any of its 2^64 addresses, so counting IPv6 addresses one
 * by one would be no limit at all. The prefix length is configurable (ipv6_prefix; 128
 * counts single addresses).
 */
#ifndef MGW_ADDR_NET_H
#define MGW_ADDR_NET_H

#include <stddef.h>
#include <sys/socket.h>

#define ADDR_NET_V6_PREFIX_DEFAULT 64
#define ADDR_NET_V6_PREFIX_MIN 16
#define ADDR_NET_V6_PREFIX_MAX 128

/*
 * Writes the network of sa into out (always terminated): "192.0.2.7" for IPv4,
 * "2001:db8:1:2::/64" for IPv6 under a prefix shorter than 128 (the address with the
 * host bits cleared), the address itself under 128, "local" for anything else (unix
 * sockets). v6_prefix outside MIN..MAX is clamped.
 */
void addr_net_format(const struct sockaddr *sa, socklen_t salen, unsigned v6_prefix, char *out,
		     size_t outsz);

#endif
