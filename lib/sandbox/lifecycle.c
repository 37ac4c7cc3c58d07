/* lifecycle.c: stopping sandboxes consistently. */
#include "sandbox/lifecycle.h"

#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "db/db.h"
#include "sandbox/events.h"
#include "core/json.h"
#include "core/log.h"

/* final_usage: the last usage sample, taken just before the runtime goes.
 * Two stoppers may both hold a "stopping" row (an API stop racing the
 * reaper): the first final row stands, a second is ignored (the unique
 * index of db/009_events_once.sql makes that hold between processes). */
static void final_usage(struct db *db, struct backend *b, const char *id)
{
	struct sandbox_usage u;
	char cpu[32];

	if (b == NULL || backend_inspect(b, id, &u) != R_SUCCESS)
		return;
	snprintf(cpu, sizeof(cpu), "%.6f", (double)u.cpu_usec / 1e6);
	if (db_exec(db,
		    "INSERT INTO usage_events (org_id, sandbox_id, cpu_seconds, "
		    "memory_byte_seconds, final) SELECT org_id, id, $2::float8, "
		    "memory_bytes::float8 * EXTRACT(EPOCH FROM now() - COALESCE(ready_at, "
		    "created_at)), true FROM sandboxes WHERE id = $1 "
		    "ON CONFLICT (sandbox_id) WHERE final DO NOTHING",
		    2, (const char *[]){id, cpu}, NULL) != R_SUCCESS)
		log_warnx("lifecycle", "cannot record final usage id=%s", id);
}

static enum result emit(struct db *db, const char *org, const char *id, const char *type,
			const char *reason)
{
	struct json *data = json_new_object();
	enum result r = R_NO_MEMORY;

	if (data != NULL && json_add_str(data, "reason", reason) == R_SUCCESS)
		r = events_emit(db, org, id, type, data);
	json_free(data);
	return r;
}

const char *lifecycle_end_status(enum lifecycle_end end)
{
	switch (end) {
	case LIFECYCLE_TIMEOUT:
		return "timeout";
	case LIFECYCLE_ERROR:
		return "error";
	case LIFECYCLE_STOPPED:
		break;
	}
	return "stopped";
}

/* write_end: the row's final state (or its deletion) and its events, in one
 * transaction. Two stoppers can both hold a "stopping" row (an API stop
 * racing the reaper, or a retry of a stuck stop), so only the one whose
 * statement moves it out of "stopping" emits: each event exactly once. */
static enum result write_end(struct db *db, const char *org, const char *id, enum lifecycle_end end,
			     const char *reason, bool drop)
{
	struct db_res *res = NULL;
	bool mine = false;
	enum result r = db_begin(db);

	if (r == R_SUCCESS && drop)
		r = db_exec(db,
			    "WITH gone AS (DELETE FROM sandboxes WHERE id = $1 RETURNING status) "
			    "SELECT 1 FROM gone WHERE status = 'stopping'",
			    1, (const char *[]){id}, &res);
	else if (r == R_SUCCESS)
		r = db_exec(
		    db,
		    "UPDATE sandboxes SET status = $2, stopped_at = now(), stop_reason = $3, "
		    "error = CASE WHEN $2 = 'error' THEN $3 ELSE error END WHERE id = $1 "
		    "AND status = 'stopping' RETURNING 1",
		    3, (const char *[]){id, lifecycle_end_status(end), reason}, &res);
	if (r == R_SUCCESS)
		mine = db_res_rows(res) == 1;
	db_res_free(res);
	/* Not ours: the other stopper emits; a delete still stands. */
	if (r == R_SUCCESS && !mine) {
		r = db_commit(db);
		if (r != R_SUCCESS)
			db_rollback(db);
		return r;
	}
	if (r == R_SUCCESS && end == LIFECYCLE_TIMEOUT)
		r = emit(db, org, id, "sandbox.timeout", reason);
	if (r == R_SUCCESS && end == LIFECYCLE_ERROR)
		r = emit(db, org, id, "sandbox.error", reason);
	if (r == R_SUCCESS)
		r = emit(db, org, id, "sandbox.stopped", reason);
	if (r == R_SUCCESS)
		r = db_commit(db);
	if (r != R_SUCCESS)
		db_rollback(db);
	return r;
}

