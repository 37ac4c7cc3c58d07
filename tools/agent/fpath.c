/* fpath.c: path resolution for the file helper. Relative paths (and
 * /workspace/...) are rooted at /workspace, so `..` and absolute symlinks
 * stay inside it; other absolute paths are rooted at / of the sandbox. */
#include "fpath.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fio.h"

#define OPEN_RETRIES 100
#define MKDIR_DEPTH  128
#define WORKSPACE    "/workspace"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

int fpath_open_in(int root, const char *rel, uint64_t flags, uint64_t mode)
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

bool fpath_is_refused(int fd)
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

enum result fpath_locate(const char *path, struct where *w, const char **why)
{
	const char *rest = path, *root = WORKSPACE;
	size_t n;

	if (path[0] == '/') {
		while (*rest == '/')
			rest++;
		if (first_is(rest, "workspace")) {
			rest += strlen("workspace");
		} else if (first_is(rest, "proc") || first_is(rest, "sys") ||
			   first_is(rest, "dev")) {
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
	return R_SUCCESS;
}

enum result fpath_split(const char *rel, char *dir, size_t dsize, char *base)
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
	return R_SUCCESS;
}

int fpath_open_dir(int root, const char *rel)
{
	int fd = fpath_open_in(root, rel, O_PATH | O_DIRECTORY, 0);

	if (fd >= 0 && fpath_is_refused(fd)) {
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
	if (left == 0 || fpath_split(rel, dir, AGENTPROTO_MAX_PATH, base) != R_SUCCESS) {
		/* "a/.." and friends: nothing to create if it resolves */
		pfd = fpath_open_dir(root, rel);
		rc = pfd >= 0 ? 0 : -1;
		if (left == 0)
			errno = ENAMETOOLONG;
		goto out;
	}
	pfd = fpath_open_dir(root, dir);
	if (pfd < 0 && errno == ENOENT && mkdirs(root, dir, left - 1) == 0)
		pfd = fpath_open_dir(root, dir);
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

void fpath_at_close(struct at *a)
{
	if (a->dir >= 0)
		close(a->dir);
	if (a->w.root >= 0)
		close(a->w.root);
	a->dir = a->w.root = -1;
}

enum result fpath_at_open(struct io *io, const char *path, bool parents, struct at *a)
{
	char dir[AGENTPROTO_MAX_PATH];
	const char *why = "bad path";
	enum result r;

	a->dir = a->w.root = -1;
	r = fpath_locate(path, &a->w, &why);
	if (r == R_SUCCESS && fpath_split(a->w.rel, dir, sizeof(dir), a->base) != R_SUCCESS) {
		why = "the path names no file (it ends in '.', '..' or is the root)";
		r = R_INVALID;
	}
	if (r != R_SUCCESS) {
		fpath_at_close(a);
		fio_error(io, r, why);
		return r;
	}
	if (parents && mkdirs(a->w.root, dir, MKDIR_DEPTH) != 0) {
		int e = errno;

		fpath_at_close(a);
		return fio_fail_errno(io, e);
	}
	a->dir = fpath_open_dir(a->w.root, dir);
	if (a->dir < 0) {
		int e = errno;

		fpath_at_close(a);
		return fio_fail_errno(io, e);
	}
	return R_SUCCESS;
}
