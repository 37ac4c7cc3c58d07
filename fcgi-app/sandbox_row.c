/* sandbox_row.c: shared sandbox row access and the stop transition. */
#include "sandbox_row.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "sandbox/lifecycle.h"
#include "core/log.h"

enum result sandbox_row_load(struct req *rq, struct sandbox_row *out)
{
	const char *id = rq->params[0];
	struct db_res *res = NULL;
	struct json *env;
	enum result r;

	if (!id_is_valid("sbx_", id))
		return http_set_error(rq, R_NOT_FOUND, "sandbox not found");
	r = db_exec(rq->db,
		    "SELECT status, COALESCE(agent_address, ''), memory_bytes, env::text "
		    "FROM sandboxes WHERE id = $1 AND org_id = $2",
		    2, (const char *[]){id, rq->auth.org_id}, &res);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "cannot read the sandbox");
	if (db_res_rows(res) != 1) {
		db_res_free(res);
		return http_set_error(rq, R_NOT_FOUND, "sandbox not found");
	}
	env = json_parse(db_res_get(res, 0, 3), strlen(db_res_get(res, 0, 3)));
	if (env == NULL) {
		db_res_free(res);
		return R_NO_MEMORY;
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->status, sizeof(out->status), "%s", db_res_get(res, 0, 0));
	snprintf(out->agent_address, sizeof(out->agent_address), "%s", db_res_get(res, 0, 1));
	out->memory_bytes = strtoll(db_res_get(res, 0, 2), NULL, 10);
	out->env = env;
	db_res_free(res);
	return R_SUCCESS;
}

void sandbox_row_free(struct sandbox_row *row)
{
	json_free(row->env);
	row->env = NULL;
}

enum result sandbox_stop(struct req *rq, const char *id, const char *reason, bool drop)
{
	enum result r = lifecycle_stop(rq->db, rq->backend, rq->auth.org_id, id, LIFECYCLE_STOPPED,
				       reason, drop);

	switch (r) {
	case R_SUCCESS:
		return R_SUCCESS;
	case R_NOT_FOUND:
		return http_set_error(rq, r, "sandbox not found");
	case R_UPSTREAM:
		return http_set_error(rq, r,
				      "the sandbox runtime did not stop; it will be retried");
	default:
		return http_set_error(rq, r, "cannot stop the sandbox");
	}
}
