/*
 * throttle.c - failed-login counters with growing delays (see throttle.h).
 *
 * A linear scan of a fixed table: 256 slots of ~90 bytes, searched only on a login
 * attempt, is cheaper than any index and has no allocation to fail.
 */
#include "auth/throttle.h"

#include <string.h>

#include "core/err.h"
#include "tls/hash.h"

#define THROTTLE_DEF_BASE_MS 500u
#define THROTTLE_DEF_MAX_MS 8000u
#define THROTTLE_DEF_LIMIT 10u
#define THROTTLE_DEF_WINDOW_MS (15u * 60u * 1000u)

/* A key as stored: keys longer than THROTTLE_KEY_MAX keep their first half and the
 * SHA-256 of the whole, so two long keys with a common prefix stay distinct. */
struct throttle_key {
	uint8_t b[THROTTLE_KEY_MAX];
	uint8_t len;
};

_Static_assert(THROTTLE_KEY_MAX >= 2 * HASH_SHA256_LEN, "long-key digest must fit");

static void throttle_key_make(const void *key, size_t keylen, struct throttle_key *k)
{
	if (keylen <= THROTTLE_KEY_MAX) {
		memcpy(k->b, key, keylen);
		k->len = (uint8_t)keylen;
		return;
	}
	memcpy(k->b, key, THROTTLE_KEY_MAX - HASH_SHA256_LEN);
	hash_once(HASH_SHA256, key, keylen, k->b + THROTTLE_KEY_MAX - HASH_SHA256_LEN);
	k->len = THROTTLE_KEY_MAX;
}

void throttle_params_default(struct throttle_params *p)
{
	p->base_ms = THROTTLE_DEF_BASE_MS;
	p->max_delay_ms = THROTTLE_DEF_MAX_MS;
	p->limit = THROTTLE_DEF_LIMIT;
	p->window_ms = THROTTLE_DEF_WINDOW_MS;
}

void throttle_init(struct throttle *t, const struct throttle_params *p)
{
	struct throttle_params d;

	throttle_params_default(&d);
	memset(t, 0, sizeof(*t));
	t->p = d;
	if (p == NULL)
		return;
	if (p->base_ms)
		t->p.base_ms = p->base_ms;
	if (p->max_delay_ms)
		t->p.max_delay_ms = p->max_delay_ms;
	if (p->limit)
		t->p.limit = p->limit;
	if (p->window_ms)
		t->p.window_ms = p->window_ms;
}

static struct throttle_slot *throttle_find(const struct throttle *t, const struct throttle_key *k)
{
	size_t i;

	if (k->len == 0)
		return NULL;
	for (i = 0; i < THROTTLE_SLOTS; i++) {
		const struct throttle_slot *s = &t->slot[i];

		if (s->keylen == k->len && memcmp(s->key, k->b, k->len) == 0)
			return (struct throttle_slot *)s;
	}
	return NULL;
}

/* Failures that still count at now: 0 once the window has passed. */
static uint32_t throttle_live(const struct throttle *t, const struct throttle_slot *s,
			      uint64_t now_ms)
{
	if (s == NULL || now_ms < s->window_start_ms ||
	    now_ms - s->window_start_ms >= t->p.window_ms)
		return 0;
	return s->failures;
}

/* base * 2^(n-1), capped; 0 for no failures. */
static uint32_t throttle_delay(const struct throttle *t, uint32_t n)
{
	uint64_t d;

	if (n == 0)
		return 0;
	if (n - 1 >= 32)
		return t->p.max_delay_ms;
	d = (uint64_t)t->p.base_ms << (n - 1);
	return d > t->p.max_delay_ms ? t->p.max_delay_ms : (uint32_t)d;
}

int throttle_check(struct throttle *t, const void *key, size_t keylen, uint64_t now_ms,
		   uint32_t *delay_ms)
{
	struct throttle_key k;
	struct throttle_slot *s;
	uint32_t n;

	throttle_key_make(key, keylen, &k);
	s = throttle_find(t, &k);
	n = throttle_live(t, s, now_ms);
	*delay_ms = throttle_delay(t, n);
	if (s != NULL)
		s->last_ms = now_ms;
	return n >= t->p.limit ? -MGW_ELIMIT : 0;
}

uint32_t throttle_fail(struct throttle *t, const void *key, size_t keylen, uint64_t now_ms)
{
	struct throttle_key k;
	struct throttle_slot *s;
	size_t i;

	throttle_key_make(key, keylen, &k);
	if (k.len == 0)
		return 0;
	s = throttle_find(t, &k);
	if (s == NULL) {
		/* A free slot, else the least recently used one. */
		s = &t->slot[0];
		for (i = 0; i < THROTTLE_SLOTS; i++) {
			if (t->slot[i].keylen == 0) {
				s = &t->slot[i];
				break;
			}
			if (t->slot[i].last_ms < s->last_ms)
				s = &t->slot[i];
		}
		memset(s, 0, sizeof(*s));
		memcpy(s->key, k.b, k.len);
		s->keylen = k.len;
	}
	if (throttle_live(t, s, now_ms) == 0) {
		s->failures = 0;
		s->window_start_ms = now_ms;
	}
	if (s->failures < UINT32_MAX)
		s->failures++;
	s->last_ms = now_ms;
	return throttle_delay(t, s->failures);
}

void throttle_success(struct throttle *t, const void *key, size_t keylen)
{
	struct throttle_key k;
	struct throttle_slot *s;

	throttle_key_make(key, keylen, &k);
	s = throttle_find(t, &k);
	if (s != NULL)
		memset(s, 0, sizeof(*s));
}

uint32_t throttle_failures(const struct throttle *t, const void *key, size_t keylen,
			   uint64_t now_ms)
{
	struct throttle_key k;

	throttle_key_make(key, keylen, &k);
	return throttle_live(t, throttle_find(t, &k), now_ms);
}
