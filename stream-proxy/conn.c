/* conn.c: one client connection: upgrade request, auth, WebSocket session
 * bridged to the sandbox agent, backpressure, timers, close.
 *
 * The client side and the agent side have separate lives: the client can
 * leave while its command still needs a SIGHUP and, after a grace, a SIGKILL;
 * the command can end while the client still owes us its close frame. The
 * connection is dead when both sides are done. */
#include "conn.h"

#include <errno.h>
#include <linux/sockios.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_client.h"
#include "agentproto.h"
#include "auth.h"
#include "config.h"
#include "crypto.h"
#include "json.h"
#include "log.h"
#include "lookup.h"
#include "message.h"
#include "outq.h"
#include "session.h"
#include "streamtoken.h"
#include "ws.h"

#define MOD "stream"
#define IN_INITIAL 16384
#define AGENT_BATCH 64 /* agent frames handled per wakeup */
#define CLOSE_TIMEOUT_MS 5000
#define TICK_MS 1000 /* connection timers are checked this often */
#define PATH_PREFIX "/api/v1/sandbox/"
#define PATH_SUFFIX "/stream"
#define SANDBOX_ID_MAX 63
/* The most one frame of command output adds to a client's queue: base64 of
 * a whole OUTPUT payload, the JSON around it, the frame header. Agent reads
 * stop once the queue is past send_buffer, so output alone never takes the
 * queue past send_buffer plus this; anything beyond is the client's own
 * doing (replies it does not read), and then the proxy stops reading it. */
#define OUTPUT_FRAME_MAX ((AGENTPROTO_MAX_PAYLOAD / 3 + 1) * 4 + 1024)
/* The client queue's hard bound, a safety net: output stops past
 * send_buffer (plus one frame), reading the client past send_buffer plus a
 * frame (plus the replies to one frame of its own); a queue that still
 * reaches this ends the stream as out of memory. */
#define CLIENT_QUEUE_MAX(cfg) ((size_t)(cfg)->send_buffer + 4 * (size_t)OUTPUT_FRAME_MAX)
/* An agent whose backlog is full (it is stuck, or flooded) is retried on a
 * timer, first soon, then at most this often, until the connect timeout. */
#define CONNECT_RETRY_FIRST_MS 2
#define CONNECT_RETRY_MAX_MS 50
/* Streams of one org that may wait for a busy agent at once: the rest are
 * told to come back later, so one org's stuck sandbox cannot hold an
 * unbounded share of the proxy's descriptors and timers. */
#define ORG_CONNECTING_MAX 16

enum client_state {
	CL_HTTP,       /* reading the upgrade request */
	CL_LOOKUP,     /* waiting for authentication and the sandbox row */
	CL_CONNECTING, /* waiting for room in the agent's backlog */
	CL_OPEN,       /* WebSocket open */
	CL_CLOSING, /* close frame (or HTTP error) sent or received */
	CL_GONE,    /* fd closed */
};

enum agent_state {
	AG_NONE,    /* no command (yet, or never) */
	AG_RUNNING, /* exec sent, EXIT not seen */
	AG_KILLING, /* client gone: SIGHUP sent, SIGKILL at the deadline */
	AG_DONE,
};

/* A client message the agent's send queue could not take yet: kept here
 * and client reads paused until the agent socket drains. */
struct pending {
	enum message_type type;
	unsigned char *data;
	size_t len;
	int signo;
	uint16_t cols, rows;
};

struct conn {
	struct conns *set;
	struct conn *prev, *next;
	bool dead;
	char id[48];
	char sandbox_id[SANDBOX_ID_MAX + 1];
	char org_id[48];
	char actor[96];
	char peer[WS_SHORT_MAX];

	/* client side */
	enum client_state cs;
	int fd;
	struct ev_io cw;
	unsigned char *in;
	size_t in_off, in_len, in_cap; /* unparsed bytes are in[in_off..in_len) */
	struct ws_parser parser;
	struct buf msg; /* a fragmented message being reassembled */
	bool channel;   /* sandpit.channel.v1 */
	bool close_sent, close_received, http_only;
	bool lingering, shut_wr; /* linger_close: discard input until EOF */
	bool has_pending;
	struct pending pend;
	struct outq out;
	unsigned char pong[WS_CONTROL_MAX]; /* the latest ping's payload */
	size_t pong_len;
	bool pong_due;     /* a ping awaits its pong */
	uint64_t pong_end; /* out.queued just after the last pong queued */
	int64_t deadline_ms; /* handshake or close deadline */
	size_t unsent;       /* SIOCOUTQ at the last tick, while closing */
	int64_t last_rx_ms, last_activity_ms, next_ping_ms, opened_ms;
	unsigned char carry[3][4]; /* per stream: an unfinished UTF-8 character */
	size_t carry_len[3];
	uint64_t bytes_out;

	/* agent side */
	enum agent_state as;
	struct agent_conn *agent;
	struct ev_io aw;
	bool agent_paused; /* EPOLLIN off: the client is behind */
	bool agent_hup;    /* epoll reported a hang-up or error on the agent fd */
	bool agent_more;   /* a batch was cut short: frames may be buffered */
	bool detached; /* the agent keeps the command when we leave */
	bool attached; /* the command came from an attach, not an exec */
	bool started;
	uint32_t pid;
	int64_t kill_ms;

	/* the upgrade, while it waits for its lookup or its agent */
	struct ws_handshake *hs; /* its key and protocols; authorization wiped */
	size_t head_len;         /* bytes of c->in after it are the first frames */
	struct lookup_job *job;  /* CL_LOOKUP: owned by set->lookup */
	char agent_address[256];
	struct ev_timer retry; /* CL_CONNECTING: the next connect attempt */
	int64_t connect_deadline_ms;
	unsigned connect_delay_ms;
};

static void client_gone(struct conn *c, const char *why);
static void agent_readable(struct conn *c);
static void process_input(struct conn *c);
static void queue_pong(struct conn *c);
static void agent_event(void *arg, uint32_t events);

/* ---- small helpers ---------------------------------------------------------- */

static void ctx(const struct conn *c)
{
	log_set_request(c->id);
}

static void mark_dead_if_done(struct conn *c)
{
	if (c->cs == CL_GONE && (c->as == AG_NONE || c->as == AG_DONE))
		c->dead = true;
}

/* more_work: c's agent client may hold frames epoll will not report (a
 * batch was cut short, or reading resumes): handle them before the loop
 * sleeps, not here (this may run inside agent_readable). */
static void more_work(struct conn *c)
{
	c->agent_more = true;
	if (!ev_timer_is_armed(&c->set->more) && ev_timer_start(c->set->ev, &c->set->more, 0) != R_OK)
		log_warnx(MOD, "cannot arm the continue timer");
}

/* client_is_held: the proxy does not read the client now: a message of its
 * waits for room in the agent's queue, or it does not read the replies its
 * own frames cause (pongs, errors) and its queue is past what output alone
 * can fill. What it sends meanwhile waits in the kernel, which slows it. */
