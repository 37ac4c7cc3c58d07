/* client.c: the client side of a stream: WebSocket frames out (control
 * messages, command output as JSON or channel frames, ping/pong, close)
 * and in (reading, parsing, reassembling messages), the output queue and
 * the close handshake. It calls neither the upgrade nor the agent side. */
#include "client.h"

#include <errno.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream.h"

static enum result queue_frame(struct conn *c, enum ws_opcode op, int channel, const void *p,
			       size_t n);

/* client_is_held: the proxy does not read the client now: a message of its
 * waits for room in the agent's queue, or it does not read the replies its
 * own frames cause (pongs, errors) and its queue is past what output alone
 * can fill. What it sends meanwhile waits in the kernel, which slows it. */
bool client_is_held(const struct conn *c)
{
	/* An upgrade in progress reads nothing more either: the frames that
	 * follow the head are for the stream, once it is open. */
	return c->cs == CL_LOOKUP || c->cs == CL_CONNECTING || c->has_pending ||
	       outq_len(&c->out) > (size_t)c->set->cfg->stream_send_buffer + OUTPUT_FRAME_MAX;
}

void client_mask(struct conn *c)
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
	c->client.paused = client_is_held(c);
	if (side_watch(c->set->ev, &c->client, m) != R_SUCCESS)
		client_close(c, "epoll failed");
}

void client_write(struct conn *c)
{
	uint64_t written;

	if (c->cs == CL_GONE)
		return;
	written = c->out.written;
	if (outq_flush(&c->out, c->client.fd) != R_SUCCESS) {
		client_close(c, "write failed");
		return;
	}
	/* The close deadline is for a peer that stopped reading, not for a
	 * slow one still taking the output queued ahead of the close frame. */
	if (c->cs == CL_CLOSING && c->out.written > written)
		c->deadline_ms = stream_now(c) + CLOSE_TIMEOUT_MS;
	if (c->out.peak > c->set->peak_queued)
		c->set->peak_queued = c->out.peak;
	if (outq_is_empty(&c->out) && c->cs == CL_CLOSING &&
	    (c->http_only || (c->close_sent && c->close_received))) {
		if (!c->lingering && !c->http_only) {
			client_close(c, NULL);
			return;
		}
		if (!c->shut_wr) {
			/* Our last bytes are out: FIN, then wait for the peer's. */
			(void)shutdown(c->client.fd, SHUT_WR);
			c->shut_wr = true;
		}
	}
}

/* queue_frame: one frame: header, optional channel byte, then payload. */
static enum result queue_frame(struct conn *c, enum ws_opcode op, int channel, const void *p,
			       size_t n)
{
	unsigned char hdr[WS_HEADER_MAX], *d;
	size_t hl, pl = n + (channel >= 0 ? 1 : 0);
	enum result r;

	if (c->cs == CL_GONE || c->close_sent)
		return R_SUCCESS;
	hl = ws_frame_header(hdr, op, true, pl, NULL);
	r = outq_reserve(&c->out, hl + pl, &d);
	if (r != R_SUCCESS)
		return r;
	memcpy(d, hdr, hl);
	if (channel >= 0)
		d[hl++] = (unsigned char)channel;
	if (n > 0)
		memcpy(d + hl, p, n);
	c->bytes_out += hl + n;
	return R_SUCCESS;
}

/* client_queue_pong: answer the latest ping, unless the previous pong is not all
 * written yet: RFC 6455 §5.5.3 lets us answer only the most recent ping, so
 * a client that pings without reading costs one pong, not a queue of them.
 * conn.c calls this again (flush) once the previous one is out. */
void client_queue_pong(struct conn *c)
{
	if (!c->pong_due || c->out.written < c->pong_end)
		return;
	c->pong_due = false;
	if (queue_frame(c, WS_OP_PONG, -1, c->pong, c->pong_len) != R_SUCCESS) {
		client_close(c, "out of memory");
		return;
	}
	c->pong_end = outq_queued(&c->out);
}

/* client_send_json: a control message: a text frame, or channel 3 in channel mode. */
void client_send_json(struct conn *c, const struct buf *b)
{
	enum result r;

	if (c->channel)
		r = queue_frame(c, WS_OP_BINARY, MESSAGE_CH_CONTROL, b->data, b->len);
	else
		r = queue_frame(c, WS_OP_TEXT, -1, b->data, b->len);
	if (r != R_SUCCESS)
		client_close(c, "out of memory");
}

void client_send_close(struct conn *c, uint16_t code, const char *reason)
{
	unsigned char pl[WS_CONTROL_MAX];
	size_t n = 0;

	if (c->cs != CL_OPEN && c->cs != CL_CLOSING)
		return;
	if (c->close_sent)
		return;
	if (code != WS_CLOSE_NO_STATUS && ws_close_payload(code, reason, pl, &n) != R_SUCCESS)
		n = 0;
	if (queue_frame(c, WS_OP_CLOSE, -1, pl, n) != R_SUCCESS) {
		client_close(c, "out of memory");
		return;
	}
	stream_ctx(c);
	log_info(MOD, "closing sandbox='%s' code=%u reason='%s'", c->sandbox_id, code,
		 reason ? reason : "");
	c->close_sent = true;
	if (c->cs == CL_OPEN) {
		c->cs = CL_CLOSING;
		c->deadline_ms = stream_now(c) + CLOSE_TIMEOUT_MS;
	}
}

