/* agent_client.c: host side of the agent protocol (agent_client.h). The
 * socket is always non-blocking; blocking calls are poll loops with a
 * deadline, so a hung or hostile agent costs a timeout, never a hang. */
#include "agent_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "outq.h"

#define IN_LIMIT (AGENTPROTO_MAX_FRAME + 65536u)
#define OUT_LIMIT (8u * 1024u * 1024u)
#define OUT_SOFT (4u * 1024u * 1024u) /* sends past this: R_QUOTA */
#define STDIN_CHUNK (64u * 1024u)
#define READ_CHUNK (64u * 1024u)

struct agent_conn {
	int fd;
	struct buf in;   /* received, starting at in_off */
	size_t in_off;   /* bytes of in already handed out */
	struct outq out; /* queued for sending */
	char last_error[256];
	uint64_t get_left; /* bytes a file get still owes */
	bool get_open;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* wait_fd: poll until events or the deadline (0: none). */
static enum result wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {fd, events, 0};
	int rc, t;

	for (;;) {
		uint64_t now = now_ms();

		if (deadline && now >= deadline)
			return R_TIMEOUT;
		t = deadline ? (int)(deadline - now) : -1;
		rc = poll(&p, 1, t);
		if (rc > 0)
			return R_OK;
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
	uint64_t deadline = now_ms() + (timeout_ms ? timeout_ms : 5000);
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
		if (now_ms() >= deadline) {
			close(fd);
			return R_TIMEOUT;
		}
		r = wait_fd(fd, POLLOUT, now_ms() + 1);
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
	return R_OK;
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
	return R_OK;
}

/* try_connect: one connect(2) on fd. EAGAIN is a full backlog on a unix
 * socket: still pending. */
static enum result try_connect(int fd, const struct sockaddr_un *sa, bool *pending)
{
	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
			*pending = false;
			return R_OK;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			*pending = true;
			return R_OK;
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
	if (r != R_OK)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return R_INTERNAL;
	r = try_connect(fd, &sa, &wait);
	if (r != R_OK) {
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
	return R_OK;
}

enum result agent_client_connect_retry(struct agent_conn *c, const char *address, bool *pending)
{
	struct sockaddr_un sa;
	enum result r = unix_address(address, &sa);

