/* conn.h: the stream proxy's connections: each one a client through its
 * life (HTTP upgrade request, authentication and sandbox lookup, WebSocket
 * session bridged to the sandbox agent, close), and the set of them. The
 * set runs on an event loop (lib/net/ev.h) it is given: it watches its own
 * descriptors and arms its own timers; the caller owns the loop, the
 * listening socket and the process's life. */
#ifndef SANDPIT_STREAM_CONN_H
#define SANDPIT_STREAM_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ev.h"
#include "core/result.h"
#include "core/config.h"

struct conn;
struct lookup;

/* The set of live connections. Its fields belong to the stream files
 * (stream.h); the proxy reads n, draining and peak_queued. */
struct conns {
	const struct config *cfg;
	struct ev_loop *ev;
	struct lookup *lookup; /* the upgrades' database work, off the loop */
	struct ev_io lookup_w; /* finished lookups */
	struct ev_timer tick;  /* every connection's timers, once a second */
	struct ev_timer more;  /* agent frames left over from cut batches */
	struct conn *list;     /* doubly linked */
	size_t n;
	bool draining;
	uint64_t next_id;
	size_t peak_queued; /* largest output queue of any connection (bytes) */
};

/* conns_init: an empty set on ev, using lookup for the upgrades' database
 * work. R_INTERNAL or R_NO_MEMORY when ev refuses a watch or a timer. */
SP_MUST_CHECK enum result conns_init(struct conns *set, const struct config *cfg,
				     struct ev_loop *ev, struct lookup *lookup);

/* conn_accept: take ownership of an accepted, non-blocking client fd. On
 * failure the fd is closed. */
SP_MUST_CHECK enum result conn_accept(struct conns *set, int fd);

/* conns_drain: the proxy is shutting down: upgrades in progress are
 * refused, and every stream gets close 1001 with a reason (its command is
 * then treated as if the client left). */
void conns_drain(struct conns *set);

/* Handlers never free a connection: they mark it dead, and the loop's
 * owner calls conns_reap after each ev_run_once, so a later event of the
 * same dispatch never touches freed memory. */

/* conns_reap: free every dead connection. */
void conns_reap(struct conns *set);

/* conns_kill_all: the process is exiting: SIGKILL commands still owned by a
 * stream (not detached), free every connection and leave the loop. */
void conns_kill_all(struct conns *set);

#endif
