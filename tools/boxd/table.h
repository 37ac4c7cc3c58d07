/* table.h: the daemon's sandbox table and the state files that let the
 * next run adopt it. The table has --max-sandboxes slots (struct daemon's
 * boxes, allocated at start-up); a slot's index also picks the sandbox's
 * host uids. Each live sandbox has a state file <run_dir>/<id>.state (pid,
 * slot, limits), written after a create or a resize and read back by
 * adopt_existing when the daemon starts again (after a crash, its keeper
 * restarts it). Calls down into cgroup.h only; never into request.c. */
#ifndef SANDPIT_BOXD_TABLE_H
#define SANDPIT_BOXD_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "backend/backend.h"

struct daemon; /* daemon.h */

struct box {
	bool used;
	bool child; /* our child (else adopted from a previous run) */
	bool alive;
	char id[BACKEND_ID_MAX + 1];
	pid_t pid;
	unsigned slot;
	struct sandbox_limits lim;
};

/* path_buf: "<dir>/<id><suffix>" in out (size bytes); out, or NULL when it
 * does not fit (out then holds no usable path). */
char *path_buf(char *out, size_t size, const char *dir, const char *id, const char *suffix);

/* box_count: how many slots are in use. */
unsigned box_count(const struct daemon *d);

/* find_box: the used slot of id, or NULL. */
struct box *find_box(struct daemon *d, const char *id);

/* alloc_box: the first free slot, zeroed, marked used and named id (id is
 * valid: id_is_name); NULL when every slot is taken. The caller
 * clears used again if the sandbox does not come to be. */
struct box *alloc_box(struct daemon *d, const char *id);

/* write_state: replace <run_dir>/<id>.state with b's pid, slot and limits
 * (written to a temporary file, then renamed). A failure is logged only: the
 * sandbox works, a later run just cannot adopt it. */
void write_state(struct daemon *d, const struct box *b);

/* adopt_existing: at start-up, take back into their slots the sandboxes
 * whose state files a previous run left (alive: their cgroup still exists;
 * not our children). Files with a bad name, an unreadable text or a slot
 * out of range or already taken are skipped. */
void adopt_existing(struct daemon *d);

#endif
