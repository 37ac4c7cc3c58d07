/* client.h: the client side of a stream (stream.h): frames out and in, the
 * output queue, ping/pong and the close handshake. These functions never
 * call the upgrade or the agent side: when the client goes (client_close),
 * conn.c tells them after the event (see settle in conn.c). */
#ifndef SANDPIT_STREAM_CLIENT_H
#define SANDPIT_STREAM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

struct conn;

/* client_is_held: the proxy does not read the client now: a message of its
 * waits for room in the agent's queue, an upgrade is in progress, or it
 * does not read the replies its own frames cause and its queue is past
 * what output alone can fill. What it sends meanwhile waits in the kernel. */
bool client_is_held(const struct conn *c);

/* client_mask: watch the client for what we want from it now (reads unless
 * held, writes while bytes are queued). */
void client_mask(struct conn *c);

/* client_write: write the queue without blocking; once a close handshake is
 * complete and written, close (or half-close and linger). */
void client_write(struct conn *c);

/* client_close: the client side is over: its socket closed, its queue
 * dropped, with why logged (NULL: a normal end). Idempotent. */
void client_close(struct conn *c, const char *why);

/* client_send_json: a control message (a text frame, or channel 3 in
 * channel mode). client_send_error: an error message whose code is r's name
 * in the one mapping (lib/core/result.c). client_send_close: a close frame with
 * code and reason, once; the stream is closing from then on. A failure to
 * queue closes the client ("out of memory"). */
void client_send_json(struct conn *c, const struct buf *b);
void client_send_error(struct conn *c, enum result r, const char *msg);
void client_send_close(struct conn *c, uint16_t code, const char *reason);

/* client_output: one chunk of command output on stream (AP_STREAM_*): raw
 * in channel mode; in JSON mode an unfinished UTF-8 character at the end is
 * held back for the next chunk so split text still arrives as text, and
 * final flushes what is held. Dropped unless the stream is open. R_TOO_BIG
 * or R_NO_MEMORY when the queue cannot take it. */
SP_MUST_CHECK enum result client_output(struct conn *c, uint8_t stream, const unsigned char *p,
					size_t n, bool final);

/* client_flush_carries: send the held-back characters of every stream. */
void client_flush_carries(struct conn *c);

/* client_queue_pong: answer the latest ping, unless the previous pong is
 * not all written yet (RFC 6455 §5.5.3: only the latest needs an answer). */
void client_queue_pong(struct conn *c);

/* client_queue_bytes: queue n raw bytes (an HTTP response). */
SP_MUST_CHECK enum result client_queue_bytes(struct conn *c, const void *p, size_t n);

/* client_make_room: compact the input buffer, then grow it up to cap_max;
 * false when it is full at cap_max (or memory ran out). */
bool client_make_room(struct conn *c, size_t cap_max);

/* client_read: more of the client into its input buffer. Returns the bytes
 * read, or 0 when there is nothing more now: EAGAIN, or the client is gone
 * (at EOF with eof_why as the reason, NULL for a clean end). */
size_t client_read(struct conn *c, const char *eof_why);

/* client_fill: client_read for an open stream, with room for a whole
 * message (a bigger one closes the stream with 1009). false when there is
 * nothing more to read now. */
bool client_fill(struct conn *c);

/* client_next_message: parse the buffered input up to the next complete
 * data message (control frames are answered on the way) and hand it out:
 * *op (WS_OP_TEXT/BINARY), *p and *n, valid until client_message_done,
 * which the caller calls before asking again. false: nothing complete, the
 * client is held or closing, or a protocol error closed the stream. */
bool client_next_message(struct conn *c, uint8_t *op, unsigned char **p, size_t *n);
void client_message_done(struct conn *c);

/* client_tick: an open stream's pings, ping timeout and idle timeout; a
 * closing one's close deadline. About once a second. */
void client_tick(struct conn *c);

#endif
