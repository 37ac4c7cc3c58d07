/* handlers.h: every route handler, grouped by the file that implements it.
 * A handler either responds itself and returns R_SUCCESS, or returns an error
 * (message via http_set_error) and the router answers with the JSON error. */
#ifndef SANDPIT_HANDLERS_H
#define SANDPIT_HANDLERS_H

#include "http.h"

/* health.c */
enum result health_get(struct req *rq);
enum result ready_get(struct req *rq);

/* register.c */
enum result register_post(struct req *rq);

/* apikeys.c */
enum result apikeys_list(struct req *rq);
enum result apikeys_create(struct req *rq);
enum result apikeys_delete(struct req *rq);

/* sandboxes.c */
enum result sandboxes_create(struct req *rq);
enum result sandboxes_get(struct req *rq);
enum result sandboxes_status(struct req *rq);
enum result sandboxes_list(struct req *rq);
enum result sandboxes_stop(struct req *rq);
enum result sandboxes_delete(struct req *rq);
enum result sandboxes_timeout(struct req *rq);
enum result sandboxes_stream_token(struct req *rq);

/* exec.c */
enum result exec_post(struct req *rq);

/* files.c */
enum result files_post(struct req *rq);
enum result files_put(struct req *rq);
enum result files_get(struct req *rq);
enum result files_delete(struct req *rq);
enum result files_list(struct req *rq);
enum result files_stat(struct req *rq);
enum result files_mkdir(struct req *rq);
enum result files_move(struct req *rq);

/* webhooks.c */
enum result webhooks_create(struct req *rq);
enum result webhooks_list(struct req *rq);
enum result webhooks_get(struct req *rq);
enum result webhooks_delete(struct req *rq);
enum result webhooks_test(struct req *rq);
enum result webhooks_deliveries(struct req *rq);

/* templates.c */
enum result templates_list(struct req *rq);
enum result templates_get(struct req *rq);

/* jobs.c */
enum result jobs_create(struct req *rq);
enum result jobs_batch(struct req *rq);
enum result jobs_get(struct req *rq);
enum result jobs_list(struct req *rq);
enum result jobs_cancel(struct req *rq);

/* secrets.c */
enum result secrets_create(struct req *rq);
enum result secrets_list(struct req *rq);
enum result secrets_delete(struct req *rq);
/* secrets_apply: not a route: the org's secrets into the env of new sandbox
 * id (agent at addr, or the row's when NULL; env_text's names win). On
 * failure the sandbox is marked "error" and the request fails. */
enum result secrets_apply(struct req *rq, const char *id, const char *addr, const char *env_text);

#endif
