/* spawn.h: start one sandbox: the namespaced child that builds the root and
 * execs sandpit-agent as PID 1. */
#ifndef SANDPIT_BOXD_SPAWN_H
#define SANDPIT_BOXD_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "core/result.h"
#include "image.h"

/* In-sandbox ids: the agent is root of its user namespace, commands run as
 * SANDBOX_CODE_UID; both map to per-sandbox host ids (spawn_params). */
#define SANDBOX_CODE_UID 1000

struct spawn_params {
	const char *id;
	int listen_fd;			  /* agent socket, already bound and listening */
	int agent_exe_fd;		  /* O_RDONLY|O_CLOEXEC on the sandpit-agent binary */
	int log_fd;			  /* agent stderr, -1: /dev/null */
	const char *root_mnt;		  /* empty host directory used as the mount point */
	const char *etc_dir;		  /* template /etc, bound read-only (etc.h) */
	const char *etc_hosts;		  /* per-sandbox /etc/hosts, bound over the template's */
	const char *etc_hostname;	  /* per-sandbox /etc/hostname, likewise */
	const struct image_layers *image; /* root from these layers; NULL: host dirs */
	struct cgroup_root *cg;
	uid_t agent_uid;     /* host uid (= gid) of the agent */
	uid_t code_uid;	     /* host uid (= gid) of user commands */
	uint64_t disk_bytes; /* /workspace size (with an image: /workspace and
			      * the root's writable layer together) */
	uint64_t tmp_bytes;  /* /tmp and /dev/shm size */
	uint32_t nofile;     /* RLIMIT_NOFILE of commands */
	uint32_t pids_max;   /* RLIMIT_NPROC of commands */
	unsigned timeout_ms; /* until the agent reports ready */
};

/* spawn_sandbox: clone into new user, pid, mount, net, uts, ipc namespaces,
 * join the (already created) cgroup from outside, map ids, wait until the
 * agent reports ready. On failure the child is killed and reaped, err holds
 * a message, and the caller removes the cgroup. */
SP_MUST_CHECK enum result spawn_sandbox(const struct spawn_params *p, pid_t *pid, char *err,
					size_t errlen);

#endif
