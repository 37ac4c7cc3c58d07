/* session.h: what the proxy needs to know before it upgrades a connection:
 * who the caller is (the API's own auth code, or a stream token) and where
 * the sandbox's agent is (its row, scoped to the caller's org). The only
 * part of the proxy that talks to PostgreSQL. Calls block, so they never run
 * on the event loop: lookup.c runs them on its worker threads, each with its
 * own session. */
#ifndef SANDPIT_STREAM_SESSION_H
#define SANDPIT_STREAM_SESSION_H

#include <stddef.h>

#include "core/result.h"

struct session; /* opaque: a database connection and the auth policy */
struct ratelimit;

struct session_grant {
	char org_id[48];
	char actor[96];	 /* for logs: key id, "jwt:<sub>" or "stream-token" */
	unsigned scopes; /* AUTH_SCOPE_* */
};

struct session_target {
	char status[16];	 /* creating, running, stopping, stopped... */
	char agent_address[256]; /* "unix:<path>" or "tcp:host:port" */
};

/* session_open: connect to the instance database (config must be loaded).
 * limits is the process's rate-limit table (thread-safe), borrowed: it
 * outlives the session. A database that is away is no error: the session
 * reconnects on its next statement. */
SP_MUST_CHECK enum result session_open(struct ratelimit *limits, struct session **out);

/* session_free: NULL is a no-op. */
void session_free(struct session *s);

/* session_authenticate: an Authorization header value (checked exactly as
 * the API does), or, when authorization is empty, a stream token from the
 * query string bound to sandbox_id, whose minting key must still be live
 * (not revoked, not expired). R_UNAUTHORIZED, R_QUOTA (*retry_after set),
 * R_DB. *out written only on R_SUCCESS. */
SP_MUST_CHECK enum result session_authenticate(struct session *s, const char *authorization,
					       const char *token, const char *sandbox_id,
					       struct session_grant *out, int *retry_after);

/* session_find_sandbox: the sandbox row sandbox_id of org_id. R_NOT_FOUND
 * (also for another org's sandbox), R_DB. */
SP_MUST_CHECK enum result session_find_sandbox(struct session *s, const char *org_id,
					       const char *sandbox_id, struct session_target *out);

#endif
