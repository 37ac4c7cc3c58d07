/* proxy.h: the stream proxy's process-wide state and its epoll loop: one
 * listening socket, a signalfd, and two fds per stream (client, agent). */
#ifndef SANDPIT_STREAM_PROXY_H
#define SANDPIT_STREAM_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"
#include "core/config.h"

struct conn;
struct lookup;

/* W_TIMER: a connection's agent connect retry timer; W_LOOKUP: finished
 * upgrade lookups (lookup.h). */
enum watch_kind { W_LISTEN, W_SIGNAL, W_CLIENT, W_AGENT, W_TIMER, W_LOOKUP };

/* What epoll hands back: which fd of what. */
struct watch {
	enum watch_kind kind;
	struct conn *conn;
};

struct proxy {
	const struct config *cfg; /* config(), the one table every binary reads */
	struct lookup *lookup; /* the upgrades' database work, off the loop */
	int epfd, listen_fd, sig_fd;
	struct watch listen_w, sig_w, lookup_w;
	struct conn *conns; /* doubly linked, all live connections */
	size_t nconns;
	bool draining;
	bool accept_paused; /* listen_fd out of epoll until the next tick */
	bool more_work; /* some connection has buffered agent frames to handle */
	int64_t drain_deadline_ms;
	int64_t now_ms; /* CLOCK_MONOTONIC at the last wakeup */
	uint64_t next_id;
	size_t peak_queued; /* largest output queue of any connection (bytes) */
};

/* proxy_listen: open the listening socket named by cfg->listen: a path (or
 * "unix:<path>", made 0660, a stale socket replaced) or "host:port"/":port"
 * (TCP; ":port" means 127.0.0.1). */
SP_MUST_CHECK enum result proxy_listen(const char *spec, int *fd_out);

/* proxy_run: serve until SIGTERM/SIGINT has drained every stream (or the
 * drain timeout passed). */
SP_MUST_CHECK enum result proxy_run(struct proxy *px);

/* proxy_now_ms: monotonic milliseconds. */
int64_t proxy_now_ms(void);

/* proxy_watch: add (or, with mod, change) fd's event mask in epoll. */
SP_MUST_CHECK enum result proxy_watch(struct proxy *px, int fd, struct watch *w, uint32_t events,
				      bool mod);

/* proxy_unwatch: remove fd from epoll (before closing it). */
void proxy_unwatch(struct proxy *px, int fd);

#endif
