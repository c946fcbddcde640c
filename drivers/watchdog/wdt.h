/*
 * wdt.h - the hardware watchdog, as mailgwd sees it: open (as root, before the privilege
 * drop), pet from the event loop while it is healthy, disarm on a clean stop.
 *
 * Two backends, chosen by what the path is:
 *   a character device (/dev/watchdog)  Linux: WDIOC_SETTIMEOUT, WDIOC_KEEPALIVE, and
 *                                       the magic close ('V') on a clean stop;
 *   a regular file                      simulated (host tests): each pet rewrites the
 *                                       file with "pet COUNT MONOTONIC_MS", a clean stop
 *                                       writes "closed COUNT" (wdt_sim.c: one opener,
 *                                       MAILGW_TEST_WDT_MAX, PATH.events).
 * If the process dies or freezes, nothing pets: the board resets after timeout_s.
 */
#ifndef MGW_WDT_H
#define MGW_WDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WDT_TIMEOUT_MIN 2
#define WDT_TIMEOUT_MAX 600

struct wdt {
	int fd;		      /* -1 when not open */
	bool sim;	      /* simulated backend (regular file) */
	unsigned timeout_s;   /* what the device runs with */
	uint64_t last_pet_ms; /* monotonic time of the last pet */
	uint64_t pets;
	int sim_events; /* simulated backend: PATH.events, or -1 */
};

void wdt_init(struct wdt *w);
/* Opens and arms path with timeout_s; 0 or a negative code with the reason in why
 * (-MGW_EEXIST: another process has the device open). */
int wdt_open(struct wdt *w, const char *path, unsigned timeout_s, char *why, size_t whysz);
bool wdt_is_open(const struct wdt *w);
/* The pet period: a third of the timeout, in milliseconds. */
uint64_t wdt_interval_ms(const struct wdt *w);
/* Pets if at least wdt_interval_ms() has passed since the last pet (now_ms monotonic). */
int wdt_pet_due(struct wdt *w, uint64_t now_ms);
int wdt_pet(struct wdt *w, uint64_t now_ms);
/* Clean stop: disarms the device (magic close) and closes it. */
void wdt_close(struct wdt *w);
/* Closes without disarming: the device keeps counting down from its timeout and resets
 * the board unless the next opener pets it (the boot guard of a slot on trial: `mailgw
 * firmware guard`). The simulated file keeps its last line. */
void wdt_release(struct wdt *w);

/*
 * The boot guard's keeper (wdt_keeper.c), for a driver whose maximum timeout is below the
 * guard time. Its pidfile: /run/mailgw-wdt-guard.pid (MAILGW_TEST_WDT_PIDFILE in tests).
 */
#define WDT_KEEPER_NAME "mgw-wdt-keeper" /* its /proc/PID/comm */
const char *wdt_keeper_pidfile(void);
/* Forks the keeper, which pets w (open, armed at monotonic armed_ms) until guard_s have
 * passed since then; w is released here. The keeper's pid, or a negative code + why. */
int wdt_keeper_start(struct wdt *w, const char *dev, unsigned guard_s, uint64_t armed_ms, char *why,
		     size_t whysz);
/* The keeper's pid from the pidfile once checked (a process of this uid named
 * WDT_KEEPER_NAME), or 0. */
pid_t wdt_keeper_find(void);
/* wdt_open; when the device is busy because the keeper holds it, asks the keeper to hand
 * over (SIGUSR1) and retries for about 2 s. *keeper: its pid when it was asked, or 0. */
int wdt_open_takeover(struct wdt *w, const char *path, unsigned timeout_s, pid_t *keeper, char *why,
		      size_t whysz);
/* Has the keeper disarm the device (SIGUSR2: magic close) and waits for it to finish:
 * its pid, 0 when no keeper runs, -1 when it did not finish in time. */
pid_t wdt_keeper_disarm(void);

/* Backends (wdt_linux.c, wdt_sim.c). */
int wdt_linux_open(struct wdt *w, const char *path, char *why, size_t whysz);
int wdt_linux_pet(struct wdt *w);
void wdt_linux_close(struct wdt *w);
int wdt_sim_open(struct wdt *w, const char *path, char *why, size_t whysz);
int wdt_sim_pet(struct wdt *w, uint64_t now_ms);
void wdt_sim_close(struct wdt *w);
void wdt_sim_release(struct wdt *w);

#endif
