/*
 * pop3d.c - accepting POP3S connections and giving each a TLS session and a POP3 session.
 * The accept-time limits ([pop3s] max_connections, max_per_address, rate) and the
 * handshake deadline are the gate's (gate.h), as for IMAPS.
 */
#include "pop3d.h"

#include "gate.h"
#include "proto/pop3_sess.h"

static void pop3d_settings(const struct mgw_cfg *cfg, struct gate_svc_cfg *out)
{
	out->listen = cfg->pop3s_listen;
	out->login_s = cfg->pop3s_login_timeout;
	out->idle_s = cfg->pop3s_idle_timeout;
	out->max_connections = cfg->pop3s_max_connections;
	out->max_per_address = cfg->pop3s_max_per_address;
	out->rate = cfg->pop3s_rate;
}

struct gate_svc pop3d_svc = {
    .name = "pop3s",
    .in_max = POP3_IN_MAX,
    .out_max = POP3_OUT_MAX,
    .start_sess = pop3_sess_start,
    .settings = pop3d_settings,
};
