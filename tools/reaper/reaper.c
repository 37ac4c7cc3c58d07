/* reaper.c: the reaper's sweep, a fixed table of idempotent steps. */
#include "reaper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "db/db.h"
#include "sandbox/events.h"
#include "core/id.h"
#include "core/json.h"
#include "sandbox/lifecycle.h"
#include "core/log.h"
#include "sandbox/warmpool.h"
#include "sandbox/webhook.h"

#define MOD "reaper"
/* Bound on the id array sent with the orphan query (backend_list output). */
#define ORPHAN_QUERY_MAX (4u * 1024 * 1024)

struct sweep {
	struct db *db;
	struct backend *b;
	const struct reaper_opts *o;
	struct reaper_stats *st;
	char batch[24];
};

static bool stopping(const struct sweep *sw)
{
	return sw->o->stop != NULL && *sw->o->stop != 0;
}

static const char *const count_names[REAPER_NCOUNTS] = {
    [REAPER_EXPIRED] = "expired",	[REAPER_STUCK] = "stuck",
    [REAPER_ORPHANS] = "orphans",	[REAPER_LOST] = "lost",
    [REAPER_SAMPLES] = "samples",	[REAPER_POOL_NEW] = "pool_created",
    [REAPER_POOL_DEL] = "pool_removed", [REAPER_OUTBOX] = "outbox",
    [REAPER_FAILED] = "failed",
};

const char *reaper_count_name(enum reaper_count c)
{
	return (unsigned)c < REAPER_NCOUNTS ? count_names[c] : "?";
}

void reaper_opts_from_config(struct reaper_opts *o)
{
	o->batch = config()->reaper_batch;
	o->creating_grace = config()->creating_grace;
	o->stopping_grace = config()->stopping_grace;
	o->usage_interval = config()->usage_interval;
	o->warm_pool = config()->warm_pool_enabled;
	o->warm_pool_size = config()->warm_pool_size;
	o->stop = NULL;
}

/* stop_one: lifecycle_stop of a row this sweep claimed; counts it under
 * what, or as failed. R_DB ends the sweep; anything else is per item (the
 * row stays "stopping" and is retaken after the stopping grace). */
static enum result stop_one(struct sweep *sw, const char *id, enum lifecycle_end end,
			    const char *reason, enum reaper_count what)
{
	enum result r = lifecycle_stop(sw->db, sw->b, "", id, end, reason, false);

	/* R_NOT_FOUND: deleted meanwhile (a user's DELETE); nothing left to do. */
	if (r == R_NOT_FOUND)
		return R_SUCCESS;
	if (r == R_SUCCESS) {
		sw->st->n[what]++;
		log_info(MOD, "sandbox finished id=%s status=%s reason=%s", id,
			 lifecycle_end_status(end), reason);
		return R_SUCCESS;
	}
	sw->st->n[REAPER_FAILED]++;
	log_warnx(MOD, "cannot finish sandbox id=%s status=%s err=%s", id,
		  lifecycle_end_status(end), result_str(r));
	return r == R_DB ? R_DB : R_SUCCESS;
}

/* step_expire: running sandboxes past expires_at end as "timeout". The claim
 * is one statement per batch: rows another reaper holds are skipped, rows it
 * already moved no longer match, so each expired sandbox is taken by exactly
 * one sweep. stop_reason 'expired' marks the claim so a retake after a crash
 * still ends as a timeout. */
static enum result step_expire(struct sweep *sw)
{
	for (;;) {
		struct db_res *res = NULL;
		enum result r;
		int n;

		if (stopping(sw))
			return R_SUCCESS;
		r = db_exec(sw->db,
			    "UPDATE sandboxes SET status = 'stopping', stop_reason = 'expired' "
			    "WHERE id IN (SELECT id FROM sandboxes WHERE status = 'running' AND "
			    "expires_at <= now() ORDER BY expires_at LIMIT $1::int FOR UPDATE SKIP "
			    "LOCKED) RETURNING id",
			    1, (const char *[]){sw->batch}, &res);
		if (r != R_SUCCESS)
			return r;
		n = db_res_rows(res);
		for (int i = 0; i < n && r == R_SUCCESS; i++)
			r = stop_one(sw, db_res_get(res, i, 0), LIFECYCLE_TIMEOUT, "expired",
				     REAPER_EXPIRED);
		db_res_free(res);
		if (r != R_SUCCESS)
			return r;
		if (n < sw->o->batch)
			return R_SUCCESS;
	}
}

