/* files.c: file requests inside a sandbox (put, get, stat, list, remove,
 * mkdir, move), served by a helper the agent forks per connection.
 *
 * Why a helper rather than the agent: the agent is uid 0 of the sandbox's
 * user namespace and keeps CAP_DAC_OVERRIDE/CAP_FOWNER; opening paths the
 * sandbox controls with those rights is the Judge0 bug (CVE-2024-28185). The
 * helper becomes the sandbox user (effective uid 1000, every capability
 * gone, the agent's seccomp filter inherited, non-dumpable), so the kernel
 * checks each open exactly as it would for the user's own code; its real
 * uid stays the agent's, so that code cannot stop or kill it (see narrow()).
 * It lives in the sandbox's mount namespace, so no symlink can name anything
 * of the host.
 * On top of that, paths resolve with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS): relative paths (and /workspace/...) are rooted at
 * /workspace, so `..` and absolute symlinks stay inside it; other absolute
 * paths are rooted at / of the sandbox, /proc, /sys and /dev are refused by
 * name, and anything that turns out to live on procfs/sysfs/devpts/cgroupfs or
 * to be a device, FIFO or socket is refused after opening (403), so a link to
 * /proc/self/mem or a planted FIFO gets nothing and blocks nothing.
 * Writes go to a temporary beside the target and are renamed over it, so a
 * symlink at the target is replaced, never written through.
 * Being a separate blocking process also keeps a 100 MiB upload from stalling
 * the agent's poll loop; an idle timer ends a helper whose host went quiet.
 *
 * This file narrows the helper and runs its request loop; path resolution is
 * fpath.c, the operations fops.c, the I/O with the host fio.c (each calls
 * only the ones after it in that list, backwards: fops -> fpath -> fio). */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agentproto.h"
#include "core/buf.h"
#include "fio.h"
#include "fops.h"

#define FD_CONN 3

static void narrow(int fd, unsigned uid)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct caps[2] = {{0}};
	struct rlimit nofile;
	sigset_t none;
	int null, i;

	if (fd != FD_CONN && (dup2(fd, FD_CONN) < 0 || close(fd) != 0))
		_exit(1);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (i = 0; null >= 0 && i < 3; i++)
		(void)dup2(null, i);
	if (syscall(SYS_close_range, FD_CONN + 1, ~0U, 0) != 0)
		_exit(1);
	(void)fcntl(FD_CONN, F_SETFL, 0);
	(void)fcntl(FD_CONN, F_SETFD, FD_CLOEXEC);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file-size limit is EFBIG, not death */
	/* the idle timer: no SA_RESTART, so a blocked read or write returns and
	 * the helper ends through fio.c's quit(), dropping a put's temporaries */
	if (fio_catch_idle() != 0)
		_exit(1);
	/* a put of many files holds one directory fd per file */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		nofile.rlim_cur = nofile.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &nofile);
	}
	for (i = 0; i <= 63; i++)
		if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) != 0 && errno != EINVAL)
			_exit(1);
	/* The effective uid, which is also the file-system uid, is the sandbox
	 * user's: every open is checked as theirs. The real and saved uids stay
	 * the agent's (0), and only those decide who may signal us: the user's
	 * code may signal anything running as its uid, and a `kill -STOP -1`
	 * loop would otherwise freeze every file request mid-way. They would
	 * also keep the permitted capabilities, so every set is emptied by hand;
	 * the bounding set is empty too, so not even an exec could return one.
	 * What euid 0 would give back is the ownership of root's files inside
	 * this sandbox and nothing else. */
	if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(0, uid, 0) != 0 ||
	    syscall(SYS_capset, &hdr, caps) != 0)
		_exit(1);
	/* a uid change resets dumpable; the user's code runs as this uid and
	 * must not read our memory through /proc */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		_exit(1);
	umask(022);
	if (chdir("/") != 0)
		_exit(1);
}

static void abort_put(void *tx)
{
	fops_put_abort(tx);
}

static enum result serve_one(struct io *io, struct tx *tx, const struct agentproto_hdr *h,
			     const uint8_t *p, struct agentproto_fileop *op)
{
	if ((h->type == AP_FDATA || h->type == AP_FCOMMIT) && !tx->active) {
		fio_error(io, R_INVALID, "file data outside a put");
		return R_INVALID;
	}
	if (h->type == AP_FDATA)
		return fops_put_write(io, tx, p, h->len);
	if (h->type == AP_FCOMMIT)
		return fops_put_commit(io, tx);
	if (!agentproto_type_is_fileop(h->type) ||
	    agentproto_get_fileop(h->type, p, h->len, op) != R_SUCCESS) {
		fio_error(io, R_INVALID, "malformed file request");
		return R_INVALID;
	}
	if (tx->active && h->type != AP_FPUT) {
		fio_error(io, R_INVALID, "file request inside a put");
		return R_INVALID;
	}
	switch (h->type) {
	case AP_FPUT:
		return fops_put_add(io, tx, op);
	case AP_FGET:
		return fops_get(io, op);
	case AP_FSTAT:
		return fops_stat(io, op);
	case AP_FLIST:
		return fops_list(io, op);
	case AP_FREMOVE:
		return fops_remove(io, op);
	case AP_FMKDIR:
		return fops_mkdir(io, op);
	default:
		return fops_move(io, op);
	}
}

void files_serve(int fd, const uint8_t *pre, size_t npre, unsigned code_uid)
{
	struct tx tx = {.cur = -1};
	struct io io = {.fd = FD_CONN, .on_quit = abort_put, .quit_arg = &tx};
	struct agentproto_fileop *op = malloc(sizeof(*op));
	struct agentproto_hdr h;
	const uint8_t *p;
	enum result r;

	io.in = malloc(IN_CAP);
	tx.files = calloc(AGENTPROTO_MAX_FILES, sizeof(*tx.files));
	if (!io.in || !tx.files || !op || npre > IN_CAP)
		_exit(1);
	memcpy(io.in, pre, npre);
	io.len = npre;
	outq_init(&io.out, AGENTPROTO_MAX_FRAME * 2);
	narrow(fd, code_uid);
	for (;;) {
		r = fio_read_frame(&io, &h, &p);
		if (r == R_NOT_FOUND)
			break;
		if (r != R_SUCCESS) {
			fops_put_abort(&tx);
			fio_error(&io, R_INVALID, "bad frame");
			break;
		}
		fio_progress(&io); /* the first request came buffered, with no timer yet */
		r = serve_one(&io, &tx, &h, p, op);
		/* a failed put answered already; what follows of it is moot */
		if (r != R_SUCCESS && (tx.active || h.type == AP_FPUT || h.type == AP_FDATA ||
				       h.type == AP_FCOMMIT)) {
			fops_put_abort(&tx);
			break;
		}
	}
	fops_put_abort(&tx); /* EOF before FCOMMIT: nothing stays behind */
	_exit(0);
}
