/* stream.h: the state of one stream (a client connection, its upgrade and
 * its command), shared by the files that handle it: upgrade.c (the HTTP
 * upgrade), client.c (the client side: frames, ping/pong, close), bridge.c
 * (the agent side: the bridge, pending messages, kill grace) and conn.c
 * (events, timers, life and death). Not an API: the fields are theirs. */
#ifndef SANDPIT_STREAM_STREAM_H
#define SANDPIT_STREAM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agentproto.h"
#include "core/buf.h"
#include "conn.h"
#include "net/ev.h"
#include "core/log.h"
#include "message.h"
#include "net/outq.h"
#include "side.h"
#include "net/ws.h"

#define MOD		 "stream"
#define CLOSE_TIMEOUT_MS 5000
#define SANDBOX_ID_MAX	 63
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
#define CLIENT_QUEUE_MAX(cfg) ((size_t)(cfg)->stream_send_buffer + 4 * (size_t)OUTPUT_FRAME_MAX)

enum client_state {
	CL_HTTP,       /* reading the upgrade request */
	CL_LOOKUP,     /* waiting for authentication and the sandbox row */
	CL_CONNECTING, /* waiting for room in the agent's backlog */
	CL_OPEN,       /* WebSocket open */
	CL_CLOSING,    /* close frame (or HTTP error) sent or received */
	CL_GONE,       /* fd closed */
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
	struct side client;
	unsigned char *in;
	size_t in_off, in_len, in_cap; /* unparsed bytes are in[in_off..in_len) */
	struct ws_parser parser;
	struct buf msg; /* a fragmented message being reassembled */
	bool msg_out;	/* msg is handed out (client_next_message) */
	bool channel;	/* sandpit.channel.v1 */
	bool close_sent, close_received, http_only;
	bool lingering, shut_wr; /* linger (client.c): discard input until EOF */
	struct outq out;
	unsigned char pong[WS_CONTROL_MAX]; /* the latest ping's payload */
	size_t pong_len;
	bool pong_due;	     /* a ping awaits its pong */
	uint64_t pong_end;   /* out.queued just after the last pong queued */
	int64_t deadline_ms; /* handshake or close deadline */
	size_t unsent;	     /* SIOCOUTQ at the last tick, while closing */
	int64_t last_rx_ms, last_activity_ms, next_ping_ms, opened_ms;
	unsigned char carry[3][4]; /* per stream: an unfinished UTF-8 character */
	size_t carry_len[3];
	uint64_t bytes_out;

	bool left; /* the agent side and the upgrade heard the client left */

	/* agent side */
	enum agent_state as;
	struct side agent; /* paused: the client is behind; more: a batch was cut */
	struct agent_conn *ac;
	bool has_pending; /* pend waits for room in the agent's queue */
	struct pending pend;
	bool detached; /* the agent keeps the command when we leave */
	bool attached; /* the command came from an attach, not an exec */
	bool started;
	uint32_t pid;
	int64_t kill_ms;

	/* the upgrade, while it waits for its lookup or its agent */
	struct ws_handshake *hs; /* its key and protocols; authorization wiped */
	size_t head_len;	 /* bytes of c->in after it are the first frames */
	struct lookup_job *job;	 /* CL_LOOKUP: owned by set->lookup */
	char agent_address[256];
	struct ev_timer retry; /* CL_CONNECTING: the next connect attempt */
	int64_t connect_deadline_ms;
	unsigned connect_delay_ms;
};

/* stream_ctx: log lines from here on carry c's request id. */
static inline void stream_ctx(const struct conn *c)
{
	log_set_request(c->id);
}

/* stream_now: the loop's time of the current dispatch. */
static inline int64_t stream_now(const struct conn *c)
{
	return ev_now(c->set->ev);
}

/* stream_is_done: both sides are over: the connection can be freed. */
static inline bool stream_is_done(const struct conn *c)
{
	return c->cs == CL_GONE && (c->as == AG_NONE || c->as == AG_DONE);
}

#endif
