/*
 * ctl.c - the client side of mailgwd's control socket (mailgwd/control.h): one command
 * line out, data lines back until "OK" or "ERR reason".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "console.h"

#define CTL_REPLY_MAX (64 * 1024)

int ctl_call(const char *sock_path, const char *cmd, void (*line)(void *arg, const char *text),
	     void *arg, char *why, size_t whysz)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char buf[1024];
	size_t total = 0;
	int rc = CONS_ERROR;
	FILE *f;
	int fd;

	if (strlen(sock_path) >= sizeof(sun.sun_path) || strpbrk(cmd, "\r\n") != NULL) {
		snprintf(why, whysz, "%s: path too long", sock_path);
		return CONS_ERROR;
	}
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(why, whysz,
			 "cannot reach mailgwd at %s: %s (is it running? are you root?)", sock_path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return CONS_ERROR;
	}
	f = fdopen(fd, "r+");
	if (f == NULL) {
		close(fd);
		snprintf(why, whysz, "%s: %s", sock_path, strerror(errno));
		return CONS_ERROR;
	}
	if (fprintf(f, "%s\n", cmd) < 0 || fflush(f) != 0) {
		snprintf(why, whysz, "%s: write failed: %s", sock_path, strerror(errno));
		goto out;
	}
	snprintf(why, whysz, "%s: the reply ended early", sock_path);
	while (fgets(buf, sizeof(buf), f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		total += strlen(buf) + 1;
		if (total > CTL_REPLY_MAX) {
			snprintf(why, whysz, "%s: reply too long", sock_path);
			break;
		}
		if (strcmp(buf, "OK") == 0) {
			rc = CONS_OK;
			why[0] = '\0';
			break;
		}
		if (strncmp(buf, "ERR", 3) == 0) {
			snprintf(why, whysz, "%s", buf[3] == ' ' ? buf + 4 : buf);
			rc = CONS_REFUSED;
			break;
		}
		if (line != NULL)
			line(arg, buf);
	}
out:
	fclose(f);
	return rc;
}

int ctl_reload(struct cons *c)
{
	char why[512];
	int rc = ctl_call(c->sock_path, "reload", NULL, NULL, why, sizeof(why));

	if (rc != CONS_OK)
		cons_err(c, "%s", why);
	return rc;
}
