/*
 * control.c - control socket sessions: a line reader and a small command table.
 *
 * Limits: lines of at most CONTROL_LINE_MAX bytes, idle timeout CONTROL_IDLE_MS.
 */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "net/conn.h"

#define CONTROL_LINE_MAX 512
#define CONTROL_IDLE_MS 60000
#define CONTROL_OUT_MAX (64 * 1024)

struct control_sess {
	struct buf_lr lr;
};

static const struct control_ops *control_ops;
static uid_t control_uid;

static void control_emit(void *ctx, const char *line)
{
	conn_printf(ctx, "%s\n", line);
}

static void control_cmd(struct conn *c, const char *cmd)
{
	char why[256] = "";

	if (strcmp(cmd, "status") == 0) {
		control_ops->status(control_emit, c);
		conn_printf(c, "OK\n");
	} else if (strcmp(cmd, "reload") == 0) {
		if (control_ops->reload(why, sizeof(why)) == 0)
			conn_printf(c, "OK\n");
		else
			conn_printf(c, "ERR %s\n", why);
	} else if (strcmp(cmd, "help") == 0) {
		conn_printf(c, "status\nreload\nhelp\nquit\nOK\n");
	} else if (strcmp(cmd, "quit") == 0) {
		conn_printf(c, "OK\n");
		conn_close_after_flush(c, "quit");
	} else if (cmd[0] != '\0') {
		char safe[64];

		conn_printf(c, "ERR unknown command '%s' (try help)\n",
			    log_safe(safe, sizeof(safe), cmd, strlen(cmd)));
	}
}

static void control_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct control_sess *s = arg;

	switch (ev) {
	case CONN_EV_DATA:
		for (;;) {
			struct buf_line line;
			char cmd[CONTROL_LINE_MAX];
			int r = buf_lr_next(&s->lr, conn_in(c), &line);

			if (r == MGW_PARSE_NEED_MORE)
				break;
			if (r == MGW_PARSE_TOO_LONG) {
				conn_printf(c, "ERR line too long\n");
				continue;
			}
			memcpy(cmd, line.text, line.len);
			cmd[line.len] = '\0';
			buf_lr_done(&s->lr, conn_in(c), &line);
			if (memchr(cmd, '\0', line.len))
				conn_printf(c, "ERR NUL byte in command\n");
			else
				control_cmd(c, cmd);
			if (!conn_is_open(c))
				break;
		}
		break;
	case CONN_EV_CLOSED:
		free(s);
		break;
	default:
		break;
	}
}

static void control_accept(struct listener *l, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct control_sess *s;
	struct conn *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    (cred.uid != 0 && cred.uid != control_uid)) {
		log_warn("control: refused connection from uid %d", (int)cred.uid);
		close(fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || conn_new(l->arg, fd, sa, salen, CONTROL_LINE_MAX * 2, CONTROL_OUT_MAX, &c) < 0) {
		free(s);
		close(fd);
		return;
	}
	buf_lr_init(&s->lr, CONTROL_LINE_MAX);
	conn_set_idle(c, CONTROL_IDLE_MS);
	if (conn_start(c, control_event, s) < 0)
		conn_close(c, "cannot register");
}

int control_open(struct listener *l, const char *path)
{
	return listen_open_unix(l, "control", path, 0600);
}

int control_start(struct loop *loop, struct listener *l, uid_t allowed_uid,
		  const struct control_ops *ops)
{
	control_ops = ops;
	control_uid = allowed_uid;
	return listen_start(loop, l, control_accept, loop);
}
