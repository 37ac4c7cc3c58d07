/* fio.c: the file helper's I/O: blocking reads and writes on the host
 * connection under an idle timer, so a host that went quiet cannot keep the
 * helper (and a put's temporaries) forever. */
#include "fio.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define IDLE_SECONDS 120
#define OUT_FLUSH    (256u * 1024u)

/* Set by SIGALRM. The one mutable global: a signal handler can reach nothing
 * else, and setting a flag is all it may safely do. */
static volatile sig_atomic_t idle_expired;

static void on_alarm(int sig)
{
	(void)sig;
	idle_expired = 1;
}

int fio_catch_idle(void)
{
	struct sigaction alarm_action = {.sa_handler = on_alarm};

	return sigaction(SIGALRM, &alarm_action, NULL);
}

/* quit: end the helper mid-request (the host is gone or went quiet); a put in
 * progress leaves no temporary behind. */
__attribute__((noreturn)) static void quit(struct io *io)
{
	if (io->on_quit)
		io->on_quit(io->quit_arg);
	_exit(0);
}

void fio_progress(struct io *io)
{
	static const struct itimerval idle = {.it_interval = {.tv_sec = 1},
					      .it_value = {.tv_sec = IDLE_SECONDS}};

	if (idle_expired)
		quit(io);
	(void)setitimer(ITIMER_REAL, &idle, NULL);
}

struct buf *fio_out(struct io *io)
{
	return outq_buf(&io->out);
}

void fio_flush(struct io *io)
{
	struct pollfd pfd = {.fd = io->fd, .events = POLLOUT};

	for (;;) {
		/* per write: a host that stops reading mid-get blocks us here,
		 * in poll, until SIGALRM ends the wait */
		fio_progress(io);
		if (outq_flush(&io->out, io->fd) != R_SUCCESS)
			quit(io); /* the host is gone */
		if (outq_is_empty(&io->out))
			return;
		(void)poll(&pfd, 1, -1);
	}
}

void fio_queued(struct io *io, enum result r)
{
	if (r != R_SUCCESS)
		_exit(1);
	if (outq_len(&io->out) >= OUT_FLUSH)
		fio_flush(io);
}

void fio_error(struct io *io, enum result code, const char *msg)
{
	/* what was queued of a failed answer is moot; fio_flush leaves nothing
	 * half sent, so the queue holds only whole unsent frames */
	outq_free(&io->out);
	fio_queued(io, agentproto_put_error(fio_out(io), code, msg));
	fio_flush(io);
}

void fio_ok(struct io *io)
{
	fio_queued(io, agentproto_put_empty(fio_out(io), AP_OK));
	fio_flush(io);
}

enum result fio_read_frame(struct io *io, struct agentproto_hdr *h, const uint8_t **payload)
{
	ssize_t n;

	for (;;) {
		size_t avail = io->len - io->off;

		if (avail >= AGENTPROTO_HDR_LEN) {
			if (agentproto_parse_header(io->in + io->off, h) != R_SUCCESS)
				return R_INVALID;
			if (avail - AGENTPROTO_HDR_LEN >= h->len) {
				*payload = io->in + io->off + AGENTPROTO_HDR_LEN;
				io->off += AGENTPROTO_HDR_LEN + h->len;
				return R_SUCCESS;
			}
		}
		if (io->off > 0) {
			memmove(io->in, io->in + io->off, avail);
			io->len = avail;
			io->off = 0;
		}
		fio_progress(io);
		n = read(io->fd, io->in + io->len, IN_CAP - io->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return io->len == 0 ? R_NOT_FOUND : R_INVALID;
		io->len += (size_t)n;
	}
}

enum result fio_result_of(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return R_NOT_FOUND;
	case EACCES:
	case EPERM:
	case EROFS:
	case ETXTBSY:
		return R_FORBIDDEN;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return R_NO_SPACE;
	case EEXIST:
	case ENOTEMPTY:
	case EBUSY:
		return R_CONFLICT;
	case EISDIR:
	case ENAMETOOLONG:
	case ELOOP:
	case EXDEV:
	case EINVAL:
	case EAGAIN: /* RESOLVE_IN_ROOT racing a rename: the caller may retry */
		return R_INVALID;
	case ENOMEM:
		return R_NO_MEMORY;
	default:
		return R_INTERNAL;
	}
}

const char *fio_errno_msg(int e)
{
	switch (e) {
	case ENOENT:
		return "no such file or directory";
	case ENOTDIR:
		return "a path component is not a directory";
	case EACCES:
	case EPERM:
		return "permission denied";
	case EROFS:
		return "read-only file system";
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return "no space left in the sandbox";
	case EEXIST:
		return "already exists";
	case ENOTEMPTY:
		return "directory not empty (use recursive)";
	case EISDIR:
		return "is a directory";
	case ELOOP:
		return "too many levels of symbolic links, or a magic link";
	case EXDEV:
		return "cannot move across file systems";
	case ENAMETOOLONG:
		return "name too long";
	case EAGAIN:
		return "the path kept changing while it was resolved; retry";
	default:
		return strerror(e);
	}
}

enum result fio_fail_errno(struct io *io, int e)
{
	enum result r = fio_result_of(e);

	fio_error(io, r, fio_errno_msg(e));
	return r;
}
