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
 * the agent's poll loop; an idle timer ends a helper whose host went quiet. */
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "agentproto.h"
#include "buf.h"

#define FD_CONN 3
#define IDLE_SECONDS 120
#define OPEN_RETRIES 100
#define IN_CAP (AGENTPROTO_MAX_FRAME + 65536u)
#define OUT_FLUSH (256u * 1024u)
#define FILE_CHUNK (256u * 1024u)
#define MKDIR_DEPTH 128
#define REMOVE_DEPTH 256
#define WORKSPACE "/workspace"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

struct io {
	int fd;
	uint8_t *in;
	size_t len, off;
	struct buf out;
	struct tx *tx; /* aborted when the helper ends mid-request */
};

/* where: a request path split into a root directory fd and a path below it. */
struct where {
	int root;
	char rel[AGENTPROTO_MAX_PATH];
};

struct pending {
	int dirfd;
	char tmp[64];
	char base[NAME_MAX + 1];
};

struct tx {
	struct pending *files;
	size_t n;
	int cur; /* fd of the file being written, -1 between files */
	bool active;
};

/* ---- I/O ----------------------------------------------------------------- */

/* Set by SIGALRM. The one mutable global: a signal handler can reach nothing
 * else, and setting a flag is all it may safely do. */
static volatile sig_atomic_t idle_expired;

static void on_alarm(int sig)
{
	(void)sig;
	idle_expired = 1;
}

static void tx_abort(struct tx *tx);

/* quit: end the helper mid-request (the host is gone or went quiet); a put in
 * progress leaves no temporary behind. */
__attribute__((noreturn)) static void quit(struct io *io)
{
	tx_abort(io->tx);
	_exit(0);
}

/* progress: the transfer moved (a request came, bytes were read or written),
 * so the idle window starts over; once it has run out, end. After expiring the
 * timer fires every second, so a read or write that began just after the flag
 * was checked is interrupted too. */
static void progress(struct io *io)
{
	static const struct itimerval idle = {.it_interval = {.tv_sec = 1},
					      .it_value = {.tv_sec = IDLE_SECONDS}};

	if (idle_expired)
		quit(io);
	(void)setitimer(ITIMER_REAL, &idle, NULL);
}

