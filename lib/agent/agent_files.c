/* agent_files.c: the agent client's file requests (put, get, stat, list,
 * remove, mkdir, move), each on a connection of its own that the agent hands
 * to its file helper. */
#include "agent/agent_client_int.h"
#include "core/clock.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

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
	enum result r = agent_conn_next_frame(c, clock_now_ms() + wait_ms, &f);

	if (r == R_SUCCESS && f.type == AP_ERROR)
		return f.error;
	return R_UPSTREAM;
}

enum result agent_client_put_file(struct agent_conn *c, const char *path, uint32_t mode,
				  unsigned timeout_ms)
{
	enum result r = fileop(c, AP_FPUT, path, NULL, mode, AP_F_PARENTS, 0);

	if (r == R_SUCCESS)
		r = agent_conn_flush_all(c, clock_now_ms() + (timeout_ms ? timeout_ms : 5000));
	return r == R_UPSTREAM ? early_error(c, 1000) : r;
}

enum result agent_client_put_data(struct agent_conn *c, const void *p, size_t n,
				  unsigned timeout_ms)
{
	uint64_t deadline = clock_now_ms() + (timeout_ms ? timeout_ms : 5000);
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
		if (r == R_SUCCESS)
			r = agent_conn_flush_all(c, deadline);
		if (r == R_UPSTREAM)
			return early_error(c, 1000);
		if (r != R_SUCCESS)
			return r;
		b += k;
		n -= k;
	}
	return R_SUCCESS;
}

enum result agent_client_put_commit(struct agent_conn *c, unsigned timeout_ms)
{
	struct agent_frame f;
	enum result r = agentproto_put_empty(outq_buf(&c->out), AP_FCOMMIT);

	memset(&f, 0, sizeof(f));
	if (r != R_SUCCESS)
		return r;
	r = agent_conn_request(c, timeout_ms, AP_OK, &f);
	/* the commit may not reach an agent that already refused the put */
	return r == R_UPSTREAM && f.type != AP_ERROR ? early_error(c, 1000) : r;
}

static enum result finfo_reply(struct agent_conn *c, unsigned timeout_ms,
			       struct agentproto_finfo *info)
{
	struct agent_frame f;
	enum result r = agent_conn_request(c, timeout_ms, AP_FINFO, &f);

	if (r == R_SUCCESS && agentproto_get_finfo(f.data, f.len, info) != R_SUCCESS)
		r = R_UPSTREAM;
	return r;
}

enum result agent_client_get_begin(struct agent_conn *c, const char *path, unsigned timeout_ms,
				   struct agentproto_finfo *info)
{
	enum result r = fileop(c, AP_FGET, path, NULL, 0, 0, 0);

	if (r == R_SUCCESS)
		r = finfo_reply(c, timeout_ms, info);
	if (r == R_SUCCESS && info->ftype != AP_FT_FILE)
		r = R_UPSTREAM;
	if (r == R_SUCCESS) {
		c->get_left = info->size;
		c->get_open = true;
	}
	return r;
}

enum result agent_client_get_chunk(struct agent_conn *c, unsigned timeout_ms, const uint8_t **data,
				   size_t *len, bool *end)
{
	struct agent_frame f;
	enum result r;

	if (!c->get_open)
		return R_INVALID;
	r = agent_conn_next_frame(c, clock_now_ms() + (timeout_ms ? timeout_ms : 5000), &f);
	if (r != R_SUCCESS)
		goto fail;
	if (f.type == AP_FCHUNK && f.len <= c->get_left) {
		c->get_left -= f.len;
		*data = f.data;
		*len = f.len;
		*end = false;
		return R_SUCCESS;
	}
	if (f.type == AP_FEND && c->get_left == 0 && f.len == 0) {
		c->get_open = false;
		*data = NULL;
		*len = 0;
		*end = true;
		return R_SUCCESS;
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

	return r == R_SUCCESS ? finfo_reply(c, timeout_ms, info) : r;
}

enum result agent_client_list(struct agent_conn *c, const char *path, unsigned depth,
			      unsigned timeout_ms,
			      enum result (*fn)(void *ctx, const struct agentproto_finfo *fi),
			      void *ctx)
{
	uint64_t deadline = clock_now_ms() + (timeout_ms ? timeout_ms : 5000);
	struct agentproto_finfo *fi = malloc(sizeof(*fi));
	struct agent_frame f;
	size_t count = 0;
	enum result r;

	if (!fi)
		return R_NO_MEMORY;
	r = fileop(c, AP_FLIST, path, NULL, 0, 0, depth);
	if (r == R_SUCCESS)
		r = agent_conn_flush_all(c, deadline);
	while (r == R_SUCCESS) {
		r = agent_conn_next_frame(c, deadline, &f);
		if (r != R_SUCCESS)
			break;
		if (f.type == AP_FEND && f.len == 0)
			break;
		if (f.type == AP_ERROR) {
			r = f.error;
			break;
		}
		if (f.type != AP_FINFO || ++count > AGENTPROTO_MAX_LIST ||
		    agentproto_get_finfo(f.data, f.len, fi) != R_SUCCESS) {
			r = R_UPSTREAM;
			break;
		}
		r = fn(ctx, fi);
	}
	free(fi);
	return r;
}

/* await_ok: when queuing the request went well (r), send it and wait for
 * the agent's OK; otherwise r. */
static enum result await_ok(struct agent_conn *c, unsigned timeout_ms, enum result r)
{
	struct agent_frame f;

	return r == R_SUCCESS ? agent_conn_request(c, timeout_ms, AP_OK, &f) : r;
}

enum result agent_client_remove(struct agent_conn *c, const char *path, bool recursive,
				unsigned timeout_ms)
{
	return await_ok(c, timeout_ms,
			fileop(c, AP_FREMOVE, path, NULL, 0, recursive ? AP_F_RECURSIVE : 0, 0));
}

enum result agent_client_mkdir(struct agent_conn *c, const char *path, uint32_t mode, bool parents,
			       unsigned timeout_ms)
{
	return await_ok(c, timeout_ms,
			fileop(c, AP_FMKDIR, path, NULL, mode, parents ? AP_F_PARENTS : 0, 0));
}

enum result agent_client_move(struct agent_conn *c, const char *from, const char *to, bool parents,
			      unsigned timeout_ms)
{
	return await_ok(c, timeout_ms,
			fileop(c, AP_FMOVE, from, to, 0, parents ? AP_F_PARENTS : 0, 0));
}
