/*
 * cmd_net.c - the network settings in <data_dir>/etc/network.conf (root:root 0600), read
 * by the boot script rootfs/usr/libexec/mailgw/network in shell syntax. That file is
 * sourced by a root shell, so every value written here is allow-listed character by
 * character (addresses and host names only) and quoted. Changes take effect at the next
 * boot.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "core/err.h"
#include "apply.h"
#include "core/file.h"

#define NET_VALUE_MAX 256

struct net_conf {
	char iface[32];
	char mode[16];
	char address[64];
	char gateway[64];
	char dns[NET_VALUE_MAX];
	char ntp[NET_VALUE_MAX];
};

static const struct {
	const char *key;
	size_t off, size;
} net_keys[] = {
    {"NET_IF", offsetof(struct net_conf, iface), sizeof(((struct net_conf *)0)->iface)},
    {"NET_MODE", offsetof(struct net_conf, mode), sizeof(((struct net_conf *)0)->mode)},
    {"NET_ADDRESS", offsetof(struct net_conf, address), sizeof(((struct net_conf *)0)->address)},
    {"NET_GATEWAY", offsetof(struct net_conf, gateway), sizeof(((struct net_conf *)0)->gateway)},
    {"NET_DNS", offsetof(struct net_conf, dns), sizeof(((struct net_conf *)0)->dns)},
    {"NTP_SERVERS", offsetof(struct net_conf, ntp), sizeof(((struct net_conf *)0)->ntp)},
};

/* Addresses, prefixes and host names: [A-Za-z0-9.:/-] and single spaces between words. */
static bool net_value_ok(const char *s, bool list)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr(".:/-", *s) == NULL &&
		    !(list && *s == ' '))
			return false;
	return true;
}

static int net_path(struct cons *c, char *path, size_t pathsz)
{
	int n = snprintf(path, pathsz, "%s/etc/network.conf", c->data_dir);

	return n < 0 || (size_t)n >= pathsz ? -1 : 0;
}

static void net_read(struct cons *c, struct net_conf *nc)
{
	char path[512], *data = NULL, *line, *save = NULL;
	size_t len;

	memset(nc, 0, sizeof(*nc));
	snprintf(nc->iface, sizeof(nc->iface), "eth0");
	snprintf(nc->mode, sizeof(nc->mode), "dhcp");
	if (net_path(c, path, sizeof(path)) < 0 || file_read_all(path, 16384, &data, &len) < 0)
		return;
	for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (line[0] == '#' || eq == NULL)
			continue;
		*eq++ = '\0';
		if (*eq == '"' && eq[strlen(eq) - 1] == '"' && strlen(eq) >= 2) {
			eq[strlen(eq) - 1] = '\0';
			eq++;
		}
		for (size_t i = 0; i < sizeof(net_keys) / sizeof(net_keys[0]); i++)
			if (strcmp(line, net_keys[i].key) == 0 && net_value_ok(eq, true))
				snprintf((char *)nc + net_keys[i].off, net_keys[i].size, "%s", eq);
	}
	free(data);
}

static int net_write(struct cons *c, const struct net_conf *nc)
{
	char path[512], text[2048], msg[LAYOUT_MSG_MAX];
	struct layout l;
	size_t used = 0;
	int rc;

	if (net_path(c, path, sizeof(path)) < 0)
		return CONS_ERROR;
	used += (size_t)snprintf(text, sizeof(text),
				 "# network.conf - written by the console (mailgw net); read at "
				 "boot.\n");
	for (size_t i = 0; i < sizeof(net_keys) / sizeof(net_keys[0]) && used < sizeof(text); i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s=\"%s\"\n",
					 net_keys[i].key, (const char *)nc + net_keys[i].off);
	if (used >= sizeof(text))
		return CONS_ERROR;
	rc = apply_open(c, &l);
	if (rc != CONS_OK)
		return rc;
	rc = layout_write(&l, "etc/network.conf", text, used, msg, sizeof(msg));
	layout_close(&l);
	if (rc < 0) {
		cons_err(c, "cannot write the network settings: %s", msg);
		return CONS_ERROR;
	}
	cons_out(c, "saved in %s; takes effect at the next boot ('reboot')", path);
	return CONS_OK;
}