static void flush(struct io *io)
{
	size_t off = 0;
	ssize_t n;

	while (off < io->out.len) {
		/* per write: a host that stops reading mid-get blocks us here */
		progress(io);
		n = write(io->fd, io->out.data + off, io->out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			quit(io); /* the host is gone */
		off += (size_t)n;
	}
	buf_reset(&io->out);
}

/* queued: after an encoder call; a frame that cannot be encoded ends us. */
static void queued(struct io *io, enum result r)
{
	if (r != R_OK)
		_exit(1);
	if (io->out.len >= OUT_FLUSH)
		flush(io);
}

static void reply_error(struct io *io, enum result code, const char *msg)
{
	buf_reset(&io->out); /* what was queued of a failed answer is moot */
	queued(io, agentproto_put_error(&io->out, code, msg));
	flush(io);
}

static void reply_ok(struct io *io)
{
	queued(io, agentproto_put_empty(&io->out, AP_OK));
	flush(io);
}

/* read_frame: the next frame, blocking, under the idle timer. R_NOT_FOUND on
 * a clean EOF between frames; R_INVALID on a bad header or a cut frame. */
static enum result read_frame(struct io *io, struct agentproto_hdr *h, const uint8_t **payload)
{
	ssize_t n;

	for (;;) {
		size_t avail = io->len - io->off;

		if (avail >= AGENTPROTO_HDR_LEN) {
			if (agentproto_parse_header(io->in + io->off, h) != R_OK)
				return R_INVALID;
			if (avail - AGENTPROTO_HDR_LEN >= h->len) {
				*payload = io->in + io->off + AGENTPROTO_HDR_LEN;
				io->off += AGENTPROTO_HDR_LEN + h->len;
				return R_OK;
			}
		}
		if (io->off > 0) {
			memmove(io->in, io->in + io->off, avail);
			io->len = avail;
			io->off = 0;
		}
		progress(io);
		n = read(io->fd, io->in + io->len, IN_CAP - io->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return io->len == 0 ? R_NOT_FOUND : R_INVALID;
		io->len += (size_t)n;
	}
}

static enum result from_errno(int e)
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

static const char *errno_msg(int e)
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

/* fail: answer the request with what errno says and keep serving. */
static enum result fail_errno(struct io *io, int e)
{
	enum result r = from_errno(e);

	reply_error(io, r, errno_msg(e));
	return r;
}

/* ---- path resolution ----------------------------------------------------- */

static int open_in(int root, const char *rel, uint64_t flags, uint64_t mode)
{
	struct open_how how = {.flags = flags | O_CLOEXEC,
			       .mode = mode,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	unsigned tries = 0;
	long fd;

	/* EAGAIN: a concurrent rename. Sandboxed code can keep one going forever
	 * (a ../ symlink and a rename loop), so give up after a while with EAGAIN */
	do
		fd = syscall(SYS_openat2, root, rel, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN && ++tries < OPEN_RETRIES);
	return (int)fd;
}

/* fs_refused: the object lives where a file API has no business. */
static bool fs_refused(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) != 0)
		return true;
	return sf.f_type == PROC_SUPER_MAGIC || sf.f_type == SYSFS_MAGIC ||
	       sf.f_type == DEVPTS_SUPER_MAGIC || sf.f_type == CGROUP_SUPER_MAGIC ||
	       sf.f_type == CGROUP2_SUPER_MAGIC || sf.f_type == DEBUGFS_MAGIC ||
	       sf.f_type == SECURITYFS_MAGIC || sf.f_type == BPF_FS_MAGIC;
}

static bool first_is(const char *p, const char *name)
{
	size_t n = strlen(name);

	return strncmp(p, name, n) == 0 && (p[n] == '/' || p[n] == '\0');
}

/* locate: pick the root and the path under it; w->root is an O_PATH fd the
 * caller closes. */
static enum result locate(const char *path, struct where *w, const char **why)
{
	const char *rest = path, *root = WORKSPACE;
	size_t n;

	if (path[0] == '/') {
		while (*rest == '/')
			rest++;
		if (first_is(rest, "workspace")) {
			rest += strlen("workspace");
		} else if (first_is(rest, "proc") || first_is(rest, "sys") || first_is(rest, "dev")) {
			*why = "/proc, /sys and /dev are not reachable through the file API";
			return R_FORBIDDEN;
		} else {
			root = "/";
		}
	}
	while (*rest == '/')
		rest++;
	if (*rest == '\0')
		rest = ".";
	n = strlen(rest);
	if (n >= sizeof(w->rel)) {
		*why = "path too long";
		return R_INVALID;
	}
	memcpy(w->rel, rest, n + 1);
	while (n > 1 && w->rel[n - 1] == '/')
		w->rel[--n] = '\0';
	w->root = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w->root < 0) {
		*why = "cannot open the sandbox root";
		return R_INTERNAL;
	}
	return R_OK;
}

/* split: rel into its directory part and last name. R_INVALID when the last
 * name is "." or ".." (nothing to create, remove or rename there). */
static enum result split(const char *rel, char *dir, size_t dsize, char *base)
{
	const char *slash = strrchr(rel, '/');
	const char *b = slash ? slash + 1 : rel;
	size_t dl = slash ? (size_t)(slash - rel) : 0;

	if (*b == '\0' || strcmp(b, ".") == 0 || strcmp(b, "..") == 0 || strlen(b) > NAME_MAX)
		return R_INVALID;
	if (dl == 0) {
		memcpy(dir, slash ? "/" : ".", 2);
	} else {
		if (dl >= dsize)
			return R_INVALID;
		memcpy(dir, rel, dl);
		dir[dl] = '\0';
	}
	memcpy(base, b, strlen(b) + 1);
	return R_OK;
}

