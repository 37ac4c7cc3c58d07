/* audit.h: append-only audit rows for security-relevant actions. */
#ifndef SANDPIT_AUDIT_H
#define SANDPIT_AUDIT_H

#include "core/result.h"

struct db;

/* audit_record: one audit_logs row. details_json is a JSON object text or
 * NULL; it must never hold a secret. Runs in the caller's transaction, if any. */
SP_MUST_CHECK enum result audit_record(struct db *db, const char *org_id, const char *actor,
				       const char *action, const char *target,
				       const char *request_id, const char *details_json);

#endif
