/* agent_client.h: host-side client of sandpit-agent (see agentproto.h for the
 * wire protocol). Used by the API workers (blocking one-shot exec) and by the
 * stream proxy (non-blocking, frame at a time, driven by its epoll loop).
 *
 * Every byte from the agent is hostile: frames are size-capped, decoded by the
 * pure codec, output is capped per stream, and every blocking call has a
 * deadline. A connection is not thread-safe; use one per thread/request (they
 * are cheap: a unix connect). Connections are independent: an agent serves
 * many at once.
 */
#ifndef SANDPIT_AGENT_CLIENT_H
#define SANDPIT_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agentproto.h"
#include "core/result.h"

#define AGENT_CLIENT_DEFAULT_CAP (10u * 1024u * 1024u) /* per output stream */

struct agent_conn; /* opaque */

/* agent_client_connect: address is what the backend returned: "unix:<path>"
 * (local backend) or "tcp:<host>:<port>" (future kubernetes backend, then
 * token is required; NULL otherwise). Waits at most timeout_ms. R_UPSTREAM when
 * the agent is unreachable, R_TIMEOUT, R_INVALID for a malformed address. */
SP_MUST_CHECK enum result agent_client_connect(const char *address, const char *token,
					       unsigned timeout_ms, struct agent_conn **out);

/* agent_client_connect_start: agent_client_connect for an event loop: never
 * waits. R_SUCCESS with *pending false: connected. R_SUCCESS with *pending true: the
 * agent accepts nothing now (its backlog is full); *out is then a connection
 * in progress: call agent_client_connect_retry later, on a timer (a unix
 * socket cannot be polled for room in a listener's backlog), until it is
 * connected or the caller's deadline passes (then agent_client_close).
 * R_UPSTREAM when the agent is unreachable, R_INVALID for a malformed
 * address; *out and *pending are written only on R_SUCCESS. */
SP_MUST_CHECK enum result agent_client_connect_start(const char *address, const char *token,
						     struct agent_conn **out, bool *pending);

/* agent_client_connect_retry: one more attempt for a connection in progress
 * (address as given to agent_client_connect_start). R_SUCCESS with *pending
 * false once connected; errors as agent_client_connect_start. */
SP_MUST_CHECK enum result agent_client_connect_retry(struct agent_conn *c, const char *address,
						     bool *pending);

/* agent_client_close: close and free; NULL is a no-op. */
void agent_client_close(struct agent_conn *c);

/* agent_client_fd: the socket, for poll/epoll. Owned by c. */
int agent_client_fd(const struct agent_conn *c);

/* agent_client_last_error: the (sanitized) message of the last ERROR frame
 * the agent sent on c, "" if none; e.g. why an exec was refused. */
const char *agent_client_last_error(const struct agent_conn *c);

/* agent_client_ping: PING -> PONG within timeout_ms (readiness/health). */
SP_MUST_CHECK enum result agent_client_ping(struct agent_conn *c, unsigned timeout_ms);

/* ---- blocking one-shot exec ------------------------------------------- */

struct agent_exec_result {
	char *out; /* stdout bytes, NUL-terminated (binary-safe: use out_len) */
	size_t out_len;
	char *err; /* stderr bytes, NUL-terminated */
	size_t err_len;
	int exit_code; /* 128+signal if killed, 137 if OOM-killed, -1 unknown */
	int signal;    /* 0 unless killed by a signal */
	uint64_t duration_ms;
	bool timed_out;
	bool oom_killed;
	bool truncated; /* either stream hit its cap */
	bool stdout_truncated;
	bool stderr_truncated;
};

/* agent_client_exec: run req (AP_EXEC_STREAM/TTY are ignored/cleared; stdin of
 * any size is sent in chunks) and wait for EXIT. Caps: req->stdout_cap /
 * stderr_cap, 0 meaning AGENT_CLIENT_DEFAULT_CAP; the agent enforces them and
 * the client enforces them again. The wait is bounded by req->timeout_ms plus
 * grace_ms (the agent kills the command at its timeout; grace covers transport
 * and a hung agent); timeout_ms 0 means only grace_ms bounds it.
 * On R_SUCCESS *out is owned by the caller (agent_exec_result_free). R_UPSTREAM for
 * protocol violations or a dead agent, R_TIMEOUT when the agent did not answer
 * in time, R_INVALID when the agent rejected the request (bad cwd...). */