	return r == R_OK ? try_connect(c->fd, &sa, pending) : r;
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

enum result agent_client_flush(struct agent_conn *c)
{
	return outq_flush(&c->out, c->fd);
}

bool agent_client_wants_write(const struct agent_conn *c)
{
	return !outq_is_empty(&c->out);
}

/* fill: one non-blocking read into the receive buffer. R_OK with *eagain
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
		return R_OK;
	}
	if (n <= 0)
		return R_UPSTREAM;
	return buf_append(&c->in, chunk, (size_t)n) == R_OK ? R_OK : R_UPSTREAM;
}

/* take: the next complete frame in the buffer, if any. */
static enum result take(struct agent_conn *c, struct agentproto_hdr *h, const uint8_t **payload,
			bool *got)
{
	size_t avail = c->in.len - c->in_off;
	const uint8_t *p = (const uint8_t *)c->in.data + c->in_off;

	*got = false;
	if (avail < AGENTPROTO_HDR_LEN)
		return R_OK;
	if (agentproto_parse_header(p, h) != R_OK)
		return R_UPSTREAM;
	if (avail - AGENTPROTO_HDR_LEN < h->len)
		return R_OK;
	*payload = p + AGENTPROTO_HDR_LEN;
	c->in_off += AGENTPROTO_HDR_LEN + h->len;
	*got = true;
	return R_OK;
}

static enum result decode(struct agent_conn *c, const struct agentproto_hdr *h, const uint8_t *p,
			  struct agent_frame *f)
{
	memset(f, 0, sizeof(*f) - sizeof(f->message));
	f->message[0] = '\0';
	f->type = (enum agentproto_type)h->type;
	switch (h->type) {
	case AP_STARTED:
		return agentproto_get_u32(p, h->len, &f->pid) == R_OK ? R_OK : R_UPSTREAM;
	case AP_OUTPUT:
		return agentproto_get_output(p, h->len, &f->stream, &f->data, &f->len) == R_OK
			       ? R_OK
			       : R_UPSTREAM;
	case AP_EXIT:
		return agentproto_get_exit(p, h->len, &f->exit) == R_OK ? R_OK : R_UPSTREAM;
	case AP_ERROR:
		if (agentproto_get_error(p, h->len, &f->error, f->message, sizeof(f->message)) !=
		    R_OK)
			return R_UPSTREAM;
		/* the agent may only claim errors about the request itself */
		if (f->error != R_INVALID && f->error != R_CONFLICT && f->error != R_QUOTA &&
		    f->error != R_TOO_BIG && f->error != R_NOT_FOUND && f->error != R_FORBIDDEN &&
		    f->error != R_NO_SPACE)
			f->error = R_UPSTREAM;
		snprintf(c->last_error, sizeof(c->last_error), "%s", f->message);
		return R_OK;
	case AP_OK:
	case AP_PONG:
	case AP_PROCS:
	case AP_FINFO:
	case AP_FCHUNK:
	case AP_FEND:
		f->data = p; /* PROCS decoded by the caller */
		f->len = h->len;
		return R_OK;
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
		if (r != R_OK)
			return r;
		if (have) {
			r = decode(c, &h, p, f);
			if (r != R_OK)
				return r;
			*got = true;
			return R_OK;
		}
		if (eagain) {
			*got = false;
			return R_OK;
		}
		r = fill(c, &eagain);
		if (r != R_OK)
			return r;
	}
}

/* next_frame: blocking read of one frame with a deadline (0: none). */
static enum result next_frame(struct agent_conn *c, uint64_t deadline, struct agent_frame *f)
{
	bool got;
	enum result r;

	for (;;) {
		r = agent_client_read_frame(c, f, &got);
		if (r != R_OK || got)
			return r;
		r = wait_fd(c->fd, POLLIN, deadline);
		if (r != R_OK)
			return r;
	}
}

static enum result flush_all(struct agent_conn *c, uint64_t deadline)
{
	enum result r;

	while (!outq_is_empty(&c->out)) {
		r = agent_client_flush(c);
		if (r != R_OK)
			return r;
		if (!outq_is_empty(&c->out) && (r = wait_fd(c->fd, POLLOUT, deadline)) != R_OK)
			return r;
	}
	return R_OK;
}

/* request: send the queued frame, wait for a reply of type want. */
static enum result request(struct agent_conn *c, unsigned timeout_ms, enum agentproto_type want,
			   struct agent_frame *f)
{
	uint64_t deadline = now_ms() + (timeout_ms ? timeout_ms : 5000);
	enum result r;

	r = flush_all(c, deadline);
	if (r != R_OK)
		return r;
	r = next_frame(c, deadline, f);
	if (r != R_OK)
		return r;
	if (f->type == AP_ERROR)
		return f->error;
	return f->type == want ? R_OK : R_UPSTREAM;
}

enum result agent_client_ping(struct agent_conn *c, unsigned timeout_ms)
{
	struct agent_frame f;
	enum result r = agentproto_put_empty(outq_buf(&c->out), AP_PING);

	return r != R_OK ? r : request(c, timeout_ms, AP_PONG, &f);
}

enum result agent_client_set_env(struct agent_conn *c, const char *const *env, size_t envc,
				 bool replace, unsigned timeout_ms)
{
	struct agentproto_setenv s = {.replace = replace, .env = env, .envc = envc};
	struct agent_frame f;
	enum result r = agentproto_put_setenv(outq_buf(&c->out), &s);

	return r != R_OK ? r : request(c, timeout_ms, AP_OK, &f);
}

enum result agent_client_ps(struct agent_conn *c, unsigned timeout_ms, struct agentproto_procs *out)
{
	struct agent_frame f;
	enum result r = agentproto_put_empty(outq_buf(&c->out), AP_PS);