const char *net_ntp_servers(struct cons *c, char *out, size_t outsz)
{
	struct net_conf nc;

	net_read(c, &nc);
	snprintf(out, outsz, "%s", nc.ntp);
	return out;
}

static int cmd_net_show(struct cons *c)
{
	struct net_conf nc;

	net_read(c, &nc);
	cons_out(c, "interface: %s", nc.iface);
	if (strcmp(nc.mode, "static") == 0) {
		cons_out(c, "address: %s (static)", nc.address);
		cons_out(c, "gateway: %s", nc.gateway[0] != '\0' ? nc.gateway : "none");
		cons_out(c, "dns: %s", nc.dns[0] != '\0' ? nc.dns : "none");
	} else {
		cons_out(c, "address: from DHCP");
	}
	cons_out(c, "ntp: %s", nc.ntp[0] != '\0' ? nc.ntp : "none");
	return CONS_OK;
}

static int cmd_net_dhcp(struct cons *c)
{
	struct net_conf nc;

	net_read(c, &nc);
	snprintf(nc.mode, sizeof(nc.mode), "dhcp");
	return net_write(c, &nc);
}

static int cmd_net_static(struct cons *c)
{
	const char *addr = cons_arg(c, "ADDRESS"), *gw = cons_arg(c, "GATEWAY");
	struct net_conf nc;

	if (addr == NULL || strchr(addr, '/') == NULL || !net_value_ok(addr, false) ||
	    strlen(addr) >= sizeof(nc.address) || gw == NULL || !net_value_ok(gw, false) ||
	    strlen(gw) >= sizeof(nc.gateway)) {
		cons_err(c, "net static: ADDRESS/PREFIX GATEWAY, e.g. 192.0.2.10/24 192.0.2.1");
		return CONS_REFUSED;
	}
	net_read(c, &nc);
	snprintf(nc.mode, sizeof(nc.mode), "static");
	snprintf(nc.address, sizeof(nc.address), "%s", addr);
	snprintf(nc.gateway, sizeof(nc.gateway), "%s", gw);
	return net_write(c, &nc);
}

static int net_set_list(struct cons *c, const char *what, char *dst, size_t dstsz)
{
	const char *v = cons_arg(c, "SERVERS");

	if (v == NULL || !net_value_ok(v, true) || strlen(v) >= dstsz) {
		cons_err(c, "net %s: addresses or host names separated by spaces, or 'none'", what);
		return CONS_REFUSED;
	}
	snprintf(dst, dstsz, "%s", strcmp(v, "none") == 0 ? "" : v);
	return CONS_OK;
}

static int cmd_net_dns(struct cons *c)
{
	struct net_conf nc;

	net_read(c, &nc);
	if (net_set_list(c, "dns", nc.dns, sizeof(nc.dns)) != CONS_OK)
		return CONS_REFUSED;
	return net_write(c, &nc);
}

static int cmd_net_ntp(struct cons *c)
{
	struct net_conf nc;

	net_read(c, &nc);
	if (net_set_list(c, "ntp", nc.ntp, sizeof(nc.ntp)) != CONS_OK)
		return CONS_REFUSED;
	return net_write(c, &nc);
}

const struct cons_cmd cons_cmds_net[] = {
    {"net", "show the network settings", cmd_net_show, {{NULL}}},
    {"net dhcp", "take the address from DHCP (the default)", cmd_net_dhcp, {{NULL}}},
    {"net static",
     "a fixed address",
     cmd_net_static,
     {{"ADDRESS", CONS_ARG, "address/prefix, e.g. 192.0.2.10/24"},
      {"GATEWAY", CONS_ARG, "the default gateway"},
      {NULL}}},
    {"net dns",
     "DNS servers (with a static address)",
     cmd_net_dns,
     {{"SERVERS", CONS_ARG_REST, "addresses separated by spaces, or none"}, {NULL}}},
    {"net ntp",
     "NTP servers that set the clock",
     cmd_net_ntp,
     {{"SERVERS", CONS_ARG_REST, "addresses or names separated by spaces, or none"}, {NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
