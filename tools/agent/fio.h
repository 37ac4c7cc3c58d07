/* fio.h: the file helper's blocking I/O with its host: frames in, answers
 * queued and flushed, all under an idle timer, and errno mapped to answers.
 * Part of the file helper (files.h); ends the helper when the host is gone. */
#ifndef SANDPIT_AGENT_FIO_H
#define SANDPIT_AGENT_FIO_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agentproto.h"
#include "core/buf.h"
#include "net/outq.h"

#define IN_CAP (AGENTPROTO_MAX_FRAME + 65536u) /* size of io.in */

struct io {
	int fd;
	uint8_t *in; /* IN_CAP bytes */
	size_t len, off;
	struct outq out; /* answers for the host (net/outq.h) */
	/* called before the helper ends mid-request (a put in progress must
	 * leave no temporary behind) */
	void (*on_quit)(void *arg);
	void *quit_arg;
};

/* fio_catch_idle: install the idle timer's SIGALRM handler, without
 * SA_RESTART so a blocked read or write returns when it fires. 0 or -1. */
int fio_catch_idle(void);

/* fio_progress: the transfer moved (a request came, bytes were read or
 * written), so the idle window starts over; once it has run out, the helper
 * ends (on_quit, then exit). */
void fio_progress(struct io *io);

/* fio_out: where an agentproto_put_* encodes an answer; its result goes to
 * fio_queued. */
struct buf *fio_out(struct io *io);

/* fio_flush: write all of io->out, blocking; ends the helper when the host is
 * gone or stops reading past the idle window. */
void fio_flush(struct io *io);

/* fio_queued: after an agentproto_put_* into fio_out(io): a frame that cannot be
 * encoded ends the helper; a big enough queue is flushed. */
void fio_queued(struct io *io, enum result r);

/* fio_error: answer ERROR (code, msg) instead of whatever was queued of the
 * answer, and flush. fio_ok: answer OK and flush. */
void fio_error(struct io *io, enum result code, const char *msg);
void fio_ok(struct io *io);

/* fio_read_frame: the next frame, blocking, under the idle timer; *payload
 * points into io->in, valid until the next call. R_NOT_FOUND on a clean EOF
 * between frames; R_INVALID on a bad header or a cut frame. */
enum result fio_read_frame(struct io *io, struct agentproto_hdr *h, const uint8_t **payload);

/* fio_result_of / fio_errno_msg: the answer's code and text for errno e. */
enum result fio_result_of(int e);
const char *fio_errno_msg(int e);

/* fio_fail_errno: answer the request with what errno e says (the helper
 * keeps serving); returns the code answered. */
enum result fio_fail_errno(struct io *io, int e);

#endif
