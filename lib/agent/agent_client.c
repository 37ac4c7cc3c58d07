/* agent_client.c: host side of the agent protocol (agent_client.h): the
 * connection core: connect, the send queue, frames in, and the blocking
 * request/reply every blocking call is built on. The requests themselves are
 * in agent_exec.c, agent_files.c and agent_stream.c. The socket is always
 * non-blocking; blocking calls are poll loops with a deadline, so a hung or
 * hostile agent costs a timeout, never a hang. */
#include "agent/agent_client_int.h"
#include "core/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* wait_fd: poll until events or the deadline (0: none). */
static enum result wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {fd, events, 0};
	int rc, t;

	for (;;) {
		uint64_t now = clock_now_ms();

		if (deadline && now >= deadline)
			return R_TIMEOUT;
		t = deadline ? (int)(deadline - now) : -1;
		rc = poll(&p, 1, t);
		if (rc > 0)
			return R_SUCCESS;
		if (rc < 0 && errno != EINTR)
			return R_UPSTREAM;
	}
}

enum result agent_client_connect(const char *address, const char *token, unsigned timeout_ms,
				 struct agent_conn **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct agent_conn *c;
	const char *path;
	uint64_t deadline = clock_now_ms() + (timeout_ms ? timeout_ms : 5000);
	enum result r;
	int fd;

	(void)token; /* unix sockets are protected by file permissions */
	if (!address || strncmp(address, "unix:", 5) != 0)
		return R_INVALID; /* tcp: arrives with the kubernetes backend */
	path = address + 5;
	if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path))
		return R_INVALID;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return R_INTERNAL;
	/* a full backlog answers EAGAIN on unix sockets: retry until the deadline */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno != EAGAIN && errno != EINTR) {
			close(fd);
			return R_UPSTREAM;
		}
		if (clock_now_ms() >= deadline) {
			close(fd);
			return R_TIMEOUT;
		}
		r = wait_fd(fd, POLLOUT, clock_now_ms() + 1);
		(void)r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return R_NO_MEMORY;
	}
	c->fd = fd;
	buf_init(&c->in, IN_LIMIT);
	outq_init(&c->out, OUT_LIMIT);
	*out = c;
	return R_SUCCESS;
}

/* ---- non-blocking connect ------------------------------------------------ */

/* unix_address: "unix:<absolute path>" into *sa. */
static enum result unix_address(const char *address, struct sockaddr_un *sa)
{
	const char *path;

	if (!address || strncmp(address, "unix:", 5) != 0)
		return R_INVALID; /* tcp: arrives with the kubernetes backend */
	path = address + 5;
	if (path[0] != '/' || strlen(path) >= sizeof(sa->sun_path))
		return R_INVALID;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return R_SUCCESS;
}

/* try_connect: one connect(2) on fd. EAGAIN is a full backlog on a unix
 * socket: still pending. */
static enum result try_connect(int fd, const struct sockaddr_un *sa, bool *pending)
{
	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
			*pending = false;
			return R_SUCCESS;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			*pending = true;
			return R_SUCCESS;
		}
		return R_UPSTREAM;
	}
}

enum result agent_client_connect_start(const char *address, const char *token,
				       struct agent_conn **out, bool *pending)
{
	struct sockaddr_un sa;
	struct agent_conn *c;
	bool wait = false;
	enum result r;
	int fd;

	(void)token; /* unix sockets are protected by file permissions */
	r = unix_address(address, &sa);
	if (r != R_SUCCESS)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return R_INTERNAL;
	r = try_connect(fd, &sa, &wait);
	if (r != R_SUCCESS) {
		close(fd);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return R_NO_MEMORY;
	}
	c->fd = fd;
	buf_init(&c->in, IN_LIMIT);
	outq_init(&c->out, OUT_LIMIT);
	*out = c;
	*pending = wait;
	return R_SUCCESS;
}

enum result agent_client_connect_retry(struct agent_conn *c, const char *address, bool *pending)
{
	struct sockaddr_un sa;
	enum result r = unix_address(address, &sa);

	return r == R_SUCCESS ? try_connect(c->fd, &sa, pending) : r;
}

void agent_client_close(struct agent_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	buf_free(&c->in);
	outq_free(&c->out);
	free(c);
}

int agent_client_fd(const struct agent_conn *c)
{
	return c->fd;
}

const char *agent_client_last_error(const struct agent_conn *c)
{
	return c->last_error;
}

/* ---- the send queue --------------------------------------------------------- */

enum result agent_client_flush(struct agent_conn *c)
{
	return outq_flush(&c->out, c->fd);
}

bool agent_client_wants_write(const struct agent_conn *c)
{
	return !outq_is_empty(&c->out);
}

enum result agent_conn_flush_all(struct agent_conn *c, uint64_t deadline)
{
	enum result r;

	while (!outq_is_empty(&c->out)) {
		r = agent_client_flush(c);
		if (r != R_SUCCESS)
			return r;
		if (!outq_is_empty(&c->out) && (r = wait_fd(c->fd, POLLOUT, deadline)) != R_SUCCESS)
			return r;
	}
	return R_SUCCESS;
}

enum result agent_conn_queue_exec(struct agent_conn *c, const struct agentproto_exec *req,
				  uint32_t flags, size_t *rest)
{
	struct agentproto_exec e = *req;
	enum result r;

	e.flags = flags;
	e.owned_ = NULL;
	*rest = req->stdin_len;
	if (req->stdin_len <= AGENTPROTO_MAX_PAYLOAD / 2) {
		r = agentproto_put_exec(outq_buf(&c->out), &e);
		if (r == R_SUCCESS) {
			*rest = 0;
			return R_SUCCESS;
		}
		if (r != R_TOO_BIG)
			return r;
		/* a refused frame left the queue as it was: stream stdin instead */
	}
	e.flags |= AP_EXEC_STREAM;
	e.stdin_data = NULL;
	e.stdin_len = 0;
	return agentproto_put_exec(outq_buf(&c->out), &e);
}

