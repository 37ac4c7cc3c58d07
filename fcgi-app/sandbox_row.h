/* sandbox_row.h: reading a sandbox row scoped to the caller's org, and the
 * transitions every handler shares (mark running, finish a stop). */
#ifndef SANDPIT_SANDBOX_ROW_H
#define SANDPIT_SANDBOX_ROW_H

#include "backend/backend.h"
#include "http.h"
#include "core/id.h"

struct sandbox_row {
	char id[ID_SIZE("sbx_")];
	char status[16];
	char agent_address[BACKEND_ADDR_MAX];
	long long memory_bytes;
	struct json *env; /* owned: the sandbox env object */
};

/* sandbox_row_load: the row of rq->params[0] in the caller's org. R_NOT_FOUND
 * for a malformed id, another org's or a missing one (message set). On R_SUCCESS
 * free with sandbox_row_free. */
SP_MUST_CHECK enum result sandbox_row_load(struct req *rq, struct sandbox_row *out);
void sandbox_row_free(struct sandbox_row *row);

/* sandbox_stop: stop (or, with drop, delete) a sandbox of the caller's org:
 * mark stopping, destroy the runtime, mark stopped with reason and emit
 * sandbox.stopped. Idempotent: a stopped sandbox stays as it is. */
SP_MUST_CHECK enum result sandbox_stop(struct req *rq, const char *id, const char *reason,
				       bool drop);

#endif
