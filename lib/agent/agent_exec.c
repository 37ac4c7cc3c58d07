/* agent_exec.c: the agent client's blocking requests about commands: a
 * one-shot exec (output collected under caps, stdin streamed while output is
 * read), the sandbox environment (SETENV) and the process list (PS). */
#include "agent/agent_client_int.h"
#include "core/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* keep: append up to the cap, remember a cut. */
static enum result keep(struct buf *b, uint64_t cap, const uint8_t *p, size_t n, bool *trunc)
{
	size_t room = b->len < cap ? (size_t)(cap - b->len) : 0;

	if (n > room) {
		*trunc = true;
		n = room;
	}
	return n ? buf_append(b, p, n) : R_SUCCESS;
}

enum result agent_client_exec(struct agent_conn *c, const struct agentproto_exec *req,
			      unsigned grace_ms, struct agent_exec_result *out)
{
	uint64_t cap_out = req->stdout_cap ? req->stdout_cap : AGENT_CLIENT_DEFAULT_CAP;
	uint64_t cap_err = req->stderr_cap ? req->stderr_cap : AGENT_CLIENT_DEFAULT_CAP;
	uint64_t total = (uint64_t)req->timeout_ms + grace_ms;
	uint64_t deadline = total ? clock_now_ms() + total : 0;
	struct buf ob, eb;
	struct agent_frame f;
	struct agentproto_exit x = {0};
	bool got, trunc_out = false, trunc_err = false, exited = false, closed = false;
	size_t rest = 0, sent;
	enum result r;

	buf_init(&ob, cap_out + 1);
	buf_init(&eb, cap_err + 1);
	c->last_error[0] = '\0';
	r = agent_conn_queue_exec(c, req, req->flags & AP_EXEC_SHELL, &rest);
	if (r != R_SUCCESS)
		return r;
	sent = req->stdin_len - rest;
	closed = rest == 0;
	while (!exited) {
		struct pollfd p = {c->fd, POLLIN, 0};
		uint64_t now = clock_now_ms();
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
				r = agentproto_put_stdin(outq_buf(&c->out), req->stdin_data + sent,
							 n);
				sent += n;
			}
			if (r != R_SUCCESS)
				goto fail;
		}
		r = agent_client_flush(c);
		if (r != R_SUCCESS)
			goto fail;
		r = agent_client_read_frame(c, &f, &got);
		if (r != R_SUCCESS)
			goto fail;
		if (got) {
			switch (f.type) {
			case AP_STARTED:
				break;
			case AP_OUTPUT:
				r = keep(f.stream == AP_STREAM_STDOUT ? &ob : &eb,
					 f.stream == AP_STREAM_STDOUT ? cap_out : cap_err, f.data,
					 f.len,
					 f.stream == AP_STREAM_STDOUT ? &trunc_out : &trunc_err);
				if (r != R_SUCCESS)
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
	if (buf_append(&ob, "", 0) != R_SUCCESS || buf_append(&eb, "", 0) != R_SUCCESS) {
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
	return R_SUCCESS;
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

enum result agent_client_set_env(struct agent_conn *c, const char *const *env, size_t envc,
				 bool replace, unsigned timeout_ms)
{
	struct agentproto_setenv s = {.replace = replace, .env = env, .envc = envc};
	struct agent_frame f;
	enum result r = agentproto_put_setenv(outq_buf(&c->out), &s);

	return r != R_SUCCESS ? r : agent_conn_request(c, timeout_ms, AP_OK, &f);
}

enum result agent_client_ps(struct agent_conn *c, unsigned timeout_ms, struct agentproto_procs *out)
{
	struct agent_frame f;
	enum result r = agentproto_put_empty(outq_buf(&c->out), AP_PS);

	if (r == R_SUCCESS)
		r = agent_conn_request(c, timeout_ms, AP_PROCS, &f);
	if (r == R_SUCCESS)
		r = agentproto_get_procs(f.data, f.len, out) == R_SUCCESS ? R_SUCCESS : R_UPSTREAM;
	return r;
}
