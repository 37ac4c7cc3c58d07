/* events.h: the outbox. An event row is written in the same transaction as
 * the state change it announces; its payload is the webhook body (sent in
 * compact form, lib/sandbox/webhook.h):
 *   {"id":"evt_...","event":"sandbox.ready","timestamp":"...Z",
 *    "sandboxId":"sbx_...","orgId":"org_...","data":{...}} */
#ifndef SANDPIT_EVENTS_H
#define SANDPIT_EVENTS_H

#include <stddef.h>

#include "core/result.h"

struct db;
struct json;

/* events_build: the event id and payload text (malloc'd, caller frees) for
 * callers that insert the event in the same statement as the change it
 * announces (one round trip instead of a transaction of several). The
 * insert must be:
 *   INSERT INTO events (id, org_id, sandbox_id, type, payload)
 *   VALUES (id, org, sandbox, type, payload::jsonb) */
SP_MUST_CHECK enum result events_build(const char *org_id, const char *sandbox_id, const char *type,
				       const struct json *data, char *id, size_t id_size,
				       char **payload);

/* events_emit: append one event. data is borrowed (may be NULL for {}).
 * sandbox_id may be NULL. Runs in the caller's transaction, if any. */
SP_MUST_CHECK enum result events_emit(struct db *db, const char *org_id, const char *sandbox_id,
				      const char *type, const struct json *data);

#endif
