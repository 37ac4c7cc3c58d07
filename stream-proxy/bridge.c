/* bridge.c: the agent side of a stream: the command started (exec or
 * attach) from the client's first message, the client's messages forwarded
 * to the agent (one held back while the agent's queue is full), the agent's
 * frames turned into client messages with backpressure, and the command's
 * end when the client leaves (SIGHUP, SIGKILL after the grace). */
#include "bridge.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "agent/agent_client.h"
#include "client.h"
#include "core/config.h"
#include "stream.h"

#define AGENT_BATCH 64 /* agent frames handled per wakeup */

/* more_work: c's agent client may hold frames epoll will not report (a
 * batch was cut short, or reading resumes): handle them before the loop
 * sleeps, on the set's more timer. */
static void more_work(struct conn *c)
{
	c->agent.more = true;
	if (!ev_timer_is_armed(&c->set->more) &&
	    ev_timer_start(c->set->ev, &c->set->more, 0) != R_SUCCESS)
		log_warnx(MOD, "cannot arm the continue timer");
}

static void agent_mask(struct conn *c)
{
	uint32_t m = 0;

	if (c->ac == NULL)
		return;
	if (!c->agent.paused)
		m |= EPOLLIN;
	if (agent_client_wants_write(c->ac))
		m |= EPOLLOUT;
	/* paused after a hang-up, it leaves epoll (side.h); reads resume, and
	 * find the end, once the client catches up */
	if (side_watch(c->set->ev, &c->agent, m) != R_SUCCESS)
		log_warn(MOD, "cannot watch agent fd");
}

void bridge_close(struct conn *c)
{
	if (c->ac == NULL)
		return;
	side_stop(c->set->ev, &c->agent);
	agent_client_close(c->ac);
	c->ac = NULL;
}

static void agent_done(struct conn *c)
{
	bridge_close(c);
	c->as = AG_DONE;
	if (c->has_pending) {
		/* Nobody will take the held message now. Reading resumes (the
		 * client still owes us its close); settle (conn.c), which ends
		 * every event, goes on with the frames already read. */
		free(c->pend.data);
		c->pend.data = NULL;
		c->has_pending = false;
		client_mask(c);
	}
}

/* bridge_kill: SIGKILL to the command's process group, best effort: the
 * connection is about to close, and a failure has no one to report to. */
void bridge_kill(struct conn *c)
{
	if (c->ac == NULL || agent_client_send_signal(c->ac, SIGKILL) != R_SUCCESS ||
	    agent_client_flush(c->ac) != R_SUCCESS)
		log_warnx(MOD, "cannot deliver SIGKILL sandbox='%s' pid=%u", c->sandbox_id, c->pid);
}

void bridge_flush(struct conn *c)
{
	if (c->ac == NULL)
		return;
	if (agent_client_flush(c->ac) != R_SUCCESS) {
		stream_ctx(c);
		log_warnx(MOD, "agent connection broke sandbox='%s'", c->sandbox_id);
		agent_done(c);
		return;
	}
	agent_mask(c);
}

static void on_agent_frame(struct conn *c, const struct agent_frame *f)
{
	struct buf b;

	buf_init(&b, 4096);
	switch (f->type) {
	case AP_STARTED:
		c->started = true;
		c->pid = f->pid;
		if (c->as == AG_RUNNING && message_started(&b, f->pid) == R_SUCCESS)
			client_send_json(c, &b);
		break;
	case AP_OUTPUT:
		if (c->as == AG_RUNNING &&
		    client_output(c, f->stream, f->data, f->len, false) != R_SUCCESS)
			client_close(c, "out of memory");
		break;
	case AP_EXIT:
		stream_ctx(c);
		log_info(MOD, "command exited sandbox='%s' pid=%u exit_code=%d signal=%u ms=%llu",
			 c->sandbox_id, c->pid, f->exit.exit_code, f->exit.signal,
			 (unsigned long long)f->exit.duration_ms);
		if (c->as == AG_RUNNING) {
			client_flush_carries(c);
			if (message_exit(&b, &f->exit) == R_SUCCESS)
				client_send_json(c, &b);
			client_send_close(c, WS_CLOSE_NORMAL, "command exited");
		}
		agent_done(c);
		break;
	case AP_ERROR:
		stream_ctx(c);
		log_warnx(MOD, "agent refused command sandbox='%s' code=%s msg='%s'", c->sandbox_id,
			  result_str(f->error), f->message);
		if (c->as == AG_RUNNING) {
			/* a refusal of the request itself (bad command, no such
			 * detached pid, already attached) is the client's doing */
			client_send_error(c, f->error, f->message);
			client_send_close(c,
					  f->error == R_INVALID || f->error == R_NOT_FOUND ||
						  f->error == R_CONFLICT
					      ? WS_CLOSE_POLICY
					      : WS_CLOSE_INTERNAL,
					  c->attached ? "cannot attach" : "command failed");
		}
		agent_done(c);
		break;
	default:
		break;
	}
	buf_free(&b);
}

