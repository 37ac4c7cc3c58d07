/* fpath.h: how the file helper resolves a request path: a root (/workspace
 * for relative paths and /workspace/..., else / of the sandbox) and a path
 * below it opened with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS; /proc, /sys
 * and /dev refused by name, procfs/sysfs/devpts/cgroupfs... after opening. */
#ifndef SANDPIT_AGENT_FPATH_H
#define SANDPIT_AGENT_FPATH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agentproto.h"

struct io;

/* where: a request path split into a root directory fd and a path below it. */
struct where {
	int root;
	char rel[AGENTPROTO_MAX_PATH];
};

/* at: the parent directory fd and last name of a request path. */
struct at {
	struct where w;
	int dir;
	char base[NAME_MAX + 1];
};

/* fpath_open_in: openat2 of rel under root, never leaving it; retries a
 * while when a concurrent rename races the walk, then fails with EAGAIN.
 * Returns the fd (close-on-exec), or -1 with errno set. */
int fpath_open_in(int root, const char *rel, uint64_t flags, uint64_t mode);

/* fpath_is_refused: the object of fd lives where a file API has no business
 * (procfs, sysfs, devpts, cgroupfs, debugfs, securityfs, bpffs), or its file
 * system cannot be told. */
bool fpath_is_refused(int fd);

/* fpath_locate: pick the root and the path under it. On success w->root is
 * an O_PATH fd the caller closes; on failure *why says what is wrong. */
enum result fpath_locate(const char *path, struct where *w, const char **why);

/* fpath_split: rel into its directory part (dir, dsize bytes) and last name
 * (base, NAME_MAX + 1 bytes). R_INVALID when the last name is "." or ".."
 * (nothing to create, remove or rename there) or a part is too long. */
enum result fpath_split(const char *rel, char *dir, size_t dsize, char *base);

/* fpath_open_dir: a directory under root as an O_PATH fd, refused (EACCES)
 * where fpath_is_refused; -1 with errno set on failure. */
int fpath_open_dir(int root, const char *rel);

/* fpath_at_open: the parent directory of path (created first, mkdir -p,
 * when parents) and its last name. On failure answers the request itself
 * and returns the code answered, with nothing left open. */
enum result fpath_at_open(struct io *io, const char *path, bool parents, struct at *a);

/* fpath_at_close: close what fpath_at_open opened (again is harmless). */
void fpath_at_close(struct at *a);

#endif