	if (r == R_OK)
		r = request(c, timeout_ms, AP_PROCS, &f);
	if (r == R_OK)
		r = agentproto_get_procs(f.data, f.len, out) == R_OK ? R_OK : R_UPSTREAM;
	return r;
}

/* ---- files ------------------------------------------------------------------ */

#define FILE_CHUNK (256u * 1024u)

static enum result fileop(struct agent_conn *c, uint8_t type, const char *path, const char *path2,
			  uint32_t mode, uint32_t flags, uint32_t depth)
{
	struct agentproto_fileop *op = calloc(1, sizeof(*op));
	size_t n = strlen(path), n2 = path2 ? strlen(path2) : 0;
	enum result r;

	if (!op)
		return R_NO_MEMORY;
	c->last_error[0] = '\0';
	if (n == 0 || n >= sizeof(op->path) || n2 >= sizeof(op->path2)) {
		free(op);
		return R_INVALID;
	}
	op->type = type;
	op->mode = mode;
	op->flags = flags;
	op->depth = depth;
	memcpy(op->path, path, n + 1);
	if (path2)
		memcpy(op->path2, path2, n2 + 1);
	r = agentproto_put_fileop(outq_buf(&c->out), op);
	free(op);
	return r;
}

/* early_error: after the agent hung up or answered mid-put, what it said
 * (an ERROR frame), waiting briefly for it to arrive. */
static enum result early_error(struct agent_conn *c, unsigned wait_ms)
{
	struct agent_frame f;
	enum result r = next_frame(c, now_ms() + wait_ms, &f);

	if (r == R_OK && f.type == AP_ERROR)
		return f.error;
	return R_UPSTREAM;
}

enum result agent_client_put_file(struct agent_conn *c, const char *path, uint32_t mode,
				  unsigned timeout_ms)
{
	enum result r = fileop(c, AP_FPUT, path, NULL, mode, AP_F_PARENTS, 0);

	if (r == R_OK)
		r = flush_all(c, now_ms() + (timeout_ms ? timeout_ms : 5000));
	return r == R_UPSTREAM ? early_error(c, 1000) : r;
}

enum result agent_client_put_data(struct agent_conn *c, const void *p, size_t n,
				  unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + (timeout_ms ? timeout_ms : 5000);
	const uint8_t *b = p;
	struct pollfd pf;
	enum result r;

	while (n > 0) {
		size_t k = n > FILE_CHUNK ? FILE_CHUNK : n;

		/* the agent says something mid-put only to refuse it */
		pf = (struct pollfd){c->fd, POLLIN, 0};
		if (poll(&pf, 1, 0) > 0)
			return early_error(c, 1000);
		r = agentproto_put_bytes(outq_buf(&c->out), AP_FDATA, b, k);
		if (r == R_OK)
			r = flush_all(c, deadline);
		if (r == R_UPSTREAM)
			return early_error(c, 1000);
		if (r != R_OK)
			return r;
		b += k;
		n -= k;
	}
	return R_OK;
}

enum result agent_client_put_commit(struct agent_conn *c, unsigned timeout_ms)
{
	struct agent_frame f;
	enum result r = agentproto_put_empty(outq_buf(&c->out), AP_FCOMMIT);

	memset(&f, 0, sizeof(f));
	if (r != R_OK)
		return r;
	r = request(c, timeout_ms, AP_OK, &f);
	/* the commit may not reach an agent that already refused the put */
	return r == R_UPSTREAM && f.type != AP_ERROR ? early_error(c, 1000) : r;
}

static enum result finfo_reply(struct agent_conn *c, unsigned timeout_ms,
			       struct agentproto_finfo *info)
{
	struct agent_frame f;
	enum result r = request(c, timeout_ms, AP_FINFO, &f);

