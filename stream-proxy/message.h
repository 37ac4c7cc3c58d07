/* message.h: the stream protocol's messages (docs/stream-protocol.md):
 * parsing what a client sends and formatting what the proxy sends. No I/O. */
#ifndef SANDPIT_STREAM_MESSAGE_H
#define SANDPIT_STREAM_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agentproto.h"
#include "core/buf.h"
#include "core/result.h"

#define MESSAGE_SUBPROTOCOL_JSON    "sandpit.json.v1"
#define MESSAGE_SUBPROTOCOL_CHANNEL "sandpit.channel.v1"

/* Channels of sandpit.channel.v1: every WebSocket message is binary, byte 0
 * is the channel, the rest its payload. */
enum message_channel {
	MESSAGE_CH_STDIN = 0,	/* client -> proxy: raw stdin bytes */
	MESSAGE_CH_STDOUT = 1,	/* proxy -> client: raw stdout bytes */
	MESSAGE_CH_STDERR = 2,	/* proxy -> client: raw stderr bytes */
	MESSAGE_CH_CONTROL = 3, /* both ways: one JSON message */
};

enum message_type {
	MSG_EXEC,
	MSG_ATTACH,
	MSG_STDIN,
	MSG_STDIN_CLOSE,
	MSG_SIGNAL,
	MSG_RESIZE,
	MSG_DETACH,
};

/* A parsed client message. Owns its memory (message_free). */
struct message {
	enum message_type type;
	struct agentproto_exec exec; /* MSG_EXEC: ready for agent_client_stream_start;
				      * "detach":true sets AP_EXEC_DETACH */
	uint32_t pid;		     /* MSG_ATTACH */
	const unsigned char *data;   /* MSG_STDIN */
	size_t len;
	int signo;	     /* MSG_SIGNAL */
	uint16_t cols, rows; /* MSG_RESIZE, and MSG_EXEC with tty */
	/* private */
	struct json *root_;
	const char **argv_, **env_;
	unsigned char *decoded_;
	char *envbuf_;
};

/* message_parse: one JSON client message of len bytes. max_timeout_s caps
 * "timeout". On R_SUCCESS *out owns what it points to; on R_INVALID (or
 * R_NO_MEMORY) *why is a static lowercase reason. */
SP_MUST_CHECK enum result message_parse(const char *text, size_t len, long long max_timeout_s,
					struct message *out, const char **why);

/* message_free: release a parsed message; safe on a zeroed struct. */
void message_free(struct message *m);

/* message_signal_number: "SIGINT", "INT", "int" or "2" -> 2, for the signals a
 * client may send (HUP INT QUIT KILL USR1 USR2 ALRM TERM CONT STOP TSTP WINCH);
 * 0 for anything else. */
int message_signal_number(const char *name);

/* The proxy's messages, appended to out as JSON text (no frame header). */
SP_MUST_CHECK enum result message_started(struct buf *out, uint32_t pid);
SP_MUST_CHECK enum result message_exit(struct buf *out, const struct agentproto_exit *x);
SP_MUST_CHECK enum result message_error(struct buf *out, const char *code, const char *msg);

/* message_output_len: the exact length of the JSON output message for bytes
 * a (then b; either may be empty) on stream (AP_STREAM_STDOUT/STDERR), and
 * whether it is sent as base64: when a+b is not valid UTF-8 (the caller holds
 * back an unfinished trailing character), contains NUL, or would grow past
 * 4/3 by escaping. R_TOO_BIG on overflow. */
SP_MUST_CHECK enum result message_output_len(uint8_t stream, const unsigned char *a, size_t alen,
					     const unsigned char *b, size_t blen, bool *base64,
					     size_t *len);

/* message_output_write: write that message into out, whose size is exactly
 * the len message_output_len gave for the same arguments. */
void message_output_write(unsigned char *out, size_t len, uint8_t stream, const unsigned char *a,
			  size_t alen, const unsigned char *b, size_t blen, bool base64);

#endif