SP_MUST_CHECK enum result agent_client_exec(struct agent_conn *c, const struct agentproto_exec *req,
					    unsigned grace_ms, struct agent_exec_result *out);

/* agent_exec_result_free: free the buffers; NULL-safe, idempotent. */
void agent_exec_result_free(struct agent_exec_result *r);

/* ---- other blocking requests ------------------------------------------ */

/* agent_client_set_env: merge (or, with replace, replace) the sandbox env that
 * later EXECs start from. env entries are "KEY=VALUE". */
SP_MUST_CHECK enum result agent_client_set_env(struct agent_conn *c, const char *const *env,
					       size_t envc, bool replace, unsigned timeout_ms);

/* agent_client_ps: the sandbox's processes (the agent itself excluded). On R_SUCCESS
 * *out is owned by the caller (agentproto_procs_free). */
SP_MUST_CHECK enum result agent_client_ps(struct agent_conn *c, unsigned timeout_ms,
					  struct agentproto_procs *out);

/* ---- files -------------------------------------------------------------- */
/* A file request hands the connection to a helper in the sandbox that runs
 * as the sandbox user (agentproto.h, FILES): use a fresh connection for each
 * request (a put of several files is one request) and close it afterwards.
 * Errors the agent reports map to R_NOT_FOUND, R_FORBIDDEN, R_INVALID (a
 * directory where a file is expected, a bad path), R_CONFLICT, R_NO_SPACE or
 * R_TOO_BIG, with agent_client_last_error() saying why; anything else from
 * the agent is R_UPSTREAM. */

/* agent_client_put_file: start the next file of a put (parents are created;
 * mode 0 means 0644). Then agent_client_put_data any number of times, then
 * agent_client_put_commit. If a later call fails, nothing of the request is
 * left in the sandbox once the connection is closed. */
SP_MUST_CHECK enum result agent_client_put_file(struct agent_conn *c, const char *path,
						uint32_t mode, unsigned timeout_ms);
/* agent_client_put_data: send n bytes of the current file (any n; sent in
 * chunks). Notices an early ERROR from the agent (no space...) and returns it
 * without sending the rest. */
SP_MUST_CHECK enum result agent_client_put_data(struct agent_conn *c, const void *p, size_t n,
						unsigned timeout_ms);
/* agent_client_put_commit: rename every file of the put into place; R_SUCCESS
 * once the agent confirmed. */
SP_MUST_CHECK enum result agent_client_put_commit(struct agent_conn *c, unsigned timeout_ms);

/* agent_client_get_begin: open a regular file; *info (size, mode, mtime)
 * written on R_SUCCESS. Then agent_client_get_chunk until *end. */
SP_MUST_CHECK enum result agent_client_get_begin(struct agent_conn *c, const char *path,
						 unsigned timeout_ms,
						 struct agentproto_finfo *info);
/* agent_client_get_chunk: the next bytes (borrowed until the next call on c)
 * or *end once exactly info->size bytes arrived. R_UPSTREAM if the agent
 * sends more or fewer bytes than it announced; R_CONFLICT if the file
 * changed while it was read. */
SP_MUST_CHECK enum result agent_client_get_chunk(struct agent_conn *c, unsigned timeout_ms,
						 const uint8_t **data, size_t *len, bool *end);

/* agent_client_stat: what path is (a symlink is reported as one). */
SP_MUST_CHECK enum result agent_client_stat(struct agent_conn *c, const char *path,
					    unsigned timeout_ms, struct agentproto_finfo *info);

/* agent_client_list: call fn for each entry under directory path, depth
 * levels deep (entry paths relative to path), at most AGENTPROTO_MAX_LIST
 * entries; fn's non-R_SUCCESS result stops the listing and is returned. The whole
 * listing is bounded by timeout_ms. */
