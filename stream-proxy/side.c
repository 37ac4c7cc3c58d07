/* side.c: one side of a stream and its watch (side.h). */
#include "side.h"

void side_init(struct side *s, int fd, ev_io_fn *fn, void *arg)
{
	s->fd = fd;
	s->paused = s->hup = s->more = false;
	ev_io_init(&s->w, fd, fn, arg);
}

void side_attach(struct side *s, int fd)
{
	s->fd = fd;
	ev_io_set_fd(&s->w, fd);
}

enum result side_watch(struct ev_loop *ev, struct side *s, uint32_t events)
{
	if (s->paused && s->hup) {
		ev_io_stop(ev, &s->w);
		return R_SUCCESS;
	}
	return ev_io_set(ev, &s->w, events);
}

void side_stop(struct ev_loop *ev, struct side *s)
{
	ev_io_stop(ev, &s->w);
}
