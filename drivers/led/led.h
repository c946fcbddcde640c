/*
 * led.h - the status LED, as crlwatch sees it: one of a few named patterns.
 *
 * Two backends, chosen by what the path is:
 *   a directory (/sys/class/leds/NAME)  Linux LED class: "none" trigger + brightness for
 *                                       off/on, the "timer" trigger with delay_on and
 *                                       delay_off for the blinking patterns;
 *   a regular file                      simulated (host tests, QEMU has no LED): each
 *                                       change rewrites the file with one line,
 *                                       "PATTERN COUNT" (COUNT = changes so far).
 * Setting the pattern the LED already shows writes nothing.
 */
#ifndef MGW_LED_H
#define MGW_LED_H

#include <stdbool.h>
#include <stddef.h>

enum led_pattern {
	LED_OFF = 0,
	LED_ON,		/* steady: all is well */
	LED_BLINK_SLOW, /* 1 s on, 1 s off: attention soon */
	LED_BLINK_FAST, /* 100 ms on, 100 ms off: act now */
	LED_PATTERN_MAX
};

#define LED_PATH_MAX 256

struct led {
	char path[LED_PATH_MAX];
	bool open;
	bool sim;
	enum led_pattern cur;
	unsigned long changes;
};

/* The pattern's name ("off", "on", "blink-slow", "blink-fast"). */
const char *led_pattern_name(enum led_pattern p);

/* Opens path (see above); the LED is left as it is until led_set. 0 or a negative code
 * with the reason in why. */
int led_open(struct led *l, const char *path, char *why, size_t whysz);
/* Shows pattern p. 0 or -MGW_EIO with the reason in why. */
int led_set(struct led *l, enum led_pattern p, char *why, size_t whysz);

/* Backends (led_linux.c, led_sim.c). */
int led_linux_set(struct led *l, enum led_pattern p, char *why, size_t whysz);
int led_sim_set(struct led *l, enum led_pattern p, char *why, size_t whysz);

#endif
