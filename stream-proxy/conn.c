/* conn.c: the set of streams and each stream's life: its events, timers
 * and death. What a stream does is in upgrade.c (the HTTP upgrade),
 * client.c (the client side) and bridge.c (the agent side); this file
 * routes the loop's events to them, and after each event settles the
 * stream (settle): one flush, the news that the client left, the dead
 * check.
 *
 * The client side and the agent side have separate lives: the client can
 * leave while its command still needs a SIGHUP and, after a grace, a
 * SIGKILL; the command can end while the client still owes us its close
 * frame. The stream is dead when both sides are done. */
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bridge.h"
#include "client.h"
#include "core/crypto.h"
#include "lookup.h"
#include "stream.h"
#include "upgrade.h"

#define IN_INITIAL 16384
#define TICK_MS	   1000 /* connection timers are checked this often */

static void settle(struct conn *c);

/* continue_all: the more timer: agent frames left over from batches that
 * were cut short. */
static void continue_all(void *arg)
{
	struct conns *set = arg;

	for (struct conn *c = set->list; c != NULL; c = c->next) {
		if (c->dead || !c->agent.more)
			continue;
		bridge_read(c);
		settle(c);
	}
}

/* lookups_done: the lookup threads handed jobs back: go on with (or
 * refuse) the upgrades that waited for them. */
static void lookups_done(void *arg, uint32_t events)
{
	struct conns *set = arg;
	struct lookup_job *job;

	(void)events;
	while ((job = lookup_next(set->lookup)) != NULL) {
		struct conn *c = job->owner;

		if (c != NULL && !c->dead && c->cs == CL_LOOKUP) {
			c->job = NULL;
			upgrade_lookup_done(c, job);
			settle(c);
		}
		lookup_job_free(job);
	}
}

static void client_readable(struct conn *c)
{
	if (c->cs == CL_HTTP) {
		upgrade_read_head(c);
		return;
	}
	if (c->cs == CL_LOOKUP || c->cs == CL_CONNECTING)
		return; /* a hang-up: client_event handles it */
	/* Read only while there is room for a frame; what a client sends while
	 * its stdin is blocked waits in the kernel, which slows the client. */
	for (int i = 0; i < 16 && c->cs != CL_GONE && !client_is_held(c); i++) {
		if (!client_fill(c))
			return;
		bridge_pump(c);
	}
}

/* flush: write what the client is owed, then what that makes possible:
 * the command's output resumes once the client caught up, a pong waiting
 * for the previous one, frames read before the client was held. */
static void flush(struct conn *c)
{
	if (c->cs == CL_GONE)
		return;
	client_write(c);
	if (c->cs == CL_GONE)
		return;
	bridge_resume(c);
	if (c->cs == CL_GONE)
		return;
	client_queue_pong(c);
	if (c->cs == CL_OPEN || c->cs == CL_CLOSING)
		bridge_pump(c);
	client_mask(c);
}

/* settle: the end of every event of c: one flush per event (many small
 * frames go out in one write); a client that left in it is news for the
 * upgrade and the agent side (the client side never calls them: they call
 * it); and the dead check. */
static void settle(struct conn *c)
{
	flush(c);
	if (c->cs == CL_GONE && !c->left) {
		c->left = true;
		upgrade_cancel(c);
		bridge_client_left(c);
	}
	if (stream_is_done(c))
		c->dead = true;
}

