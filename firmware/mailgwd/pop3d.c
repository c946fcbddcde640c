/* pop3d.c - accepting POP3S connections and giving each a TLS session and a POP3 session. */
#include "pop3d.h"

#include "gate.h"
#include "proto/pop3_sess.h"

static void pop3d_settings(const struct mgw_cfg *cfg, const char **listen, uint32_t *login_s,
			   uint32_t *idle_s)
{
	*listen = cfg->pop3s_listen;
	*login_s = cfg->pop3s_login_timeout;
	*idle_s = cfg->pop3s_idle_timeout;
}

struct gate_svc pop3d_svc = {
    .name = "pop3s",
    .in_max = POP3_IN_MAX,
    .out_max = POP3_OUT_MAX,
    .per_address = POP3_MAX_PER_ADDRESS,
    .start_sess = pop3_sess_start,
    .settings = pop3d_settings,
};