/* open_dir: a directory under root as an O_PATH fd; errno set on failure. */
static int open_dir(int root, const char *rel)
{
	int fd = open_in(root, rel, O_PATH | O_DIRECTORY, 0);

	if (fd >= 0 && fs_refused(fd)) {
		close(fd);
		errno = EACCES;
		return -1;
	}
	return fd;
}

/* mkdirs: mkdir -p of rel under root; errno set on failure. */
static int mkdirs(int root, const char *rel, unsigned left)
{
	char *dir = malloc(AGENTPROTO_MAX_PATH), base[NAME_MAX + 1];
	int pfd = -1, rc = -1;

	if (!dir) {
		errno = ENOMEM;
		return -1;
	}
	if (strcmp(rel, ".") == 0 || strcmp(rel, "/") == 0) {
		rc = 0;
		goto out;
	}
	if (left == 0 || split(rel, dir, AGENTPROTO_MAX_PATH, base) != R_OK) {
		/* "a/.." and friends: nothing to create if it resolves */
		pfd = open_dir(root, rel);
		rc = pfd >= 0 ? 0 : -1;
		if (left == 0)
			errno = ENAMETOOLONG;
		goto out;
	}
	pfd = open_dir(root, dir);
	if (pfd < 0 && errno == ENOENT && mkdirs(root, dir, left - 1) == 0)
		pfd = open_dir(root, dir);
	if (pfd < 0)
		goto out;
	if (mkdirat(pfd, base, 0755) != 0 && errno != EEXIST)
		goto out;
	rc = 0;
out:
	if (pfd >= 0)
		close(pfd);
	free(dir);
	return rc;
}

/* at: the parent directory fd and last name of a request path. */
struct at {
	struct where w;
	int dir;
	char base[NAME_MAX + 1];
};

static void at_close(struct at *a)
{
	if (a->dir >= 0)
		close(a->dir);
	if (a->w.root >= 0)
		close(a->w.root);
	a->dir = a->w.root = -1;
}

/* at_open: answers the request itself on failure. */
static enum result at_open(struct io *io, const char *path, bool parents, struct at *a)
{
	char dir[AGENTPROTO_MAX_PATH];
	const char *why = "bad path";
	enum result r;

	a->dir = a->w.root = -1;
	r = locate(path, &a->w, &why);
	if (r == R_OK && split(a->w.rel, dir, sizeof(dir), a->base) != R_OK) {
		why = "the path names no file (it ends in '.', '..' or is the root)";
		r = R_INVALID;
	}
	if (r != R_OK) {
		at_close(a);
		reply_error(io, r, why);
		return r;
	}
	if (parents && mkdirs(a->w.root, dir, MKDIR_DEPTH) != 0) {
		int e = errno;

		at_close(a);
		return fail_errno(io, e);
	}
	a->dir = open_dir(a->w.root, dir);
	if (a->dir < 0) {
		int e = errno;

		at_close(a);
		return fail_errno(io, e);
	}
	return R_OK;
}

/* ---- info ------------------------------------------------------------------ */

static void fill_info(struct agentproto_finfo *fi, const struct stat *st)
{
	fi->ftype = S_ISREG(st->st_mode)   ? AP_FT_FILE
		    : S_ISDIR(st->st_mode) ? AP_FT_DIR
		    : S_ISLNK(st->st_mode) ? AP_FT_SYMLINK
					   : AP_FT_OTHER;
	fi->mode = st->st_mode & 07777;
	fi->size = st->st_size > 0 ? (uint64_t)st->st_size : 0;
	fi->mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
	fi->target[0] = '\0';
}

static void link_target(int dirfd, const char *name, struct agentproto_finfo *fi)
{
	ssize_t n = readlinkat(dirfd, name, fi->target, sizeof(fi->target) - 1);

	fi->target[n > 0 ? n : 0] = '\0';
	if (memchr(fi->target, '\0', (size_t)(n > 0 ? n : 0)) != NULL)
		fi->target[0] = '\0';
}

/* ---- requests ---------------------------------------------------------------- */

