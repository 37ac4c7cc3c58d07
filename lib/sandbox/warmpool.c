/* warmpool.c: the warm pool: refilled by the reaper, claimed by creates. */
#include "sandbox/warmpool.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/config.h"
#include "db/db.h"
#include "sandbox/events.h"
#include "core/id.h"
#include "core/json.h"
#include "sandbox/lifecycle.h"
#include "core/log.h"

#define MOD "warmpool"
/* pg_try_advisory_lock key: one refiller per database at a time. */
#define REFILL_LOCK "727275"

/* ready_payload: the sandbox.ready event of a claim (sandboxId is set by
 * the claim itself). */
static enum result ready_payload(const char *org, long long ms, char *id, size_t id_size,
				 char **text)
{
	struct json *data = json_new_object();
	enum result r = R_NO_MEMORY;

	if (data != NULL && json_add_int(data, "startupMs", ms) == R_SUCCESS &&
	    json_add_bool(data, "warmPool", true) == R_SUCCESS)
		r = events_build(org, NULL, "sandbox.ready", data, id, id_size, text);
	json_free(data);
	return r;
}

enum result warmpool_claim(struct db *db, const struct warmpool_want *w, char *id, size_t id_size)
{
	char millis[16], bytes[24], timeout[24], max[24];
	char created_id[ID_SIZE("evt_")], ready_id[ID_SIZE("evt_")];
	char *created = NULL, *ready = NULL;
	struct db_res *res = NULL;
	const char *got;
	enum result r;

	if (!config()->warm_pool_enabled)
		return R_NOT_FOUND;
	snprintf(millis, sizeof(millis), "%u", w->cpu_millis);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)w->memory_bytes);
	snprintf(timeout, sizeof(timeout), "%lld", w->timeout);
	snprintf(max, sizeof(max), "%lld", w->max_sandboxes);
	r = events_build(w->org_id, NULL, "sandbox.created", NULL, created_id, sizeof(created_id),
			 &created);
	if (r == R_SUCCESS)
		r = ready_payload(w->org_id, w->startup_ms, ready_id, sizeof(ready_id), &ready);
	/* One statement, one round trip: the org's limit, the claim and both
	 * events (db/008_claim_functions.sql). */
	if (r == R_SUCCESS)
		r = db_exec(
		    db,
		    "SELECT sp_claim_warm($1, $2::int, $3::int, $4::bigint, $5, $6, $7::int, "
		    "$8::jsonb, $9::jsonb, $10, $11::jsonb, $12, $13::jsonb)",
		    13,
		    (const char *[]){w->org_id, max, millis, bytes, w->cpus, w->memory, timeout,
				     w->env_text, w->metadata_text, created_id, created, ready_id,
				     ready},
		    &res);
	if (r != R_SUCCESS)
		goto out;
	got = db_res_get(res, 0, 0);
	if (got == NULL || strlen(got) >= id_size)
		r = R_NOT_FOUND;
	else
		snprintf(id, id_size, "%s", got);
out:
	db_res_free(res);
	free(created);
	free(ready);
	return r;
}

/* pool_limits: the default limits every pooled sandbox has (config_load
 * has parsed and checked DEFAULT_CPUS and DEFAULT_MEMORY). */
static void pool_limits(struct sandbox_limits *lim)
{
	struct sandbox_limits l = {0};

	l.cpu_millis = config()->default_cpu_millis;
	l.memory_bytes = config()->default_memory_bytes;
	l.pids_max = (uint32_t)config()->pids_limit;
	l.disk_bytes = (uint64_t)config()->workspace_size;
	*lim = l;
}

/* create_one: row first ("creating"), then the runtime, then "running": the
 * same order as a cold create, so a crash in between leaves a row the reaper
 * fails after the creating grace and never a runtime without a row. */
static enum result create_one(struct db *db, struct backend *b, const struct sandbox_limits *lim)
{
	char id[ID_SIZE("sbx_")], addr[BACKEND_ADDR_MAX], millis[16], bytes[24], life[24];
	enum result r;

