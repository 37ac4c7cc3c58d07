/* conn.h: one host connection of the agent and its send queue. The poll loop
 * (agent.c) owns the table of connections; the modules that answer a request
 * (command, env, procs) queue frames through conn_queued/conn_error. */
#ifndef SANDPIT_AGENT_CONN_H
#define SANDPIT_AGENT_CONN_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/result.h"
#include "net/outq.h"

#define MAX_CONNS 64
#define OUT_LIMIT (8u * 1024u * 1024u) /* hard cap of a connection's send queue */

struct command;

struct conn {
	bool used;
	int fd;
	struct buf in;
	struct outq out;   /* frames for the host (net/outq.h) */
	struct command *s; /* the command bound to this connection, or NULL */
	bool closing;	   /* close once out is flushed */
};

/* conn_fail: the connection is beyond use; it closes once out is flushed. */
void conn_fail(struct conn *c);

/* conn_out: where an agentproto_put_* encodes a frame for the host; its
 * result goes to conn_queued. */
struct buf *conn_out(struct conn *c);

/* conn_queued: takes the result of an agentproto_put_* into conn_out(c). A
 * frame refused (the queue at its hard cap means the host stopped reading)
 * drops the whole queue and the connection closes. Every frame goes through
 * here. */
void conn_queued(struct conn *c, enum result r);

/* conn_error: queue an ERROR frame (code, msg). */
void conn_error(struct conn *c, enum result code, const char *msg);

/* conn_write: send what is queued without blocking; on a send error the queue
 * is dropped and the connection closes. An emptied queue frees its buffer
 * (idle connections hold none). */
void conn_write(struct conn *c);

#endif
