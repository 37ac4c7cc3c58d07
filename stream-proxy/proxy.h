/* proxy.h: the stream proxy process: its event loop, the listening socket,
 * the signals that drain it, and the connections (conn.h) it hands
 * accepted sockets to. */
#ifndef SANDPIT_STREAM_PROXY_H
#define SANDPIT_STREAM_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "net/ev.h"
#include "core/result.h"
#include "core/config.h"

struct proxy {
	const struct config *cfg;
	struct lookup *lookup; /* given to the connections */
	struct ev_loop *ev;
	int listen_fd, sig_fd;
	struct ev_io listen_w, sig_w;
	struct ev_timer resume; /* watch listen_fd again after accept failed */
	struct conns conns;
	int64_t drain_deadline_ms;
};

/* proxy_listen: open the listening socket named by cfg->listen: a path (or
 * "unix:<path>", made 0660, a stale socket replaced) or "host:port"/":port"
 * (TCP; ":port" means 127.0.0.1). */
SP_MUST_CHECK enum result proxy_listen(const char *spec, int *fd_out);

/* proxy_run: serve px->listen_fd until SIGTERM/SIGINT has drained every
 * stream (or the drain timeout passed). */
SP_MUST_CHECK enum result proxy_run(struct proxy *px);

#endif
