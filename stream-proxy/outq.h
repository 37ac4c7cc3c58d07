/* outq.h: a connection's queue of bytes waiting for a non-blocking socket:
 * a list of chunks written with writev. Its byte count (payload plus a fixed
 * per-chunk overhead) is what backpressure decisions are made on. */
#ifndef SANDPIT_STREAM_OUTQ_H
#define SANDPIT_STREAM_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"

#define OUTQ_CHUNK_OVERHEAD 64 /* accounted per chunk: header + malloc slack */

struct outq_chunk;

struct outq {
	struct outq_chunk *head, *tail;
	size_t bytes;  /* accounted bytes queued (payload + overhead per chunk) */
	size_t chunks;
	size_t peak;   /* largest `bytes` seen, for the memory-bound figures */
	uint64_t queued, written; /* payload bytes ever pushed / ever written */
};

void outq_init(struct outq *q);

/* outq_push: append a chunk of len bytes (len > 0) and hand back where to
 * write them (*data, valid until the next flush). R_NO_MEMORY, or R_TOO_BIG
 * when len plus overhead overflows. */
SP_MUST_CHECK enum result outq_push(struct outq *q, size_t len, unsigned char **data);

/* outq_flush: write as much as fd takes without blocking. R_OK also when
 * the socket is full (bytes remain); R_UPSTREAM when the socket failed (the
 * peer is gone). */
SP_MUST_CHECK enum result outq_flush(struct outq *q, int fd);

/* outq_is_empty: nothing left to write. */
bool outq_is_empty(const struct outq *q);

/* outq_free: drop everything queued. */
void outq_free(struct outq *q);

#endif
