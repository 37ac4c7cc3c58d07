/* cgroup.h: per-sandbox control groups on cgroup v2 (unified) or v1 (one
 * hierarchy per controller: memory, cpu, cpuacct, pids, freezer), detected at
 * start-up. Used only by the privileged daemon (sandpit-boxd).
 *
 * Layout: <mount>/<parent>/<sandbox id> in every hierarchy used, where parent
 * is derived from the instance's state directory so two instances never see
 * each other's groups, and a reaper finds leftovers by id. Every id is
 * checked with id_is_name (one safe path component): a function given any
 * other returns R_INVALID (cgroup_exists: false), and cgroup_list skips
 * directories not so named.
 */
#ifndef SANDPIT_CGROUP_H
#define SANDPIT_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/result.h"

struct cgroup_root; /* opaque */

struct cgroup_limits {
	uint32_t cpu_millis;   /* 0: unlimited */
	uint64_t memory_bytes; /* 0: unlimited; swap is always off */
	uint32_t pids_max;     /* 0: unlimited */
};

struct cgroup_stats {
	uint64_t cpu_usec;
	uint64_t memory_current;
	uint64_t memory_peak;
	uint32_t pids;
	bool populated; /* some process is still inside */
};

/* cgroup_detect: find the cgroup layout under mount ("/sys/fs/cgroup" when
 * NULL), create <parent> in each hierarchy and enable the memory, cpu and pids
 * controllers for its children (v2). A pure v2 mount wins; otherwise the v1
 * memory, cpu, cpuacct, pids and freezer hierarchies are required (an empty
 * hybrid "unified" mount is ignored). On failure logs what is missing and
 * returns R_INTERNAL. */
SP_MUST_CHECK enum result cgroup_detect(const char *mount, const char *parent,
					struct cgroup_root **out);
void cgroup_root_free(struct cgroup_root *root);

/* cgroup_is_v2: which layout was detected. */
bool cgroup_is_v2(const struct cgroup_root *root);

/* cgroup_create: make the group id with limits. R_CONFLICT if it exists. On
 * failure nothing is left. */
SP_MUST_CHECK enum result cgroup_create(struct cgroup_root *root, const char *id,
					const struct cgroup_limits *lim);

/* cgroup_set_limits: change limits (zero fields are left alone). */
SP_MUST_CHECK enum result cgroup_set_limits(struct cgroup_root *root, const char *id,
					    const struct cgroup_limits *lim);

/* cgroup_remove_parent: rmdir the instance's parent group, which must hold
 * no sandbox's group any more (R_INTERNAL otherwise, logged). */
SP_MUST_CHECK enum result cgroup_remove_parent(struct cgroup_root *root);

/* cgroup_set_parent_limits: limits on the instance's parent group, which
 * bound all its sandboxes together (zero fields are left alone). */
SP_MUST_CHECK enum result cgroup_set_parent_limits(struct cgroup_root *root,
						   const struct cgroup_limits *lim);

/* cgroup_attach: move pid into the group in every hierarchy. */
SP_MUST_CHECK enum result cgroup_attach(struct cgroup_root *root, const char *id, pid_t pid);

/* cgroup_open_oom_counter: an O_RDONLY fd on the file whose "oom_kill N" line
 * counts OOM kills in the group (memory.events on v2, memory.oom_control on
 * v1), for the agent to read (pread at 0) without seeing any cgroup fs. */
SP_MUST_CHECK enum result cgroup_open_oom_counter(struct cgroup_root *root, const char *id,
						  int *fd);

/* cgroup_kill: SIGKILL every process in the group (cgroup.kill on v2, freeze
 * + kill + thaw on v1) and wait up to timeout_ms for it to be empty.
 * R_NOT_FOUND if the group does not exist, R_TIMEOUT if processes remain. */
SP_MUST_CHECK enum result cgroup_kill(struct cgroup_root *root, const char *id,
				      unsigned timeout_ms);

/* cgroup_remove: rmdir the group in every hierarchy (retrying briefly while
 * the kernel still counts exiting tasks). R_NOT_FOUND if none existed. */
SP_MUST_CHECK enum result cgroup_remove(struct cgroup_root *root, const char *id);

/* cgroup_stats: usage of the group. R_NOT_FOUND if it does not exist. */
SP_MUST_CHECK enum result cgroup_stats(struct cgroup_root *root, const char *id,
				       struct cgroup_stats *out);

/* cgroup_exists: the group exists in the first hierarchy. */
bool cgroup_exists(struct cgroup_root *root, const char *id);

/* cgroup_list: call fn for each group name (id_is_name) under the parent. */
SP_MUST_CHECK enum result cgroup_list(struct cgroup_root *root,
				      void (*fn)(const char *id, void *arg), void *arg);

#endif
