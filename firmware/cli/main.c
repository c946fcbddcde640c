/*
 * main.c - mailgw, the admin command on the serial console: sends one command to
 * mailgwd's root-only control socket and prints the reply.
 *
 *   mailgw [-s SOCKET] status | reload | help
 *
 * Exit status: 0 when mailgwd answered OK, 1 when it answered ERR (the reason goes to
 * stderr), 2 when it could not be reached or the usage is wrong. This is the first piece
 * of the console CLI; user, domain, certificate and CRL commands come with their issues.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAILGW_DEFAULT_SOCKET "/run/mailgw/control"
#define MAILGW_CMD_MAX 512
#define MAILGW_REPLY_MAX (64 * 1024)

static void usage(FILE *f)
{
	fprintf(f, "usage: mailgw [-s SOCKET] COMMAND\n"
		   "  status   what mailgwd is doing (generation, connections, certificates)\n"
		   "  reload   re-read the configuration and the TLS files (as SIGHUP)\n"
		   "  help     the commands mailgwd knows\n"
		   "  -s SOCKET  control socket (default " MAILGW_DEFAULT_SOCKET ")\n");
}

int main(int argc, char **argv)
{
	const char *path = MAILGW_DEFAULT_SOCKET;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char cmd[MAILGW_CMD_MAX], line[1024];
	size_t used = 0, total = 0;
	FILE *f;
	int opt, fd;

	while ((opt = getopt(argc, argv, "s:h")) != -1) {
		switch (opt) {
		case 's': path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd[0] = '\0';
	for (int i = optind; i < argc; i++) {
		int n = snprintf(cmd + used, sizeof(cmd) - used, "%s%s", i > optind ? " " : "",
				 argv[i]);

		if (n < 0 || (size_t)n >= sizeof(cmd) - used || strpbrk(argv[i], "\r\n")) {
			fprintf(stderr, "mailgw: command too long or contains a line break\n");
			return 2;
		}
		used += (size_t)n;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "mailgw: %s: path too long\n", path);
		return 2;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "mailgw: cannot reach mailgwd at %s: %s (is it running? are you root?)\n",
			path, strerror(errno));
		return 2;
	}
	f = fdopen(fd, "r+");
	if (f == NULL || fprintf(f, "%s\n", cmd) < 0 || fflush(f) != 0) {
		fprintf(stderr, "mailgw: %s: write failed: %s\n", path, strerror(errno));
		return 2;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		total += strlen(line);
		if (total > MAILGW_REPLY_MAX)
			break;
		if (strcmp(line, "OK\n") == 0) {
			fclose(f);
			return 0;
		}
		if (strncmp(line, "ERR", 3) == 0) {
			fprintf(stderr, "mailgw: %s", line[3] == ' ' ? line + 4 : line);
			fclose(f);
			return 1;
		}
		fputs(line, stdout);
	}
	fprintf(stderr, "mailgw: %s: the reply ended early\n", path);
	fclose(f);
	return 2;
}
