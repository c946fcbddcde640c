/*
 * mailgw-layout - check, correct and write the data directory per its layout
 * (admin/layout.h, README "The /data layout").
 *
 *   mailgw-layout [-u USER] check DATA_DIR           report every difference; exit 1 if any
 *   mailgw-layout [-u USER] fix DATA_DIR             create the missing directories and
 *                                                    correct owners and modes (boot, firstboot)
 *   mailgw-layout [-u USER] install DATA_DIR PATH    stdin -> DATA_DIR/PATH, atomically, with
 *                                                    the layout's owner, group and mode
 *   mailgw-layout table                              print the table
 *
 * PATH is relative to DATA_DIR and must be a file the layout names (etc/tls/crl.pem,
 * etc/tls/server.key, ...). USER is the daemon's user, by default the `user` key of
 * DATA_DIR/etc/mailgw.conf, else the build's DAEMON_USER. Every difference or correction
 * is one line "mailgw-layout: PATH: what [-> what was done]" on stderr (and syslog with
 * -s). No symlink below DATA_DIR is ever followed; fix removes one found at a path of the
 * table. Exit status: 0 fine (or fixed), 1 check found differences, 2 error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/layout.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"

#define LY_EXIT_OK 0
#define LY_EXIT_DIFF 1
#define LY_EXIT_ERROR 2
#define LY_INSTALL_MAX (1u << 20) /* bytes read from stdin by install */

static void ly_usage(void)
{
	fprintf(stderr, "usage: mailgw-layout [-s] [-u DAEMON_USER] check|fix DATA_DIR\n"
			"       mailgw-layout [-s] [-u DAEMON_USER] install DATA_DIR PATH < FILE\n"
			"       mailgw-layout table\n");
}

static void ly_report(void *arg, const char *line)
{
	(void)arg;
	log_warn("%s", line);
}

static int ly_table(void)
{
	const struct layout_entry *e;

	for (e = layout_table(); e->pattern != NULL; e++)
		printf("%-28s %-6s %-5s %04o  %s\n", e->pattern[0] ? e->pattern : ".",
		       e->owner == LAYOUT_ROOT ? "root" : "DU",
		       e->group == LAYOUT_ROOT ? "root" : "DG", (unsigned)e->mode, e->writer);
	return LY_EXIT_OK;
}

/* Reads stdin whole (at most max bytes) into a heap buffer. */
static int ly_read_stdin(char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *p = malloc(cap);

	while (p != NULL) {
		size_t got;

		if (n == cap) {
			char *np;

			if (cap >= LY_INSTALL_MAX)
				break;
			cap *= 2;
			np = realloc(p, cap);
			if (np == NULL)
				break;
			p = np;
		}
		got = fread(p + n, 1, cap - n, stdin);
		n += got;
		if (got == 0) {
			if (ferror(stdin))
				break;
			*out = p;
			*len = n;
			return 0;
		}
	}
	free(p);
	return -MGW_ELIMIT;
}

int main(int argc, char **argv)
{
	char msg[LAYOUT_MSG_MAX];
	const char *user = NULL;
	bool to_syslog = false;
	struct layout l;
	int opt, rc, ex = LY_EXIT_ERROR;

	while ((opt = getopt(argc, argv, "+su:h")) != -1) {
		switch (opt) {
		case 's':
			to_syslog = true;
			break;
		case 'u':
			user = optarg;
			break;
		default:
			ly_usage();
			return opt == 'h' ? LY_EXIT_OK : LY_EXIT_ERROR;
		}
	}
	log_open("mailgw-layout", to_syslog, true);
	argc -= optind;
	argv += optind;
	if (argc == 1 && strcmp(argv[0], "table") == 0)
		return ly_table();
	if (!((argc == 2 && (strcmp(argv[0], "check") == 0 || strcmp(argv[0], "fix") == 0)) ||
	      (argc == 3 && strcmp(argv[0], "install") == 0))) {
		ly_usage();
		return LY_EXIT_ERROR;
	}
	rc = layout_open(&l, argv[1], user, msg, sizeof(msg));
	if (rc < 0) {
		log_err("%s", msg);
		return LY_EXIT_ERROR;
	}
	if (strcmp(argv[0], "install") == 0) {
		char *data = NULL;
		size_t len = 0;

		if (ly_read_stdin(&data, &len) < 0) {
			log_err("stdin: unreadable or larger than %u bytes", LY_INSTALL_MAX);
		} else if (layout_write(&l, argv[2], data, len, msg, sizeof(msg)) < 0) {
			log_err("%s", msg);
		} else {
			ex = LY_EXIT_OK;
		}
		free(data);
	} else {
		bool fix = strcmp(argv[0], "fix") == 0;

		rc = layout_check(&l, fix ? LAYOUT_FIX | LAYOUT_CREATE : 0, ly_report, NULL);
		if (rc < 0)
			log_err("%s: %s", argv[1], mgw_strerror(rc));
		else
			ex = (rc > 0 && !fix) ? LY_EXIT_DIFF : LY_EXIT_OK;
	}
	layout_close(&l);
	return ex;
}