SP_MUST_CHECK enum result
agent_client_list(struct agent_conn *c, const char *path, unsigned depth, unsigned timeout_ms,
		  enum result (*fn)(void *ctx, const struct agentproto_finfo *fi), void *ctx);

SP_MUST_CHECK enum result agent_client_remove(struct agent_conn *c, const char *path,
					      bool recursive, unsigned timeout_ms);
/* agent_client_mkdir: mode 0 means 0755; an existing directory is R_SUCCESS. */
SP_MUST_CHECK enum result agent_client_mkdir(struct agent_conn *c, const char *path, uint32_t mode,
					     bool parents, unsigned timeout_ms);
SP_MUST_CHECK enum result agent_client_move(struct agent_conn *c, const char *from, const char *to,
					    bool parents, unsigned timeout_ms);

/* ---- streaming (non-blocking) ----------------------------------------- */
/* Typical proxy loop: agent_client_stream_start(); set the fd in epoll for
 * EPOLLIN (+EPOLLOUT while agent_client_wants_write()); on EPOLLIN call
 * agent_client_read_frame() until *got is false; on EPOLLOUT call
 * agent_client_flush(). Sends queue into a bounded outgoing buffer
 * (R_QUOTA when it is full: stop reading from the client until flushed). */

/* agent_client_stream_start: switch c to non-blocking mode and queue an EXEC
 * with AP_EXEC_STREAM set (req->stdin_data, if any, is sent first). Of
 * req->flags, SHELL, TTY and DETACH are passed on. */
SP_MUST_CHECK enum result agent_client_stream_start(struct agent_conn *c,
						    const struct agentproto_exec *req);

/* agent_client_attach_start: like agent_client_stream_start, but for a
 * command started earlier with AP_EXEC_DETACH: queue an ATTACH for pid (the
 * pid its STARTED carried). Then the same frames follow as for an exec
 * (STARTED(pid), OUTPUT from now on, EXIT), or an ERROR: R_NOT_FOUND when pid
 * is not a detached command still running, R_CONFLICT when another
 * connection holds it. R_INVALID here for pid 0. */
SP_MUST_CHECK enum result agent_client_attach_start(struct agent_conn *c, uint32_t pid);

/* agent_client_send_detach: the running command outlives this connection
 * from now on (as if it had been started with AP_EXEC_DETACH). */
SP_MUST_CHECK enum result agent_client_send_detach(struct agent_conn *c);

SP_MUST_CHECK enum result agent_client_send_stdin(struct agent_conn *c, const void *p, size_t n);
SP_MUST_CHECK enum result agent_client_send_stdin_close(struct agent_conn *c);
SP_MUST_CHECK enum result agent_client_send_signal(struct agent_conn *c, int signo);
SP_MUST_CHECK enum result agent_client_send_resize(struct agent_conn *c, uint16_t cols,
						   uint16_t rows);

/* agent_client_flush: write queued bytes without blocking. R_UPSTREAM if the
 * connection broke. */
SP_MUST_CHECK enum result agent_client_flush(struct agent_conn *c);

/* agent_client_wants_write: queued bytes remain (poll for writability). */
bool agent_client_wants_write(const struct agent_conn *c);

/* A frame as handed out by agent_client_read_frame. Pointers borrow c's
 * receive buffer and are valid until the next call on c. */
struct agent_frame {
	enum agentproto_type type;
	uint32_t pid;	     /* AP_STARTED */
	uint8_t stream;	     /* AP_OUTPUT */
	const uint8_t *data; /* AP_OUTPUT */
	size_t len;
	struct agentproto_exit exit; /* AP_EXIT */
	enum result error;	     /* AP_ERROR */
	char message[256];	     /* AP_ERROR, sanitized */
};

/* agent_client_read_frame: read what the socket has (non-blocking) and decode
 * at most one frame. R_SUCCESS with *got false: no complete frame yet. R_SUCCESS with
 * *got true: *f holds a STARTED, OUTPUT, EXIT or ERROR frame. R_UPSTREAM on EOF
 * or any malformed or unexpected frame (close the connection then). */
SP_MUST_CHECK enum result agent_client_read_frame(struct agent_conn *c, struct agent_frame *f,
						  bool *got);

#endif
