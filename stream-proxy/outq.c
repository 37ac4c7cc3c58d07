/* outq.c: chunked output queue flushed with writev. */
#include "outq.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>

struct outq_chunk {
	struct outq_chunk *next;
	size_t len, off;
	unsigned char data[];
};

#define IOV_BATCH 64

void outq_init(struct outq *q)
{
	q->head = q->tail = NULL;
	q->bytes = 0;
	q->chunks = 0;
	q->peak = 0;
	q->queued = q->written = 0;
}

enum result outq_push(struct outq *q, size_t len, unsigned char **data)
{
	struct outq_chunk *c;

	if (len == 0 || len > SIZE_MAX - sizeof(*c) - OUTQ_CHUNK_OVERHEAD ||
	    q->bytes > SIZE_MAX - len - OUTQ_CHUNK_OVERHEAD)
		return R_TOO_BIG;
	c = malloc(sizeof(*c) + len);
	if (c == NULL)
		return R_NO_MEMORY;
	c->next = NULL;
	c->len = len;
	c->off = 0;
	if (q->tail != NULL)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->bytes += len + OUTQ_CHUNK_OVERHEAD;
	q->queued += len;
	q->chunks++;
	if (q->bytes > q->peak)
		q->peak = q->bytes;
	*data = c->data;
	return R_OK;
}

/* pop: drop the head chunk; bytes counts what is still unwritten of it. */
static void pop(struct outq *q)
{
	struct outq_chunk *c = q->head;

	q->head = c->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->bytes -= c->len - c->off + OUTQ_CHUNK_OVERHEAD;
	q->chunks--;
	free(c);
}

enum result outq_flush(struct outq *q, int fd)
{
	while (q->head != NULL) {
		struct iovec iov[IOV_BATCH];
		struct outq_chunk *c;
		size_t total = 0, done;
		ssize_t w;
		int k = 0;

		for (c = q->head; c != NULL && k < IOV_BATCH; c = c->next, k++) {
			iov[k].iov_base = c->data + c->off;
			iov[k].iov_len = c->len - c->off;
			total += iov[k].iov_len;
		}
		w = writev(fd, iov, k);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return R_OK;
			return R_UPSTREAM;
		}
		done = (size_t)w;
		q->written += done;
		while (done > 0) {
			size_t left = q->head->len - q->head->off;

			if (done < left) {
				q->head->off += done;
				q->bytes -= done;
				break;
			}
			done -= left;
			pop(q);
		}
		if ((size_t)w < total)
			return R_OK; /* the socket is full: wait for EPOLLOUT */
	}
	return R_OK;
}

bool outq_is_empty(const struct outq *q)
{
	return q->head == NULL;
}

void outq_free(struct outq *q)
{
	while (q->head != NULL)
		pop(q);
}
