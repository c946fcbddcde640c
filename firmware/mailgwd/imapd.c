/* imapd.c - accepting IMAPS connections and giving each a TLS session and an IMAP session. */
#include "imapd.h"

#include "gate.h"
#include "proto/imap_sess.h"

static void imapd_settings(const struct mgw_cfg *cfg, struct gate_svc_cfg *out)
{
	out->listen = cfg->imaps_listen;
	out->login_s = cfg->imaps_login_timeout;
	out->idle_s = cfg->imaps_idle_timeout;
	out->max_connections = cfg->imaps_max_connections;
	out->max_per_address = cfg->imaps_max_per_address;
	out->rate = cfg->imaps_rate;
}

struct gate_svc imapd_svc = {
    .name = "imaps",
    .in_max = IMAP_IN_MAX,
    .out_max = IMAP_OUT_MAX,
    .start_sess = imap_sess_start,
    .settings = imapd_settings,
};
