/*
 * arch/cc.h - lwIP's compiler and platform port for mailgw's host builds (Linux, gcc or
 * clang). Randomness (initial sequence numbers, ephemeral ports) and time come from
 * sys_arch.c, which the simulator drives (a seeded generator, a virtual clock), so the
 * same seed gives the same packets.
 */
#ifndef MGW_LWIP_ARCH_CC_H
#define MGW_LWIP_ARCH_CC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LWIP_NO_CTYPE_H 0
#include <endian.h> /* BYTE_ORDER, LITTLE_ENDIAN */
#define LWIP_ERRNO_STDINCLUDE 1

#define LWIP_PLATFORM_DIAG(x) \
	do { \
		printf x; \
	} while (0)
/* A broken lwIP invariant is a bug to find, never to survive. */
#define LWIP_PLATFORM_ASSERT(x) \
	do { \
		fprintf(stderr, "lwIP assertion \"%s\" failed at %s:%d\n", x, __FILE__, __LINE__); \
		abort(); \
	} while (0)

uint32_t lwip_port_rand(void);
#define LWIP_RAND() lwip_port_rand()

#endif