void bridge_read(struct conn *c)
{
	int i;

	/* Frames per wakeup are bounded so one fast command cannot starve the
	 * others. Frames the agent client has already read off the socket will
	 * not wake epoll again: when the bound cuts a batch, the connection is
	 * flagged and the loop comes back to it before it sleeps. */
	c->agent.more = false;
	for (i = 0; i < AGENT_BATCH && c->ac != NULL && !c->agent.paused; i++) {
		struct agent_frame f;
		bool got = false;

		if (agent_client_read_frame(c->ac, &f, &got) != R_SUCCESS) {
			stream_ctx(c);
			log_warnx(MOD, "agent stream ended without exit sandbox='%s'",
				  c->sandbox_id);
			if (c->as == AG_RUNNING) {
				client_flush_carries(c);
				client_send_error(c, R_UPSTREAM, "sandbox agent connection lost");
				client_send_close(c, WS_CLOSE_INTERNAL,
						  "sandbox agent connection lost");
			}
			agent_done(c);
			break;
		}
		if (!got)
			break;
		on_agent_frame(c, &f);
		if (c->cs != CL_GONE &&
		    outq_len(&c->out) > (size_t)c->set->cfg->stream_send_buffer) {
			c->agent.paused = true;
			agent_mask(c);
		}
	}
	if (i == AGENT_BATCH && c->ac != NULL && !c->agent.paused) {
		more_work(c);
	}
	if (c->ac != NULL && c->as == AG_KILLING)
		c->agent.paused = false; /* nobody to wait for: just discard */
	agent_mask(c);
}

static enum result to_agent(struct conn *c, const struct pending *p)
{
	switch (p->type) {
	case MSG_STDIN:
		return agent_client_send_stdin(c->ac, p->data, p->len);
	case MSG_STDIN_CLOSE:
		return agent_client_send_stdin_close(c->ac);
	case MSG_SIGNAL:
		return agent_client_send_signal(c->ac, p->signo);
	case MSG_RESIZE:
		return agent_client_send_resize(c->ac, p->cols, p->rows);
	case MSG_DETACH: {
		enum result r = agent_client_send_detach(c->ac);

		/* only once the agent will hear of it: until then leaving
		 * still hangs the command up */
		if (r == R_SUCCESS)
			c->detached = true;
		return r;
	}
	default:
		return R_INTERNAL;
	}
}

/* agent_refused: the agent's queue did not take a message, for a reason
 * other than being full (R_QUOTA): past its hard limit, or out of memory.
 * Each frame is queued whole or not at all, but a message sent as several
 * frames may be cut after some of them. The stream ends; closing the agent
 * connection ends the command unless it is detached. */
static void agent_refused(struct conn *c, enum result r)
{
	stream_ctx(c);
	log_warnx(MOD, "cannot forward to the agent sandbox='%s' code=%s", c->sandbox_id,
		  result_str(r));
	client_flush_carries(c);
	client_send_error(c, r, "cannot forward to the sandbox");
	client_send_close(c, WS_CLOSE_INTERNAL, "cannot forward to the sandbox");
	agent_done(c);
}

/* forward: hand a client message to the agent; if its queue is full keep a
 * copy and stop reading from the client until it drains. */
