/* lifecycle.h: sandbox state transitions shared by the API, the operator
 * tools and the reaper. Each keeps the row and the runtime in step: the row
 * is claimed first ("stopping"), the runtime destroyed, then the row and its
 * events are written in one transaction. */
#ifndef SANDPIT_LIFECYCLE_H
#define SANDPIT_LIFECYCLE_H

#include <stdbool.h>

#include "core/result.h"

struct backend;
struct db;

/* How a stop ends: the row's final status and the events it adds. */
enum lifecycle_end {
	LIFECYCLE_STOPPED, /* status "stopped": sandbox.stopped */
	LIFECYCLE_TIMEOUT, /* status "timeout": sandbox.timeout, sandbox.stopped */
	LIFECYCLE_ERROR,   /* status "error": sandbox.error, sandbox.stopped */
};

/* lifecycle_end_status: the status text of end ("stopped", "timeout",
 * "error"), as stored in the row and shown on the wire. */
const char *lifecycle_end_status(enum lifecycle_end end);

/* lifecycle_stop: stop sandbox id (of org_id, or of any org when org_id is
 * ""), ending as end says with reason as stop_reason, or deleting the row
 * when drop. Returns R_SUCCESS when this call stopped it or it was already
 * stopped (idempotent), R_NOT_FOUND when there is no such row, R_UPSTREAM
 * when the runtime would not go away (the row stays "stopping" for the
 * reaper), R_DB. */
SP_MUST_CHECK enum result lifecycle_stop(struct db *db, struct backend *backend, const char *org_id,
					 const char *id, enum lifecycle_end end, const char *reason,
					 bool drop);

/* lifecycle_mark_running: a create's runtime is up (agent at addr): the row
 * goes from "creating" to "running" and sandbox.ready (data.startupMs) is
 * emitted, in one transaction. When the row is no longer "creating" (a stop
 * or a delete won the race), nothing is emitted, the runtime is destroyed
 * (backend may be NULL: then it is left to the reaper's orphan sweep) and
 * R_CONFLICT is returned. R_DB, R_NO_MEMORY. */
SP_MUST_CHECK enum result lifecycle_mark_running(struct db *db, struct backend *backend,
						 const char *org_id, const char *id,
						 const char *addr, long long startup_ms);

/* lifecycle_mark_error: a create that failed half way: the runtime is
 * destroyed, and a row still "creating" or "running" becomes "error" with
 * sandbox.error (data.error = why), in one transaction. A row already
 * stopping or finished is left as it is, with no event. Best effort: a
 * failure is logged, and the reaper fails a row stuck in "creating". */
void lifecycle_mark_error(struct db *db, struct backend *backend, const char *org_id,
			  const char *id, const char *why);

#endif
