/* outq.c: the bounded send queue (outq.h): one buffer, a read offset,
 * amortised compaction. */
#include "net/outq.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void outq_init(struct outq *q, size_t limit)
{
	buf_init(&q->b, limit);
	q->off = 0;
	q->limit = limit;
	q->peak = 0;
	q->written = 0;
}

size_t outq_len(const struct outq *q)
{
	return q->b.len - q->off;
}

bool outq_is_empty(const struct outq *q)
{
	return q->b.len == q->off;
}

uint64_t outq_queued(const struct outq *q)
{
	return q->written + outq_len(q);
}

static void note_peak(struct outq *q)
{
	if (outq_len(q) > q->peak)
		q->peak = outq_len(q);
}

/* prepare: make room for n more bytes (SIZE_MAX: not known): reclaim the
 * written prefix only when the end has no room for them and moving the rest
 * costs no more than the bytes written since the last move; and let the
 * buffer grow to at most limit waiting bytes past the offset. */
static void prepare(struct outq *q, size_t n)
{
	size_t left = outq_len(q);
	bool room = n != SIZE_MAX && q->b.cap > q->b.len && q->b.cap - q->b.len > n;

	if (q->off > 0 && q->off >= left && !room) {
		memmove(q->b.data, q->b.data + q->off, left);
		q->b.len = left;
		q->off = 0;
	}
	/* b.len >= off, so off + limit overflows only for a limit near
	 * SIZE_MAX, which then stays the bound */
	q->b.limit = q->limit > SIZE_MAX - q->off ? SIZE_MAX : q->off + q->limit;
}

enum result outq_reserve(struct outq *q, size_t n, unsigned char **at)
{
	char *p;
	enum result r;

	if (n == 0)
		return R_INVALID;
	prepare(q, n);
	r = buf_extend(&q->b, n, &p);
	if (r != R_SUCCESS)
		return r;
	note_peak(q);
	*at = (unsigned char *)p;
	return R_SUCCESS;
}

struct buf *outq_buf(struct outq *q)
{
	prepare(q, SIZE_MAX);
	return &q->b;
}

/* put: one non-blocking write; a socket gets MSG_NOSIGNAL, so a peer that
 * left is an error code, not a SIGPIPE. */
static ssize_t put(int fd, const void *p, size_t n)
{
	ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w < 0 && errno == ENOTSOCK)
		w = write(fd, p, n);
	return w;
}

enum result outq_flush(struct outq *q, int fd)
{
	note_peak(q);
	while (!outq_is_empty(q)) {
		ssize_t w = put(fd, q->b.data + q->off, outq_len(q));

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return R_SUCCESS;
			return R_UPSTREAM;
		}
		q->off += (size_t)w;
		q->written += (uint64_t)w;
	}
	/* all out: the whole buffer is free again, at no cost */
	buf_reset(&q->b);
	q->off = 0;
	return R_SUCCESS;
}

void outq_trim(struct outq *q)
{
	if (outq_is_empty(q)) {
		buf_free(&q->b);
		q->off = 0;
	}
}

void outq_free(struct outq *q)
{
	buf_free(&q->b);
	q->off = 0;
}