enum result lifecycle_stop(struct db *db, struct backend *backend, const char *org_id,
			   const char *id, enum lifecycle_end end, const char *reason, bool drop)
{
	struct db_res *res = NULL;
	char org[64];
	bool live;
	enum result r;

	/* Claim the transition: only one caller moves a live row to stopping. */
	r = db_exec(db,
		    "UPDATE sandboxes SET status = 'stopping' WHERE id = $1 AND ($2 = '' OR "
		    "org_id = $2) AND status IN ('creating', 'running', 'stopping') "
		    "RETURNING COALESCE(org_id, '')",
		    2, (const char *[]){id, org_id}, &res);
	if (r != R_SUCCESS)
		return r;
	live = db_res_rows(res) == 1;
	if (live)
		snprintf(org, sizeof(org), "%s", db_res_get(res, 0, 0));
	db_res_free(res);
	if (live) {
		final_usage(db, backend, id);
		r = backend ? backend_destroy(backend, id) : R_UPSTREAM;
		if (r != R_SUCCESS && r != R_NOT_FOUND) {
			log_warnx("lifecycle", "cannot destroy runtime id=%s err=%s", id,
				  result_str(r));
			return R_UPSTREAM;
		}
		return write_end(db, *org ? org : NULL, id, end, reason, drop);
	}
	r = db_exec(db,
		    drop ? "DELETE FROM sandboxes WHERE id = $1 AND ($2 = '' OR org_id = $2) "
			   "RETURNING id"
			 : "SELECT id FROM sandboxes WHERE id = $1 AND ($2 = '' OR org_id = $2)",
		    2, (const char *[]){id, org_id}, &res);
	if (r != R_SUCCESS)
		return r;
	live = db_res_rows(res) == 1;
	db_res_free(res);
	return live ? R_SUCCESS : R_NOT_FOUND;
}

enum result lifecycle_mark_running(struct db *db, struct backend *backend, const char *org_id,
				   const char *id, const char *addr, long long startup_ms)
{
	struct json *data = json_new_object();
	struct db_res *res = NULL;
	bool mine = false;
	enum result r;

	if (data == NULL || json_add_int(data, "startupMs", startup_ms) != R_SUCCESS) {
		json_free(data);
		return R_NO_MEMORY;
	}
	r = db_begin(db);
	if (r == R_SUCCESS)
		r = db_exec(db,
			    "UPDATE sandboxes SET status = 'running', agent_address = $2, "
			    "ready_at = now() WHERE id = $1 AND status = 'creating' RETURNING 1",
			    2, (const char *[]){id, addr}, &res);
	if (r == R_SUCCESS)
		mine = db_res_rows(res) == 1;
	if (r == R_SUCCESS && mine)
		r = events_emit(db, org_id, id, "sandbox.ready", data);
	if (r == R_SUCCESS)
		r = db_commit(db);
	if (r != R_SUCCESS)
		db_rollback(db);
	db_res_free(res);
	json_free(data);
	if (r != R_SUCCESS || mine)
		return r;
	/* A stop (or delete) took the row while the runtime was being made:
	 * its destroy may have come before our runtime existed, so ours goes
	 * now. Its events are the stopper's; a ready now would follow them. */
	if (backend != NULL) {
		r = backend_destroy(backend, id);
		if (r != R_SUCCESS && r != R_NOT_FOUND)
			log_warnx("lifecycle", "cannot destroy runtime id=%s err=%s", id,
				  result_str(r));
	}
	return R_CONFLICT;
}

void lifecycle_mark_error(struct db *db, struct backend *backend, const char *org_id,
			  const char *id, const char *why)
{
	struct json *data = json_new_object();
	struct db_res *res = NULL;
	enum result r;

	if (backend != NULL)
		(void)!backend_destroy(backend, id);
	if (data == NULL || json_add_str(data, "error", why) != R_SUCCESS) {
		json_free(data);
		return;
	}
	r = db_begin(db);
	/* Only a row still being made becomes an error: a finished one (a stop
	 * won the race, or an earlier error) keeps its state and its events. */
	if (r == R_SUCCESS)
		r = db_exec(
		    db,
		    "UPDATE sandboxes SET status = 'error', error = $2, stopped_at = now(), "
		    "stop_reason = 'error' WHERE id = $1 AND status IN ('creating', "
		    "'running') RETURNING 1",
		    2, (const char *[]){id, why}, &res);
	if (r == R_SUCCESS && db_res_rows(res) == 1)
		r = events_emit(db, org_id, id, "sandbox.error", data);
	if (r == R_SUCCESS)
		r = db_commit(db);
	if (r != R_SUCCESS) {
		db_rollback(db);
		log_warnx("lifecycle", "cannot record the failed create id=%s err=%s", id,
			  result_str(r));
	}
	db_res_free(res);
	json_free(data);
}