/* ---- receiving ------------------------------------------------------------- */

/* fill: one non-blocking read into the receive buffer. R_SUCCESS with *eagain
 * when nothing was there; R_UPSTREAM on EOF or a frame too large. */
static enum result fill(struct agent_conn *c, bool *eagain)
{
	uint8_t chunk[READ_CHUNK];
	ssize_t n;

	*eagain = false;
	if (c->in_off > 0) { /* drop frames already handed out */
		memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
		c->in.len -= c->in_off;
		c->in_off = 0;
	}
	n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		*eagain = true;
		return R_SUCCESS;
	}
	if (n <= 0)
		return R_UPSTREAM;
	return buf_append(&c->in, chunk, (size_t)n) == R_SUCCESS ? R_SUCCESS : R_UPSTREAM;
}

/* take: the next complete frame in the buffer, if any. */
static enum result take(struct agent_conn *c, struct agentproto_hdr *h, const uint8_t **payload,
			bool *got)
{
	size_t avail = c->in.len - c->in_off;
	const uint8_t *p = (const uint8_t *)c->in.data + c->in_off;

	*got = false;
	if (avail < AGENTPROTO_HDR_LEN)
		return R_SUCCESS;
	if (agentproto_parse_header(p, h) != R_SUCCESS)
		return R_UPSTREAM;
	if (avail - AGENTPROTO_HDR_LEN < h->len)
		return R_SUCCESS;
	*payload = p + AGENTPROTO_HDR_LEN;
	c->in_off += AGENTPROTO_HDR_LEN + h->len;
	*got = true;
	return R_SUCCESS;
}

static enum result decode(struct agent_conn *c, const struct agentproto_hdr *h, const uint8_t *p,
			  struct agent_frame *f)
{
	memset(f, 0, sizeof(*f) - sizeof(f->message));
	f->message[0] = '\0';
	f->type = (enum agentproto_type)h->type;
	switch (h->type) {
	case AP_STARTED:
		return agentproto_get_u32(p, h->len, &f->pid) == R_SUCCESS ? R_SUCCESS : R_UPSTREAM;
	case AP_OUTPUT:
		return agentproto_get_output(p, h->len, &f->stream, &f->data, &f->len) == R_SUCCESS
			   ? R_SUCCESS
			   : R_UPSTREAM;
	case AP_EXIT:
		return agentproto_get_exit(p, h->len, &f->exit) == R_SUCCESS ? R_SUCCESS
									     : R_UPSTREAM;
	case AP_ERROR:
		if (agentproto_get_error(p, h->len, &f->error, f->message, sizeof(f->message)) !=
		    R_SUCCESS)
			return R_UPSTREAM;
		/* the agent may only claim errors about the request itself */
		if (f->error != R_INVALID && f->error != R_CONFLICT && f->error != R_QUOTA &&
		    f->error != R_TOO_BIG && f->error != R_NOT_FOUND && f->error != R_FORBIDDEN &&
		    f->error != R_NO_SPACE)
			f->error = R_UPSTREAM;
		snprintf(c->last_error, sizeof(c->last_error), "%s", f->message);
		return R_SUCCESS;
	case AP_OK:
	case AP_PONG:
	case AP_PROCS:
	case AP_FINFO:
	case AP_FCHUNK:
	case AP_FEND:
		f->data = p; /* PROCS decoded by the caller */
		f->len = h->len;
		return R_SUCCESS;
	default:
		return R_UPSTREAM; /* host->agent types coming back */
	}
}

enum result agent_client_read_frame(struct agent_conn *c, struct agent_frame *f, bool *got)
{
	struct agentproto_hdr h;
	const uint8_t *p;
	bool have, eagain = false;
	enum result r;

	for (;;) {
		r = take(c, &h, &p, &have);
		if (r != R_SUCCESS)
			return r;
		if (have) {
			r = decode(c, &h, p, f);
			if (r != R_SUCCESS)
				return r;
			*got = true;
			return R_SUCCESS;
		}
		if (eagain) {
			*got = false;
			return R_SUCCESS;
		}
		r = fill(c, &eagain);
		if (r != R_SUCCESS)
			return r;
	}
}

enum result agent_conn_next_frame(struct agent_conn *c, uint64_t deadline, struct agent_frame *f)
{
	bool got;
	enum result r;

	for (;;) {
		r = agent_client_read_frame(c, f, &got);
		if (r != R_SUCCESS || got)
			return r;
		r = wait_fd(c->fd, POLLIN, deadline);
		if (r != R_SUCCESS)
			return r;
	}
}

enum result agent_conn_request(struct agent_conn *c, unsigned timeout_ms, enum agentproto_type want,
			       struct agent_frame *f)
{
	uint64_t deadline = clock_now_ms() + (timeout_ms ? timeout_ms : 5000);
	enum result r;

	r = agent_conn_flush_all(c, deadline);
	if (r != R_SUCCESS)
		return r;
	r = agent_conn_next_frame(c, deadline, f);
	if (r != R_SUCCESS)
		return r;
	if (f->type == AP_ERROR)
		return f->error;
	return f->type == want ? R_SUCCESS : R_UPSTREAM;
}

enum result agent_client_ping(struct agent_conn *c, unsigned timeout_ms)
{
	struct agent_frame f;
	enum result r = agentproto_put_empty(outq_buf(&c->out), AP_PING);

	return r != R_SUCCESS ? r : agent_conn_request(c, timeout_ms, AP_PONG, &f);
}