static bool client_is_held(const struct conn *c)
{
	/* An upgrade in progress reads nothing more either: the frames that
	 * follow the head are for the stream, once it is open. */
	return c->cs == CL_LOOKUP || c->cs == CL_CONNECTING || c->has_pending ||
	       outq_len(&c->out) > (size_t)c->set->cfg->send_buffer + OUTPUT_FRAME_MAX;
}

static void client_mask(struct conn *c)
{
	uint32_t m = 0;

	if (c->cs == CL_GONE)
		return;
	/* While held, EPOLLRDHUP goes too: level-triggered, a FIN would wake us
	 * on every wait with nothing we are willing to do. A reset still shows
	 * as EPOLLHUP/EPOLLERR, which epoll reports whatever the mask. */
	if (!client_is_held(c))
		m |= EPOLLIN | EPOLLRDHUP;
	if (!outq_is_empty(&c->out))
		m |= EPOLLOUT;
	if (ev_io_set(c->set->ev, &c->cw, m) != R_OK)
		client_gone(c, "epoll failed");
}

static void agent_mask(struct conn *c)
{
	uint32_t m = 0;

	if (c->agent == NULL)
		return;
	if (c->agent_paused && c->agent_hup) {
		/* epoll reports a hang-up whatever the mask: while the client is
		 * behind, leave epoll instead of waking up for nothing. Reads
		 * resume (and find the end) once the client catches up. */
		ev_io_stop(c->set->ev, &c->aw);
		return;
	}
	if (!c->agent_paused)
		m |= EPOLLIN;
	if (agent_client_wants_write(c->agent))
		m |= EPOLLOUT;
	if (ev_io_set(c->set->ev, &c->aw, m) != R_OK)
		log_warn(MOD, "cannot watch agent fd");
}

static void agent_close(struct conn *c)
{
	if (c->agent == NULL)
		return;
	ev_io_stop(c->set->ev, &c->aw);
	agent_client_close(c->agent);
	c->agent = NULL;
}

static void agent_done(struct conn *c)
{
	agent_close(c);
	c->as = AG_DONE;
	if (c->has_pending) {
		/* Nobody will take the held message now. Reading resumes (the
		 * client still owes us its close); client_flush, which ends every
		 * event, goes on with the frames already read. */
		free(c->pend.data);
		c->pend.data = NULL;
		c->has_pending = false;
		client_mask(c);
	}
	mark_dead_if_done(c);
}

/* kill_now: SIGKILL to the command's process group, best effort: the
 * connection is about to close, and a failure has no one to report to. */
static void kill_now(struct conn *c)
{
	if (c->agent == NULL || agent_client_send_signal(c->agent, SIGKILL) != R_OK ||
	    agent_client_flush(c->agent) != R_OK)
		log_warnx(MOD, "cannot deliver SIGKILL sandbox='%s' pid=%u", c->sandbox_id, c->pid);
}

static void agent_flush(struct conn *c)
{
	if (c->agent == NULL)
		return;
	if (agent_client_flush(c->agent) != R_OK) {
		ctx(c);
		log_warnx(MOD, "agent connection broke sandbox='%s'", c->sandbox_id);
		agent_done(c);
		return;
	}
	agent_mask(c);
}

/* ---- client output ---------------------------------------------------------- */

static void client_flush(struct conn *c)
{
	uint64_t written;

	if (c->cs == CL_GONE)
		return;
	written = c->out.written;
	if (outq_flush(&c->out, c->fd) != R_OK) {
		client_gone(c, "write failed");
		return;
	}
	/* The close deadline is for a peer that stopped reading, not for a
	 * slow one still taking the output queued ahead of the close frame. */
	if (c->cs == CL_CLOSING && c->out.written > written)
		c->deadline_ms = ev_now(c->set->ev) + CLOSE_TIMEOUT_MS;
	if (c->out.peak > c->set->peak_queued)
		c->set->peak_queued = c->out.peak;
	if (outq_is_empty(&c->out) && c->cs == CL_CLOSING &&
	    (c->http_only || (c->close_sent && c->close_received))) {
		if (!c->lingering && !c->http_only) {
			client_gone(c, NULL);
			return;
		}
		if (!c->shut_wr) {
			/* Our last bytes are out: FIN, then wait for the peer's. */
			(void)shutdown(c->fd, SHUT_WR);
			c->shut_wr = true;
		}
	}
	/* Backpressure release: resume the command's output at half the bound
	 * (hysteresis, so we do not toggle epoll on every chunk). */
	if (c->agent_paused && outq_len(&c->out) <= (size_t)c->set->cfg->send_buffer / 2) {
		c->agent_paused = false;
		agent_mask(c);
		/* The agent client may hold complete frames already read from the
		 * socket; epoll will not report them, so drain them now. */
		agent_readable(c);
		if (c->cs == CL_GONE)
			return;
	}
	queue_pong(c);
	/* Frames read before the client was held wait in c->in. */
	if (c->cs == CL_OPEN || c->cs == CL_CLOSING)
		process_input(c);
	client_mask(c);
}

/* queue_frame: one frame: header, optional channel byte, then payload. */
static enum result queue_frame(struct conn *c, enum ws_opcode op, int channel, const void *p,
			       size_t n)
{
	unsigned char hdr[WS_HEADER_MAX], *d;
	size_t hl, pl = n + (channel >= 0 ? 1 : 0);
	enum result r;

	if (c->cs == CL_GONE || c->close_sent)
		return R_OK;
	hl = ws_frame_header(hdr, op, true, pl, NULL);
	r = outq_reserve(&c->out, hl + pl, &d);
	if (r != R_OK)
		return r;
	memcpy(d, hdr, hl);
	if (channel >= 0)
		d[hl++] = (unsigned char)channel;
	if (n > 0)
		memcpy(d + hl, p, n);
	c->bytes_out += hl + n;
	return R_OK;
}

/* queue_pong: answer the latest ping, unless the previous pong is not all
 * written yet: RFC 6455 §5.5.3 lets us answer only the most recent ping, so
 * a client that pings without reading costs one pong, not a queue of them.
 * client_flush calls this again once the previous one is out. */
static void queue_pong(struct conn *c)
{
	if (!c->pong_due || c->out.written < c->pong_end)
		return;
	c->pong_due = false;
	if (queue_frame(c, WS_OP_PONG, -1, c->pong, c->pong_len) != R_OK) {
		client_gone(c, "out of memory");
		return;
	}
	c->pong_end = outq_queued(&c->out);
}

/* send_json: a control message: a text frame, or channel 3 in channel mode. */
static void send_json(struct conn *c, const struct buf *b)
{
	enum result r;

	if (c->channel)
		r = queue_frame(c, WS_OP_BINARY, MESSAGE_CH_CONTROL, b->data, b->len);
	else
		r = queue_frame(c, WS_OP_TEXT, -1, b->data, b->len);
	if (r != R_OK)
		client_gone(c, "out of memory");
}

