/* conn.c: the send side of an agent connection: frames are queued in c->out
 * (the shared bounded queue, net/outq.h) and written without blocking by the
 * poll loop. */
#include "conn.h"

#include "agent/agentproto.h"

void conn_fail(struct conn *c)
{
	c->closing = true;
	buf_free(&c->in);
}

struct buf *conn_out(struct conn *c)
{
	return outq_buf(&c->out);
}

void conn_queued(struct conn *c, enum result r)
{
	if (r != R_SUCCESS) {
		/* a refused frame left the queue as it was; a host that let it
		 * fill is gone for us: drop it all and close */
		outq_free(&c->out);
		outq_init(&c->out, OUT_LIMIT);
		conn_fail(c);
	}
}

void conn_error(struct conn *c, enum result code, const char *msg)
{
	conn_queued(c, agentproto_put_error(conn_out(c), code, msg));
}

void conn_write(struct conn *c)
{
	if (outq_flush(&c->out, c->fd) != R_SUCCESS) {
		outq_free(&c->out);
		c->closing = true;
		return;
	}
	outq_trim(&c->out);
}
