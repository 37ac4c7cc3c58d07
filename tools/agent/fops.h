/* fops.h: the file helper's operations, one per request: a put (a
 * transaction of one or more files, committed by renames), get, stat, list,
 * remove, mkdir and move. Each answers its request itself (fio.h), error
 * included, and returns the code it answered. */
#ifndef SANDPIT_AGENT_FOPS_H
#define SANDPIT_AGENT_FOPS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agentproto.h"

struct io;

/* pending: one file of a put, written to a temporary beside its target. */
struct pending {
	int dirfd;
	char tmp[64];
	char base[NAME_MAX + 1];
};

/* tx: a put in progress; files has room for AGENTPROTO_MAX_FILES. */
struct tx {
	struct pending *files;
	size_t n;
	int cur; /* fd of the file being written, -1 between files */
	bool active;
};

/* fops_put_add: start the next file of a put (FPUT op): a new temporary
 * beside the target, created with op's mode. */
enum result fops_put_add(struct io *io, struct tx *tx, const struct agentproto_fileop *op);

/* fops_put_write: append FDATA bytes to the current file. */
enum result fops_put_write(struct io *io, struct tx *tx, const uint8_t *p, size_t n);

/* fops_put_commit: rename every temporary over its target and answer OK.
 * Directories at targets were refused when each file began, so a rename
 * fails only if the sandbox itself races us; then what was renamed stays
 * and the rest is left for fops_put_abort. */
enum result fops_put_commit(struct io *io, struct tx *tx);

/* fops_put_abort: drop the put: its temporaries are removed, tx is idle. */
void fops_put_abort(struct tx *tx);

/* FGET (FINFO, FCHUNKs, FEND), FSTAT (FINFO), FLIST (FINFOs, FEND), FREMOVE,
 * FMKDIR (like mkdir -p when it exists) and FMOVE (OK) of op. */
enum result fops_get(struct io *io, const struct agentproto_fileop *op);
enum result fops_stat(struct io *io, const struct agentproto_fileop *op);
enum result fops_list(struct io *io, const struct agentproto_fileop *op);
enum result fops_remove(struct io *io, const struct agentproto_fileop *op);
enum result fops_mkdir(struct io *io, const struct agentproto_fileop *op);
enum result fops_move(struct io *io, const struct agentproto_fileop *op);

#endif
