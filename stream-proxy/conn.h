/* conn.h: one client connection through its life: HTTP upgrade request,
 * authentication and sandbox lookup, WebSocket session bridged to the
 * sandbox agent, close. */
#ifndef SANDPIT_STREAM_CONN_H
#define SANDPIT_STREAM_CONN_H

#include <stdint.h>

#include "proxy.h"
#include "core/result.h"

/* conn_accept: take ownership of an accepted, non-blocking client fd. On
 * failure the fd is closed. */
SP_MUST_CHECK enum result conn_accept(struct proxy *px, int fd);

/* conn_event: epoll reported events on one of c's fds (w says which). */
void conn_event(struct conn *c, const struct watch *w, uint32_t events);

/* conn_lookups_done: px->lookup handed jobs back: go on with (or refuse)
 * the upgrades that waited for them. */
void conn_lookups_done(struct proxy *px);

/* conn_tick_all: timers of every connection (handshake deadline, pings,
 * idle and dead clients, close and kill grace). Called about once a second. */
void conn_tick_all(struct proxy *px);

/* conn_continue_all: handle agent frames left over from batches that were
 * cut short (px->more_work says there are some). */
void conn_continue_all(struct proxy *px);

/* conn_drain_all: the proxy is shutting down: every stream gets close 1001
 * with a reason (its command is then treated as if the client left). */
void conn_drain_all(struct proxy *px);

/* Handlers never free a connection: they mark it dead, and the loop calls
 * conn_reap after each batch of events, so a later event of the same batch
 * never touches freed memory. */

/* conn_reap: free every dead connection of px. */
void conn_reap(struct proxy *px);

/* conn_kill_all: the process is exiting: SIGKILL commands still owned by a
 * stream (not detached) and free every connection. */
void conn_kill_all(struct proxy *px);

#endif
