/* imapd.c - accepting IMAPS connections and giving each a TLS session and an IMAP session. */
#include "imapd.h"

#include "gate.h"
#include "proto/imap_sess.h"

static void imapd_settings(const struct mgw_cfg *cfg, const char **listen, uint32_t *login_s,
			   uint32_t *idle_s)
{
	*listen = cfg->imaps_listen;
	*login_s = cfg->imaps_login_timeout;
	*idle_s = cfg->imaps_idle_timeout;
}

struct gate_svc imapd_svc = {
    .name = "imaps",
    .in_max = IMAP_IN_MAX,
    .out_max = IMAP_OUT_MAX,
    .per_address = IMAP_MAX_PER_ADDRESS,
    .start_sess = imap_sess_start,
    .settings = imapd_settings,
};
