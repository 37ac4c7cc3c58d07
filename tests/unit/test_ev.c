/* test_ev.c: the event loop: watches call back with their pointer, masks
 * change, stops take effect within a dispatch, timers fire in deadline
 * order, once, and a zero-delay re-arm waits for the next dispatch. */
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/ev.h"
#include "unit.h"

struct probe {
	struct ev_loop *l;
	struct ev_io w;
	struct ev_timer t;
	struct probe *victim; /* stopped by this one's callback */
	int calls;
	uint32_t last;
	int order[8];
	int *seq, id;
	int64_t rearm; /* >= 0: re-arm with this delay when fired */
};

static void on_io(void *arg, uint32_t events)
{
	struct probe *p = arg;

	p->calls++;
	p->last = events;
	if (p->victim != NULL)
		ev_io_stop(p->l, &p->victim->w);
}

static void on_timer(void *arg)
{
	struct probe *p = arg;

	p->calls++;
	if (p->seq != NULL)
		*p->seq++ = p->id;
	if (p->victim != NULL)
		ev_timer_stop(p->l, &p->victim->t);
	if (p->rearm >= 0)
		CU_ASSERT_EQUAL(ev_timer_start(p->l, &p->t, p->rearm), R_SUCCESS);
}

static void probe(struct probe *p, struct ev_loop *l, int fd, int id, int *seq)
{
	memset(p, 0, sizeof(*p));
	p->l = l;
	p->id = id;
	p->seq = seq;
	p->rearm = -1;
	ev_io_init(&p->w, fd, on_io, p);
	ev_timer_init(&p->t, on_timer, p);
}

static void watch_reports_readable(void)
{
	struct ev_loop *l = ev_new();
	struct probe p;
	int sv[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	probe(&p, l, sv[0], 0, NULL);
	CU_ASSERT_FALSE(ev_io_is_active(&p.w));
	CU_ASSERT_EQUAL(ev_io_set(l, &p.w, EPOLLIN), R_SUCCESS);
	CU_ASSERT_TRUE(ev_io_is_active(&p.w));
	CU_ASSERT_EQUAL(ev_run_once(l, 0), R_SUCCESS);
	CU_ASSERT_EQUAL(p.calls, 0); /* nothing to read yet */
	CU_ASSERT_EQUAL(write(sv[1], "x", 1), 1);
	CU_ASSERT_EQUAL(ev_run_once(l, 1000), R_SUCCESS);
	CU_ASSERT_EQUAL(p.calls, 1);
	CU_ASSERT_TRUE(p.last & EPOLLIN);
	/* level-triggered: unread, it is reported again; with the mask
	 * changed to EPOLLOUT only, writability is */
	CU_ASSERT_EQUAL(ev_io_set(l, &p.w, EPOLLOUT), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_run_once(l, 1000), R_SUCCESS);
	CU_ASSERT_EQUAL(p.calls, 2);
	CU_ASSERT_EQUAL(p.last & (EPOLLIN | EPOLLOUT), EPOLLOUT);
	ev_io_stop(l, &p.w);
	CU_ASSERT_FALSE(ev_io_is_active(&p.w));
	CU_ASSERT_EQUAL(ev_run_once(l, 0), R_SUCCESS);
	CU_ASSERT_EQUAL(p.calls, 2);
	/* a stopped watch pointed at another fd watches that one */
	ev_io_set_fd(&p.w, sv[1]);
	CU_ASSERT_EQUAL(ev_io_set(l, &p.w, EPOLLOUT), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_run_once(l, 1000), R_SUCCESS);
	CU_ASSERT_EQUAL(p.calls, 3);
	CU_ASSERT_TRUE(p.last & EPOLLOUT);
	ev_io_stop(l, &p.w);
	/* an fd epoll refuses leaves the watch stopped */
	ev_io_init(&p.w, -1, on_io, &p);
	CU_ASSERT_EQUAL(ev_io_set(l, &p.w, EPOLLIN), R_INTERNAL);
	CU_ASSERT_FALSE(ev_io_is_active(&p.w));
	close(sv[0]);
	close(sv[1]);
	ev_free(l);
}

/* Two ready watches; whichever is called first stops the other, which
 * then gets no callback from that dispatch. */
static void stop_within_a_dispatch(void)
{
	struct ev_loop *l = ev_new();
	struct probe a, b;
	int s1[2], s2[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, s1), 0);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, s2), 0);
	probe(&a, l, s1[0], 1, NULL);
	probe(&b, l, s2[0], 2, NULL);
	a.victim = &b;
	b.victim = &a;
	CU_ASSERT_EQUAL(ev_io_set(l, &a.w, EPOLLOUT), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_io_set(l, &b.w, EPOLLOUT), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_run_once(l, 1000), R_SUCCESS);
	CU_ASSERT_EQUAL(a.calls + b.calls, 1);
	close(s1[0]);
	close(s1[1]);
	close(s2[0]);
	close(s2[1]);
	ev_free(l);
}

