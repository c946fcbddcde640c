/* sock.c - the plain socket transport: read/write on a non-blocking fd. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "net/transport.h"

static ssize_t sock_read(void *ctx, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(*(int *)ctx, buf, len);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -MGW_EWANTREAD;
	if (errno == ECONNRESET)
		return -MGW_ECLOSED;
	return -MGW_EIO;
}

static ssize_t sock_write(void *ctx, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -MGW_EWANTWRITE;
	if (errno == EPIPE || errno == ECONNRESET)
		return -MGW_ECLOSED;
	return -MGW_EIO;
}

static void sock_shutdown(void *ctx)
{
	shutdown(*(int *)ctx, SHUT_WR);
}

const struct transport_ops transport_sock_ops = {
	.name = "tcp",
	.read = sock_read,
	.write = sock_write,
	.shutdown = sock_shutdown,
};

void transport_sock(struct transport *t, int *fd)
{
	t->ops = &transport_sock_ops;
	t->ctx = fd;
}
