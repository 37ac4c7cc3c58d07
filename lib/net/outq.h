/* outq.h: a bounded queue of bytes waiting for a non-blocking socket: the
 * one send queue of the stream proxy and the agent client.
 *
 * The bytes are one contiguous buffer read from an offset: a partial send
 * advances the offset (nothing is moved), and the space already sent is
 * reclaimed by moving what is left to the front only when that is no more
 * than what was sent since the last move (so every byte is moved at most
 * about once: compaction is amortised). A frame is added whole or not at
 * all: a failed add leaves the queue exactly as it was. */
#ifndef SANDPIT_OUTQ_H
#define SANDPIT_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

/* The fields are read-only for callers; use the functions below. */
struct outq {
	struct buf b;	  /* bytes [off, b.len) wait to be written */
	size_t off;	  /* bytes of b already written */
	size_t limit;	  /* most bytes waiting at once */
	size_t peak;	  /* most bytes seen waiting (at an add or a flush) */
	uint64_t written; /* bytes ever written */
};

/* outq_init: an empty queue that never holds more than limit bytes waiting. */
void outq_init(struct outq *q, size_t limit);

/* outq_reserve: add n bytes (n > 0) at the end and hand back where they
 * start in *at; the caller fills them before the next call on q. R_TOO_BIG
 * when they would take the queue past its limit, R_NO_MEMORY; on failure
 * the queue is unchanged and *at is not written. */
SP_MUST_CHECK enum result outq_reserve(struct outq *q, size_t n, unsigned char **at);

/* outq_buf: the queue's buffer, for an encoder that appends whole frames
 * with buf_extend (agentproto_put_*): what it appends is queued, and its
 * limit keeps the queue within its own. Only buf_extend may be used on it
 * (buf_append frees a buffer on failure, which would drop the queue). The
 * pointer is valid until the next call on q. */
struct buf *outq_buf(struct outq *q);

/* outq_len: bytes waiting. */
size_t outq_len(const struct outq *q);

/* outq_is_empty: nothing waits. */
bool outq_is_empty(const struct outq *q);

/* outq_queued: bytes ever added (written plus waiting): "everything added
 * so far is out" is outq_queued() at that time <= q->written. */
uint64_t outq_queued(const struct outq *q);

/* outq_flush: write as much as fd takes without blocking (send with
 * MSG_NOSIGNAL on a socket, write otherwise). R_SUCCESS also when fd is full
 * and bytes remain; R_UPSTREAM when the write failed (the peer is gone). */
SP_MUST_CHECK enum result outq_flush(struct outq *q, int fd);

/* outq_trim: give the memory back if nothing waits (after a burst, for a
 * connection that idles). */
void outq_trim(struct outq *q);

/* outq_free: drop everything waiting and the memory; q can be reused after
 * outq_init. */
void outq_free(struct outq *q);

#endif
