/* listen.c - bind, accept and hand over sockets. */
#include "net/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

#define LISTEN_BACKLOG 128
#define LISTEN_PAUSE_MS 1000
#define LISTEN_ACCEPT_BATCH 32

int listen_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port_s;
	size_t hlen;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	colon = strrchr(text, ':');
	if (colon == NULL || colon == text)
		return -MGW_EINVAL;
	port_s = colon + 1;
	if (*port_s == '\0')
		return -MGW_EINVAL;
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (*end != '\0' || errno || port > 65535 || *port_s == '-' || *port_s == '+')
		return -MGW_EINVAL;
	hlen = (size_t)(colon - text);
	if (hlen >= sizeof(host))
		return -MGW_EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (host[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (hlen < 3 || host[hlen - 1] != ']')
			return -MGW_EINVAL;
		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -MGW_EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	{
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (strcmp(host, "*") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -MGW_EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
	return 0;
}

static void listen_init(struct listener *l, const char *name)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->name = name;
}

int listen_open_tcp(struct listener *l, const char *name, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd;
	char ip[INET6_ADDRSTRLEN];

	listen_init(l, name);
	if (listen_parse_addr(addr, &ss, &len) < 0)
		return -MGW_EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -MGW_EIO;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -MGW_EIO;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(l->bound, sizeof(l->bound), "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(l->bound, sizeof(l->bound), "%s:%u", ip, ntohs(s4->sin_port));
	}
	l->fd = fd;
	return 0;
}

int listen_open_unix(struct listener *l, const char *name, const char *path, unsigned mode)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	listen_init(l, name);
	if (strlen(path) >= sizeof(sun.sun_path))
		return -MGW_EINVAL;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -MGW_EIO;
	unlink(path);
	/* Create the socket with its final mode: there is no window where it is wider. */
	old = umask((mode_t)(~mode & 0777));
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -MGW_EIO;
	}
	snprintf(l->bound, sizeof(l->bound), "%s", path);
	l->fd = fd;
	return 0;
}

static void listen_resume_cb(struct loop *loop, struct loop_timer *t)
{
	struct listener *l = t->arg;

	if (l->running)
		loop_io_mod(loop, &l->io, LOOP_READ);
}

static void listen_io_cb(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct listener *l = io->arg;

	(void)events;
	for (int i = 0; i < LISTEN_ACCEPT_BATCH && l->running; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				log_warn("%s: accept: %s; pausing for %d ms", l->name, strerror(errno),
					 LISTEN_PAUSE_MS);
				loop_io_mod(loop, &l->io, 0);
				loop_timer_set(loop, &l->pause, LISTEN_PAUSE_MS);
			}
			return;
		}
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		l->on_accept(l, fd, (struct sockaddr *)&ss, len);
	}
}

int listen_start(struct loop *loop, struct listener *l, listen_accept_cb cb, void *arg)
{
	l->on_accept = cb;
	l->arg = arg;
	loop_io_init(&l->io, l->fd, listen_io_cb, l);
	loop_timer_init(&l->pause, listen_resume_cb, l);
	l->running = true;
	return loop_io_add(loop, &l->io, LOOP_READ);
}

void listen_stop(struct loop *loop, struct listener *l)
{
	l->running = false;
	loop_timer_cancel(loop, &l->pause);
	loop_io_del(loop, &l->io);
}

void listen_close(struct loop *loop, struct listener *l)
{
	if (l->running)
		listen_stop(loop, l);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}