static void forward(struct conn *c, const struct pending *p)
{
	enum result r;

	if (c->as != AG_RUNNING || c->ac == NULL)
		return; /* command over: late input is dropped */
	r = to_agent(c, p);
	if (r == R_QUOTA) {
		c->pend = *p;
		c->pend.data = NULL;
		if (p->len > 0) {
			c->pend.data = malloc(p->len);
			if (c->pend.data == NULL) {
				client_close(c, "out of memory");
				return;
			}
			memcpy(c->pend.data, p->data, p->len);
		}
		c->has_pending = true;
	} else if (r != R_SUCCESS) {
		agent_refused(c, r);
		return;
	}
	bridge_flush(c);
}

void bridge_retry_pending(struct conn *c)
{
	enum result r;

	if (!c->has_pending)
		return;
	if (c->as != AG_RUNNING || c->ac == NULL)
		r = R_SUCCESS;
	else
		r = to_agent(c, &c->pend);
	if (r == R_QUOTA)
		return;
	free(c->pend.data);
	c->pend.data = NULL;
	c->has_pending = false;
	if (r != R_SUCCESS)
		agent_refused(c, r);
	else
		bridge_flush(c);
	bridge_pump(c);
	client_mask(c);
}

static void start_exec(struct conn *c, const struct message *m)
{
	struct agentproto_exec e = m->exec;
	enum result r;

	/* a {"type":"detach"} before the exec counts as "detach":true */
	if (c->detached)
		e.flags |= AP_EXEC_DETACH;
	r = agent_client_stream_start(c->ac, &e);
	if (r != R_SUCCESS) {
		const char *why = agent_client_last_error(c->ac);

		stream_ctx(c);
		log_warnx(MOD, "cannot start command sandbox='%s' code=%s agent='%s'",
			  c->sandbox_id, result_str(r), why ? why : "");
		client_send_error(c, r, why && why[0] ? why : "cannot start the command");
		client_send_close(c, WS_CLOSE_INTERNAL, "cannot start the command");
		return;
	}
	c->as = AG_RUNNING;
	c->detached = (e.flags & AP_EXEC_DETACH) != 0;
	agent_mask(c);
	stream_ctx(c);
	log_info(MOD, "exec sandbox='%s' argc=%zu tty=%d shell=%d detach=%d", c->sandbox_id, e.argc,
		 (e.flags & AP_EXEC_TTY) != 0, (e.flags & AP_EXEC_SHELL) != 0, c->detached);
	bridge_flush(c);
}

/* start_attach: bind this stream to a detached command. The agent answers
 * STARTED(pid) and then behaves as for an exec, or ERROR (unknown pid...),
 * both handled by on_agent_frame. The command stays detached: leaving
 * again leaves it running. */
static void start_attach(struct conn *c, uint32_t pid)
{
	enum result r;

	r = agent_client_attach_start(c->ac, pid);
	if (r != R_SUCCESS) {
		stream_ctx(c);
		log_warnx(MOD, "cannot attach sandbox='%s' pid=%u code=%s", c->sandbox_id, pid,
			  result_str(r));
		client_send_error(c, r, "cannot attach to the command");
		client_send_close(c, WS_CLOSE_INTERNAL, "cannot attach");
		return;
	}
	c->as = AG_RUNNING;
	c->detached = true;
	c->attached = true;
	c->pid = pid;
	agent_mask(c);
	stream_ctx(c);
	log_info(MOD, "attach sandbox='%s' pid=%u", c->sandbox_id, pid);
	bridge_flush(c);
}

