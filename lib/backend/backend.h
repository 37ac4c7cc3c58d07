/* backend.h: the sandbox runtime as the API workers and the reaper see it:
 * create, destroy, inspect, list, agent address, resize. One interface, one
 * implementation per file (local.c: Linux namespaces through the privileged
 * sandpit-boxd daemon; a future kubernetes.c: pods).
 *
 * A struct backend is cheap, immutable after backend_open and safe to share
 * between threads: every call opens its own short connection. Callers pass
 * configuration in; nothing here reads the environment.
 *
 * Sandbox ids are 1..63 bytes of [A-Za-z0-9_-] (e.g. "sbx_3f9a..."); every
 * runtime object (cgroup, socket, state file) is named by the id, so a reaper
 * can find leftovers of a crashed create by id through backend_list.
 */
#ifndef SANDPIT_BACKEND_H
#define SANDPIT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/id.h"
#include "core/result.h"

#define BACKEND_ID_MAX	 ID_NAME_MAX
#define BACKEND_ADDR_MAX 256

struct backend_config {
	const char *kind;	   /* "local" (also the default when NULL) */
	const char *daemon_socket; /* local: sandpit-boxd's socket path */
	unsigned timeout_ms;	   /* per daemon request; 0: 10000 */
};

/* Limits of one sandbox. Zero fields take the daemon's defaults. */
struct sandbox_limits {
	uint32_t cpu_millis;   /* 1000 = one CPU (reslimit_parse_cpus) */
	uint64_t memory_bytes; /* RAM, swap off (reslimit_parse_memory) */
	uint32_t pids_max;     /* processes + threads */
	uint64_t disk_bytes;   /* size of /workspace (tmpfs, counts as memory) */
};

struct sandbox_usage {
	bool alive;		      /* agent process running */
	uint64_t cpu_usec;	      /* CPU time of the whole sandbox */
	uint64_t memory_current;      /* bytes */
	uint64_t memory_peak;	      /* bytes */
	uint32_t pids;		      /* current tasks */
	struct sandbox_limits limits; /* as applied */
};

struct backend; /* opaque */

/* backend_open: validate cfg and copy what it needs. R_INVALID for an unknown
 * kind or missing field. */
SP_MUST_CHECK enum result backend_open(const struct backend_config *cfg, struct backend **out);

/* backend_close: NULL is a no-op. */
void backend_close(struct backend *b);

/* backend_create: start sandbox id and return once its agent is ready to
 * serve. addr receives the agent address for agent_client_connect ("unix:..."),
 * NUL-terminated, at most BACKEND_ADDR_MAX bytes with the NUL. R_CONFLICT if
 * id exists, R_QUOTA if the host is out of sandbox slots, R_UPSTREAM if the
 * daemon or the sandbox failed (nothing is left behind then), R_INVALID for
 * a bad id or limits. */
SP_MUST_CHECK enum result backend_create(struct backend *b, const char *id,
					 const struct sandbox_limits *lim, char *addr,
					 size_t addr_size);

/* backend_create_image: backend_create with the sandbox's root built from
 * image, "NAME@KEY" of a built layer (recipe.h, tools/admin/images.h), or
 * the host's directories when image is NULL. The daemon resolves and checks
 * it in its own cache; here only that it is one printable protocol token
 * (R_INVALID otherwise). R_NOT_FOUND when the daemon has no such image. */
SP_MUST_CHECK enum result backend_create_image(struct backend *b, const char *id,
					       const struct sandbox_limits *lim, const char *image,
					       char *addr, size_t addr_size);

/* backend_destroy: kill every process of the sandbox and remove all its
 * runtime objects; works whether the agent is alive, hung or dead, and on
 * leftovers of a half-done create. R_NOT_FOUND if nothing of id exists
 * (callers treat that as done: destroy is idempotent). */
SP_MUST_CHECK enum result backend_destroy(struct backend *b, const char *id);

/* backend_inspect: live usage. R_NOT_FOUND if id does not exist. */
SP_MUST_CHECK enum result backend_inspect(struct backend *b, const char *id,
					  struct sandbox_usage *out);

/* backend_list: ids present at runtime (including half-created or dead ones
 * not yet destroyed). *ids is a malloc'd array of malloc'd strings; free with
 * backend_list_free. */
SP_MUST_CHECK enum result backend_list(struct backend *b, char ***ids, size_t *n);
void backend_list_free(char **ids, size_t n);

/* backend_agent_address: like the address returned by create. */
SP_MUST_CHECK enum result backend_agent_address(struct backend *b, const char *id, char *addr,
						size_t addr_size);

/* backend_resize: change cpu, memory and pids limits of a running sandbox
 * (zero fields unchanged; disk cannot change). */
SP_MUST_CHECK enum result backend_resize(struct backend *b, const char *id,
					 const struct sandbox_limits *lim);

/* ---- for implementations ---------------------------------------------- */
struct backend_ops {
	const char *kind;
	enum result (*create)(struct backend *, const char *, const struct sandbox_limits *,
			      const char *, char *, size_t);
	enum result (*destroy)(struct backend *, const char *);
	enum result (*inspect)(struct backend *, const char *, struct sandbox_usage *);
	enum result (*list)(struct backend *, char ***, size_t *);
	enum result (*agent_address)(struct backend *, const char *, char *, size_t);
	enum result (*resize)(struct backend *, const char *, const struct sandbox_limits *);
};

extern const struct backend_ops backend_local_ops;

#endif
