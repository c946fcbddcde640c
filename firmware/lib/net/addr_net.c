/* addr_net.c - an address's network for per-address limits (see addr_net.h). */
#include "net/addr_net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

void addr_net_format(const struct sockaddr *sa, socklen_t salen, unsigned v6_prefix, char *out,
		     size_t outsz)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa && sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
		snprintf(out, outsz, "%s", ip);
	} else if (sa && sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
		struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (v6_prefix < ADDR_NET_V6_PREFIX_MIN)
			v6_prefix = ADDR_NET_V6_PREFIX_MIN;
		if (v6_prefix > ADDR_NET_V6_PREFIX_MAX)
			v6_prefix = ADDR_NET_V6_PREFIX_MAX;
		for (unsigned bit = v6_prefix; bit < 128; bit++)
			a.s6_addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
		inet_ntop(AF_INET6, &a, ip, sizeof(ip));
		if (v6_prefix == 128)
			snprintf(out, outsz, "%s", ip);
		else
			snprintf(out, outsz, "%s/%u", ip, v6_prefix);
	} else {
		snprintf(out, outsz, "local");
	}
}