/* step_stuck: a create or a stop whose process died half way. "creating"
 * past its grace (the API worker crashed between the row and the runtime)
 * is failed; "stopping" past its grace is retaken by touching
 * status_changed_at (so a second sweep skips it for another grace) and
 * finished: a timeout if the reaper had claimed it for expiry, else error. */
static enum result step_stuck(struct sweep *sw)
{
	char creating[24], stopping_s[24];
	enum result r = R_SUCCESS;

	snprintf(creating, sizeof(creating), "%lld", sw->o->creating_grace);
	snprintf(stopping_s, sizeof(stopping_s), "%lld", sw->o->stopping_grace);
	for (int pass = 0; pass < 2 && r == R_SUCCESS; pass++) {
		for (;;) {
			struct db_res *res = NULL;
			int n;

			if (stopping(sw))
				return R_SUCCESS;
			if (pass == 0)
				r = db_exec(
				    sw->db,
				    "UPDATE sandboxes SET status = 'stopping' WHERE id IN "
				    "(SELECT id FROM sandboxes WHERE status = 'creating' AND "
				    "created_at < now() - make_interval(secs => $2::int) "
				    "LIMIT $1::int FOR UPDATE SKIP LOCKED) RETURNING id, ''",
				    2, (const char *[]){sw->batch, creating}, &res);
			else
				r = db_exec(
				    sw->db,
				    "UPDATE sandboxes SET status_changed_at = clock_timestamp() "
				    "WHERE id IN (SELECT id FROM sandboxes WHERE status = "
				    "'stopping' AND status_changed_at < now() - "
				    "make_interval(secs => $2::int) LIMIT $1::int FOR UPDATE "
				    "SKIP LOCKED) RETURNING id, COALESCE(stop_reason, '')",
				    2, (const char *[]){sw->batch, stopping_s}, &res);
			if (r != R_SUCCESS)
				return r;
			n = db_res_rows(res);
			for (int i = 0; i < n && r == R_SUCCESS; i++) {
				bool expired = strcmp(db_res_get(res, i, 1), "expired") == 0;

				r = stop_one(sw, db_res_get(res, i, 0),
					     expired ? LIFECYCLE_TIMEOUT : LIFECYCLE_ERROR,
					     expired	 ? "expired"
					     : pass == 0 ? "stuck_creating"
							 : "stuck_stopping",
					     REAPER_STUCK);
			}
			db_res_free(res);
			if (r != R_SUCCESS || n < sw->o->batch)
				break;
		}
	}
	return r;
}

/* id_array: ids as a PostgreSQL text[] literal. Ids are [A-Za-z0-9_-]
 * (id_is_name), so none needs quoting; others are skipped. */
static enum result id_array(char **ids, size_t n, struct buf *out)
{
	enum result r = buf_append_str(out, "{");
	bool first = true;

	for (size_t i = 0; i < n && r == R_SUCCESS; i++) {
		if (!id_is_name(ids[i]))
			continue;
		if (!first)
			r = buf_append_str(out, ",");
		if (r == R_SUCCESS)
			r = buf_append_str(out, ids[i]);
		first = false;
	}
	return r == R_SUCCESS ? buf_append_str(out, "}") : r;
}

/* step_orphans: runtime objects whose row is gone or final. A create writes
 * its row before the runtime exists, so a runtime listed before the query
 * that has no live row then is garbage, not a create in flight. */
static enum result step_orphans(struct sweep *sw)
{
	struct db_res *res = NULL;
	char **ids = NULL;
	struct buf arr;
	size_t n = 0;
	enum result r;

