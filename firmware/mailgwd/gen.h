/*
 * gen.h - a configuration generation: immutable, reference-counted.
 *
 * Everything a session depends on (config now; TLS config, CA, CRL and server key later)
 * lives in one generation. A reload builds a new one and makes it current; sessions keep
 * the one they started with (gen_get at start, gen_put at close), and a generation is
 * freed with its last reference.
 */
#ifndef MGW_GEN_H
#define MGW_GEN_H

#include <stdint.h>

#include "cfg/cfg.h"

struct mgw_gen {
	unsigned refs;
	uint64_t serial;
	struct mgw_cfg cfg;
};

/* Builds a generation from a loaded config; the caller holds the one reference. */
int gen_new(const struct mgw_cfg *cfg, char *err, size_t errsz, struct mgw_gen **out);
struct mgw_gen *gen_get(struct mgw_gen *g);
void gen_put(struct mgw_gen *g);
/* Generations alive (current plus those still held by sessions), for status. */
unsigned gen_alive(void);

#endif