static void send_close(struct conn *c, uint16_t code, const char *reason)
{
	unsigned char pl[WS_CONTROL_MAX];
	size_t n = 0;

	if (c->cs != CL_OPEN && c->cs != CL_CLOSING)
		return;
	if (c->close_sent)
		return;
	if (code != WS_CLOSE_NO_STATUS && ws_close_payload(code, reason, pl, &n) != R_OK)
		n = 0;
	if (queue_frame(c, WS_OP_CLOSE, -1, pl, n) != R_OK) {
		client_gone(c, "out of memory");
		return;
	}
	ctx(c);
	log_info(MOD, "closing sandbox='%s' code=%u reason='%s'", c->sandbox_id, code,
		 reason ? reason : "");
	c->close_sent = true;
	if (c->cs == CL_OPEN) {
		c->cs = CL_CLOSING;
		c->deadline_ms = ev_now(c->set->ev) + CLOSE_TIMEOUT_MS;
	}
}

/* send_error: an error message; its code is r's name in the one mapping
 * (lib/result.c), as in every API error body. */
static void send_error(struct conn *c, enum result r, const char *msg)
{
	struct buf b;

	buf_init(&b, 4096);
	if (message_error(&b, result_str(r), msg) == R_OK)
		send_json(c, &b);
	buf_free(&b);
}

/* linger_close: after a close frame for a broken peer: no reply is awaited,
 * but the socket is not closed under unread input either (that would send
 * a TCP reset, and a reset can destroy the close frame before the peer, or
 * the web server in between, reads it). Input is discarded until the peer
 * closes or the close deadline passes. */
static void linger_close(struct conn *c)
{
	c->close_received = true;
	c->lingering = true;
	c->in_off = c->in_len = 0;
}

/* ---- HTTP refusals before the upgrade ------------------------------------------ */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 414: return "URI Too Long";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* pending_cancel: the upgrade will not go on: let go of its lookup (the
 * loop frees the job when it comes back), its retry timer and handshake. */
static void pending_cancel(struct conn *c)
{
	if (c->job != NULL) {
		c->job->owner = NULL;
		c->job = NULL;
	}
	ev_timer_stop(c->set->ev, &c->retry);
	if (c->hs != NULL) {
		crypto_wipe(c->hs, sizeof(*c->hs));
		free(c->hs);
		c->hs = NULL;
	}
}

/* http_error: refuse the upgrade with status and the error body of code r
 * (its name in the one mapping; status may differ from the mapping's where
 * HTTP has a more exact one: 405, 408, 426, 431). */
static void http_error(struct conn *c, int status, enum result code_r, const char *msg,
		       const char *extra)
{
	struct json *o = json_new_object(), *e = json_new_object();
	const char *code = result_str(code_r);
	struct buf b;
	char *body = NULL;
	unsigned char *d;
	enum result r;

	pending_cancel(c);
	if (c->as == AG_NONE)
		agent_close(c); /* a connect in progress */
	ctx(c);
	log_info(MOD, "refused status=%d code=%s msg='%s' peer='%s'", status, code, msg, c->peer);
	if (o == NULL || e == NULL || json_add_str(e, "code", code) != R_OK ||
	    json_add_str(e, "message", msg) != R_OK)
		goto fail;
	r = json_add(o, "error", e);
	e = NULL; /* json_add owns it now, even on failure */
	if (r != R_OK)
		goto fail;
	body = json_print(o);
	if (body == NULL)
		goto fail;
	buf_init(&b, 8192);
	if (buf_printf(&b,
		       "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		       "Content-Length: %zu\r\nConnection: close\r\nX-Request-Id: %s\r\n%s\r\n%s",
		       status, reason_phrase(status), strlen(body), c->id, extra ? extra : "",
		       body) != R_OK ||
	    outq_reserve(&c->out, b.len, &d) != R_OK) {
		buf_free(&b);
		goto fail;
	}
	memcpy(d, b.data, b.len);
	buf_free(&b);
	c->cs = CL_CLOSING;
	c->http_only = true;
	c->lingering = true; /* the rest of the request is read and dropped */
	c->close_received = true;
	c->deadline_ms = ev_now(c->set->ev) + CLOSE_TIMEOUT_MS;
	free(body);
	json_free(e);
	json_free(o);
	return;

fail:
	free(body);
	json_free(e);
	json_free(o);
	client_gone(c, "out of memory");
}

static void http_refuse(struct conn *c, enum result r, const char *msg)
{
	http_error(c, result_http_status(r), r, msg, NULL);
}

/* ---- command output ------------------------------------------------------------ */

/* emit_output: one OUTPUT chunk to the client. In JSON mode an unfinished
 * UTF-8 character at the end is held back for the next chunk so text that is
 * split by the pipe still arrives as text. final flushes what is held. */
static enum result emit_output(struct conn *c, uint8_t stream, const unsigned char *p, size_t n,
			       bool final)
{
	unsigned char hdr[WS_HEADER_MAX], *d, *a = c->carry[stream];
	size_t alen = c->carry_len[stream], hold = 0, len, hl;
	struct ws_utf8 u;
	bool b64;
	enum result r;

	if (c->cs != CL_OPEN)
		return R_OK; /* nobody to send to (closing or gone): drop */
	c->last_activity_ms = ev_now(c->set->ev);
	if (c->channel) {
		if (n == 0)
			return R_OK;
		return queue_frame(c, WS_OP_BINARY,
				   stream == AP_STREAM_STDERR ? MESSAGE_CH_STDERR : MESSAGE_CH_STDOUT, p,
				   n);
	}
	if (!final) {
		ws_utf8_init(&u);
		if (ws_utf8_feed(&u, a, alen) && ws_utf8_feed(&u, p, n))
			hold = ws_utf8_pending(&u);
		if (hold > n) {
			/* Still inside one character: everything becomes the carry
			 * (at most 3 bytes, since the character is unfinished). */
			memcpy(a + alen, p, n);
			c->carry_len[stream] = alen + n;
			return R_OK;
		}
	}
	if (alen + n - hold == 0)
		return R_OK;
	r = message_output_len(stream, a, alen, p, n - hold, &b64, &len);
	if (r != R_OK)
		return r;
	hl = ws_frame_header(hdr, WS_OP_TEXT, true, len, NULL);
	r = outq_reserve(&c->out, hl + len, &d);
	if (r != R_OK)
		return r;
	memcpy(d, hdr, hl);
	message_output_write(d + hl, len, stream, a, alen, p, n - hold, b64);
	c->bytes_out += hl + len;
	if (hold > 0) /* p may be NULL on the final flush, with nothing held */
		memmove(a, p + n - hold, hold);
	c->carry_len[stream] = hold;
	return R_OK;
}