	r = backend_list(sw->b, &ids, &n);
	if (r != R_SUCCESS) {
		log_warnx(MOD, "cannot list runtimes err=%s", result_str(r));
		return r;
	}
	if (n == 0)
		goto out;
	buf_init(&arr, ORPHAN_QUERY_MAX);
	r = id_array(ids, n, &arr);
	if (r == R_SUCCESS)
		r = db_exec(sw->db,
			    "SELECT x FROM unnest($1::text[]) x WHERE NOT EXISTS (SELECT 1 FROM "
			    "sandboxes s WHERE s.id = x AND s.status IN ('creating', 'running', "
			    "'stopping'))",
			    1, (const char *[]){arr.data}, &res);
	buf_free(&arr);
	if (r != R_SUCCESS)
		goto out;
	for (int i = 0; i < db_res_rows(res) && !stopping(sw); i++) {
		const char *id = db_res_get(res, i, 0);
		enum result d = backend_destroy(sw->b, id);

		if (d == R_SUCCESS) {
			sw->st->n[REAPER_ORPHANS]++;
			log_info(MOD, "orphan runtime destroyed id=%s", id);
		} else if (d != R_NOT_FOUND) {
			sw->st->n[REAPER_FAILED]++;
			log_warnx(MOD, "cannot destroy orphan runtime id=%s err=%s", id,
				  result_str(d));
		}
	}
out:
	db_res_free(res);
	backend_list_free(ids, n);
	return r;
}

/* sample: one cumulative usage row for a live sandbox when its last one is
 * older than the usage interval. cpu_seconds is the cgroup's counter;
 * memory_byte_seconds integrates the measured memory since the previous
 * sample (rectangle rule with the current value). Unowned (pool) sandboxes
 * are not sampled: nobody is billed for them. */
/* pressure: resource.warning past 80% of the memory limit, resource.critical
 * past 95%, each once per upward crossing (the level lives in the row, and
 * the level change and its event are one statement). A drop re-arms it. */
static enum result pressure(struct sweep *sw, const char *id, const struct sandbox_usage *u)
{
	uint64_t limit = u->limits.memory_bytes;
	double pct = limit ? (double)u->memory_current * 100.0 / (double)limit : 0;
	int level = pct >= 95.0 ? 2 : pct >= 80.0 ? 1 : 0;
	const char *type = level == 2 ? "resource.critical" : "resource.warning";
	char lv[4], evt[ID_SIZE("evt_")];
	struct json *data = json_new_object();
	char *payload = NULL;
	enum result r = R_NO_MEMORY;

	if (limit == 0) {
		json_free(data);
		return R_SUCCESS;
	}
	if (data == NULL || json_add_str(data, "resource", "memory") != R_SUCCESS ||
	    json_add_int(data, "currentBytes", (long long)u->memory_current) != R_SUCCESS ||
	    json_add_int(data, "limitBytes", (long long)limit) != R_SUCCESS ||
	    json_add(data, "percent", json_new_double((double)(long long)(pct * 10) / 10)) !=
		R_SUCCESS)
		goto out;
	r = events_build(NULL, id, type, data, evt, sizeof(evt), &payload);
	if (r != R_SUCCESS)
		goto out;
	snprintf(lv, sizeof(lv), "%d", level);
	/* orgId is filled from the row inside the statement. A pooled sandbox
	 * (no org yet) has nobody to tell: its level is left alone. */
	r = db_exec(
	    sw->db,
	    "WITH o AS (SELECT id, org_id, resource_level AS old FROM sandboxes WHERE id = $1 "
	    "AND status = 'running' AND org_id IS NOT NULL FOR UPDATE), u AS (UPDATE sandboxes s "
	    "SET "
	    "resource_level = $2::smallint FROM o WHERE s.id = o.id AND o.old <> "
	    "$2::smallint RETURNING o.old, o.org_id) INSERT INTO events (id, org_id, "
	    "sandbox_id, type, payload) SELECT $3, u.org_id, $1, $4, jsonb_set($5::jsonb, "
	    "'{orgId}', to_jsonb(u.org_id)) FROM u WHERE $2::smallint > u.old",
	    5, (const char *[]){id, lv, evt, type, payload}, NULL);
out:
	free(payload);
	json_free(data);
	return r;
}

