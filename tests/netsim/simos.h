/*
 * simos.h - what the operating system gives the engines that would make two runs of one
 * seed differ, simulated (README "netsim", determinism): randomness, time and the pid.
 *
 * The netsim link wraps (ld --wrap, tests/tests.mk NETSIM_WRAP) these calls of our code,
 * mbedTLS and lwIP, and nothing else in the process:
 *   mbedtls_platform_entropy_poll, getrandom  a stream drawn from the run's seed: mbedTLS's
 *                                             CTR-DRBGs and PSA's generator (TLS randoms,
 *                                             key shares, ECDSA blinding) and password salts;
 *   time, gettimeofday, clock_gettime         the virtual clock: CLOCK_REALTIME is the epoch
 *                                             (simos_start) plus virtual time, the others
 *                                             virtual time (Received: dates, Maildir names,
 *                                             UIDVALIDITY, log stamps, certificate and CRL
 *                                             checks);
 *   getpid                                    a constant (Maildir names, PSA's fork check).
 * Outside simos_start..simos_stop every wrapper calls the real function, so whatever runs
 * around the simulation (libFuzzer, the matrix's parent) sees the real system.
 *
 * This file and simos.c exist only in the netsim build: simos.c refuses to compile
 * without MGW_NETSIM (set by the netsim rules only), and does not even link without the
 * --wrap flags (its __real_* references are left undefined), which no product link has;
 * the product keeps getrandom and the real clocks.
 */
#ifndef MGW_NETSIM_SIMOS_H
#define MGW_NETSIM_SIMOS_H

#include <stdint.h>

#define SIMOS_PID 4242

/*
 * From now on randomness is drawn from seed and the wall clock reads epoch_s + *vclock_ms
 * / 1000 (vclock_ms borrowed until simos_stop: the simulator's virtual clock, which never
 * goes back).
 */
void simos_start(uint64_t seed, int64_t epoch_s, const uint64_t *vclock_ms);
void simos_stop(void);

/* The simulation's epoch for a PKI: its CRL's thisUpdate plus an hour and a minute, when every test
 * certificate and the CRL are valid (tests/integration/pki.py). 0 or -MGW_E*. */
int simos_epoch_from_crl(const char *crl_pem, int64_t *epoch_s);

#endif