static void timers_fire_in_order_once(void)
{
	struct ev_loop *l = ev_new();
	struct probe p[5];
	int seq[8] = {0}, *cur = seq;
	int64_t t0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	for (int i = 0; i < 5; i++)
		probe(&p[i], l, -1, i + 1, NULL);
	t0 = ev_now(l);
	/* armed out of order, one re-armed (moved) and one stopped */
	CU_ASSERT_EQUAL(ev_timer_start(l, &p[0].t, 30), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_timer_start(l, &p[1].t, 10), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_timer_start(l, &p[2].t, 20), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_timer_start(l, &p[3].t, 5), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_timer_start(l, &p[4].t, 1), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_timer_start(l, &p[3].t, 40), R_SUCCESS);
	ev_timer_stop(l, &p[4].t);
	CU_ASSERT_FALSE(ev_timer_is_armed(&p[4].t));
	CU_ASSERT_TRUE(ev_timer_is_armed(&p[3].t));
	while (ev_timer_is_armed(&p[0].t) || ev_timer_is_armed(&p[1].t) ||
	       ev_timer_is_armed(&p[2].t) || ev_timer_is_armed(&p[3].t)) {
		/* each callback appends its id through its own copy of cur */
		for (int i = 0; i < 5; i++)
			p[i].seq = cur;
		CU_ASSERT_EQUAL_FATAL(ev_run_once(l, -1), R_SUCCESS);
		while (*cur != 0)
			cur++;
	}
	CU_ASSERT_EQUAL(seq[0], 2);
	CU_ASSERT_EQUAL(seq[1], 3);
	CU_ASSERT_EQUAL(seq[2], 1);
	CU_ASSERT_EQUAL(seq[3], 4);
	CU_ASSERT_EQUAL(seq[4], 0);
	CU_ASSERT_EQUAL(p[4].calls, 0);
	CU_ASSERT_TRUE(ev_now(l) - t0 >= 40);
	CU_ASSERT_EQUAL(ev_run_once(l, 0), R_SUCCESS);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(p[i].calls, 1);
	ev_free(l);
}

/* A timer re-armed with no delay from its callback fires once per
 * dispatch, not in a loop; a due timer stopped by an earlier callback of
 * the same dispatch is not called. */
static void zero_delay_and_stop_while_due(void)
{
	struct ev_loop *l = ev_new();
	struct probe again, killer, victim;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	probe(&again, l, -1, 1, NULL);
	probe(&killer, l, -1, 2, NULL);
	probe(&victim, l, -1, 3, NULL);
	again.rearm = 0;
	/* equal deadlines: whichever fires first stops the other */
	killer.victim = &victim;
	victim.victim = &killer;
	CU_ASSERT_EQUAL(ev_timer_start(l, &again.t, 0), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_timer_start(l, &killer.t, 0), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_timer_start(l, &victim.t, 0), R_SUCCESS);
	CU_ASSERT_EQUAL(ev_run_once(l, -1), R_SUCCESS);
	CU_ASSERT_EQUAL(again.calls, 1);
	CU_ASSERT_EQUAL(killer.calls + victim.calls, 1);
	CU_ASSERT_FALSE(ev_timer_is_armed(&victim.t));
	CU_ASSERT_FALSE(ev_timer_is_armed(&killer.t));
	CU_ASSERT_TRUE(ev_timer_is_armed(&again.t));
	CU_ASSERT_EQUAL(ev_run_once(l, -1), R_SUCCESS);
	CU_ASSERT_EQUAL(again.calls, 2);
	ev_timer_stop(l, &again.t);
	CU_ASSERT_EQUAL(ev_run_once(l, 0), R_SUCCESS);
	CU_ASSERT_EQUAL(again.calls, 2);
	ev_free(l);
}

/* Many timers: the heap keeps its order through growth and removals. */
static void heap_under_churn(void)
{
	enum { N = 200 };
	static struct probe p[N];
	struct ev_loop *l = ev_new();
	int fired = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	for (int i = 0; i < N; i++) {
		probe(&p[i], l, -1, i, NULL);
		CU_ASSERT_EQUAL(ev_timer_start(l, &p[i].t, (i * 7919) % 13), R_SUCCESS);
	}
	for (int i = 0; i < N; i += 3)
		ev_timer_stop(l, &p[i].t);
	for (int k = 0; k < 50 && fired < N - (N + 2) / 3; k++) {
		CU_ASSERT_EQUAL_FATAL(ev_run_once(l, -1), R_SUCCESS);
		fired = 0;
		for (int i = 0; i < N; i++)
			fired += p[i].calls;
	}
	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL(p[i].calls, i % 3 == 0 ? 0 : 1);
	ev_free(l);
}

UNIT_SUITE(ev, {"a watch reports readable", watch_reports_readable},
	   {"a stop takes effect within a dispatch", stop_within_a_dispatch},
	   {"timers fire in order, once", timers_fire_in_order_once},
	   {"zero delay and a stop while due", zero_delay_and_stop_while_due},
	   {"the heap under churn", heap_under_churn});