/* client_send_error: an error message; its code is r's name in the one mapping
 * (lib/core/result.c), as in every API error body. */
void client_send_error(struct conn *c, enum result r, const char *msg)
{
	struct buf b;

	buf_init(&b, 4096);
	if (message_error(&b, result_str(r), msg) == R_SUCCESS)
		client_send_json(c, &b);
	buf_free(&b);
}

/* linger: after a close frame for a broken peer: no reply is awaited,
 * but the socket is not closed under unread input either (that would send
 * a TCP reset, and a reset can destroy the close frame before the peer, or
 * the web server in between, reads it). Input is discarded until the peer
 * closes or the close deadline passes. */
static void linger(struct conn *c)
{
	c->close_received = true;
	c->lingering = true;
	c->in_off = c->in_len = 0;
}

/* client_output: one OUTPUT chunk to the client. In JSON mode an unfinished
 * UTF-8 character at the end is held back for the next chunk so text that is
 * split by the pipe still arrives as text. final flushes what is held. */
enum result client_output(struct conn *c, uint8_t stream, const unsigned char *p, size_t n,
			  bool final)
{
	unsigned char hdr[WS_HEADER_MAX], *d, *a = c->carry[stream];
	size_t alen = c->carry_len[stream], hold = 0, len, hl;
	struct ws_utf8 u;
	bool b64;
	enum result r;

	if (c->cs != CL_OPEN)
		return R_SUCCESS; /* nobody to send to (closing or gone): drop */
	c->last_activity_ms = stream_now(c);
	if (c->channel) {
		if (n == 0)
			return R_SUCCESS;
		return queue_frame(
		    c, WS_OP_BINARY,
		    stream == AP_STREAM_STDERR ? MESSAGE_CH_STDERR : MESSAGE_CH_STDOUT, p, n);
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
			return R_SUCCESS;
		}
	}
	if (alen + n - hold == 0)
		return R_SUCCESS;
	r = message_output_len(stream, a, alen, p, n - hold, &b64, &len);
	if (r != R_SUCCESS)
		return r;
	hl = ws_frame_header(hdr, WS_OP_TEXT, true, len, NULL);
	r = outq_reserve(&c->out, hl + len, &d);
	if (r != R_SUCCESS)
		return r;
	memcpy(d, hdr, hl);
	message_output_write(d + hl, len, stream, a, alen, p, n - hold, b64);
	c->bytes_out += hl + len;
	if (hold > 0) /* p may be NULL on the final flush, with nothing held */
		memmove(a, p + n - hold, hold);
	c->carry_len[stream] = hold;
	return R_SUCCESS;
}

void client_flush_carries(struct conn *c)
{
	for (uint8_t s = AP_STREAM_STDOUT; s <= AP_STREAM_STDERR; s++)
		if (c->carry_len[s] > 0 && client_output(c, s, NULL, 0, true) != R_SUCCESS)
			client_close(c, "out of memory");
}

/* on_frame: a control frame is answered here; a data frame completes a
 * message (true: *op, *p, *n) or is a part of one. */
static bool on_frame(struct conn *c, struct ws_frame *f, uint8_t *op, unsigned char **p, size_t *n)
{
	switch (f->opcode) {
	case WS_OP_PING:
		memcpy(c->pong, f->payload, f->len); /* the parser caps it at 125 */
		c->pong_len = f->len;
		c->pong_due = true;
		client_queue_pong(c);
		return false;
	case WS_OP_PONG:
		return false;
	case WS_OP_CLOSE:
		c->close_received = true;
		if (!c->close_sent) {
			/* Echo the peer's code (RFC 6455 §5.5.1). */
			client_send_close(c, f->close_code, "");
		}
		c->cs = CL_CLOSING;
		return false;
	default:
		break;
	}
	if (c->close_received)
		return false;
	if (f->fin && f->opcode != WS_OP_CONT) {
		*op = f->msg_opcode; /* zero copy */
		*p = f->payload;
		*n = f->len;
		return true;
	}
	if (buf_append(&c->msg, f->payload, f->len) != R_SUCCESS) {
		client_send_close(c, WS_CLOSE_TOO_BIG, "message too big");
		return false;
	}
	if (!f->fin)
		return false;
	*op = f->msg_opcode;
	*p = (unsigned char *)c->msg.data;
	*n = c->msg.len;
	c->msg_out = true;
	return true;
}