static enum result sample(struct sweep *sw, const char *id, const struct sandbox_usage *u)
{
	char cpu[32], mem[32], every[24];
	struct db_res *res = NULL;
	enum result r;

	snprintf(cpu, sizeof(cpu), "%.6f", (double)u->cpu_usec / 1e6);
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)u->memory_current);
	snprintf(every, sizeof(every), "%lld", sw->o->usage_interval);
	r = db_exec(sw->db,
		    "INSERT INTO usage_events (org_id, sandbox_id, cpu_seconds, "
		    "memory_byte_seconds) SELECT s.org_id, s.id, $2::float8, "
		    "COALESCE(p.memory_byte_seconds, 0) + $3::float8 * GREATEST(0, EXTRACT(EPOCH "
		    "FROM now() - COALESCE(p.sampled_at, s.ready_at, s.created_at))) "
		    "FROM sandboxes s LEFT JOIN LATERAL (SELECT memory_byte_seconds, sampled_at "
		    "FROM usage_events u WHERE u.sandbox_id = s.id ORDER BY sampled_at DESC "
		    "LIMIT 1) p ON true WHERE s.id = $1 AND s.status = 'running' AND s.org_id IS "
		    "NOT NULL AND (p.sampled_at IS NULL OR p.sampled_at <= now() - "
		    "make_interval(secs => $4::int)) RETURNING 1",
		    4, (const char *[]){id, cpu, mem, every}, &res);
	if (r == R_SUCCESS)
		sw->st->n[REAPER_SAMPLES] += db_res_rows(res);
	db_res_free(res);
	return r;
}

/* lost: the runtime of a running row is gone. The row is claimed only if it
 * is still running, so a stop that raced us (and took the runtime away
 * itself) is left alone. */
static enum result lost(struct sweep *sw, const char *id)
{
	struct db_res *res = NULL;
	enum result r;
	bool mine;

	r = db_exec(sw->db,
		    "UPDATE sandboxes SET status = 'stopping' WHERE id = $1 AND status = 'running' "
		    "RETURNING id",
		    1, (const char *[]){id}, &res);
	if (r != R_SUCCESS)
		return r;
	mine = db_res_rows(res) == 1;
	db_res_free(res);
	return mine ? stop_one(sw, id, LIFECYCLE_ERROR, "runtime_lost", REAPER_LOST) : R_SUCCESS;
}

/* step_runtime: every running row, page by page: a runtime that is missing
 * or whose agent died makes the row an error; a live one gets a usage
 * sample when due. A daemon that cannot answer proves nothing, so the row
 * is left alone then. */
static enum result step_runtime(struct sweep *sw)
{
	char after[BACKEND_ID_MAX + 1] = "";
	enum result first_err = R_SUCCESS;

	for (;;) {
		struct db_res *res = NULL;
		enum result r;
		int n;

		r = db_exec(sw->db,
			    "SELECT id FROM sandboxes WHERE status = 'running' AND id > $1 "
			    "ORDER BY id LIMIT $2::int",
			    2, (const char *[]){after, sw->batch}, &res);
		if (r != R_SUCCESS)
			return r;
		n = db_res_rows(res);
		for (int i = 0; i < n && r == R_SUCCESS && !stopping(sw); i++) {
			const char *id = db_res_get(res, i, 0);
			struct sandbox_usage u;
			enum result q = backend_inspect(sw->b, id, &u);

			if (q == R_NOT_FOUND || (q == R_SUCCESS && !u.alive)) {
				r = lost(sw, id);
			} else if (q == R_SUCCESS) {
				r = sample(sw, id, &u);
				if (r == R_SUCCESS)
					r = pressure(sw, id, &u);
			} else {
				sw->st->n[REAPER_FAILED]++;
				if (first_err == R_SUCCESS)
					log_warnx(MOD, "cannot inspect runtime id=%s err=%s", id,
						  result_str(q));
				first_err = first_err == R_SUCCESS ? q : first_err;
			}
			if (strlen(id) < sizeof(after))
				snprintf(after, sizeof(after), "%s", id);
		}
		db_res_free(res);
		if (r != R_SUCCESS)
			return r;
		if (n < sw->o->batch || stopping(sw))
			return first_err;
	}
}

