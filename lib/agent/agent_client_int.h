/* agent_client_int.h: internal to the agent client (agent_client.c, the
 * connection core; agent_exec.c, agent_files.c, agent_stream.c, the requests
 * built on it). Not for other modules: they use agent_client.h. */
#ifndef SANDPIT_AGENT_CLIENT_INT_H
#define SANDPIT_AGENT_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent_client.h"
#include "core/buf.h"
#include "net/outq.h"

#define IN_LIMIT    (AGENTPROTO_MAX_FRAME + 65536u)
#define OUT_LIMIT   (8u * 1024u * 1024u)
#define OUT_SOFT    (4u * 1024u * 1024u) /* sends past this: R_QUOTA */
#define STDIN_CHUNK (64u * 1024u)
#define READ_CHUNK  (64u * 1024u)

struct agent_conn {
	int fd;
	struct buf in;	 /* received, starting at in_off */
	size_t in_off;	 /* bytes of in already handed out */
	struct outq out; /* queued for sending */
	char last_error[256];
	uint64_t get_left; /* bytes a file get still owes */
	bool get_open;
};

/* agent_conn_flush_all: write the whole queue, waiting for room up to the
 * deadline (0: none). R_TIMEOUT, or R_UPSTREAM when the connection broke. */
SP_MUST_CHECK enum result agent_conn_flush_all(struct agent_conn *c, uint64_t deadline);

/* agent_conn_queue_exec: queue the EXEC frame of req with flags, stdin
 * inline when it fits; else EXEC with AP_EXEC_STREAM and *rest is how many
 * bytes of req's stdin the caller still sends as STDIN frames. */
SP_MUST_CHECK enum result agent_conn_queue_exec(struct agent_conn *c,
						const struct agentproto_exec *req, uint32_t flags,
						size_t *rest);

/* agent_conn_next_frame: blocking read of one frame with a deadline (0:
 * none); errors as agent_client_read_frame, or R_TIMEOUT. */
SP_MUST_CHECK enum result agent_conn_next_frame(struct agent_conn *c, uint64_t deadline,
						struct agent_frame *f);

/* agent_conn_request: send what is queued and wait (timeout_ms, 0 meaning
 * 5 s) for a reply of type want into *f. An ERROR reply returns its code;
 * any other type is R_UPSTREAM. */
SP_MUST_CHECK enum result agent_conn_request(struct agent_conn *c, unsigned timeout_ms,
					     enum agentproto_type want, struct agent_frame *f);

#endif