	if (r == R_OK && agentproto_get_finfo(f.data, f.len, info) != R_OK)
		r = R_UPSTREAM;
	return r;
}

enum result agent_client_get_begin(struct agent_conn *c, const char *path, unsigned timeout_ms,
				   struct agentproto_finfo *info)
{
	enum result r = fileop(c, AP_FGET, path, NULL, 0, 0, 0);

	if (r == R_OK)
		r = finfo_reply(c, timeout_ms, info);
	if (r == R_OK && info->ftype != AP_FT_FILE)
		r = R_UPSTREAM;
	if (r == R_OK) {
		c->get_left = info->size;
		c->get_open = true;
	}
	return r;
}

enum result agent_client_get_chunk(struct agent_conn *c, unsigned timeout_ms,
				   const uint8_t **data, size_t *len, bool *end)
{
	struct agent_frame f;
	enum result r;

	if (!c->get_open)
		return R_INVALID;
	r = next_frame(c, now_ms() + (timeout_ms ? timeout_ms : 5000), &f);
	if (r != R_OK)
		goto fail;
	if (f.type == AP_FCHUNK && f.len <= c->get_left) {
		c->get_left -= f.len;
		*data = f.data;
		*len = f.len;
		*end = false;
		return R_OK;
	}
	if (f.type == AP_FEND && c->get_left == 0 && f.len == 0) {
		c->get_open = false;
		*data = NULL;
		*len = 0;
		*end = true;
		return R_OK;
	}
	r = f.type == AP_ERROR ? f.error : R_UPSTREAM;
fail:
	c->get_open = false;
	return r;
}

enum result agent_client_stat(struct agent_conn *c, const char *path, unsigned timeout_ms,
			      struct agentproto_finfo *info)
{
	enum result r = fileop(c, AP_FSTAT, path, NULL, 0, 0, 0);

	return r == R_OK ? finfo_reply(c, timeout_ms, info) : r;
}

enum result agent_client_list(struct agent_conn *c, const char *path, unsigned depth,
			      unsigned timeout_ms,
			      enum result (*fn)(void *ctx, const struct agentproto_finfo *fi),
			      void *ctx)
{
	uint64_t deadline = now_ms() + (timeout_ms ? timeout_ms : 5000);
	struct agentproto_finfo *fi = malloc(sizeof(*fi));
	struct agent_frame f;
	size_t count = 0;
	enum result r;

	if (!fi)
		return R_NO_MEMORY;
	r = fileop(c, AP_FLIST, path, NULL, 0, 0, depth);
	if (r == R_OK)
		r = flush_all(c, deadline);
	while (r == R_OK) {
		r = next_frame(c, deadline, &f);
		if (r != R_OK)
			break;
		if (f.type == AP_FEND && f.len == 0)
			break;
		if (f.type == AP_ERROR) {
			r = f.error;
			break;
		}
		if (f.type != AP_FINFO || ++count > AGENTPROTO_MAX_LIST ||
		    agentproto_get_finfo(f.data, f.len, fi) != R_OK) {
			r = R_UPSTREAM;
			break;
		}
		r = fn(ctx, fi);
	}
	free(fi);
	return r;
}

static enum result simple(struct agent_conn *c, unsigned timeout_ms, enum result r)
{
	struct agent_frame f;

	return r == R_OK ? request(c, timeout_ms, AP_OK, &f) : r;
}

enum result agent_client_remove(struct agent_conn *c, const char *path, bool recursive,
				unsigned timeout_ms)
{
	return simple(c, timeout_ms,
		      fileop(c, AP_FREMOVE, path, NULL, 0, recursive ? AP_F_RECURSIVE : 0, 0));
}

enum result agent_client_mkdir(struct agent_conn *c, const char *path, uint32_t mode, bool parents,
			       unsigned timeout_ms)
{
	return simple(c, timeout_ms,
		      fileop(c, AP_FMKDIR, path, NULL, mode, parents ? AP_F_PARENTS : 0, 0));
}

enum result agent_client_move(struct agent_conn *c, const char *from, const char *to, bool parents,
			      unsigned timeout_ms)
{
	return simple(c, timeout_ms,
		      fileop(c, AP_FMOVE, from, to, 0, parents ? AP_F_PARENTS : 0, 0));
}

/* ---- exec ----------------------------------------------------------------- */

/* keep: append up to the cap, remember a cut. */
static enum result keep(struct buf *b, uint64_t cap, const uint8_t *p, size_t n, bool *trunc)
{
	size_t room = b->len < cap ? (size_t)(cap - b->len) : 0;