/* step_pool: keep WARM_POOL_SIZE ready sandboxes, or none when the pool is
 * off (a pool left from an earlier configuration is emptied). */
static enum result step_pool(struct sweep *sw)
{
	long long made = 0, gone = 0;
	enum result r;

	r = warmpool_refill(sw->db, sw->b, sw->o->warm_pool ? sw->o->warm_pool_size : 0, &made,
			    &gone);
	sw->st->n[REAPER_POOL_NEW] += made;
	sw->st->n[REAPER_POOL_DEL] += gone;
	return r;
}

/* step_outbox: webhook delivery (lib/sandbox/webhook.c): fan undispatched events
 * out to webhook_deliveries and deliver due ones with retries and backoff.
 * Bounded per sweep (SANDPIT_WEBHOOK_BATCH x SANDPIT_WEBHOOK_ROUNDS) and safe
 * in concurrent sweeps (SKIP LOCKED claims plus a lease, one fan-out at a
 * time); each webhook gets a sandbox's events one at a time, in order.
 * Counts events fanned out plus delivery attempts made. */
static enum result step_outbox(struct sweep *sw)
{
	struct webhook_sweep_opts wo;
	struct webhook_sweep_stats ws = {0};
	enum result r;

	webhook_sweep_opts_from_config(&wo);
	r = webhook_sweep(sw->db, &wo, &ws);
	sw->st->n[REAPER_OUTBOX] += ws.events_dispatched + ws.attempted;
	return r;
}

/* The sweep, in order: time first (expiry is the promise clients see),
 * then crash recovery, then bookkeeping, then the pool (which needs free
 * slots the earlier steps may have released), then the outbox (which
 * carries the events the earlier steps wrote). */
static const struct step {
	const char *name;
	enum result (*run)(struct sweep *);
} steps[] = {
    {"expire", step_expire},   {"stuck", step_stuck}, {"orphans", step_orphans},
    {"runtime", step_runtime}, {"pool", step_pool},   {"outbox", step_outbox},
};

enum result reaper_sweep(struct db *db, struct backend *b, const struct reaper_opts *o,
			 struct reaper_stats *stats)
{
	struct sweep sw = {.db = db, .b = b, .o = o, .st = stats};
	enum result first = R_SUCCESS;
	struct timespec t0;

	memset(stats, 0, sizeof(*stats));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(sw.batch, sizeof(sw.batch), "%lld", o->batch);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]) && !stopping(&sw); i++) {
		enum result r = steps[i].run(&sw);

		if (r == R_SUCCESS)
			continue;
		log_warnx(MOD, "step failed step=%s err=%s db=\"%s\"", steps[i].name, result_str(r),
			  r == R_DB || r == R_INTERNAL ? db_last_error(db) : "");
		if (first == R_SUCCESS)
			first = r;
		/* Without the database no step can do anything safely. */
		if (r == R_DB)
			break;
	}
	stats->ms = clock_ms_since(&t0);
	return first;
}

void reaper_log_summary(const struct reaper_stats *s, enum result r)
{
	char line[512];
	size_t off = 0;

	line[0] = '\0';
	for (int i = 0; i < REAPER_NCOUNTS && off < sizeof(line); i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, " %s=%lld", count_names[i],
					s->n[i]);
	log_msg(r == R_SUCCESS ? LOG_INFO : LOG_WARN, MOD, "sweep done%s ms=%.1f result=%s", line,
		s->ms, result_str(r));
}
