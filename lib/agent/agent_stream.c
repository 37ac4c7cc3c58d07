/* agent_stream.c: the agent client's non-blocking streaming side, driven by
 * the stream proxy's event loop: start or attach a command, then queue
 * stdin, signals, resizes and DETACH; frames come back through
 * agent_client_read_frame. */
#include "agent/agent_client_int.h"

enum result agent_client_stream_start(struct agent_conn *c, const struct agentproto_exec *req)
{
	size_t rest = 0;
	enum result r;

	c->last_error[0] = '\0';
	r = agent_conn_queue_exec(
	    c, req, (req->flags & (AP_EXEC_SHELL | AP_EXEC_TTY | AP_EXEC_DETACH)) | AP_EXEC_STREAM,
	    &rest);
	if (r == R_SUCCESS && rest > 0)
		r = agent_client_send_stdin(c, req->stdin_data, req->stdin_len);
	return r == R_SUCCESS ? agent_client_flush(c) : r;
}

enum result agent_client_attach_start(struct agent_conn *c, uint32_t pid)
{
	enum result r;

	if (pid == 0)
		return R_INVALID;
	c->last_error[0] = '\0';
	r = agentproto_put_attach(outq_buf(&c->out), pid);
	return r == R_SUCCESS ? agent_client_flush(c) : r;
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
		if (r != R_SUCCESS)
			return r;
		off += k;
	}
	return R_SUCCESS;
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
