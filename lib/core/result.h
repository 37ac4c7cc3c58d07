/* result.h: the one project-wide result code, and its mapping to HTTP. */
#ifndef SANDPIT_RESULT_H
#define SANDPIT_RESULT_H

#define SP_MUST_CHECK __attribute__((warn_unused_result))

/* R_SUCCESS, not R_OK: <unistd.h> defines R_OK (an access(2) mode) as a
 * macro, which would silently turn a result code into 4. */
enum result {
	R_SUCCESS = 0,
	R_INVALID,	/* bad input from a client or a peer: 400 */
	R_UNAUTHORIZED, /* no or bad credentials: 401 */
	R_FORBIDDEN,	/* credentials fine, not allowed: 403 */
	R_NOT_FOUND,	/* 404, also for another org's resource */
	R_CONFLICT,	/* 409 */
	R_TOO_BIG,	/* 413 */
	R_QUOTA,	/* rate limit: 429, always with Retry-After */
	R_TIMEOUT,	/* 504 */
	R_DB,		/* database unreachable or failed: 503 */
	R_UPSTREAM,	/* sandbox runtime or agent failed: 502 */
	R_NO_MEMORY,	/* 500 */
	R_INTERNAL,	/* 500 */
	R_NO_SPACE,	/* storage full: 507 */
	R_UNAVAILABLE,	/* at capacity or shutting down, retry later: 503 */
	R_LIMIT,	/* a count cap of the org (sandboxes, keys, webhooks): 409;
			 * retrying is useless until something is freed */
};

/* result_str: short machine-readable name ("not_found"); never NULL. */
const char *result_str(enum result r);

/* result_http_status: the HTTP status for r; the only such mapping. */
int result_http_status(enum result r);

#endif
