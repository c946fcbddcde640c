/*
 * main.c - mailgw, the admin console of the gateway.
 *
 *   mailgw [-c CONF] [-d DATA_DIR] [-s SOCKET] [-y] COMMAND [ARG...]   one command (scripts)
 *   mailgw [-c CONF] [-d DATA_DIR] [-s SOCKET]                          interactive, or one
 *                                                                       command per line of
 *                                                                       standard input
 *   mailgw --login                                                      the serial console's
 *                                                                       login (admin password)
 *
 * The configuration (default Kconfig DATA_DIR/etc/mailgw.conf, or $MAILGW_CONFIG) gives
 * the data directory and the control socket; -d/$MAILGW_DATA_DIR and -s/$MAILGW_SOCKET
 * override them, so the console runs on a host test's data directory without root paths.
 *
 * Exit status: 0 done, 1 refused (bad input, a change mailgwd refused, cancelled), 2 error
 * (mailgwd not reachable, I/O). With lines on standard input, the highest of them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "console.h"
#include "core/log.h"
#include "mgw_config.h"

#define MAILGW_DEFAULT_SOCKET "/run/mailgw/control"

static void usage(FILE *f)
{
	fprintf(f, "usage: mailgw [-c CONF] [-d DATA_DIR] [-s SOCKET] [-y] [COMMAND [ARG...]]\n"
		   "       mailgw --login\n"
		   "  without COMMAND: the interactive console on a terminal, else one command\n"
		   "  per line of standard input; 'mailgw help' lists the commands.\n"
		   "  -c CONF      mailgwd's configuration (default " CONFIG_DATA_DIR
		   "/etc/mailgw.conf)\n"
		   "  -d DATA_DIR  the data directory (default: data_dir of the configuration)\n"
		   "  -s SOCKET    mailgwd's control socket (default: [control] socket)\n"
		   "  -y           answer yes to confirmations (scripts)\n"
		   "exit status: 0 done, 1 refused, 2 error\n");
}

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : dflt;
}

/* Commands from standard input, one per line ('#' comments), like a script file. */
static int run_stdin(struct cons *c)
{
	char line[CONS_LINE_MAX];
	int worst = CONS_OK;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *p = line;
		int rc;

		line[strcspn(line, "\r\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		rc = cons_run_line(c, p);
		if (rc > worst)
			worst = rc;
		if (c->quit)
			break;
	}
	return worst;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"login", no_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static struct mgw_cfg cfg;
	struct cons c = {.prog = "mailgw", .in_fd = STDIN_FILENO, .out_fd = STDOUT_FILENO};
	const char *data_dir = env_or("MAILGW_DATA_DIR", NULL);
	const char *sock = env_or("MAILGW_SOCKET", NULL);
	char err[512], host[64] = "mailgw";
	bool login = false;
	int opt, rc;

	c.conf_path = env_or("MAILGW_CONFIG", CONFIG_DATA_DIR "/etc/mailgw.conf");
	while ((opt = getopt_long(argc, argv, "+c:d:s:yh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			c.conf_path = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'y':
			c.assume_yes = true;
			break;
		case 'l':
			login = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return CONS_ERROR;
		}
	}
	/* A configuration that does not load still leaves the console usable (to fix it). */
	if (cfg_load(c.conf_path, &cfg, err, sizeof(err)) < 0)
		cfg_defaults(&cfg);
	c.data_dir = data_dir != NULL ? data_dir : cfg.data_dir;
	c.sock_path = sock != NULL ? sock : cfg.control_socket;
	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "mailgw");
	c.hostname = host;
	/* The login program gets getty's arguments ("--", a user name): ignored. */
	c.interactive = (login || optind >= argc) && isatty(STDIN_FILENO);
	if (login && !c.interactive) {
		fprintf(stderr, "mailgw: --login needs a terminal\n");
		return CONS_ERROR;
	}
	/* What the admin libraries log (admin/layout.h: "domain x added", "... corrected") goes
	 * to syslog, the audit trail; in scripted mode warnings also to stderr. An interactive
	 * terminal is in raw mode and gets the console's own messages only. */
	log_open("mailgw", true, !c.interactive);
	log_set_level(c.interactive ? LOG_LVL_INFO : LOG_LVL_WARN);
	if (cons_init(&c) < 0)
		return CONS_ERROR;
	if (c.interactive) {
		if (cons_tty_raw(&c) < 0) {
			perror("mailgw: terminal");
			cons_done(&c);
			return CONS_ERROR;
		}
		rc = login ? login_run(&c) : CONS_OK;
		if (rc == CONS_OK)
			cons_loop(&c);
		cons_tty_restore(&c);
		cons_done(&c);
		return rc;
	}
	rc = optind < argc ? cons_run_argv(&c, argc - optind, argv + optind) : run_stdin(&c);
	cons_done(&c);
	return rc;
}