	if (n > room) {
		*trunc = true;
		n = room;
	}
	return n ? buf_append(b, p, n) : R_OK;
}

/* queue_exec: the EXEC frame, with stdin inline when it fits, else streamed
 * as STDIN frames from *rest on. */
static enum result queue_exec(struct agent_conn *c, const struct agentproto_exec *req,
			      uint32_t flags, size_t *rest)
{
	struct agentproto_exec e = *req;
	enum result r;

	e.flags = flags;
	e.owned_ = NULL;
	*rest = req->stdin_len;
	if (req->stdin_len <= AGENTPROTO_MAX_PAYLOAD / 2) {
		r = agentproto_put_exec(outq_buf(&c->out), &e);
		if (r == R_OK) {
			*rest = 0;
			return R_OK;
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

enum result agent_client_exec(struct agent_conn *c, const struct agentproto_exec *req,
			      unsigned grace_ms, struct agent_exec_result *out)
{
	uint64_t cap_out = req->stdout_cap ? req->stdout_cap : AGENT_CLIENT_DEFAULT_CAP;
	uint64_t cap_err = req->stderr_cap ? req->stderr_cap : AGENT_CLIENT_DEFAULT_CAP;
	uint64_t total = (uint64_t)req->timeout_ms + grace_ms;
	uint64_t deadline = total ? now_ms() + total : 0;
	struct buf ob, eb;
	struct agent_frame f;
	struct agentproto_exit x = {0};
	bool got, trunc_out = false, trunc_err = false, exited = false, closed = false;
	size_t rest = 0, sent;
	enum result r;

	buf_init(&ob, cap_out + 1);
	buf_init(&eb, cap_err + 1);
	c->last_error[0] = '\0';
	r = queue_exec(c, req, req->flags & AP_EXEC_SHELL, &rest);
	if (r != R_OK)
		return r;
	sent = req->stdin_len - rest;
	closed = rest == 0;
	while (!exited) {
		struct pollfd p = {c->fd, POLLIN, 0};
		uint64_t now = now_ms();
		int rc;

		/* stream the remaining stdin while reading output: a command
		 * that writes before it reads must not deadlock us */
		while (!closed && outq_len(&c->out) < STDIN_CHUNK * 4) {
			size_t n = req->stdin_len - sent;

			if (n == 0) {
				r = agentproto_put_empty(outq_buf(&c->out), AP_STDIN_CLOSE);
				closed = true;
			} else {
				n = n > STDIN_CHUNK ? STDIN_CHUNK : n;
				r = agentproto_put_stdin(outq_buf(&c->out), req->stdin_data + sent, n);
				sent += n;
			}
			if (r != R_OK)
				goto fail;
		}
		r = agent_client_flush(c);
		if (r != R_OK)
			goto fail;
		r = agent_client_read_frame(c, &f, &got);
		if (r != R_OK)
			goto fail;
		if (got) {
			switch (f.type) {
			case AP_STARTED:
				break;
			case AP_OUTPUT:
				r = keep(f.stream == AP_STREAM_STDOUT ? &ob : &eb,
					 f.stream == AP_STREAM_STDOUT ? cap_out : cap_err, f.data, f.len,
					 f.stream == AP_STREAM_STDOUT ? &trunc_out : &trunc_err);
				if (r != R_OK)
					goto fail;
				break;
			case AP_EXIT:
				x = f.exit;
				exited = true;
				break;
			case AP_ERROR:
				r = f.error;
				goto fail;
			default:
				r = R_UPSTREAM;
				goto fail;
			}
			continue;
		}
		if (deadline && now >= deadline) {
			r = R_TIMEOUT;
			goto fail;
		}
		if (!outq_is_empty(&c->out))
			p.events |= POLLOUT;
		rc = poll(&p, 1, deadline ? (int)(deadline - now) : -1);
		if (rc < 0 && errno != EINTR) {
			r = R_UPSTREAM;
			goto fail;
		}
	}
	if (buf_append(&ob, "", 0) != R_OK || buf_append(&eb, "", 0) != R_OK) {
		r = R_NO_MEMORY;
		goto fail;
	}
	memset(out, 0, sizeof(*out));
	out->out_len = ob.len;
	out->err_len = eb.len;
	out->out = buf_steal(&ob);
	out->err = buf_steal(&eb);
	if (!out->out)
		out->out = calloc(1, 1);
	if (!out->err)
		out->err = calloc(1, 1);
	if (!out->out || !out->err) {
		agent_exec_result_free(out);
		return R_NO_MEMORY;
	}
	out->exit_code = x.exit_code;
	out->signal = (int)x.signal;
	out->duration_ms = x.duration_ms;
	out->timed_out = (x.flags & AP_EXIT_TIMED_OUT) != 0;
	out->oom_killed = (x.flags & AP_EXIT_OOM_KILLED) != 0;
	out->stdout_truncated = trunc_out || (x.flags & AP_EXIT_STDOUT_TRUNCATED);
	out->stderr_truncated = trunc_err || (x.flags & AP_EXIT_STDERR_TRUNCATED);
	out->truncated = out->stdout_truncated || out->stderr_truncated;
	return R_OK;
fail:
	buf_free(&ob);
	buf_free(&eb);
	return r;
}

void agent_exec_result_free(struct agent_exec_result *r)
{
	if (!r)
		return;
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}

/* ---- streaming -------------------------------------------------------------- */

enum result agent_client_stream_start(struct agent_conn *c, const struct agentproto_exec *req)
{
	size_t rest = 0;
	enum result r;

	c->last_error[0] = '\0';
	r = queue_exec(c, req,
		       (req->flags & (AP_EXEC_SHELL | AP_EXEC_TTY | AP_EXEC_DETACH)) |
			       AP_EXEC_STREAM,
		       &rest);
	if (r == R_OK && rest > 0)
		r = agent_client_send_stdin(c, req->stdin_data, req->stdin_len);
	return r == R_OK ? agent_client_flush(c) : r;
}

enum result agent_client_attach_start(struct agent_conn *c, uint32_t pid)
{
	enum result r;

	if (pid == 0)
		return R_INVALID;
	c->last_error[0] = '\0';
	r = agentproto_put_attach(outq_buf(&c->out), pid);
	return r == R_OK ? agent_client_flush(c) : r;
}

enum result agent_client_send_detach(struct agent_conn *c)
{
	return agentproto_put_empty(outq_buf(&c->out), AP_DETACH);
}

enum result agent_client_send_stdin(struct agent_conn *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t off = 0;
	enum result r;

	if (outq_len(&c->out) >= OUT_SOFT)
		return R_QUOTA;
	while (off < n) {
		size_t k = n - off > STDIN_CHUNK ? STDIN_CHUNK : n - off;

		r = agentproto_put_stdin(outq_buf(&c->out), b + off, k);
		if (r != R_OK)
			return r;
		off += k;
	}
	return R_OK;
}

enum result agent_client_send_stdin_close(struct agent_conn *c)
{
	return agentproto_put_empty(outq_buf(&c->out), AP_STDIN_CLOSE);
}

enum result agent_client_send_signal(struct agent_conn *c, int signo)
{
	if (signo <= 0 || signo > 64)
		return R_INVALID;
	return agentproto_put_signal(outq_buf(&c->out), (uint32_t)signo);
}

enum result agent_client_send_resize(struct agent_conn *c, uint16_t cols, uint16_t rows)
{
	return agentproto_put_resize(outq_buf(&c->out), cols, rows);
}
