/* router.h: the route table and the request pipeline (auth, scope, body,
 * handler, errors, access log). */
#ifndef SANDPIT_ROUTER_H
#define SANDPIT_ROUTER_H

#include "http.h"

struct backend;
struct longreq;
struct ratelimit;

/* router_handle: serve one accepted request completely. backend may be NULL
 * when the sandbox backend could not be opened (sandbox routes answer 502);
 * limits is the host's rate-limit table; gate its long-request counts
 * (longreq.h). */
void router_handle(FCGX_Request *fcgi, struct db *db, struct backend *backend,
		   struct ratelimit *limits, struct longreq *gate);

#endif
