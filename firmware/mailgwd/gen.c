/* gen.c - generation lifetime. */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static uint64_t gen_next_serial = 1;
static unsigned gen_count;

int gen_new(const struct mgw_cfg *cfg, char *err, size_t errsz, struct mgw_gen **out)
{
	struct mgw_gen *g = calloc(1, sizeof(*g));

	(void)err;
	(void)errsz;
	if (g == NULL)
		return -MGW_ENOMEM;
	g->refs = 1;
	g->serial = gen_next_serial++;
	memcpy(&g->cfg, cfg, sizeof(*cfg));
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
	free(g);
}

unsigned gen_alive(void)
{
	return gen_count;
}