static void tx_abort(struct tx *tx)
{
	size_t i;

	if (tx->cur >= 0)
		close(tx->cur);
	tx->cur = -1;
	for (i = 0; i < tx->n; i++) {
		(void)unlinkat(tx->files[i].dirfd, tx->files[i].tmp, 0);
		close(tx->files[i].dirfd);
	}
	tx->n = 0;
	tx->active = false;
}

/* tx_add: start the next file of a put; answers and aborts on failure. */
static enum result tx_add(struct io *io, struct tx *tx, const struct agentproto_fileop *op)
{
	struct pending *p;
	struct stat st;
	struct at a;
	enum result r;
	int e;

	if (tx->cur >= 0) {
		close(tx->cur);
		tx->cur = -1;
	}
	if (tx->n >= AGENTPROTO_MAX_FILES) {
		reply_error(io, R_TOO_BIG, "too many files in one request");
		return R_TOO_BIG;
	}
	r = at_open(io, op->path, (op->flags & AP_F_PARENTS) != 0, &a);
	if (r != R_OK)
		return r;
	if (fstatat(a.dir, a.base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		at_close(&a);
		reply_error(io, R_INVALID, "the path is a directory");
		return R_INVALID;
	}
	p = &tx->files[tx->n];
	snprintf(p->tmp, sizeof(p->tmp), ".sandpit-put-%d-%zu.tmp", (int)getpid(), tx->n);
	memcpy(p->base, a.base, sizeof(p->base));
	tx->cur = openat(a.dir, p->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (tx->cur < 0 || fchmod(tx->cur, op->mode ? op->mode : 0644) != 0) {
		e = errno;
		if (tx->cur >= 0) {
			close(tx->cur);
			tx->cur = -1;
			(void)unlinkat(a.dir, p->tmp, 0);
		}
		at_close(&a);
		return fail_errno(io, e);
	}
	p->dirfd = a.dir;
	a.dir = -1;
	at_close(&a);
	tx->n++;
	tx->active = true;
	return R_OK;
}

static enum result tx_write(struct io *io, struct tx *tx, const uint8_t *p, size_t n)
{
	ssize_t w;

	if (tx->cur < 0) {
		reply_error(io, R_INVALID, "file data without a file");
		return R_INVALID;
	}
	while (n > 0) {
		w = write(tx->cur, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return fail_errno(io, errno);
		p += w;
		n -= (size_t)w;
	}
	return R_OK;
}

/* tx_commit: rename every temporary over its target. Directories at targets
 * were refused when each file began, so a rename fails only if the sandbox
 * itself races us; then what was renamed stays and the rest is removed. */
static enum result tx_commit(struct io *io, struct tx *tx)
{
	size_t i;

	if (tx->cur >= 0) {
		if (close(tx->cur) != 0) {
			tx->cur = -1;
			return fail_errno(io, errno);
		}
		tx->cur = -1;
	}
	for (i = 0; i < tx->n; i++) {
		struct pending *p = &tx->files[i];

		if (renameat(p->dirfd, p->tmp, p->dirfd, p->base) != 0)
			return fail_errno(io, errno);
		close(p->dirfd);
		p->dirfd = -1;
		p->tmp[0] = '\0';
	}
	tx->n = 0;
	tx->active = false;
	reply_ok(io);
	return R_OK;
}

static enum result do_get(struct io *io, const struct agentproto_fileop *op)
{
	struct agentproto_finfo *fi = calloc(1, sizeof(*fi));
	uint8_t *chunk = malloc(FILE_CHUNK);
	const char *why = "bad path";
	struct where w = {.root = -1};
	struct stat st;
	uint64_t left;
	enum result r;
	int fd = -1;
	ssize_t n;

	if (!fi || !chunk) {
		r = R_NO_MEMORY;
		reply_error(io, r, "out of memory");
		goto out;
	}
	r = locate(op->path, &w, &why);
	if (r != R_OK) {
		reply_error(io, r, why);
		goto out;
	}
	/* O_NONBLOCK: a FIFO planted at the path must not hang us */
	fd = open_in(w.root, w.rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0) {
		r = fail_errno(io, errno);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = fail_errno(io, errno);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = R_INVALID;
		reply_error(io, r, "the path is a directory");
		goto out;
	}
	if (!S_ISREG(st.st_mode) || fs_refused(fd)) {
		r = R_FORBIDDEN;
		reply_error(io, r, "not a regular file the file API may read");
		goto out;
	}
	(void)fcntl(fd, F_SETFL, 0);
	fill_info(fi, &st);
	memcpy(fi->path, op->path, strlen(op->path) + 1);
	queued(io, agentproto_put_finfo(&io->out, fi));
	for (left = fi->size; left > 0; left -= (uint64_t)n) {
		n = read(fd, chunk, left < FILE_CHUNK ? (size_t)left : FILE_CHUNK);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			/* the file shrank under us: the host must not take a
			 * short body for the whole file */
			flush(io);
			r = R_CONFLICT;
			reply_error(io, r, "the file changed while it was read");
			goto out;
		}
		queued(io, agentproto_put_bytes(&io->out, AP_FCHUNK, chunk, (size_t)n));
	}
	queued(io, agentproto_put_empty(&io->out, AP_FEND));
	flush(io);
	r = R_OK;
out:
	if (fd >= 0)
		close(fd);
	if (w.root >= 0)
		close(w.root);
	free(fi);
	free(chunk);
	return r;
}

static enum result do_stat(struct io *io, const struct agentproto_fileop *op)
{
	struct agentproto_finfo *fi = calloc(1, sizeof(*fi));
	char dir[AGENTPROTO_MAX_PATH], base[NAME_MAX + 1];
	const char *why = "bad path";
	struct where w = {.root = -1};
	struct stat st;
	enum result r;
	int fd = -1;

	if (!fi) {
		reply_error(io, R_NO_MEMORY, "out of memory");
		return R_NO_MEMORY;
	}
	r = locate(op->path, &w, &why);
	if (r != R_OK) {
		reply_error(io, r, why);
		goto out;
	}
	if (split(w.rel, dir, sizeof(dir), base) == R_OK) {
		/* the name itself: a symlink is reported as a symlink */
		fd = open_dir(w.root, dir);
		if (fd < 0 || fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			r = fail_errno(io, errno);
			goto out;
		}
		fill_info(fi, &st);
		if (S_ISLNK(st.st_mode))
			link_target(fd, base, fi);
	} else {
		fd = open_dir(w.root, w.rel);
		if (fd < 0 || fstat(fd, &st) != 0) {
			r = fail_errno(io, errno);
			goto out;
		}
		fill_info(fi, &st);
	}
	memcpy(fi->path, op->path, strlen(op->path) + 1);
	queued(io, agentproto_put_finfo(&io->out, fi));
	flush(io);
out:
	if (fd >= 0)
		close(fd);
	if (w.root >= 0)
		close(w.root);
	free(fi);
	return r;
}

/* list_dir: FINFO for each entry of dirfd (consumed), depth levels deep. */
static void list_dir(struct io *io, int fd, const char *prefix, unsigned depth, size_t *count,
		     struct agentproto_finfo *fi)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	struct stat st;
	size_t plen = strlen(prefix);

	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL && *count < AGENTPROTO_MAX_LIST) {
		size_t nlen = strlen(de->d_name);
		char *sub;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (plen + 1 + nlen >= sizeof(fi->path) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		fill_info(fi, &st);
		if (plen > 0) {
			memcpy(fi->path, prefix, plen);
			fi->path[plen] = '/';
			memcpy(fi->path + plen + 1, de->d_name, nlen + 1);
		} else {
			memcpy(fi->path, de->d_name, nlen + 1);
		}
		if (S_ISLNK(st.st_mode))
			link_target(dirfd(d), de->d_name, fi);
		queued(io, agentproto_put_finfo(&io->out, fi));
		(*count)++;
		if (!S_ISDIR(st.st_mode) || depth <= 1)
			continue;
		sub = strdup(fi->path);
		if (sub) {
			int sfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			/* the top was checked by do_list; below it, / holds /proc and /sys */
			if (sfd >= 0 && fs_refused(sfd))
				close(sfd);
			else if (sfd >= 0)
				list_dir(io, sfd, sub, depth - 1, count, fi);
			free(sub);
		}
	}
	closedir(d);
}

static enum result do_list(struct io *io, const struct agentproto_fileop *op)
{
	struct agentproto_finfo *fi = calloc(1, sizeof(*fi));
	const char *why = "bad path";
	struct where w = {.root = -1};
	size_t count = 0;
	enum result r;
	int fd;