bool client_next_message(struct conn *c, uint8_t *op, unsigned char **p, size_t *n)
{
	while (c->cs != CL_GONE && !client_is_held(c) && !c->close_received &&
	       c->in_len > c->in_off) {
		struct ws_frame f;
		size_t used;
		enum result r;

		r = ws_parse(&c->parser, c->in + c->in_off, c->in_len - c->in_off, &used, &f);
		if (r != R_SUCCESS) {
			stream_ctx(c);
			log_info(MOD, "client protocol error: %s", c->parser.error_reason);
			c->in_off = c->in_len = 0;
			client_send_close(c, c->parser.error_code, c->parser.error_reason);
			linger(c);
			return false;
		}
		if (used == 0)
			break;
		c->in_off += used;
		if (on_frame(c, &f, op, p, n))
			return true;
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	return false;
}

void client_message_done(struct conn *c)
{
	if (!c->msg_out)
		return;
	c->msg_out = false;
	buf_free(&c->msg);
	buf_init(&c->msg, (size_t)c->set->cfg->stream_max_message);
}

/* client_make_room: compact, then grow up to one maximal frame. */
bool client_make_room(struct conn *c, size_t cap_max)
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

/* client_read: more of the client into c->in. Returns the bytes read, or 0
 * when there is nothing more now: EAGAIN, or the client is gone (at EOF
 * with eof_why as the reason, NULL for a clean end). */
size_t client_read(struct conn *c, const char *eof_why)
{
	for (;;) {
		ssize_t n = read(c->client.fd, c->in + c->in_len, c->in_cap - c->in_len);

		if (n > 0) {
			c->in_len += (size_t)n;
			return (size_t)n;
		}
		if (n == 0) {
			client_close(c, eof_why);
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			client_close(c, "read failed");
		return 0;
	}
}

bool client_fill(struct conn *c)
{
	if (!client_make_room(c, (size_t)c->set->cfg->stream_max_message + WS_HEADER_MAX)) {
		client_send_close(c, WS_CLOSE_TOO_BIG, "message too big");
		linger(c);
		return false;
	}
	if (client_read(c, c->close_received ? NULL : "client closed the connection") == 0)
		return false;
	/* Any bytes are a sign of life: a big message can take longer than the
	 * ping timeout to arrive whole. */
	c->last_rx_ms = stream_now(c);
	if (c->close_received)
		c->in_off = c->in_len = 0; /* nothing counts after a close */
	return true;
}

void client_close(struct conn *c, const char *why)
{
	if (c->cs == CL_GONE)
		return;
	stream_ctx(c);
	if (why != NULL)
		log_info(MOD, "client gone sandbox='%s' why='%s'", c->sandbox_id, why);
	if (c->opened_ms > 0)
		log_info(MOD, "stream closed sandbox='%s' bytes_out=%llu peak_queue=%zu ms=%lld",
			 c->sandbox_id, (unsigned long long)c->bytes_out, c->out.peak,
			 (long long)(stream_now(c) - c->opened_ms));
	side_stop(c->set->ev, &c->client);
	close(c->client.fd);
	c->client.fd = -1;
	c->cs = CL_GONE;
	outq_free(&c->out);
}

/* client_took_more: the peer took bytes from the kernel's send queue since
 * the last tick. Past our own queue the kernel can hold megabytes for a slow
 * reader (send buffers grow on fast links): it is reading, not gone. */
static bool client_took_more(struct conn *c)
{
	int unsent = 0;
	bool took;

	if (ioctl(c->client.fd, SIOCOUTQ, &unsent) != 0 || unsent < 0)
		unsent = 0;
	took = (size_t)unsent < c->unsent;
	c->unsent = (size_t)unsent;
	return took;
}

void client_tick(struct conn *c)
{
	int64_t now = stream_now(c);
	const struct config *cfg = c->set->cfg;

	switch (c->cs) {
	case CL_OPEN:
		if (client_is_held(c))
			c->last_rx_ms = now; /* we are not reading: the silence is ours */
		else if (now - c->last_rx_ms > 3 * cfg->stream_ping_interval * 1000) {
			client_close(c, "ping timeout");
			break;
		}
		if (cfg->stream_idle_timeout > 0 &&
		    now - c->last_activity_ms > cfg->stream_idle_timeout * 1000) {
			client_send_close(c, WS_CLOSE_GOING_AWAY, "idle timeout");
			break;
		}
		if (now >= c->next_ping_ms) {
			char stamp[24];
			int n = snprintf(stamp, sizeof(stamp), "%lld", (long long)now);

			if (queue_frame(c, WS_OP_PING, -1, stamp, (size_t)n) != R_SUCCESS)
				client_close(c, "out of memory");
			c->next_ping_ms = now + cfg->stream_ping_interval * 1000;
		}
		break;
	case CL_CLOSING:
		if (client_took_more(c))
			c->deadline_ms = now + CLOSE_TIMEOUT_MS;
		if (now >= c->deadline_ms)
			client_close(c, c->http_only ? NULL : "close handshake timed out");
		break;
	default:
		break;
	}
}

enum result client_queue_bytes(struct conn *c, const void *p, size_t n)
{
	unsigned char *d;
	enum result r = outq_reserve(&c->out, n, &d);

	if (r == R_SUCCESS)
		memcpy(d, p, n);
	return r;
}
