/* daemon.h: the state of the sandpit-boxd daemon that its files share: what
 * the flags say (struct options, filled by main.c) and the daemon itself
 * (struct daemon: paths derived from the state directory, the cgroup root,
 * the agent binary, the sandbox table). main.c owns it; table.c and
 * request.c read the options and work on the table through it. Types only:
 * no functions, so every file can include it without a cycle. */
#ifndef SANDPIT_BOXD_DAEMON_H
#define SANDPIT_BOXD_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "bounds.h"
#include "cgroup.h"

struct box; /* one entry of the sandbox table (table.h) */

/* options: what the flags say; values shared with the API default from
 * the configuration table (config()), boxd-specific ones from here. */
struct options {
	const char *state_dir;
	const char *socket_path;
	const char *agent_path;
	const char *group;
	const char *cgroup_mount;
	const char *images; /* the image cache: image=NAME@KEY is looked up there only */
	unsigned long uid_base;
	unsigned max_sandboxes;
	struct sandbox_limits defaults;
	struct bounds bounds;
	uint64_t tmp_bytes;
	uint32_t nofile;
	bool kill_on_exit;
	bool agent_log;
	bool check;
};

/* daemon: one per process, set up by main.c (setup) before the first
 * request; boxes has nboxes (= --max-sandboxes) slots. */
struct daemon {
	struct options cfg;
	char run_dir[PATH_MAX];
	char root_mnt[PATH_MAX];
	char etc_dir[PATH_MAX];
	char sock[PATH_MAX];
	struct cgroup_root *cg;
	int agent_fd;
	gid_t gid; /* socket group, (gid_t)-1 for root only */
	struct box *boxes;
	unsigned nboxes;
};

#endif
