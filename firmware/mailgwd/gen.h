/*
 * gen.h - a configuration generation: immutable, reference-counted.
 *
 * Everything a session depends on (config now; TLS config, CA, CRL and server key later)
 * lives in one generation. A reload builds a new one and makes it current; sessions keep
 * the one they started with (gen_get at start, gen_put at close), and a generation is
 * freed with its last reference.
 *
 * TLS: a generation holds the server configurations built from the [tls] files: tls_gate
 * (client certificate required, CA + CRL; ports 993/995) and tls_server (no client
 * certificate; STARTTLS on port 25). mbedTLS forbids changing a configuration under live
 * sessions, so each generation builds its own; a session keeps its generation, hence its
 * configuration, CA and CRL, to the end; its TLS state, freed after the session has
 * dropped the generation, holds a reference of its own to the configuration
 * (tls_conf_put), so a reload never frees a configuration under it. The private key is
 * the exception: it is read once at start, as root, before the privilege drop
 * (gen_key_load) and shared by every generation; a reload re-reads certificate, CA and
 * CRL, checks that the certificate still matches the key, and refuses the reload
 * otherwise (a new key needs a restart).
 */
#ifndef MGW_GEN_H
#define MGW_GEN_H

#include <stdint.h>

#include "cfg/cfg.h"
#include "tls/tls.h"

struct mgw_gen {
	unsigned refs;
	uint64_t serial;
	struct mgw_cfg cfg;
	struct tls_conf *tls_gate;   /* NULL when [tls] ca is not set */
	struct tls_conf *tls_server; /* NULL when [tls] cert is not set */
};

/* Reads [tls] key (call as root, before the privilege drop). Nothing to do, 0, when no
 * key is configured. Later calls keep the first key (a new key needs a restart). */
int gen_key_load(const struct mgw_cfg *cfg, char *err, size_t errsz);
/* Frees the key and the crypto layer at exit (after the last generation). */
void gen_shutdown(void);

/* Builds a generation from a loaded config, TLS files included; the caller holds the one
 * reference. On error fills err (the TLS file and the problem) and returns < 0. */
int gen_new(const struct mgw_cfg *cfg, char *err, size_t errsz, struct mgw_gen **out);
struct mgw_gen *gen_get(struct mgw_gen *g);
void gen_put(struct mgw_gen *g);
/* Generations alive (current plus those still held by sessions), for status. */
unsigned gen_alive(void);

#endif
