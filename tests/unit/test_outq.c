/* test_outq.c: the bounded send queue: whole frames or nothing, partial
 * writes advance an offset, amortised compaction, encoders appending in
 * place through outq_buf. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agentproto.h"
#include "net/outq.h"
#include "unit.h"

static void add(struct outq *q, const char *s)
{
	unsigned char *at;

	CU_ASSERT_EQUAL_FATAL(outq_reserve(q, strlen(s), &at), R_SUCCESS);
	memcpy(at, s, strlen(s));
}

/* pair: a non-blocking socketpair whose sending side takes little. */
static void pair(int sv[2])
{
	int small = 4096;

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CU_ASSERT_EQUAL(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
}

static size_t drain(int fd, char *into, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = recv(fd, into + got, cap - got, MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	return got;
}

static void whole_frame_or_nothing(void)
{
	struct outq q;
	unsigned char *at = NULL;

	outq_init(&q, 10);
	add(&q, "abcdef");
	CU_ASSERT_EQUAL(outq_reserve(&q, 5, &at), R_TOO_BIG);
	CU_ASSERT_PTR_NULL(at);
	CU_ASSERT_EQUAL(outq_len(&q), 6);
	CU_ASSERT_EQUAL(memcmp(q.b.data, "abcdef", 6), 0);
	CU_ASSERT_EQUAL(outq_reserve(&q, 0, &at), R_INVALID);
	CU_ASSERT_EQUAL(outq_reserve(&q, (size_t)-1, &at), R_TOO_BIG);
	add(&q, "ghij");
	CU_ASSERT_EQUAL(outq_len(&q), 10);
	CU_ASSERT_EQUAL(q.peak, 10);
	CU_ASSERT_EQUAL(outq_queued(&q), 10);
	outq_free(&q);
}

static void flush_writes_in_order(void)
{
	struct outq q;
	char got[64];
	int sv[2];

	pair(sv);
	outq_init(&q, 1024);
	add(&q, "hello ");
	add(&q, "world");
	CU_ASSERT_EQUAL(outq_flush(&q, sv[0]), R_SUCCESS);
	CU_ASSERT_TRUE(outq_is_empty(&q));
	CU_ASSERT_EQUAL(q.written, 11);
	CU_ASSERT_EQUAL(outq_queued(&q), 11);
	CU_ASSERT_EQUAL(drain(sv[1], got, sizeof(got)), 11);
	CU_ASSERT_EQUAL(memcmp(got, "hello world", 11), 0);
	outq_free(&q);
	close(sv[0]);
	close(sv[1]);
}

/* A socket that takes part of the queue: the rest stays, in order, and the
 * written prefix is not moved (the offset advances). */
static void partial_write_advances_offset(void)
{
	static char big[1 << 20], back[1 << 20];
	struct outq q;
	unsigned char *at;
	size_t got = 0, off1;
	int sv[2];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 251);
	pair(sv);
	outq_init(&q, sizeof(big) + 16);
	CU_ASSERT_EQUAL_FATAL(outq_reserve(&q, sizeof(big), &at), R_SUCCESS);
	memcpy(at, big, sizeof(big));
	CU_ASSERT_EQUAL(outq_flush(&q, sv[0]), R_SUCCESS);
	CU_ASSERT_FALSE(outq_is_empty(&q)); /* the socket is full */
	off1 = q.off;
	CU_ASSERT_TRUE(off1 > 0);
	CU_ASSERT_EQUAL(q.written, off1);
	CU_ASSERT_EQUAL(outq_len(&q), sizeof(big) - off1);
	/* a small add while less was written than waits: nothing moves */
	add(&q, "xy");
	CU_ASSERT_EQUAL(q.off, off1);
	while (got < sizeof(big)) {
		CU_ASSERT_EQUAL_FATAL(outq_flush(&q, sv[0]), R_SUCCESS);
		got += drain(sv[1], back + got, sizeof(back) - got);
	}
	CU_ASSERT_EQUAL(memcmp(back, big, sizeof(big)), 0);
	CU_ASSERT_EQUAL(outq_flush(&q, sv[0]), R_SUCCESS);
	CU_ASSERT_TRUE(outq_is_empty(&q));
	CU_ASSERT_EQUAL(drain(sv[1], back, 2), 2);
	CU_ASSERT_EQUAL(memcmp(back, "xy", 2), 0);
	CU_ASSERT_EQUAL(q.written, sizeof(big) + 2);
	outq_free(&q);
	close(sv[0]);
	close(sv[1]);
}

/* Compaction happens once the written prefix is at least what waits, and
 * the bound counts waiting bytes only. */
static void compaction_is_amortised(void)
{
	struct outq q;
	unsigned char *at;
	char got[16];
	int sv[2];

	pair(sv);
	outq_init(&q, 8);
	add(&q, "abcdefgh");
	/* write 5 by hand through a socket that takes everything, then put
	 * 3 back as waiting: simulate a partial write of 5 */
	CU_ASSERT_EQUAL(outq_flush(&q, sv[0]), R_SUCCESS);
	CU_ASSERT_EQUAL(drain(sv[1], got, sizeof(got)), 8);
	add(&q, "12345678");
	q.off = 5; /* as if a send took 5 bytes */
	q.written += 5;
	/* 3 wait, 5 are written, and the end has no room for 5 more: the
	 * add moves the 3 to the front */
	add(&q, "ABCDE");
	CU_ASSERT_EQUAL(q.off, 0);
	CU_ASSERT_EQUAL(outq_len(&q), 8);
	CU_ASSERT_EQUAL(memcmp(q.b.data, "678ABCDE", 8), 0);
	CU_ASSERT_EQUAL(outq_reserve(&q, 1, &at), R_TOO_BIG);
	CU_ASSERT_EQUAL(memcmp(q.b.data, "678ABCDE", 8), 0);
	outq_free(&q);
	close(sv[0]);
	close(sv[1]);
}

/* Encoders append whole frames in place; a refused frame leaves what was
 * queued intact (no half-sent frame is ever dropped). */
/* With room at the end, nothing moves even when most was written. */
static void no_move_while_there_is_room(void)
{
	struct outq q;
	int sv[2];

	pair(sv);
	outq_init(&q, 1000);
	add(&q, "0123456789");
	CU_ASSERT_EQUAL(outq_flush(&q, sv[0]), R_SUCCESS);
	add(&q, "abcdefgh"); /* the flush emptied it: from the start again */
	CU_ASSERT_EQUAL(q.off, 0);
	q.off = 6; /* as if a send took 6 bytes */
	q.written += 6;
	add(&q, "XY");
	CU_ASSERT_EQUAL(q.off, 6);
	CU_ASSERT_EQUAL(outq_len(&q), 4);
	CU_ASSERT_EQUAL(memcmp(q.b.data + q.off, "ghXY", 4), 0);
	outq_free(&q);
	close(sv[0]);
	close(sv[1]);
}

static void encoders_append_in_place(void)
{
	struct outq q;
	static char big[AGENTPROTO_MAX_CHUNK];
	size_t one;

	outq_init(&q, 64);
	CU_ASSERT_EQUAL(agentproto_put_signal(outq_buf(&q), 15), R_SUCCESS);
	one = outq_len(&q);
	CU_ASSERT_TRUE(one > AGENTPROTO_HDR_LEN);
	CU_ASSERT_EQUAL(agentproto_put_stdin(outq_buf(&q), big, 100), R_TOO_BIG);
	CU_ASSERT_EQUAL(outq_len(&q), one);
	CU_ASSERT_EQUAL((unsigned char)q.b.data[0], AGENTPROTO_VERSION);
	CU_ASSERT_EQUAL((unsigned char)q.b.data[1], AP_SIGNAL);
	outq_free(&q);
}

static void write_to_a_closed_peer_fails(void)
{
	struct outq q;
	int sv[2];

	pair(sv);
	close(sv[1]);
	outq_init(&q, 64);
	add(&q, "lost");
	CU_ASSERT_EQUAL(outq_flush(&q, sv[0]), R_UPSTREAM);
	outq_free(&q);
	close(sv[0]);
}

static void trim_only_when_empty(void)
{
	struct outq q;
	int sv[2];

	pair(sv);
	outq_init(&q, 64);
	add(&q, "data");
	outq_trim(&q);
	CU_ASSERT_EQUAL(outq_len(&q), 4);
	CU_ASSERT_EQUAL(outq_flush(&q, sv[0]), R_SUCCESS);
	outq_trim(&q);
	CU_ASSERT_PTR_NULL(q.b.data);
	add(&q, "again");
	CU_ASSERT_EQUAL(outq_len(&q), 5);
	outq_free(&q);
	close(sv[0]);
	close(sv[1]);
}

UNIT_SUITE(outq, {"whole frame or nothing", whole_frame_or_nothing},
	   {"flush writes in order", flush_writes_in_order},
	   {"partial write advances the offset", partial_write_advances_offset},
	   {"compaction is amortised", compaction_is_amortised},
	   {"no move while there is room", no_move_while_there_is_room},
	   {"encoders append in place", encoders_append_in_place},
	   {"write to a closed peer fails", write_to_a_closed_peer_fails},
	   {"trim only when empty", trim_only_when_empty});
