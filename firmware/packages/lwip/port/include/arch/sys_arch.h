/* arch/sys_arch.h - NO_SYS=1: no threads, semaphores or mailboxes; see sys_arch.c. */
#ifndef MGW_LWIP_ARCH_SYS_ARCH_H
#define MGW_LWIP_ARCH_SYS_ARCH_H

#include <stdint.h>

/* The clock and the random source lwIP uses, set by the program that runs the stack
 * (the simulator's virtual clock and seeded generator). */
void lwip_port_set_time(uint32_t now_ms);
void lwip_port_seed(uint64_t seed);

#endif