static void flush_carries(struct conn *c)
{
	for (uint8_t s = AP_STREAM_STDOUT; s <= AP_STREAM_STDERR; s++)
		if (c->carry_len[s] > 0 && emit_output(c, s, NULL, 0, true) != R_OK)
			client_gone(c, "out of memory");
}

static void on_agent_frame(struct conn *c, const struct agent_frame *f)
{
	struct buf b;

	buf_init(&b, 4096);
	switch (f->type) {
	case AP_STARTED:
		c->started = true;
		c->pid = f->pid;
		if (c->as == AG_RUNNING && message_started(&b, f->pid) == R_OK)
			send_json(c, &b);
		break;
	case AP_OUTPUT:
		if (c->as == AG_RUNNING && emit_output(c, f->stream, f->data, f->len, false) != R_OK)
			client_gone(c, "out of memory");
		break;
	case AP_EXIT:
		ctx(c);
		log_info(MOD, "command exited sandbox='%s' pid=%u exit_code=%d signal=%u ms=%llu",
			 c->sandbox_id, c->pid, f->exit.exit_code, f->exit.signal,
			 (unsigned long long)f->exit.duration_ms);
		if (c->as == AG_RUNNING) {
			flush_carries(c);
			if (message_exit(&b, &f->exit) == R_OK)
				send_json(c, &b);
			send_close(c, WS_CLOSE_NORMAL, "command exited");
		}
		agent_done(c);
		break;
	case AP_ERROR:
		ctx(c);
		log_warnx(MOD, "agent refused command sandbox='%s' code=%s msg='%s'", c->sandbox_id,
			  result_str(f->error), f->message);
		if (c->as == AG_RUNNING) {
			/* a refusal of the request itself (bad command, no such
			 * detached pid, already attached) is the client's doing */
			send_error(c, f->error, f->message);
			send_close(c,
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

static void agent_readable(struct conn *c)
{
	int i;

	/* Frames per wakeup are bounded so one fast command cannot starve the
	 * others. Frames the agent client has already read off the socket will
	 * not wake epoll again: when the bound cuts a batch, the connection is
	 * flagged and the loop comes back to it before it sleeps. */
	c->agent_more = false;
	for (i = 0; i < AGENT_BATCH && c->agent != NULL && !c->agent_paused; i++) {
		struct agent_frame f;
		bool got = false;

		if (agent_client_read_frame(c->agent, &f, &got) != R_OK) {
			ctx(c);
			log_warnx(MOD, "agent stream ended without exit sandbox='%s'", c->sandbox_id);
			if (c->as == AG_RUNNING) {
				flush_carries(c);
				send_error(c, R_UPSTREAM, "sandbox agent connection lost");
				send_close(c, WS_CLOSE_INTERNAL, "sandbox agent connection lost");
			}
			agent_done(c);
			break;
		}
		if (!got)
			break;
		on_agent_frame(c, &f);
		if (c->cs != CL_GONE && outq_len(&c->out) > (size_t)c->set->cfg->send_buffer) {
			c->agent_paused = true;
			agent_mask(c);
		}
	}
	if (i == AGENT_BATCH && c->agent != NULL && !c->agent_paused) {
		more_work(c);
	}
	if (c->agent != NULL && c->as == AG_KILLING)
		c->agent_paused = false; /* nobody to wait for: just discard */
	agent_mask(c);
}

/* continue_all: the more timer: agent frames left over from batches that
 * were cut short. */
static void continue_all(void *arg)
{
	struct conns *cs = arg;

	for (struct conn *c = cs->list; c != NULL; c = c->next) {
		if (c->dead || !c->agent_more)
			continue;
		agent_readable(c);
		client_flush(c);
		mark_dead_if_done(c);
	}
}

/* ---- client input -------------------------------------------------------------- */

static enum result to_agent(struct conn *c, const struct pending *p)
{
	switch (p->type) {
	case MSG_STDIN:
		return agent_client_send_stdin(c->agent, p->data, p->len);
	case MSG_STDIN_CLOSE:
		return agent_client_send_stdin_close(c->agent);
	case MSG_SIGNAL:
		return agent_client_send_signal(c->agent, p->signo);
	case MSG_RESIZE:
		return agent_client_send_resize(c->agent, p->cols, p->rows);
	case MSG_DETACH: {
		enum result r = agent_client_send_detach(c->agent);

		/* only once the agent will hear of it: until then leaving
		 * still hangs the command up */
		if (r == R_OK)
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
	ctx(c);
	log_warnx(MOD, "cannot forward to the agent sandbox='%s' code=%s", c->sandbox_id,
		  result_str(r));
	flush_carries(c);
	send_error(c, r, "cannot forward to the sandbox");
	send_close(c, WS_CLOSE_INTERNAL, "cannot forward to the sandbox");
	agent_done(c);
}

/* forward: hand a client message to the agent; if its queue is full keep a
 * copy and stop reading from the client until it drains. */
static void forward(struct conn *c, const struct pending *p)
{
	enum result r;

	if (c->as != AG_RUNNING || c->agent == NULL)
		return; /* command over: late input is dropped */
	r = to_agent(c, p);
	if (r == R_QUOTA) {
		c->pend = *p;
		c->pend.data = NULL;
		if (p->len > 0) {
			c->pend.data = malloc(p->len);
			if (c->pend.data == NULL) {
				client_gone(c, "out of memory");
				return;
			}
			memcpy(c->pend.data, p->data, p->len);
		}
		c->has_pending = true;
	} else if (r != R_OK) {
		agent_refused(c, r);
		return;
	}
	agent_flush(c);
}

static void retry_pending(struct conn *c)
{
	enum result r;

	if (!c->has_pending)
		return;
	if (c->as != AG_RUNNING || c->agent == NULL)
		r = R_OK;
	else
		r = to_agent(c, &c->pend);
	if (r == R_QUOTA)
		return;
	free(c->pend.data);
	c->pend.data = NULL;
	c->has_pending = false;
	if (r != R_OK)
		agent_refused(c, r);
	else
		agent_flush(c);
	process_input(c);
	client_mask(c);
}

static void start_exec(struct conn *c, const struct message *m)
{
	struct agentproto_exec e = m->exec;
	enum result r;

	/* a {"type":"detach"} before the exec counts as "detach":true */
	if (c->detached)
		e.flags |= AP_EXEC_DETACH;
	r = agent_client_stream_start(c->agent, &e);
	if (r != R_OK) {
		const char *why = agent_client_last_error(c->agent);

		ctx(c);
		log_warnx(MOD, "cannot start command sandbox='%s' code=%s agent='%s'", c->sandbox_id,
			  result_str(r), why ? why : "");
		send_error(c, r, why && why[0] ? why : "cannot start the command");
		send_close(c, WS_CLOSE_INTERNAL, "cannot start the command");
		return;
	}
	c->as = AG_RUNNING;
	c->detached = (e.flags & AP_EXEC_DETACH) != 0;
	agent_mask(c);
	ctx(c);
	log_info(MOD, "exec sandbox='%s' argc=%zu tty=%d shell=%d detach=%d", c->sandbox_id,
		 e.argc, (e.flags & AP_EXEC_TTY) != 0, (e.flags & AP_EXEC_SHELL) != 0,
		 c->detached);
	agent_flush(c);
}

/* start_attach: bind this stream to a detached command. The agent answers
 * STARTED(pid) and then behaves as for an exec, or ERROR (unknown pid...),
 * both handled by on_agent_frame. The command stays detached: leaving
 * again leaves it running. */
static void start_attach(struct conn *c, uint32_t pid)
{
	enum result r;

	r = agent_client_attach_start(c->agent, pid);
	if (r != R_OK) {
		ctx(c);
		log_warnx(MOD, "cannot attach sandbox='%s' pid=%u code=%s", c->sandbox_id, pid,
			  result_str(r));
		send_error(c, r, "cannot attach to the command");
		send_close(c, WS_CLOSE_INTERNAL, "cannot attach");
		return;
	}
	c->as = AG_RUNNING;
	c->detached = true;
	c->attached = true;
	c->pid = pid;
	agent_mask(c);
	ctx(c);
	log_info(MOD, "attach sandbox='%s' pid=%u", c->sandbox_id, pid);
	agent_flush(c);
}

static void on_control(struct conn *c, const char *text, size_t len)
{
	struct message m;
	struct pending p;
	const char *why = "invalid message";
	enum result r;

	r = message_parse(text, len, config_int("SANDPIT_EXEC_MAX_TIMEOUT"), &m, &why);
	if (r != R_OK) {
		send_error(c, r, why);
		if (c->as == AG_NONE)
			send_close(c, WS_CLOSE_POLICY, why);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.type = m.type;
	if (c->as == AG_NONE && m.type != MSG_EXEC && m.type != MSG_ATTACH && m.type != MSG_DETACH) {
		send_error(c, R_INVALID, "the first message must be exec or attach");
		send_close(c, WS_CLOSE_POLICY, "first message must be exec or attach");
		message_free(&m);
		return;
	}
	switch (m.type) {
	case MSG_EXEC:
		if (c->as != AG_NONE) {
			send_error(c, R_CONFLICT, "a command is already attached to this stream");
			break;
		}
		start_exec(c, &m);
		break;
	case MSG_ATTACH:
		if (c->as != AG_NONE) {
			send_error(c, R_CONFLICT, "a command is already attached to this stream");
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
	c->last_activity_ms = ev_now(c->set->ev);
	if (op == WS_OP_TEXT) {
		on_control(c, (const char *)p, n);
		return;
	}
	/* Binary: raw stdin in JSON mode; channel byte + payload in channel mode. */
	if (c->channel) {
		if (n == 0) {
			send_close(c, WS_CLOSE_POLICY, "empty channel message");
			return;
		}
		if (p[0] == MESSAGE_CH_CONTROL) {
			on_control(c, (const char *)p + 1, n - 1);
			return;
		}
		if (p[0] != MESSAGE_CH_STDIN) {
			send_close(c, WS_CLOSE_POLICY, "unknown channel");
			return;
		}
		p++;
		n--;
	}
	if (c->as == AG_NONE) {
		send_close(c, WS_CLOSE_POLICY, "first message must be exec");
		return;
	}
	{
		struct pending pd = {.type = MSG_STDIN, .data = p, .len = n};

		if (n > 0)
			forward(c, &pd);
	}
}

static void on_frame(struct conn *c, struct ws_frame *f)
{
	switch (f->opcode) {
	case WS_OP_PING:
		memcpy(c->pong, f->payload, f->len); /* the parser caps it at 125 */
		c->pong_len = f->len;
		c->pong_due = true;
		queue_pong(c);
		return;
	case WS_OP_PONG:
		return;
	case WS_OP_CLOSE:
		c->close_received = true;
		if (!c->close_sent) {
			/* Echo the peer's code (RFC 6455 §5.5.1). */
			send_close(c, f->close_code, "");
		}
		c->cs = CL_CLOSING;
		return;
	default:
		break;
	}
	if (c->close_received)
		return;
	if (f->fin && f->opcode != WS_OP_CONT) {
		on_message(c, f->msg_opcode, f->payload, f->len); /* zero copy */
		return;
	}
	if (buf_append(&c->msg, f->payload, f->len) != R_OK) {
		send_close(c, WS_CLOSE_TOO_BIG, "message too big");
		return;
	}
	if (f->fin) {
		on_message(c, f->msg_opcode, (unsigned char *)c->msg.data, c->msg.len);
		buf_free(&c->msg);
		buf_init(&c->msg, (size_t)c->set->cfg->max_message);
	}
}

static void process_input(struct conn *c)
{
	while (!c->dead && c->cs != CL_GONE && !client_is_held(c) && !c->close_received &&
	       c->in_len > c->in_off) {
		struct ws_frame f;
		size_t used;
		enum result r;

		r = ws_parse(&c->parser, c->in + c->in_off, c->in_len - c->in_off, &used, &f);
		if (r != R_OK) {
			ctx(c);
			log_info(MOD, "client protocol error: %s", c->parser.error_reason);
			c->in_off = c->in_len = 0;
			send_close(c, c->parser.error_code, c->parser.error_reason);
			linger_close(c);
			return;
		}
		if (used == 0)
			break;
		c->in_off += used;
		on_frame(c, &f);
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
}

/* make_room: compact, then grow up to one maximal frame. */
static bool make_room(struct conn *c, size_t cap_max)
{
	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_len < c->in_cap)
		return true;
	if (c->in_cap >= cap_max)
		return false;
	{
		size_t ncap = c->in_cap * 2 > cap_max ? cap_max : c->in_cap * 2;
		unsigned char *p = realloc(c->in, ncap);

		if (p == NULL)
			return false;
		c->in = p;
		c->in_cap = ncap;
	}
	return true;
}

/* ---- the upgrade ------------------------------------------------------------------ */

/* route: "/api/v1/sandbox/<id>/stream[?query]" -> id, and the token= value. */
static bool route(const char *target, char *id, size_t idsize, char *token, size_t toksize)
{
	const char *p = target, *q, *end;
	size_t n;

	if (strncmp(p, PATH_PREFIX, strlen(PATH_PREFIX)) != 0)
		return false;
	p += strlen(PATH_PREFIX);
	end = strchr(p, '?');
	if (end == NULL)
		end = p + strlen(p);
	q = memchr(p, '/', (size_t)(end - p));
	if (q == NULL || (size_t)(end - q) != strlen(PATH_SUFFIX) ||
	    memcmp(q, PATH_SUFFIX, strlen(PATH_SUFFIX)) != 0)
		return false;
	n = (size_t)(q - p);
	if (n == 0 || n >= idsize)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
			return false;
	memcpy(id, p, n);
	id[n] = '\0';
	token[0] = '\0';
	if (*end == '?') {
		const char *s = end + 1;

		while (*s != '\0') {
			size_t plen = strcspn(s, "&");

			if (plen > 6 && strncmp(s, "token=", 6) == 0) {
				/* Tokens are base64url and dots: no percent-decoding needed;
				 * anything else simply fails verification. */
				if (plen - 6 >= toksize)
					return false;
				memcpy(token, s + 6, plen - 6);
				token[plen - 6] = '\0';
			}
			s += plen;
			if (*s == '&')
				s++;
		}
	}
	return true;
}

static void set_request_id(struct conn *c, const char *given)
{
	size_t n = strlen(given), i;

	for (i = 0; i < n && i < 40; i++) {
		char ch = given[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			break;
	}
	if (n > 0 && i == n && n < 40)
		memcpy(c->id, given, n + 1);
}

/* finish_upgrade: the agent is connected: answer 101, and the stream is
 * open. The bytes after the head, if any, are its first frames. */
static void finish_upgrade(struct conn *c)
{
	const char *proto = NULL;
	struct buf resp;
	unsigned char *d;

	ev_timer_stop(c->set->ev, &c->retry);
	if (ws_handshake_has_protocol(c->hs, MESSAGE_SUBPROTOCOL_CHANNEL)) {
		proto = MESSAGE_SUBPROTOCOL_CHANNEL;
		c->channel = true;
	} else if (ws_handshake_has_protocol(c->hs, MESSAGE_SUBPROTOCOL_JSON))
		proto = MESSAGE_SUBPROTOCOL_JSON;
	buf_init(&resp, 1024);
	if (ws_handshake_response(&resp, c->hs->key, proto) != R_OK ||
	    outq_reserve(&c->out, resp.len, &d) != R_OK) {
		buf_free(&resp);
		client_gone(c, "out of memory");
		return;
	}
	memcpy(d, resp.data, resp.len);
	buf_free(&resp);
	pending_cancel(c); /* the handshake is answered: free it */
	c->cs = CL_OPEN;
	ws_parser_init(&c->parser, (size_t)c->set->cfg->max_message, true);
	buf_init(&c->msg, (size_t)c->set->cfg->max_message);
	c->opened_ms = c->last_rx_ms = c->last_activity_ms = ev_now(c->set->ev);
	c->next_ping_ms = ev_now(c->set->ev) + c->set->cfg->ping_interval * 1000;
	c->in_off = c->head_len;
	ctx(c);
	log_info(MOD, "stream open sandbox='%s' org='%s' actor='%s' proto='%s' peer='%s'",
		 c->sandbox_id, c->org_id, c->actor, proto ? proto : "", c->peer);
}

/* arm_retry: the next connect attempt, later each time (up to
 * CONNECT_RETRY_MAX_MS). */
static enum result arm_retry(struct conn *c)
{
	unsigned d = c->connect_delay_ms;

	c->connect_delay_ms = d * 2 > CONNECT_RETRY_MAX_MS ? CONNECT_RETRY_MAX_MS : d * 2;
	return ev_timer_start(c->set->ev, &c->retry, d);
}

/* org_connecting: streams of org waiting for a busy agent. */
static size_t org_connecting(const struct conns *cs, const char *org)
{
	size_t n = 0;

	for (const struct conn *o = cs->list; o != NULL; o = o->next)
		if (o->cs == CL_CONNECTING && !o->dead && strcmp(o->org_id, org) == 0)
			n++;
	return n;
}

/* start_connect: connect to the sandbox's agent without waiting; an agent
 * with a full backlog is retried on a timer the loop watches. */
static void start_connect(struct conn *c)
{
	bool pending = false;
	enum result r;

	r = agent_client_connect_start(c->agent_address, NULL, &c->agent, &pending);
	if (r != R_OK) {
		http_refuse(c, R_UPSTREAM, "sandbox agent unreachable");
		return;
	}
	ev_io_init(&c->aw, agent_client_fd(c->agent), agent_event, c);
	if (!pending) {
		finish_upgrade(c);
		return;
	}
	if (org_connecting(c->set, c->org_id) >= ORG_CONNECTING_MAX) {
		http_error(c, 429, R_QUOTA, "too many streams wait for a busy sandbox agent",
			   "Retry-After: 1\r\n");
		return;
	}
	c->connect_delay_ms = CONNECT_RETRY_FIRST_MS;
	if (arm_retry(c) != R_OK) {
		http_error(c, 503, R_UNAVAILABLE, "cannot wait for the sandbox agent now",
			   "Retry-After: 1\r\n");
		return;
	}
	c->cs = CL_CONNECTING;
	c->connect_deadline_ms = ev_now(c->set->ev) + c->set->cfg->connect_timeout_ms;
}

/* connect_retry: the retry timer fired. */
static void connect_retry(struct conn *c)
{
	bool pending = true;
	enum result r;

	r = agent_client_connect_retry(c->agent, c->agent_address, &pending);
	if (r != R_OK)
		http_refuse(c, R_UPSTREAM, "sandbox agent unreachable");
	else if (!pending)
		finish_upgrade(c);
	else if (ev_now(c->set->ev) >= c->connect_deadline_ms)
		http_refuse(c, R_UPSTREAM, "sandbox agent busy: it accepts no connection");
	else if (arm_retry(c) != R_OK)
		http_refuse(c, R_INTERNAL, "cannot wait for the sandbox agent");
}

/* on_lookup: who the caller is and where the sandbox is: refuse, or go on
 * to the agent. */
static void on_lookup(struct conn *c, const struct lookup_job *job)
{
	const struct session_target *t = &job->target;
	enum result r = job->auth_r;

	ctx(c);
	if (r == R_QUOTA) {
		char extra[64];

		snprintf(extra, sizeof(extra), "Retry-After: %d\r\n",
			 job->retry_after > 0 ? job->retry_after : 1);
		http_error(c, 429, r, "rate limit exceeded", extra);
		return;
	}
	if (r != R_OK) {
		http_refuse(c, r,
			    r == R_UNAUTHORIZED ? "missing or invalid credentials"
						: "cannot authenticate now");
		return;
	}
	memcpy(c->org_id, job->grant.org_id, sizeof(c->org_id));
	memcpy(c->actor, job->grant.actor, sizeof(c->actor));
	if (!(job->grant.scopes & AUTH_SCOPE_WRITE)) {
		http_refuse(c, R_FORBIDDEN, "streaming a command needs the write scope");
		return;
	}
	r = job->find_r;
	if (r != R_OK) {
		http_refuse(c, r, r == R_NOT_FOUND ? "sandbox not found" : "cannot look up sandbox");
		return;
	}
	if (strcmp(t->status, "running") != 0 || t->agent_address[0] == '\0') {
		char msg[96];

		snprintf(msg, sizeof(msg), "sandbox is %s, not running", t->status);
		http_refuse(c, R_CONFLICT, msg);
		return;
	}
	memcpy(c->agent_address, t->agent_address, sizeof(c->agent_address));
	start_connect(c);
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
			on_lookup(c, job);
			client_flush(c);
			mark_dead_if_done(c);
		}
		lookup_job_free(job);
	}
}

/* begin_upgrade: a complete request head: validate it, then hand the
 * database work to the lookup threads. */
static void begin_upgrade(struct conn *c, const char *head, size_t len)
{
	struct ws_handshake_error he;
	struct lookup_job *job;
	struct ws_handshake *h;

	h = malloc(sizeof(*h));
	if (h == NULL) {
		client_gone(c, "out of memory");
		return;
	}
	if (ws_handshake_parse(head, len, h, &he) != R_OK) {
		free(h);
		http_error(c, he.status, he.status == 431 ? R_TOO_BIG : R_INVALID, he.message,
			   he.status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL);
		return;
	}
	c->hs = h; /* freed by pending_cancel from here on */
	set_request_id(c, h->request_id);
	memcpy(c->peer, h->forwarded_for, sizeof(c->peer));
	ctx(c);
	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		client_gone(c, "out of memory");
		return;
	}
	if (!route(h->target, c->sandbox_id, sizeof(c->sandbox_id), job->token,
		   sizeof(job->token))) {
		lookup_job_free(job);
		http_refuse(c, R_NOT_FOUND, "no such endpoint");
		return;
	}
	if (c->set->draining) {
		lookup_job_free(job);
		http_error(c, 503, R_UNAVAILABLE, "stream proxy is shutting down",
			   "Retry-After: 1\r\n");
		return;
	}
	memcpy(job->req_id, c->id, sizeof(job->req_id));
	memcpy(job->authorization, h->authorization, sizeof(job->authorization));
	crypto_wipe(h->authorization, sizeof(h->authorization));
	memcpy(job->sandbox_id, c->sandbox_id, sizeof(c->sandbox_id));
	job->owner = c;
	if (lookup_submit(c->set->lookup, job) != R_OK) {
		lookup_job_free(job);
		http_error(c, 503, R_UNAVAILABLE, "too many upgrades are waiting",
			   "Retry-After: 1\r\n");
		return;
	}
	c->job = job;
	c->cs = CL_LOOKUP;
	/* the lookup gets its own deadline: a database that does not answer
	 * in time is a 503, not a stream that waits forever */
	c->deadline_ms = ev_now(c->set->ev) + c->set->cfg->handshake_timeout * 1000;
	client_mask(c);
}

/* client_read: more of the client into c->in. Returns the bytes read, or 0
 * when there is nothing more now: EAGAIN, or the client is gone (at EOF
 * with eof_why as the reason, NULL for a clean end). */
static size_t client_read(struct conn *c, const char *eof_why)
{
	for (;;) {
		ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);

		if (n > 0) {
			c->in_len += (size_t)n;
			return (size_t)n;
		}
		if (n == 0) {
			client_gone(c, eof_why);
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			client_gone(c, "read failed");
		return 0;
	}
}

static void read_head(struct conn *c)
{
	for (;;) {
		const char *end;
		size_t hl;

		if (c->in_len == c->in_cap) {
			if (!make_room(c, WS_HEAD_MAX)) {
				http_error(c, 431, R_TOO_BIG, "request head too large", NULL);
				return;
			}
		}
		if (client_read(c, NULL) == 0)
			return;
		end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
		hl = end ? (size_t)(end - (const char *)c->in) + 4 : 0;
		if (end == NULL) {
			end = memmem(c->in, c->in_len, "\n\n", 2);
			hl = end ? (size_t)(end - (const char *)c->in) + 2 : 0;
		}
		if (end == NULL)
			continue;
		/* Bytes after the head are the client's first frames: they stay
		 * in c->in until the stream opens (finish_upgrade). */
		c->head_len = hl;
		begin_upgrade(c, (const char *)c->in, hl);
		if (c->cs != CL_LOOKUP)
			c->in_off = c->in_len = 0;
		return;
	}
}

static void client_readable(struct conn *c)
{
	if (c->cs == CL_HTTP) {
		read_head(c);
		return;
	}
	if (c->cs == CL_LOOKUP || c->cs == CL_CONNECTING)
		return; /* a hang-up: conn_event handles it */
	/* Read only while there is room for a frame; what a client sends while
	 * its stdin is blocked waits in the kernel, which slows the client. */
	for (int i = 0; i < 16 && c->cs != CL_GONE && !client_is_held(c); i++) {
		if (!make_room(c, (size_t)c->set->cfg->max_message + WS_HEADER_MAX)) {
			send_close(c, WS_CLOSE_TOO_BIG, "message too big");
			linger_close(c);
			return;
		}
		if (client_read(c, c->close_received ? NULL : "client closed the connection") == 0)
			return;
		/* Any bytes are a sign of life: a big message can take longer
		 * than the ping timeout to arrive whole. */
		c->last_rx_ms = ev_now(c->set->ev);
		if (c->close_received) {
			c->in_off = c->in_len = 0; /* nothing counts after a close */
			continue;
		}
		process_input(c);
	}
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void client_gone(struct conn *c, const char *why)
{
	if (c->cs == CL_GONE)
		return;
	ctx(c);
	if (why != NULL)
		log_info(MOD, "client gone sandbox='%s' why='%s'", c->sandbox_id, why);
	if (c->opened_ms > 0)
		log_info(MOD, "stream closed sandbox='%s' bytes_out=%llu peak_queue=%zu ms=%lld",
			 c->sandbox_id, (unsigned long long)c->bytes_out, c->out.peak,
			 (long long)(ev_now(c->set->ev) - c->opened_ms));
	pending_cancel(c);
	ev_io_stop(c->set->ev, &c->cw);
	close(c->fd);
	c->fd = -1;
	c->cs = CL_GONE;
	outq_free(&c->out);
	free(c->pend.data);
	c->pend.data = NULL;
	c->has_pending = false;
	if (c->as == AG_RUNNING) {
		if (c->detached) {
			log_info(MOD, "detached command left running sandbox='%s' pid=%u",
				 c->sandbox_id, c->pid);
			agent_done(c);
		} else if (c->set->cfg->kill_grace == 0 ||
			   agent_client_send_signal(c->agent, SIGHUP) != R_OK) {
			kill_now(c);
			agent_done(c);
		} else {
			log_info(MOD, "hanging up command sandbox='%s' pid=%u", c->sandbox_id, c->pid);
			c->as = AG_KILLING;
			c->kill_ms = ev_now(c->set->ev) + c->set->cfg->kill_grace * 1000;
			c->agent_paused = false;
			agent_flush(c);
			/* Frames the agent client read while we were paused (an EXIT
			 * among them) will not wake epoll: have the loop drain them.
			 * Not here: this may run inside agent_readable. */
			more_work(c);
		}
	}
	if (c->as == AG_NONE && c->agent != NULL)
		agent_close(c);
	mark_dead_if_done(c);
}

/* settle: the end of every event of c: one flush per event, so many small
 * frames go out in one write, and the dead check. */
static void settle(struct conn *c)
{
	client_flush(c);
	mark_dead_if_done(c);
}

static void client_event(void *arg, uint32_t events)
{
	struct conn *c = arg;

	if (c->dead || c->cs == CL_GONE)
		return;
	if (events & EPOLLOUT)
		client_flush(c);
	if (c->cs != CL_GONE && (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		client_readable(c);
	if (c->cs != CL_GONE && (events & (EPOLLHUP | EPOLLERR)))
		client_gone(c, "connection reset");
	settle(c);
}

static void agent_event(void *arg, uint32_t events)
{
	struct conn *c = arg;

	if (c->dead || c->agent == NULL)
		return;
	if (events & (EPOLLHUP | EPOLLERR))
		c->agent_hup = true;
	if (events & EPOLLOUT) {
		agent_flush(c);
		retry_pending(c);
	}
	if (c->agent != NULL && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		agent_readable(c);
	settle(c);
}

static void retry_event(void *arg)
{
	struct conn *c = arg;

	if (c->dead)
		return;
	if (c->cs == CL_CONNECTING)
		connect_retry(c);
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
	c->fd = fd;
	c->cs = CL_HTTP;
	c->as = AG_NONE;
	ev_io_init(&c->cw, fd, client_event, c);
	ev_io_init(&c->aw, -1, agent_event, c);
	ev_timer_init(&c->retry, retry_event, c);
	outq_init(&c->out, CLIENT_QUEUE_MAX(set->cfg));
	buf_init(&c->msg, 0);
	if (crypto_random(rnd, sizeof(rnd)) == R_OK &&
	    crypto_hex_encode(rnd, sizeof(rnd), hex, sizeof(hex)) == R_OK)
		snprintf(c->id, sizeof(c->id), "ws-%s", hex);
	else
		snprintf(c->id, sizeof(c->id), "ws-%llu", (unsigned long long)++set->next_id);
	c->deadline_ms = ev_now(set->ev) + set->cfg->handshake_timeout * 1000;
	r = ev_io_set(set->ev, &c->cw, EPOLLIN | EPOLLRDHUP);
	if (r != R_OK)
		goto fail_in;
	c->next = set->list;
	if (set->list != NULL)
		set->list->prev = c;
	set->list = c;
	set->n++;
	return R_OK;

fail_in:
	free(c->in);
fail_free:
	free(c);
	close(fd);
	return r;
}

/* client_took_more: the peer took bytes from the kernel's send queue since
 * the last tick. Past our own queue the kernel can hold megabytes for a slow
 * reader (send buffers grow on fast links): it is reading, not gone. */
static bool client_took_more(struct conn *c)
{
	int unsent = 0;
	bool took;

	if (ioctl(c->fd, SIOCOUTQ, &unsent) != 0 || unsent < 0)
		unsent = 0;
	took = (size_t)unsent < c->unsent;
	c->unsent = (size_t)unsent;
	return took;
}

static void tick(struct conn *c)
{
	int64_t now = ev_now(c->set->ev);
	const struct settings *cfg = c->set->cfg;

	if (c->as == AG_KILLING && now >= c->kill_ms) {
		ctx(c);
		log_info(MOD, "killing command sandbox='%s' pid=%u", c->sandbox_id, c->pid);
		kill_now(c);
		agent_done(c);
	}
	outq_trim(&c->out); /* a connection idle after a burst holds nothing */
	switch (c->cs) {
	case CL_HTTP:
		if (now >= c->deadline_ms)
			http_error(c, 408, R_TIMEOUT, "upgrade request not received in time", NULL);
		break;
	case CL_LOOKUP:
		if (now >= c->deadline_ms)
			http_error(c, 503, R_DB, "cannot authenticate now", "Retry-After: 1\r\n");
		break;
	case CL_CONNECTING:
		break; /* its timer bounds it */
	case CL_OPEN:
		if (client_is_held(c))
			c->last_rx_ms = now; /* we are not reading: the silence is ours */
		else if (now - c->last_rx_ms > 3 * cfg->ping_interval * 1000) {
			client_gone(c, "ping timeout");
			break;
		}
		if (cfg->idle_timeout > 0 && now - c->last_activity_ms > cfg->idle_timeout * 1000) {
			send_close(c, WS_CLOSE_GOING_AWAY, "idle timeout");
			break;
		}
		if (now >= c->next_ping_ms) {
			char stamp[24];
			int n = snprintf(stamp, sizeof(stamp), "%lld", (long long)now);

			if (queue_frame(c, WS_OP_PING, -1, stamp, (size_t)n) != R_OK)
				client_gone(c, "out of memory");
			c->next_ping_ms = now + cfg->ping_interval * 1000;
		}
		break;
	case CL_CLOSING:
		if (client_took_more(c))
			c->deadline_ms = now + CLOSE_TIMEOUT_MS;
		if (now >= c->deadline_ms)
			client_gone(c, c->http_only ? NULL : "close handshake timed out");
		break;
	case CL_GONE:
		break;
	}
	settle(c);
}

/* tick_all: the timers of every connection, about once a second. */
static void tick_all(void *arg)
{
	struct conns *set = arg;

	for (struct conn *c = set->list; c != NULL; c = c->next)
		if (!c->dead)
			tick(c);
	if (ev_timer_start(set->ev, &set->tick, TICK_MS) != R_OK)
		log_warnx(MOD, "cannot arm the tick timer");
}

void conns_drain(struct conns *set)
{
	set->draining = true;
	for (struct conn *c = set->list; c != NULL; c = c->next) {
		if (c->dead)
			continue;
		if (c->cs == CL_HTTP)
			client_gone(c, NULL);
		else if (c->cs == CL_LOOKUP || c->cs == CL_CONNECTING)
			http_error(c, 503, R_UNAVAILABLE, "stream proxy is shutting down",
				   "Retry-After: 1\r\n");
		else if (c->cs == CL_OPEN) {
			flush_carries(c);
			send_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
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
	pending_cancel(c);
	if (c->fd >= 0) {
		ev_io_stop(set->ev, &c->cw);
		close(c->fd);
	}
	agent_close(c);
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
			kill_now(c);
		c->dead = true;
	}
	conns_reap(set);
	ev_io_stop(set->ev, &set->lookup_w);
	ev_timer_stop(set->ev, &set->tick);
	ev_timer_stop(set->ev, &set->more);
}

enum result conns_init(struct conns *set, const struct settings *cfg, struct ev_loop *ev,
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
	if (r == R_OK)
		r = ev_timer_start(ev, &set->tick, TICK_MS);
	if (r != R_OK)
		ev_io_stop(ev, &set->lookup_w);
	return r;
}
