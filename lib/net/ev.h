/* ev.h: a small event loop: epoll watches, each with a callback and an
 * opaque pointer, and one-shot timers on a min-heap. It knows nothing of
 * what its descriptors are (in the manner of redis's ae.c). One thread.
 *
 * Watches and timers are the caller's structs (embedded in whatever owns
 * them): the loop allocates nothing per watch, only its timer heap. A watch
 * or timer stopped during a dispatch gets no callback later in that
 * dispatch, but its memory must stay valid until ev_run_once returns (free
 * owners after it, as the stream proxy reaps its connections). Watches are
 * level-triggered, and a callback may see events it did not ask for
 * (EPOLLHUP, EPOLLERR always; stale ones after a stop and a restart). */
#ifndef SANDPIT_EV_H
#define SANDPIT_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"

struct ev_loop; /* opaque */

typedef void ev_io_fn(void *arg, uint32_t events);
typedef void ev_timer_fn(void *arg);

/* An fd watch. Fields are private: use the functions. */
struct ev_io {
	int fd;
	uint32_t events; /* the mask epoll has, while active */
	bool active;
	ev_io_fn *fn;
	void *arg;
};

/* A one-shot timer. Fields are private. */
struct ev_timer {
	int64_t when_ms;
	size_t slot; /* index in the heap; EV_UNARMED, or EV_FIRING while due */
	ev_timer_fn *fn;
	void *arg;
};

#define EV_UNARMED SIZE_MAX
#define EV_FIRING  (SIZE_MAX - 1)

/* ev_new: a loop, or NULL (no memory, no epoll descriptor). */
struct ev_loop *ev_new(void);

/* ev_free: close the loop; watches and timers are simply forgotten (their
 * descriptors are the caller's). NULL is a no-op. */
void ev_free(struct ev_loop *l);

/* ev_now: CLOCK_MONOTONIC in milliseconds as of the last wakeup (or
 * ev_new): one time for a whole dispatch, so deadlines computed in it
 * agree. */
int64_t ev_now(const struct ev_loop *l);

/* ev_io_init: a stopped watch of fd that calls fn(arg, events). */
void ev_io_init(struct ev_io *w, int fd, ev_io_fn *fn, void *arg);

/* ev_io_set_fd: point a stopped watch at another descriptor (keeping its
 * callback), e.g. once a connection exists. */
void ev_io_set_fd(struct ev_io *w, int fd);

/* ev_io_set: watch for events (EPOLLIN, EPOLLOUT, EPOLLRDHUP...; 0 keeps
 * the fd in epoll, which still reports hang-ups and errors), starting the
 * watch if needed; nothing is done when the mask is unchanged. R_INTERNAL
 * when epoll refuses (the watch is then as it was). */
SP_MUST_CHECK enum result ev_io_set(struct ev_loop *l, struct ev_io *w, uint32_t events);

/* ev_io_stop: take the fd out of epoll (before closing it); a stopped
 * watch is a no-op. */
void ev_io_stop(struct ev_loop *l, struct ev_io *w);

/* ev_io_is_active: the fd is in epoll. */
bool ev_io_is_active(const struct ev_io *w);

/* ev_timer_init: an unarmed timer that calls fn(arg). */
void ev_timer_init(struct ev_timer *t, ev_timer_fn *fn, void *arg);

/* ev_timer_start: (re)arm t to fire once, delay_ms (>= 0) after ev_now. A
 * timer armed in a timer callback fires at the next ev_run_once at the
 * earliest, so a zero delay means "once more, without sleeping".
 * R_NO_MEMORY when the heap cannot grow (t is then unarmed). */
SP_MUST_CHECK enum result ev_timer_start(struct ev_loop *l, struct ev_timer *t, int64_t delay_ms);

/* ev_timer_stop: disarm; an unarmed timer is a no-op. */
void ev_timer_stop(struct ev_loop *l, struct ev_timer *t);

/* ev_timer_is_armed: t will fire (it is in the heap or due now). */
bool ev_timer_is_armed(const struct ev_timer *t);

/* ev_run_once: wait for events until the first timer is due (at most
 * max_wait_ms; -1: no bound but the timers), then call the callbacks of
 * the watches that have events, then those of the timers that are due.
 * R_INTERNAL when epoll_wait fails (EINTR is not a failure). */
SP_MUST_CHECK enum result ev_run_once(struct ev_loop *l, int max_wait_ms);

#endif