	if (!fi) {
		reply_error(io, R_NO_MEMORY, "out of memory");
		return R_NO_MEMORY;
	}
	r = locate(op->path, &w, &why);
	if (r != R_OK) {
		reply_error(io, r, why);
		goto out;
	}
	fd = open_in(w.root, w.rel, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0) {
		r = errno == ENOTDIR ? R_INVALID : from_errno(errno);
		reply_error(io, r, errno == ENOTDIR ? "not a directory" : errno_msg(errno));
		goto out;
	}
	if (fs_refused(fd)) {
		close(fd);
		r = R_FORBIDDEN;
		reply_error(io, r, "not a directory the file API may list");
		goto out;
	}
	list_dir(io, fd, "", op->depth, &count, fi);
	queued(io, agentproto_put_empty(&io->out, AP_FEND));
	flush(io);
out:
	if (w.root >= 0)
		close(w.root);
	free(fi);
	return r;
}

/* rm_tree: empty the directory name under dirfd; errno set on failure. */
static int rm_tree(int parent, const char *name, unsigned left)
{
	struct dirent *de;
	struct stat st;
	bool removed;
	int fd, rc = 0;
	DIR *d;

	if (left == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	do { /* readdir while unlinking may skip entries: repeat until a pass is empty */
		removed = false;
		rewinddir(d);
		while (rc == 0 && (de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
				continue;
			if (S_ISDIR(st.st_mode)) {
				if (rm_tree(dirfd(d), de->d_name, left - 1) != 0 ||
				    unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) != 0)
					rc = -1;
			} else if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT) {
				rc = -1;
			}
			removed = true;
		}
	} while (rc == 0 && removed);
	if (rc != 0) {
		int e = errno;

		closedir(d);
		errno = e;
		return -1;
	}
	closedir(d);
	return 0;
}

static enum result do_remove(struct io *io, const struct agentproto_fileop *op)
{
	struct stat st;
	struct at a;
	enum result r = at_open(io, op->path, false, &a);