	if (id_new("sbx_", id, sizeof(id)) != R_SUCCESS)
		return R_INTERNAL;
	snprintf(millis, sizeof(millis), "%u", lim->cpu_millis);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)lim->memory_bytes);
	snprintf(life, sizeof(life), "%lld", config()->max_timeout);
	r = db_exec(
	    db,
	    "INSERT INTO sandboxes (id, org_id, status, backend, cpus_millis, memory_bytes, "
	    "cpus, memory, timeout_seconds, expires_at) VALUES ($1, NULL, 'creating', "
	    "'local', $2::int, $3::bigint, $4, $5, $6::int, now() + make_interval(secs => "
	    "$6::int))",
	    6,
	    (const char *[]){id, millis, bytes, config()->default_cpus, config()->default_memory,
			     life},
	    NULL);
	if (r != R_SUCCESS)
		return r;
	r = backend_create(b, id, lim, addr, sizeof(addr));
	if (r != R_SUCCESS) {
		log_warnx(MOD, "cannot create a pooled sandbox id=%s err=%s", id, result_str(r));
		(void)!backend_destroy(b, id);
		/* Nobody owns it, nobody is told: the row just goes. */
		(void)!db_exec(db, "DELETE FROM sandboxes WHERE id = $1 AND org_id IS NULL", 1,
			       (const char *[]){id}, NULL);
		return R_UPSTREAM;
	}
	return db_exec(
	    db,
	    "UPDATE sandboxes SET status = 'running', agent_address = $2, ready_at = now() "
	    "WHERE id = $1 AND status = 'creating'",
	    2, (const char *[]){id, addr}, NULL);
}

/* remove_extra: stop and delete pooled sandboxes beyond size (those whose
 * limits no longer match the defaults first, then the newest). Each is
 * claimed ("stopping") while still unowned, under SKIP LOCKED, so a create
 * claiming the same one at the same moment wins and keeps it. */
static enum result remove_extra(struct db *db, struct backend *b, const struct sandbox_limits *lim,
				long long size, long long *removed)
{
	char millis[16], bytes[24], keep[24];
	struct db_res *res = NULL;
	enum result r;

	snprintf(millis, sizeof(millis), "%u", lim->cpu_millis);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)lim->memory_bytes);
	snprintf(keep, sizeof(keep), "%lld", size);
	r = db_exec(db,
		    "UPDATE sandboxes SET status = 'stopping' WHERE id IN (SELECT id FROM "
		    "sandboxes WHERE org_id IS NULL AND status = 'running' ORDER BY "
		    "(cpus_millis = $1::int AND memory_bytes = $2::bigint) DESC, created_at "
		    "OFFSET $3::int FOR UPDATE SKIP LOCKED) AND org_id IS NULL RETURNING id",
		    3, (const char *[]){millis, bytes, keep}, &res);
	if (r != R_SUCCESS)
		return r;
	for (int i = 0; i < db_res_rows(res); i++) {
		enum result s = lifecycle_stop(db, b, "", db_res_get(res, i, 0), LIFECYCLE_STOPPED,
					       "pool_shrunk", true);

		if (s == R_SUCCESS)
			(*removed)++;
		else if (s == R_DB)
			r = s;
	}
	db_res_free(res);
	return r;
}

enum result warmpool_refill(struct db *db, struct backend *b, long long size, long long *created,
			    long long *removed)
{
	char millis[16], bytes[24];
	struct sandbox_limits lim;
	struct db_res *res = NULL;
	long long have, made = 0, gone = 0;
	bool locked;
	enum result r;

	*created = *removed = 0;
	pool_limits(&lim);
	r = db_exec(db, "SELECT pg_try_advisory_lock(" REFILL_LOCK ")", 0, NULL, &res);
	if (r != R_SUCCESS)
		return r;
	locked = db_res_rows(res) == 1 && strcmp(db_res_get(res, 0, 0), "t") == 0;
	db_res_free(res);
	res = NULL;
	if (!locked)
		return R_SUCCESS;
	snprintf(millis, sizeof(millis), "%u", lim.cpu_millis);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)lim.memory_bytes);
	r = db_exec(db,
		    "SELECT count(*) FILTER (WHERE cpus_millis = $1::int AND memory_bytes = "
		    "$2::bigint), count(*) FROM sandboxes WHERE org_id IS NULL AND status "
		    "IN ('creating', 'running', 'stopping')",
		    2, (const char *[]){millis, bytes}, &res);
	if (r != R_SUCCESS)
		goto unlock;
	have = strtoll(db_res_get(res, 0, 0), NULL, 10);
	if (strtoll(db_res_get(res, 0, 1), NULL, 10) > have || have > size)
		r = remove_extra(db, b, &lim, size, &gone);
	while (r == R_SUCCESS && have + made < size) {
		r = create_one(db, b, &lim);
		made += r == R_SUCCESS;
	}
	*created = made;
	*removed = gone;
unlock:
	db_res_free(res);
	(void)!db_exec(db, "SELECT pg_advisory_unlock(" REFILL_LOCK ")", 0, NULL, NULL);
	return r;
}