static void on_control(struct conn *c, const char *text, size_t len)
{
	struct message m;
	struct pending p;
	const char *why = "invalid message";
	enum result r;

	r = message_parse(text, len, config()->exec_max_timeout, &m, &why);
	if (r != R_SUCCESS) {
		client_send_error(c, r, why);
		if (c->as == AG_NONE)
			client_send_close(c, WS_CLOSE_POLICY, why);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.type = m.type;
	if (c->as == AG_NONE && m.type != MSG_EXEC && m.type != MSG_ATTACH &&
	    m.type != MSG_DETACH) {
		client_send_error(c, R_INVALID, "the first message must be exec or attach");
		client_send_close(c, WS_CLOSE_POLICY, "first message must be exec or attach");
		message_free(&m);
		return;
	}
	switch (m.type) {
	case MSG_EXEC:
		if (c->as != AG_NONE) {
			client_send_error(c, R_CONFLICT,
					  "a command is already attached to this stream");
			break;
		}
		start_exec(c, &m);
		break;
	case MSG_ATTACH:
		if (c->as != AG_NONE) {
			client_send_error(c, R_CONFLICT,
					  "a command is already attached to this stream");
			break;
		}
		start_attach(c, m.pid);
		break;
	case MSG_DETACH:
		if (c->as == AG_NONE)
			c->detached = true; /* applies to the exec that follows */
		else
			forward(c, &p);
		break;
	case MSG_STDIN:
		p.data = (unsigned char *)m.data;
		p.len = m.len;
		forward(c, &p);
		break;
	case MSG_SIGNAL:
		p.signo = m.signo;
		forward(c, &p);
		break;
	case MSG_RESIZE:
		p.cols = m.cols;
		p.rows = m.rows;
		forward(c, &p);
		break;
	case MSG_STDIN_CLOSE:
		forward(c, &p);
		break;
	}
	message_free(&m);
}

static void on_message(struct conn *c, uint8_t op, unsigned char *p, size_t n)
{
	c->last_activity_ms = stream_now(c);
	if (op == WS_OP_TEXT) {
		on_control(c, (const char *)p, n);
		return;
	}
	/* Binary: raw stdin in JSON mode; channel byte + payload in channel mode. */
	if (c->channel) {
		if (n == 0) {
			client_send_close(c, WS_CLOSE_POLICY, "empty channel message");
			return;
		}
		if (p[0] == MESSAGE_CH_CONTROL) {
			on_control(c, (const char *)p + 1, n - 1);
			return;
		}
		if (p[0] != MESSAGE_CH_STDIN) {
			client_send_close(c, WS_CLOSE_POLICY, "unknown channel");
			return;
		}
		p++;
		n--;
	}
	if (c->as == AG_NONE) {
		client_send_close(c, WS_CLOSE_POLICY, "first message must be exec");
		return;
	}
	{
		struct pending pd = {.type = MSG_STDIN, .data = p, .len = n};

		if (n > 0)
			forward(c, &pd);
	}
}

void bridge_pump(struct conn *c)
{
	unsigned char *p;
	uint8_t op;
	size_t n;

	while (client_next_message(c, &op, &p, &n)) {
		on_message(c, op, p, n);
		client_message_done(c);
	}
}

void bridge_resume(struct conn *c)
{
	/* hysteresis: resume at half the bound, so epoll is not toggled on
	 * every chunk */
	if (!c->agent.paused || outq_len(&c->out) > (size_t)c->set->cfg->stream_send_buffer / 2)
		return;
	c->agent.paused = false;
	agent_mask(c);
	/* The agent client may hold complete frames already read from the
	 * socket; epoll will not report them, so drain them now. */
	bridge_read(c);
}

void bridge_client_left(struct conn *c)
{
	stream_ctx(c);
	free(c->pend.data);
	c->pend.data = NULL;
	c->has_pending = false;
	if (c->as == AG_RUNNING) {
		if (c->detached) {
			log_info(MOD, "detached command left running sandbox='%s' pid=%u",
				 c->sandbox_id, c->pid);
			agent_done(c);
		} else if (c->set->cfg->stream_kill_grace == 0 ||
			   agent_client_send_signal(c->ac, SIGHUP) != R_SUCCESS) {
			bridge_kill(c);
			agent_done(c);
		} else {
			log_info(MOD, "hanging up command sandbox='%s' pid=%u", c->sandbox_id,
				 c->pid);
			c->as = AG_KILLING;
			c->kill_ms = stream_now(c) + c->set->cfg->stream_kill_grace * 1000;
			c->agent.paused = false;
			bridge_flush(c);
			/* Frames the agent client read while we were paused (an EXIT
			 * among them) will not wake epoll: have the loop drain them. */
			more_work(c);
		}
	}
	if (c->as == AG_NONE && c->ac != NULL)
		bridge_close(c);
}

void bridge_tick(struct conn *c)
{
	if (c->as != AG_KILLING || stream_now(c) < c->kill_ms)
		return;
	stream_ctx(c);
	log_info(MOD, "killing command sandbox='%s' pid=%u", c->sandbox_id, c->pid);
	bridge_kill(c);
	agent_done(c);
}
