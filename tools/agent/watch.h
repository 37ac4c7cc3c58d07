/* watch.h: the agent's poll set: each pollfd has an owner saying which kind
 * of fd it is and whose (an index into the connection or command table), so
 * the loop (agent.c) hands each ready fd to the module that owns it. */
#ifndef SANDPIT_AGENT_WATCH_H
#define SANDPIT_AGENT_WATCH_H

#include <poll.h>

enum watch_kind {
	W_LISTEN,  /* the listening socket: accept */
	W_SIGNALS, /* the signalfd: SIGCHLD, reap */
	W_CONN,	   /* a host connection: read requests, write frames */
	W_STDOUT,  /* a command's stdout (or its pty master) */
	W_STDERR,  /* a command's stderr */
	W_STDIN,   /* a command's stdin, while its backlog waits */
	W_START,   /* a starting command's exec report */
};

struct watch {
	enum watch_kind kind;
	int idx;
};

/* watches: pfd and owner are the caller's arrays, big enough for every fd
 * that may be added; n is how many are in use. */
struct watches {
	struct pollfd *pfd;
	struct watch *owner;
	int n;
};

static inline void watch_add(struct watches *w, int fd, short events, enum watch_kind kind, int idx)
{
	w->pfd[w->n] = (struct pollfd){fd, events, 0};
	w->owner[w->n++] = (struct watch){kind, idx};
}

#endif
