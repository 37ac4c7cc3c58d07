/* fops.c: the file helper's operations. Writes go to a temporary beside
 * the target and are renamed over it, so a symlink at the target is
 * replaced, never written through; a get refuses anything but a regular
 * file of an ordinary file system. */
#include "fops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fio.h"
#include "fpath.h"

#define FILE_CHUNK   (256u * 1024u)
#define REMOVE_DEPTH 256

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

void fops_put_abort(struct tx *tx)
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

enum result fops_put_add(struct io *io, struct tx *tx, const struct agentproto_fileop *op)
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
		fio_error(io, R_TOO_BIG, "too many files in one request");
		return R_TOO_BIG;
	}
	r = fpath_at_open(io, op->path, (op->flags & AP_F_PARENTS) != 0, &a);
	if (r != R_SUCCESS)
		return r;
	if (fstatat(a.dir, a.base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		fpath_at_close(&a);
		fio_error(io, R_INVALID, "the path is a directory");
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
		fpath_at_close(&a);
		return fio_fail_errno(io, e);
	}
	p->dirfd = a.dir;
	a.dir = -1;
	fpath_at_close(&a);
	tx->n++;
	tx->active = true;
	return R_SUCCESS;
}

enum result fops_put_write(struct io *io, struct tx *tx, const uint8_t *p, size_t n)
{
	ssize_t w;

	if (tx->cur < 0) {
		fio_error(io, R_INVALID, "file data without a file");
		return R_INVALID;
	}
	while (n > 0) {
		w = write(tx->cur, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return fio_fail_errno(io, errno);
		p += w;
		n -= (size_t)w;
	}
	return R_SUCCESS;
}

enum result fops_put_commit(struct io *io, struct tx *tx)
{
	size_t i;

	if (tx->cur >= 0) {
		if (close(tx->cur) != 0) {
			tx->cur = -1;
			return fio_fail_errno(io, errno);
		}
		tx->cur = -1;
	}
	for (i = 0; i < tx->n; i++) {
		struct pending *p = &tx->files[i];

		if (renameat(p->dirfd, p->tmp, p->dirfd, p->base) != 0)
			return fio_fail_errno(io, errno);
		close(p->dirfd);
		p->dirfd = -1;
		p->tmp[0] = '\0';
	}
	tx->n = 0;
	tx->active = false;
	fio_ok(io);
	return R_SUCCESS;
}

enum result fops_get(struct io *io, const struct agentproto_fileop *op)
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
		fio_error(io, r, "out of memory");
		goto out;
	}
	r = fpath_locate(op->path, &w, &why);
	if (r != R_SUCCESS) {
		fio_error(io, r, why);
		goto out;
	}
	/* O_NONBLOCK: a FIFO planted at the path must not hang us */
	fd = fpath_open_in(w.root, w.rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0) {
		r = fio_fail_errno(io, errno);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = fio_fail_errno(io, errno);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = R_INVALID;
		fio_error(io, r, "the path is a directory");
		goto out;
	}
	if (!S_ISREG(st.st_mode) || fpath_is_refused(fd)) {
		r = R_FORBIDDEN;
		fio_error(io, r, "not a regular file the file API may read");
		goto out;
	}
	(void)fcntl(fd, F_SETFL, 0);
	fill_info(fi, &st);
	memcpy(fi->path, op->path, strlen(op->path) + 1);
	fio_queued(io, agentproto_put_finfo(fio_out(io), fi));
	for (left = fi->size; left > 0; left -= (uint64_t)n) {
		n = read(fd, chunk, left < FILE_CHUNK ? (size_t)left : FILE_CHUNK);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			/* the file shrank under us: the host must not take a
			 * short body for the whole file */
			fio_flush(io);
			r = R_CONFLICT;
			fio_error(io, r, "the file changed while it was read");
			goto out;
		}
		fio_queued(io, agentproto_put_bytes(fio_out(io), AP_FCHUNK, chunk, (size_t)n));
	}
	fio_queued(io, agentproto_put_empty(fio_out(io), AP_FEND));
	fio_flush(io);
	r = R_SUCCESS;
out:
	if (fd >= 0)
		close(fd);
	if (w.root >= 0)
		close(w.root);
	free(fi);
	free(chunk);
	return r;
}

enum result fops_stat(struct io *io, const struct agentproto_fileop *op)
{
	struct agentproto_finfo *fi = calloc(1, sizeof(*fi));
	char dir[AGENTPROTO_MAX_PATH], base[NAME_MAX + 1];
	const char *why = "bad path";
	struct where w = {.root = -1};
	struct stat st;
	enum result r;
	int fd = -1;

