/* gen.c - generation lifetime, and the TLS objects each generation builds from files. */
#include "gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

static uint64_t gen_next_serial = 1;
static unsigned gen_count;
static struct tls_key *gen_key;         /* loaded once at start, shared by generations */
static char gen_key_path[CFG_STR_MAX];  /* the file it came from */

int gen_key_load(const struct mgw_cfg *cfg, char *err, size_t errsz)
{
	int rc;

	if (cfg->tls_key[0] == '\0' || gen_key)
		return 0;
	rc = tls_key_load(cfg->tls_key, &gen_key, err, errsz);
	if (rc == 0)
		snprintf(gen_key_path, sizeof(gen_key_path), "%s", cfg->tls_key);
	return rc;
}

void gen_shutdown(void)
{
	tls_key_free(gen_key);
	gen_key = NULL;
	tls_deinit();
}

static int gen_tls_build(struct mgw_gen *g, char *err, size_t errsz)
{
	const struct mgw_cfg *cfg = &g->cfg;
	struct tls_conf_params p = {
		.cert = cfg->tls_cert,
		.key = gen_key,
		.crl_policy = (enum tls_crl_policy)cfg->tls_crl_expired,
		.crl_grace_s = cfg->tls_crl_grace,
	};
	char why[TLS_ERR_MAX];
	int rc;

	/* The services behind the certificate gate cannot run without it. */
	const struct {
		const char *name, *listen;
	} gated[] = {{"pop3s", cfg->pop3s_listen}, {"imaps", cfg->imaps_listen}};

	for (size_t i = 0; i < MGW_ARRAY_LEN(gated); i++)
		if (strcmp(gated[i].listen, "off") != 0 &&
		    (cfg->tls_cert[0] == '\0' || cfg->tls_ca[0] == '\0')) {
			snprintf(err, errsz,
				 "%s: [%s] needs [tls] cert, key, ca and crl (or [%s] listen = off)",
				 cfg->path, gated[i].name, gated[i].name);
			return -MGW_ECONFIG;
		}
	if (cfg->tls_cert[0] == '\0') {
		if (cfg->tls_ca[0] || cfg->tls_crl[0]) {
			snprintf(err, errsz, "%s: [tls] ca and crl need [tls] cert and key", cfg->path);
			return -MGW_ECONFIG;
		}
		return 0;
	}
	if (cfg->tls_key[0] == '\0' || gen_key == NULL) {
		snprintf(err, errsz, "%s: [tls] cert needs [tls] key", cfg->path);
		return -MGW_ECONFIG;
	}
	if (strcmp(cfg->tls_key, gen_key_path) != 0)
		log_warn("[tls] key changed to %s: the key loaded at start (%s) stays in use until a restart",
			 cfg->tls_key, gen_key_path);
	rc = tls_conf_new(&p, why, sizeof(why), &g->tls_server);
	if (rc < 0)
		goto fail;
	if (cfg->tls_ca[0] == '\0')
		return 0;
	p.ca = cfg->tls_ca;
	p.crl = cfg->tls_crl;
	rc = tls_conf_new(&p, why, sizeof(why), &g->tls_gate);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errsz, "%s: [tls] %s", cfg->path, why);
	return rc;
}

static void gen_free(struct mgw_gen *g)
{
	tls_conf_put(g->tls_gate); /* sessions hold their own references */
	tls_conf_put(g->tls_server);
	free(g);
}

int gen_new(const struct mgw_cfg *cfg, char *err, size_t errsz, struct mgw_gen **out)
{
	struct mgw_gen *g = calloc(1, sizeof(*g));
	int rc;

	if (g == NULL) {
		snprintf(err, errsz, "out of memory");
		return -MGW_ENOMEM;
	}
	g->refs = 1;
	memcpy(&g->cfg, cfg, sizeof(*cfg));
	rc = gen_tls_build(g, err, errsz);
	if (rc < 0) {
		gen_free(g);
		return rc;
	}
	g->serial = gen_next_serial++;
	gen_count++;
	*out = g;
	return 0;
}

struct mgw_gen *gen_get(struct mgw_gen *g)
{
	g->refs++;
	return g;
}

void gen_put(struct mgw_gen *g)
{
	if (g == NULL || --g->refs > 0)
		return;
	gen_count--;
	gen_free(g);
}

unsigned gen_alive(void)
{
	return gen_count;
}
