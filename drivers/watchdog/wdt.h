/*
 * wdt.h - the hardware watchdog, as mailgwd sees it: open (as root, before the privilege
 * drop), pet from the event loop while it is healthy, disarm on a clean stop.
 *
 * Two backends, chosen by what the path is:
 *   a character device (/dev/watchdog)  Linux: WDIOC_SETTIMEOUT, WDIOC_KEEPALIVE, and
 *                                       the magic close ('V') on a clean stop;
 *   a regular file                      simulated (host tests): each pet rewrites the
 *                                       file with "pet COUNT MONOTONIC_MS", a clean stop
 *                                       writes "closed COUNT".
 * If the process dies or freezes, nothing pets: the board resets after timeout_s.
 */
#ifndef MGW_WDT_H
#define MGW_WDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WDT_TIMEOUT_MIN 2
#define WDT_TIMEOUT_MAX 600

struct wdt {
	int fd;		      /* -1 when not open */
	bool sim;	      /* simulated backend (regular file) */
	unsigned timeout_s;   /* what the device runs with */
	uint64_t last_pet_ms; /* monotonic time of the last pet */
	uint64_t pets;
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

/* Backends (wdt_linux.c, wdt_sim.c). */
int wdt_linux_open(struct wdt *w, const char *path, char *why, size_t whysz);
int wdt_linux_pet(struct wdt *w);
void wdt_linux_close(struct wdt *w);
int wdt_sim_open(struct wdt *w, const char *path, char *why, size_t whysz);
int wdt_sim_pet(struct wdt *w, uint64_t now_ms);
void wdt_sim_close(struct wdt *w);

#endif