	if (r != R_OK)
		return r;
	if (fstatat(a.dir, a.base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		r = fail_errno(io, errno);
	} else if (S_ISDIR(st.st_mode)) {
		if ((op->flags & AP_F_RECURSIVE) && rm_tree(a.dir, a.base, REMOVE_DEPTH) != 0)
			r = fail_errno(io, errno);
		else if (unlinkat(a.dir, a.base, AT_REMOVEDIR) != 0)
			r = fail_errno(io, errno);
	} else if (unlinkat(a.dir, a.base, 0) != 0) {
		r = fail_errno(io, errno);
	}
	if (r == R_OK)
		reply_ok(io);
	at_close(&a);
	return r;
}

static enum result do_mkdir(struct io *io, const struct agentproto_fileop *op)
{
	mode_t mode = op->mode ? op->mode : 0755;
	struct stat st;
	struct at a;
	enum result r = at_open(io, op->path, (op->flags & AP_F_PARENTS) != 0, &a);

	if (r != R_OK)
		return r;
	if (mkdirat(a.dir, a.base, mode) != 0) {
		if (errno == EEXIST && fstatat(a.dir, a.base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			r = R_OK; /* like mkdir -p: already there */
		} else if (errno == EEXIST) {
			r = R_CONFLICT;
			reply_error(io, r, "a file of that name exists");
		} else {
			r = fail_errno(io, errno);
		}
	} else if (op->mode && fchmodat(a.dir, a.base, mode, 0) != 0) {
		r = fail_errno(io, errno); /* the umask narrowed an explicit mode */
	}
	if (r == R_OK)
		reply_ok(io);
	at_close(&a);
	return r;
}

static enum result do_move(struct io *io, const struct agentproto_fileop *op)
{
	struct at from, to;
	enum result r = at_open(io, op->path, false, &from);

