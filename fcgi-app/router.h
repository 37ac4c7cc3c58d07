/* router.h: the route table and the request pipeline (auth, scope, body,
 * handler, errors, access log). */
#ifndef SANDPIT_ROUTER_H
#define SANDPIT_ROUTER_H

#include "http.h"

struct worker_ctx;

/* router_handle: serve one accepted request completely. */
void router_handle(FCGX_Request *fcgi, struct db *db);

#endif