	if (!fi) {
		fio_error(io, R_NO_MEMORY, "out of memory");
		return R_NO_MEMORY;
	}
	r = fpath_locate(op->path, &w, &why);
	if (r != R_SUCCESS) {
		fio_error(io, r, why);
		goto out;
	}
	if (fpath_split(w.rel, dir, sizeof(dir), base) == R_SUCCESS) {
		/* the name itself: a symlink is reported as a symlink */
		fd = fpath_open_dir(w.root, dir);
		if (fd < 0 || fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			r = fio_fail_errno(io, errno);
			goto out;
		}
		fill_info(fi, &st);
		if (S_ISLNK(st.st_mode))
			link_target(fd, base, fi);
	} else {
		fd = fpath_open_dir(w.root, w.rel);
		if (fd < 0 || fstat(fd, &st) != 0) {
			r = fio_fail_errno(io, errno);
			goto out;
		}
		fill_info(fi, &st);
	}
	memcpy(fi->path, op->path, strlen(op->path) + 1);
	fio_queued(io, agentproto_put_finfo(fio_out(io), fi));
	fio_flush(io);
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
		fio_queued(io, agentproto_put_finfo(fio_out(io), fi));
		(*count)++;
		if (!S_ISDIR(st.st_mode) || depth <= 1)
			continue;
		sub = strdup(fi->path);
		if (sub) {
			int sfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			/* the top was checked by do_list; below it, / holds /proc and /sys */
			if (sfd >= 0 && fpath_is_refused(sfd))
				close(sfd);
			else if (sfd >= 0)
				list_dir(io, sfd, sub, depth - 1, count, fi);
			free(sub);
		}
	}
	closedir(d);
}

enum result fops_list(struct io *io, const struct agentproto_fileop *op)
{
	struct agentproto_finfo *fi = calloc(1, sizeof(*fi));
	const char *why = "bad path";
	struct where w = {.root = -1};
	size_t count = 0;
	enum result r;
	int fd;

	if (!fi) {
		fio_error(io, R_NO_MEMORY, "out of memory");
		return R_NO_MEMORY;
	}
	r = fpath_locate(op->path, &w, &why);
	if (r != R_SUCCESS) {
		fio_error(io, r, why);
		goto out;
	}
	fd = fpath_open_in(w.root, w.rel, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0) {
		r = errno == ENOTDIR ? R_INVALID : fio_result_of(errno);
		fio_error(io, r, errno == ENOTDIR ? "not a directory" : fio_errno_msg(errno));
		goto out;
	}
	if (fpath_is_refused(fd)) {
		close(fd);
		r = R_FORBIDDEN;
		fio_error(io, r, "not a directory the file API may list");
		goto out;
	}
	list_dir(io, fd, "", op->depth, &count, fi);
	fio_queued(io, agentproto_put_empty(fio_out(io), AP_FEND));
	fio_flush(io);
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

enum result fops_remove(struct io *io, const struct agentproto_fileop *op)
{
	struct stat st;
	struct at a;
	enum result r = fpath_at_open(io, op->path, false, &a);

	if (r != R_SUCCESS)
		return r;
	if (fstatat(a.dir, a.base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		r = fio_fail_errno(io, errno);
	} else if (S_ISDIR(st.st_mode)) {
		if ((op->flags & AP_F_RECURSIVE) && rm_tree(a.dir, a.base, REMOVE_DEPTH) != 0)
			r = fio_fail_errno(io, errno);
		else if (unlinkat(a.dir, a.base, AT_REMOVEDIR) != 0)
			r = fio_fail_errno(io, errno);
	} else if (unlinkat(a.dir, a.base, 0) != 0) {
		r = fio_fail_errno(io, errno);
	}
	if (r == R_SUCCESS)
		fio_ok(io);
	fpath_at_close(&a);
	return r;
}

enum result fops_mkdir(struct io *io, const struct agentproto_fileop *op)
{
	mode_t mode = op->mode ? op->mode : 0755;
	struct stat st;
	struct at a;
	enum result r = fpath_at_open(io, op->path, (op->flags & AP_F_PARENTS) != 0, &a);

	if (r != R_SUCCESS)
		return r;
	if (mkdirat(a.dir, a.base, mode) != 0) {
		if (errno == EEXIST && fstatat(a.dir, a.base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			r = R_SUCCESS; /* like mkdir -p: already there */
		} else if (errno == EEXIST) {
			r = R_CONFLICT;
			fio_error(io, r, "a file of that name exists");
		} else {
			r = fio_fail_errno(io, errno);
		}
	} else if (op->mode && fchmodat(a.dir, a.base, mode, 0) != 0) {
		r = fio_fail_errno(io, errno); /* the umask narrowed an explicit mode */
	}
	if (r == R_SUCCESS)
		fio_ok(io);
	fpath_at_close(&a);
	return r;
}

enum result fops_move(struct io *io, const struct agentproto_fileop *op)
{
	struct at from, to;
	enum result r = fpath_at_open(io, op->path, false, &from);

	if (r != R_SUCCESS)
		return r;
	r = fpath_at_open(io, op->path2, (op->flags & AP_F_PARENTS) != 0, &to);
	if (r != R_SUCCESS) {
		fpath_at_close(&from);
		return r;
	}
	if (renameat(from.dir, from.base, to.dir, to.base) != 0)
		r = fio_fail_errno(io, errno);
	else
		fio_ok(io);
	fpath_at_close(&from);
	fpath_at_close(&to);
	return r;
}
