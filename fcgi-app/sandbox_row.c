/* sandbox_row.c: shared sandbox row access and the stop transition. */
#include "sandbox_row.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "events.h"
#include "log.h"

enum result sandbox_row_load(struct req *rq, struct sandbox_row *out)
{
	const char *id = rq->params[0];
	struct db_res *res = NULL;
	struct json *env;
	enum result r;

	if (!id_is_valid("sbx_", id))
		return http_fail(rq, R_NOT_FOUND, "sandbox not found");
	r = db_exec(rq->db,
		    "SELECT status, COALESCE(agent_address, ''), memory_bytes, env::text "
		    "FROM sandboxes WHERE id = $1 AND org_id = $2",
		    2, (const char *[]){id, rq->auth.org_id}, &res);
	if (r != R_OK)
		return http_fail(rq, r, "cannot read the sandbox");
	if (db_res_rows(res) != 1) {
		db_res_free(res);
		return http_fail(rq, R_NOT_FOUND, "sandbox not found");
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
	return R_OK;
}

void sandbox_row_free(struct sandbox_row *row)
{
	json_free(row->env);
	row->env = NULL;
}

/* final_usage: the last usage sample, taken just before the runtime goes. */
static void final_usage(struct req *rq, const char *id)
{
	struct sandbox_usage u;
	char cpu[32];

	if (rq->backend == NULL || backend_inspect(rq->backend, id, &u) != R_OK)
		return;
	snprintf(cpu, sizeof(cpu), "%.6f", (double)u.cpu_usec / 1e6);
	if (db_exec(rq->db,
		    "INSERT INTO usage_events (org_id, sandbox_id, cpu_seconds, "
		    "memory_byte_seconds, final) SELECT org_id, id, $2::float8, "
		    "memory_bytes::float8 * EXTRACT(EPOCH FROM now() - COALESCE(ready_at, "
		    "created_at)), true FROM sandboxes WHERE id = $1",
		    2, (const char *[]){id, cpu}, NULL) != R_OK)
		log_warnx("sandbox", "cannot record final usage id=%s", id);
}

/* finish: the row says stopped (or is gone), with its event, in one
 * transaction. */
static enum result finish(struct req *rq, const char *id, const char *reason, bool drop)
{
	struct json *data = json_new_object();
	enum result r;

	if (data == NULL || json_add_str(data, "reason", reason) != R_OK) {
		json_free(data);
		return R_NO_MEMORY;
	}
	r = db_begin(rq->db);
	if (r == R_OK && drop)
		r = db_exec(rq->db, "DELETE FROM sandboxes WHERE id = $1 AND org_id = $2", 2,
			    (const char *[]){id, rq->auth.org_id}, NULL);
	else if (r == R_OK)
		r = db_exec(rq->db,
			    "UPDATE sandboxes SET status = 'stopped', stopped_at = now(), "
			    "stop_reason = $3 WHERE id = $1 AND org_id = $2",
			    3, (const char *[]){id, rq->auth.org_id, reason}, NULL);
	if (r == R_OK)
		r = events_emit(rq->db, rq->auth.org_id, id, "sandbox.stopped", data);
	if (r == R_OK)
		r = db_commit(rq->db);
	if (r != R_OK)
		db_rollback(rq->db);
	json_free(data);
	return r;
}

enum result sandbox_stop(struct req *rq, const char *id, const char *reason, bool drop)
{
	struct db_res *res = NULL;
	bool live;
	enum result r;

	/* Claim the transition: only one caller moves a live row to stopping. */
	r = db_exec(rq->db,
		    "UPDATE sandboxes SET status = 'stopping' WHERE id = $1 AND org_id = $2 "
		    "AND status IN ('creating', 'running', 'stopping') RETURNING id",
		    2, (const char *[]){id, rq->auth.org_id}, &res);
	if (r != R_OK)
		return http_fail(rq, r, "cannot stop the sandbox");
	live = db_res_rows(res) == 1;
	db_res_free(res);
	if (live) {
		final_usage(rq, id);
		r = rq->backend ? backend_destroy(rq->backend, id) : R_UPSTREAM;
		if (r != R_OK && r != R_NOT_FOUND) {
			/* The row stays "stopping": the reaper finishes the job. */
			log_warnx("sandbox", "cannot destroy runtime id=%s err=%s", id,
				  result_str(r));
			return http_fail(rq, R_UPSTREAM, "the sandbox runtime did not stop");
		}
		return finish(rq, id, reason, drop);
	}
	if (drop) {
		r = db_exec(rq->db,
			    "DELETE FROM sandboxes WHERE id = $1 AND org_id = $2 RETURNING id", 2,
			    (const char *[]){id, rq->auth.org_id}, &res);
		if (r != R_OK)
			return http_fail(rq, r, "cannot delete the sandbox");
		live = db_res_rows(res) == 1;
		db_res_free(res);
		return live ? R_OK : http_fail(rq, R_NOT_FOUND, "sandbox not found");
	}
	return R_OK;
}
