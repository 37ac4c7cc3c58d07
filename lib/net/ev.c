/* ev.c: the event loop (ev.h): epoll for descriptors, a binary min-heap of
 * deadlines for timers, one cached clock per wakeup. */
#include "net/ev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

#define MAX_EVENTS 256

struct ev_loop {
	int epfd;
	int64_t now_ms;
	struct ev_timer **heap; /* heap[0] is the earliest */
	size_t n, cap;
	struct ev_timer **due; /* timers being fired by this dispatch */
	size_t ndue, due_cap;
};

struct ev_loop *ev_new(void)
{
	struct ev_loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	l->now_ms = (int64_t)clock_now_ms();
	return l;
}

void ev_free(struct ev_loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free(l->heap);
	free(l->due);
	free(l);
}

int64_t ev_now(const struct ev_loop *l)
{
	return l->now_ms;
}

/* ---- watches ---------------------------------------------------------------- */

void ev_io_init(struct ev_io *w, int fd, ev_io_fn *fn, void *arg)
{
	w->fd = fd;
	w->events = 0;
	w->active = false;
	w->fn = fn;
	w->arg = arg;
}

void ev_io_set_fd(struct ev_io *w, int fd)
{
	w->fd = fd;
}

enum result ev_io_set(struct ev_loop *l, struct ev_io *w, uint32_t events)
{
	struct epoll_event ev;

	if (w->active && w->events == events)
		return R_SUCCESS;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, w->active ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd, &ev) != 0)
		return R_INTERNAL;
	w->events = events;
	w->active = true;
	return R_SUCCESS;
}

void ev_io_stop(struct ev_loop *l, struct ev_io *w)
{
	if (!w->active)
		return;
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->active = false;
	w->events = 0;
}

bool ev_io_is_active(const struct ev_io *w)
{
	return w->active;
}

/* ---- timers ----------------------------------------------------------------- */

static void place(struct ev_loop *l, size_t i, struct ev_timer *t)
{
	l->heap[i] = t;
	t->slot = i;
}

static void sift_up(struct ev_loop *l, size_t i)
{
	struct ev_timer *t = l->heap[i];

	while (i > 0 && l->heap[(i - 1) / 2]->when_ms > t->when_ms) {
		place(l, i, l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(l, i, t);
}

static void sift_down(struct ev_loop *l, size_t i)
{
	struct ev_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->n)
			break;
		if (c + 1 < l->n && l->heap[c + 1]->when_ms < l->heap[c]->when_ms)
			c++;
		if (l->heap[c]->when_ms >= t->when_ms)
			break;
		place(l, i, l->heap[c]);
		i = c;
	}
	place(l, i, t);
}

/* unlink: take heap[i] out, keeping the heap ordered. */
static void unlink_at(struct ev_loop *l, size_t i)
{
	struct ev_timer *last = l->heap[--l->n];

	if (i < l->n) {
		place(l, i, last);
		sift_down(l, i);
		sift_up(l, last->slot);
	}
}

void ev_timer_init(struct ev_timer *t, ev_timer_fn *fn, void *arg)
{
	t->when_ms = 0;
	t->slot = EV_UNARMED;
	t->fn = fn;
	t->arg = arg;
}

void ev_timer_stop(struct ev_loop *l, struct ev_timer *t)
{
	if (t->slot != EV_UNARMED && t->slot != EV_FIRING)
		unlink_at(l, t->slot);
	t->slot = EV_UNARMED;
}

/* reserve: room for one more pointer in *v (cap *cap). */
static enum result reserve(struct ev_timer ***v, size_t *cap, size_t n)
{
	struct ev_timer **p;
	size_t ncap;

	if (n < *cap)
		return R_SUCCESS;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > SIZE_MAX / sizeof(struct ev_timer *))
		return R_NO_MEMORY;
	p = realloc(*v, ncap * sizeof(struct ev_timer *));
	if (p == NULL)
		return R_NO_MEMORY;
	*v = p;
	*cap = ncap;
	return R_SUCCESS;
}

enum result ev_timer_start(struct ev_loop *l, struct ev_timer *t, int64_t delay_ms)
{
	ev_timer_stop(l, t);
	/* the due list must take every armed timer at once: grow both here,
	 * where a failure can still be reported */
	if (reserve(&l->heap, &l->cap, l->n) != R_SUCCESS ||
	    reserve(&l->due, &l->due_cap, l->n) != R_SUCCESS)
		return R_NO_MEMORY;
	t->when_ms = l->now_ms + (delay_ms > 0 ? delay_ms : 0);
	l->heap[l->n++] = t;
	sift_up(l, l->n - 1);
	return R_SUCCESS;
}

bool ev_timer_is_armed(const struct ev_timer *t)
{
	return t->slot != EV_UNARMED;
}

/* fire_due: every timer due now leaves the heap first, then each is
 * called unless an earlier callback stopped it; timers armed by these
 * callbacks wait for the next dispatch. */
static void fire_due(struct ev_loop *l)
{
	l->ndue = 0;
	while (l->n > 0 && l->heap[0]->when_ms <= l->now_ms) {
		struct ev_timer *t = l->heap[0];

		unlink_at(l, 0);
		t->slot = EV_FIRING;
		l->due[l->ndue++] = t;
	}
	for (size_t i = 0; i < l->ndue; i++) {
		struct ev_timer *t = l->due[i];

		if (t->slot != EV_FIRING)
			continue; /* stopped, or re-armed, by an earlier callback */
		t->slot = EV_UNARMED;
		t->fn(t->arg);
	}
	l->ndue = 0;
}

enum result ev_run_once(struct ev_loop *l, int max_wait_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int timeout = max_wait_ms, n;

	if (l->n > 0) {
		int64_t wait = l->heap[0]->when_ms - (int64_t)clock_now_ms();

		if (wait < 0)
			wait = 0;
		if (timeout < 0 || wait < timeout)
			timeout = wait > 1000000 ? 1000000 : (int)wait;
	}
	n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout);
	if (n < 0 && errno != EINTR)
		return R_INTERNAL;
	l->now_ms = (int64_t)clock_now_ms();
	for (int i = 0; i < n; i++) {
		struct ev_io *w = evs[i].data.ptr;

		if (w->active)
			w->fn(w->arg, evs[i].events);
	}
	fire_due(l);
	return R_SUCCESS;
}
