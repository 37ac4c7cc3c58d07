/* agent_client_double.c: TEST DOUBLE of lib/agent/agent_client.c's streaming half,
 * written against lib/agent/agent_client.h before the real client existed, so the
 * proxy's protocol machinery could be tested early. Build only into test
 * binaries (tests/stream/run.sh builds build/stream-test/sandpit-stream with
 * it when lib/agent/agent_client.c is absent); never into a release binary. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent_client.h"

#define OUT_QUOTA (1024u * 1024u)

struct agent_conn {
	int fd;
	struct buf out;
	size_t out_off;
	unsigned char *in;
	size_t in_len, in_consumed;
};

enum result agent_client_connect(const char *address, const char *token, unsigned timeout_ms,
				 struct agent_conn **out)
{
	struct sockaddr_un sa;
	struct agent_conn *c;
	const char *path;

	(void)token;
	(void)timeout_ms;
	if (strncmp(address, "unix:", 5) != 0)
		return R_INVALID;
	path = address + 5;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return R_INVALID;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return R_NO_MEMORY;
	c->in = malloc(AGENTPROTO_MAX_FRAME);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->in == NULL || c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (c->fd >= 0)
			close(c->fd);
		free(c->in);
		free(c);
		return R_UPSTREAM;
	}
	buf_init(&c->out, 8u * 1024u * 1024u);
	*out = c;
	return R_OK;
}

void agent_client_close(struct agent_conn *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	buf_free(&c->out);
	free(c->in);
	free(c);
}

int agent_client_fd(const struct agent_conn *c)
{
	return c->fd;
}

static bool full(const struct agent_conn *c)
{
	return c->out.len - c->out_off > OUT_QUOTA;
}

enum result agent_client_stream_start(struct agent_conn *c, const struct agentproto_exec *req)
{
	struct agentproto_exec e = *req;

	e.flags |= AP_EXEC_STREAM;
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK) != 0)
		return R_INTERNAL;
	return agentproto_put_exec(&c->out, &e);
}

enum result agent_client_attach_start(struct agent_conn *c, uint32_t pid)
{
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK) != 0)
		return R_INTERNAL;
	return agentproto_put_attach(&c->out, pid);
}

enum result agent_client_send_detach(struct agent_conn *c)
{
	if (full(c))
		return R_QUOTA;
	return agentproto_put_empty(&c->out, AP_DETACH);
}

enum result agent_client_send_stdin(struct agent_conn *c, const void *p, size_t n)
{
	if (full(c))
		return R_QUOTA;
	return agentproto_put_stdin(&c->out, p, n);
}

enum result agent_client_send_stdin_close(struct agent_conn *c)
{
	if (full(c))
		return R_QUOTA;
	return agentproto_put_empty(&c->out, AP_STDIN_CLOSE);
}

enum result agent_client_send_signal(struct agent_conn *c, int signo)
{
	if (full(c))
		return R_QUOTA;
	return agentproto_put_signal(&c->out, (uint32_t)signo);
}

enum result agent_client_send_resize(struct agent_conn *c, uint16_t cols, uint16_t rows)
{
	if (full(c))
		return R_QUOTA;
	return agentproto_put_resize(&c->out, cols, rows);
}

enum result agent_client_flush(struct agent_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t w = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return R_OK;
			return R_UPSTREAM;
		}
		c->out_off += (size_t)w;
	}
	buf_reset(&c->out);
	c->out_off = 0;
	return R_OK;
}

bool agent_client_wants_write(const struct agent_conn *c)
{
	return c->out_off < c->out.len;
}

enum result agent_client_read_frame(struct agent_conn *c, struct agent_frame *f, bool *got)
{
	struct agentproto_hdr h;
	const uint8_t *p;

	if (c->in_consumed > 0) {
		memmove(c->in, c->in + c->in_consumed, c->in_len - c->in_consumed);
		c->in_len -= c->in_consumed;
		c->in_consumed = 0;
	}
	for (;;) {
		if (c->in_len >= AGENTPROTO_HDR_LEN) {
			if (agentproto_parse_header(c->in, &h) != R_OK)
				return R_UPSTREAM;
			if (c->in_len >= AGENTPROTO_HDR_LEN + h.len)
				break;
		}
		ssize_t n = read(c->fd, c->in + c->in_len, AGENTPROTO_MAX_FRAME - c->in_len);

		if (n == 0)
			return R_UPSTREAM;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				*got = false;
				return R_OK;
			}
			return R_UPSTREAM;
		}
		c->in_len += (size_t)n;
	}
	memset(f, 0, sizeof(*f));
	p = c->in + AGENTPROTO_HDR_LEN;
	f->type = (enum agentproto_type)h.type;
	switch (h.type) {
	case AP_STARTED:
		if (agentproto_get_u32(p, h.len, &f->pid) != R_OK)
			return R_UPSTREAM;
		break;
	case AP_OUTPUT:
		if (agentproto_get_output(p, h.len, &f->stream, &f->data, &f->len) != R_OK)
			return R_UPSTREAM;
		break;
	case AP_EXIT:
		if (agentproto_get_exit(p, h.len, &f->exit) != R_OK)
			return R_UPSTREAM;
		break;
	case AP_ERROR:
		if (agentproto_get_error(p, h.len, &f->error, f->message, sizeof(f->message)) != R_OK)
			return R_UPSTREAM;
		break;
	default:
		return R_UPSTREAM;
	}
	c->in_consumed = AGENTPROTO_HDR_LEN + h.len;
	*got = true;
	return R_OK;
}
