/* lifecycle.h: sandbox state transitions shared by the API, the operator
 * tools and the reaper. Each keeps the row and the runtime in step: the row
 * is claimed first ("stopping"), the runtime destroyed, then the row and its
 * events are written in one transaction. */
#ifndef SANDPIT_LIFECYCLE_H
#define SANDPIT_LIFECYCLE_H

#include <stdbool.h>

#include "result.h"

struct backend;
struct db;

/* lifecycle_stop: stop sandbox id (of org_id, or of any org when org_id is
 * ""), ending in status final ("stopped", "timeout" or "error") with reason
 * as stop_reason, or deleting the row when drop. Emits sandbox.timeout for
 * "timeout", sandbox.error for "error", then sandbox.stopped. Returns R_OK
 * when this call stopped it or it was already stopped (idempotent),
 * R_NOT_FOUND when there is no such row, R_UPSTREAM when the runtime would
 * not go away (the row stays "stopping" for the reaper), R_DB. */
SP_MUST_CHECK enum result lifecycle_stop(struct db *db, struct backend *backend,
					 const char *org_id, const char *id, const char *final,
					 const char *reason, bool drop);

#endif
