/* side.h: one side of a stream: the client's socket or the agent's. Both
 * sides have the same state (relayd's se_in/se_out): a descriptor and its
 * watch, whether we read it now, whether it hung up, whether input may
 * wait where epoll does not see it. */
#ifndef SANDPIT_STREAM_SIDE_H
#define SANDPIT_STREAM_SIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "net/ev.h"
#include "core/result.h"

struct side {
	int fd;		/* -1 until there is one; owned by the side's user */
	struct ev_io w; /* fd's watch */
	bool paused;	/* not read now: the other side is behind */
	bool hup;	/* epoll reported a hang-up or an error */
	bool more;	/* input may be buffered where epoll does not see it */
};

/* side_init: a side on fd (-1: none yet) whose events go to fn(arg). */
void side_init(struct side *s, int fd, ev_io_fn *fn, void *arg);

/* side_attach: s now uses fd (s stopped). */
void side_attach(struct side *s, int fd);

/* side_watch: ask ev for events on s's descriptor. A paused side that hung
 * up leaves epoll instead: epoll reports a hang-up whatever the mask, and
 * would wake us for nothing until reads resume (and find the end).
 * R_INTERNAL when epoll refuses. */
SP_MUST_CHECK enum result side_watch(struct ev_loop *ev, struct side *s, uint32_t events);

/* side_stop: take s's descriptor out of epoll (before closing it). */
void side_stop(struct ev_loop *ev, struct side *s);

#endif
