/*
 * throttle.h - failed-login throttling shared by POP3 and IMAP.
 *
 * Pure logic over a clock value the caller passes in (milliseconds, monotonic), so it is
 * testable and never sleeps: the session turns the returned delay into a loop timer
 * before it sends the failure reply. Keys are opaque bytes chosen by the caller, one per
 * thing to limit, e.g. "cert:<hash of issuer and serial>" and "addr:<peer network>"
 * (pop3_sess.c); a session checks every key that applies and obeys the strictest answer.
 *
 * Per key: after the n-th failure in the current window, the next answer is delayed
 * base_ms * 2^(n-1), capped at max_delay_ms (0.5 s, 1 s, 2 s, 4 s, 8 s, 8 s ...). When
 * limit failures have happened within window_ms of the window's first failure, the key
 * is refused (no password is even checked) until that window has passed. A success
 * clears the key. Memory is bounded: a fixed table of THROTTLE_SLOTS entries; when full,
 * the least recently used entry is evicted (an attacker flooding keys only forgets the
 * oldest keys, which is why the per-certificate key matters: certificates are scarce).
 */
#ifndef MGW_THROTTLE_H
#define MGW_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define THROTTLE_SLOTS 256
#define THROTTLE_KEY_MAX 64 /* longer keys are truncated (still distinct by their prefix) */

struct throttle_params {
	uint32_t base_ms;      /* delay after the first failure; default 500 */
	uint32_t max_delay_ms; /* cap; default 8000 */
	uint32_t limit;	       /* failures per window before refusal; default 10 */
	uint32_t window_ms;    /* default 15 minutes */
};

struct throttle_slot {
	uint8_t key[THROTTLE_KEY_MAX];
	uint8_t keylen; /* 0: free slot */
	uint32_t failures;
	uint64_t window_start_ms;
	uint64_t last_ms; /* last use, for LRU */
};

/* Caller-allocated (about 25 KB; one per process, not per connection). */
struct throttle {
	struct throttle_params p;
	struct throttle_slot slot[THROTTLE_SLOTS];
};

/* The defaults above. */
void throttle_params_default(struct throttle_params *p);

/* Clears t and takes p (NULL: defaults; zero fields take their default). */
void throttle_init(struct throttle *t, const struct throttle_params *p);

/*
 * Before checking a password for key: 0 and *delay_ms = how long to wait before
 * answering a failure (0 for a key with no recent failures); -MGW_ELIMIT when the key
 * is over its limit (refuse without checking; *delay_ms = the current capped delay).
 * Does not create an entry.
 */
int throttle_check(struct throttle *t, const void *key, size_t keylen, uint64_t now_ms,
		   uint32_t *delay_ms);

/* Records a failure for key (creating or evicting an entry). Returns the delay the caller
 * should apply before its failure reply, the same value a following check would give. */
uint32_t throttle_fail(struct throttle *t, const void *key, size_t keylen, uint64_t now_ms);

/* Records a success: forgets key. */
void throttle_success(struct throttle *t, const void *key, size_t keylen);

/* Number of failures counted for key in its current window (for logging and tests). */
uint32_t throttle_failures(const struct throttle *t, const void *key, size_t keylen,
			   uint64_t now_ms);

#endif