	if (r != R_OK)
		return r;
	r = at_open(io, op->path2, (op->flags & AP_F_PARENTS) != 0, &to);
	if (r != R_OK) {
		at_close(&from);
		return r;
	}
	if (renameat(from.dir, from.base, to.dir, to.base) != 0)
		r = fail_errno(io, errno);
	else
		reply_ok(io);
	at_close(&from);
	at_close(&to);
	return r;
}

/* ---- the helper ---------------------------------------------------------------- */

static void narrow(int fd, unsigned uid)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct caps[2] = {{0}};
	struct sigaction alarm_action = {.sa_handler = on_alarm};
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
	 * the helper ends through quit(), dropping a put's temporaries */
	if (sigaction(SIGALRM, &alarm_action, NULL) != 0)
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
	if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 ||
	    setresuid(0, uid, 0) != 0 || syscall(SYS_capset, &hdr, caps) != 0)
		_exit(1);
	/* a uid change resets dumpable; the user's code runs as this uid and
	 * must not read our memory through /proc */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		_exit(1);
	umask(022);
	if (chdir("/") != 0)
		_exit(1);
}

static enum result serve_one(struct io *io, struct tx *tx, const struct agentproto_hdr *h,
			     const uint8_t *p, struct agentproto_fileop *op)
{
	if ((h->type == AP_FDATA || h->type == AP_FCOMMIT) && !tx->active) {
		reply_error(io, R_INVALID, "file data outside a put");
		return R_INVALID;
	}
	if (h->type == AP_FDATA)
		return tx_write(io, tx, p, h->len);
	if (h->type == AP_FCOMMIT)
		return tx_commit(io, tx);
	if (!agentproto_type_is_fileop(h->type) ||
	    agentproto_get_fileop(h->type, p, h->len, op) != R_OK) {
		reply_error(io, R_INVALID, "malformed file request");
		return R_INVALID;
	}
	if (tx->active && h->type != AP_FPUT) {
		reply_error(io, R_INVALID, "file request inside a put");
		return R_INVALID;
	}
	switch (h->type) {
	case AP_FPUT:
		return tx_add(io, tx, op);
	case AP_FGET:
		return do_get(io, op);
	case AP_FSTAT:
		return do_stat(io, op);
	case AP_FLIST:
		return do_list(io, op);
	case AP_FREMOVE:
		return do_remove(io, op);
	case AP_FMKDIR:
		return do_mkdir(io, op);
	default:
		return do_move(io, op);
	}
}

void files_serve(int fd, const uint8_t *pre, size_t npre, unsigned code_uid)
{
	struct tx tx = {.cur = -1};
	struct io io = {.fd = FD_CONN, .tx = &tx};
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
	buf_init(&io.out, AGENTPROTO_MAX_FRAME * 2);
	narrow(fd, code_uid);
	for (;;) {
		r = read_frame(&io, &h, &p);
		if (r == R_NOT_FOUND)
			break;
		if (r != R_OK) {
			tx_abort(&tx);
			reply_error(&io, R_INVALID, "bad frame");
			break;
		}
		progress(&io); /* the first request came buffered, with no timer yet */
		r = serve_one(&io, &tx, &h, p, op);
		/* a failed put answered already; what follows of it is moot */
		if (r != R_OK && (tx.active || h.type == AP_FPUT || h.type == AP_FDATA ||
				  h.type == AP_FCOMMIT)) {
			tx_abort(&tx);
			break;
		}
	}
	tx_abort(&tx); /* EOF before FCOMMIT: nothing stays behind */
	_exit(0);
}
