/* httpc.h: outbound HTTP POSTs to user-supplied URLs (webhooks); the only
 * module that calls libcurl.
 *
 * Every request goes through the SSRF guard (netguard): the URL is parsed
 * and canonicalised, a literal address is checked at once, a name is
 * resolved by curl's threaded resolver (bounded by the connect timeout, in
 * parallel with the other transfers), and a socket callback checks every
 * address actually connected to, so no DNS answer (rebinding included) and
 * no code path we did not foresee can reach a refused address. Only
 * http/https, no redirects, no proxies (the
 * environment's http_proxy is ignored), connect and total timeouts, and a
 * capped excerpt of the response body. */
#ifndef SANDPIT_HTTPC_H
#define SANDPIT_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

struct httpc_req {
	const char *url;	    /* as the user gave it */
	const char *const *headers; /* "Name: value" lines, NULL-terminated, or NULL */
	const char *body;	    /* POSTed as is */
	size_t body_len;
	long connect_timeout_ms; /* > 0 */
	long timeout_ms;	 /* whole transfer, > 0 */
	size_t excerpt_max;	 /* bytes of the response body kept */
	bool allow_private;	 /* netguard_is_allowed's switch */
};

struct httpc_res {
	/* R_SUCCESS: an HTTP response arrived (any status); R_TIMEOUT; R_FORBIDDEN:
	 * the guard refused the address; R_INVALID: bad URL or unresolvable
	 * host; R_UPSTREAM: connection or protocol failure; R_NO_MEMORY. */
	enum result r;
	int status;	  /* HTTP status, 0 when none arrived */
	long duration_ms; /* wall time of the attempt */
	char error[256];  /* "" on R_SUCCESS; never contains request headers or body */
	char *excerpt;	  /* malloc'd, NUL-terminated, at most excerpt_max bytes; may be NULL */
	size_t excerpt_len;
};

/* httpc_post_many: perform n POSTs in parallel (one multi handle) and wait
 * for all of them; each one is bounded by its own timeouts. res[i] is always
 * written (free with httpc_res_clear). Returns R_SUCCESS unless the client itself
 * could not be set up (R_NO_MEMORY, R_INTERNAL), in which case every res[i]
 * carries that code. Thread-safe: no state is shared between calls. */
SP_MUST_CHECK enum result httpc_post_many(const struct httpc_req *reqs, struct httpc_res *res,
					  size_t n);

/* httpc_res_clear: free a result's excerpt; safe to call twice. */
void httpc_res_clear(struct httpc_res *res);

#endif