static void client_event(void *arg, uint32_t events)
{
	struct conn *c = arg;

	if (c->dead || c->cs == CL_GONE)
		return;
	if (events & (EPOLLHUP | EPOLLERR))
		c->client.hup = true;
	if (events & EPOLLOUT)
		flush(c);
	if (c->cs != CL_GONE && (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		client_readable(c);
	if (c->cs != CL_GONE && (events & (EPOLLHUP | EPOLLERR)))
		client_close(c, "connection reset");
	settle(c);
}

static void agent_event(void *arg, uint32_t events)
{
	struct conn *c = arg;

	if (c->dead || c->ac == NULL)
		return;
	if (events & (EPOLLHUP | EPOLLERR))
		c->agent.hup = true;
	if (events & EPOLLOUT) {
		bridge_flush(c);
		bridge_retry_pending(c);
	}
	if (c->ac != NULL && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		bridge_read(c);
	settle(c);
}

static void retry_event(void *arg)
{
	struct conn *c = arg;

	if (c->dead)
		return;
	if (c->cs == CL_CONNECTING)
		upgrade_retry(c);
	settle(c);
}

enum result conn_accept(struct conns *set, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	unsigned char rnd[8];
	char hex[CRYPTO_HEX_SIZE(8)];
	enum result r;

	if (c == NULL) {
		close(fd);
		return R_NO_MEMORY;
	}
	c->in = malloc(IN_INITIAL);
	if (c->in == NULL) {
		r = R_NO_MEMORY;
		goto fail_free;
	}
	c->in_cap = IN_INITIAL;
	c->set = set;
	c->cs = CL_HTTP;
	c->as = AG_NONE;
	side_init(&c->client, fd, client_event, c);
	side_init(&c->agent, -1, agent_event, c);
	ev_timer_init(&c->retry, retry_event, c);
	outq_init(&c->out, CLIENT_QUEUE_MAX(set->cfg));
	buf_init(&c->msg, 0);
	if (crypto_random(rnd, sizeof(rnd)) == R_SUCCESS &&
	    crypto_hex_encode(rnd, sizeof(rnd), hex, sizeof(hex)) == R_SUCCESS)
		snprintf(c->id, sizeof(c->id), "ws-%s", hex);
	else
		snprintf(c->id, sizeof(c->id), "ws-%llu", (unsigned long long)++set->next_id);
	c->deadline_ms = ev_now(set->ev) + set->cfg->stream_handshake_timeout * 1000;
	r = side_watch(set->ev, &c->client, EPOLLIN | EPOLLRDHUP);
	if (r != R_SUCCESS)
		goto fail_in;
	c->next = set->list;
	if (set->list != NULL)
		set->list->prev = c;
	set->list = c;
	set->n++;
	return R_SUCCESS;

fail_in:
	free(c->in);
fail_free:
	free(c);
	close(fd);
	return r;
}

static void tick(struct conn *c)
{
	bridge_tick(c);
	outq_trim(&c->out); /* a connection idle after a burst holds nothing */
	if (c->cs == CL_HTTP || c->cs == CL_LOOKUP)
		upgrade_tick(c);
	else
		client_tick(c); /* a connecting upgrade: its timer bounds it */
	settle(c);
}

/* tick_all: the timers of every connection, about once a second. */
static void tick_all(void *arg)
{
	struct conns *set = arg;

	for (struct conn *c = set->list; c != NULL; c = c->next)
		if (!c->dead)
			tick(c);
	if (ev_timer_start(set->ev, &set->tick, TICK_MS) != R_SUCCESS)
		log_warnx(MOD, "cannot arm the tick timer");
}

void conns_drain(struct conns *set)
{
	set->draining = true;
	for (struct conn *c = set->list; c != NULL; c = c->next) {
		if (c->dead)
			continue;
		if (c->cs == CL_HTTP)
			client_close(c, NULL);
		else if (c->cs == CL_LOOKUP || c->cs == CL_CONNECTING)
			upgrade_shut(c);
		else if (c->cs == CL_OPEN) {
			client_flush_carries(c);
			client_send_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
		}
		settle(c);
	}
}

static void conn_free(struct conn *c)
{
	struct conns *set = c->set;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		set->list = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	set->n--;
	upgrade_cancel(c);
	if (c->client.fd >= 0) {
		side_stop(set->ev, &c->client);
		close(c->client.fd);
	}
	bridge_close(c);
	outq_free(&c->out);
	buf_free(&c->msg);
	free(c->pend.data);
	free(c->in);
	free(c);
}

void conns_reap(struct conns *set)
{
	struct conn *c = set->list, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (c->dead)
			conn_free(c);
	}
	log_set_request(NULL);
}

void conns_kill_all(struct conns *set)
{
	for (struct conn *c = set->list; c != NULL; c = c->next) {
		if ((c->as == AG_RUNNING && !c->detached) || c->as == AG_KILLING)
			bridge_kill(c);
		c->dead = true;
	}
	conns_reap(set);
	ev_io_stop(set->ev, &set->lookup_w);
	ev_timer_stop(set->ev, &set->tick);
	ev_timer_stop(set->ev, &set->more);
}

enum result conns_init(struct conns *set, const struct config *cfg, struct ev_loop *ev,
		       struct lookup *lookup)
{
	enum result r;

	memset(set, 0, sizeof(*set));
	set->cfg = cfg;
	set->ev = ev;
	set->lookup = lookup;
	ev_io_init(&set->lookup_w, lookup_fd(lookup), lookups_done, set);
	ev_timer_init(&set->tick, tick_all, set);
	ev_timer_init(&set->more, continue_all, set);
	r = ev_io_set(ev, &set->lookup_w, EPOLLIN);
	if (r == R_SUCCESS)
		r = ev_timer_start(ev, &set->tick, TICK_MS);
	if (r != R_SUCCESS)
		ev_io_stop(ev, &set->lookup_w);
	return r;
}
