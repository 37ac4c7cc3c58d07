/* conn.c: the send side of an agent connection: frames are queued in c->out
 * and written without blocking by the poll loop. */
#include "conn.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/agentproto.h"

void conn_fail(struct conn *c)
{
	c->closing = true;
	buf_free(&c->in);
}

void conn_queued(struct conn *c, enum result r)
{
	if (r != R_SUCCESS) {
		buf_free(&c->out);
		buf_init(&c->out, OUT_LIMIT);
		conn_fail(c);
		c->out.len = 0;
	}
}

void conn_error(struct conn *c, enum result code, const char *msg)
{
	conn_queued(c, agentproto_put_error(&c->out, code, msg));
}

void conn_write(struct conn *c)
{
	ssize_t n;

	while (c->out.len > 0) {
		n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			buf_free(&c->out);
			c->closing = true;
			return;
		}
		memmove(c->out.data, c->out.data + n, c->out.len - (size_t)n);
		c->out.len -= (size_t)n;
	}
	buf_free(&c->out);
}
