/* sandboxes.c: create, inspect, list, stop and delete sandboxes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/config.h"
#include "db/db.h"
#include "sandbox/events.h"
#include "handlers.h"
#include "sandbox/lifecycle.h"
#include "page.h"
#include "core/log.h"
#include "core/reslimit.h"
#include "sandbox_row.h"
#include "auth/streamtoken.h"
#include "template_pick.h"
#include "validate.h"
#include "sandbox/warmpool.h"

#define PAGE_DEFAULT	   50
#define PAGE_MAX	   200
#define ENV_MAX_VARS	   256
#define ENV_MAX_BYTES	   (64 * 1024)
#define METADATA_MAX_BYTES (16 * 1024)
#define HOST_FULL_RETRY	   "5" /* seconds a client waits when the host is full */

static const char *const create_fields[] = {"timeout_seconds", "cpus",	   "memory", "env",
					    "metadata",	       "template", NULL};

struct create_req {
	long long timeout;
	char cpus[32];
	char memory[32];
	uint32_t cpu_millis;
	uint64_t memory_bytes;
	char *env_text;			/* owned JSON object text */
	char *metadata_text;		/* owned JSON object text */
	char template[RECIPE_MAX_NAME]; /* "" when none (template_pick.h) */
	char image[TEMPLATE_IMAGE_MAX]; /* NAME@KEY sent to the backend */
};

static void create_req_free(struct create_req *c)
{
	free(c->env_text);
	free(c->metadata_text);
}

/* quantity: a string, or a number given as one ("cpus": 2). */
static enum result quantity(struct req *rq, const char *key, const char *def, char *out,
			    size_t size)
{
	struct json *v = json_get(rq->body, key);

	if (v == NULL || json_is_null(v)) {
		snprintf(out, size, "%s", def);
		return R_SUCCESS;
	}
	if (json_is_string(v) && strlen(json_str(v)) < size) {
		snprintf(out, size, "%s", json_str(v));
		return R_SUCCESS;
	}
	if (json_is_number(v) && json_number(v) > 0 && json_number(v) < 1e6) {
		snprintf(out, size, "%g", json_number(v));
		return R_SUCCESS;
	}
	return http_set_error(rq, R_INVALID, "'%s' must be a string like \"2\" or \"512Mi\"", key);
}

/* env_object: validate an {"NAME":"value"} object into its JSON text. */
static enum result env_object(struct req *rq, const struct json *env, char **out)
{
	size_t n = 0;

	if (!json_is_object(env))
		return http_set_error(rq, R_INVALID, "'env' must be an object of strings");
	for (const struct json *m = json_child(env); m != NULL; m = json_next(m)) {
		const char *v = json_str(m);

		if (v == NULL || !validate_env_name(json_key(m)) || strlen(json_key(m)) > 256)
			return http_set_error(
			    rq, R_INVALID,
			    "'env' names must match [A-Za-z_][A-Za-z0-9_]* and values "
			    "must be strings");
		if (++n > ENV_MAX_VARS)
			return http_set_error(rq, R_INVALID, "'env' holds more than %d variables",
					      ENV_MAX_VARS);
	}
	*out = json_print(env);
	if (*out == NULL)
		return R_NO_MEMORY;
	if (strlen(*out) > ENV_MAX_BYTES)
		return http_set_error(rq, R_INVALID, "'env' is larger than %d bytes",
				      ENV_MAX_BYTES);
	return R_SUCCESS;
}

static enum result parse_create(struct req *rq, struct create_req *c)
{
	struct json *env = json_get(rq->body, "env"), *md = json_get(rq->body, "metadata");
	enum result r;

	if ((r = validate_known_fields(rq, rq->body, create_fields)) != R_SUCCESS)
		return r;
	c->timeout = config()->default_timeout;
	r = validate_int(rq, rq->body, "timeout_seconds", false, 1, config()->max_timeout,
			 &c->timeout);
	if (r != R_SUCCESS && r != R_NOT_FOUND)
		return r;
	if ((r = quantity(rq, "cpus", config()->default_cpus, c->cpus, sizeof(c->cpus))) !=
		R_SUCCESS ||
	    (r = quantity(rq, "memory", config()->default_memory, c->memory, sizeof(c->memory))) !=
		R_SUCCESS)
		return r;
	if (reslimit_parse_cpus(c->cpus, &c->cpu_millis) != R_SUCCESS || c->cpu_millis == 0)
		return http_set_error(rq, R_INVALID,
				      "'cpus' must look like \"2\", \"0.5\" or \"500m\"");
	if (reslimit_parse_memory(c->memory, &c->memory_bytes) != R_SUCCESS ||
	    c->memory_bytes < 16 * 1024 * 1024)
		return http_set_error(
		    rq, R_INVALID, "'memory' must look like \"2Gi\" or \"512Mi\" (at least 16Mi)");
	if ((r = template_pick(rq, c->template, c->image)) != R_SUCCESS)
		return r;
	/* An uncapped request would be a cgroup limit above the host's memory:
	 * no limit at all. */
	if (c->memory_bytes > (uint64_t)config()->max_memory)
		return http_set_error(rq, R_INVALID,
				      "'memory' is above this host's maximum of %lld MiB",
				      config()->max_memory >> 20);
	if (c->cpu_millis > (uint32_t)config()->max_cpus)
		return http_set_error(rq, R_INVALID, "'cpus' is above this host's maximum of %lldm",
				      config()->max_cpus);
	if (env != NULL && !json_is_null(env) &&
	    (r = env_object(rq, env, &c->env_text)) != R_SUCCESS)
		return r;
	/* the image's env (its recipe's env lines) under the create's own */
	if (c->template[0] && (r = template_env(rq, c->template, &c->env_text)) != R_SUCCESS)
		return r;
	if (md != NULL && !json_is_null(md)) {
		if (!json_is_object(md))
			return http_set_error(rq, R_INVALID, "'metadata' must be an object");
		c->metadata_text = json_print(md);
		if (c->metadata_text == NULL)
			return R_NO_MEMORY;
		if (strlen(c->metadata_text) > METADATA_MAX_BYTES)
			return http_set_error(rq, R_INVALID, "'metadata' is larger than %d bytes",
					      METADATA_MAX_BYTES);
	}
	return R_SUCCESS;
}

/* reserve: under the org row's lock, count live sandboxes against the limit
 * and insert ours as "creating" with its sandbox.created event. The lock is
 * what makes 20 parallel creates respect the limit. */
static enum result reserve(struct req *rq, const char *id, const struct create_req *c)
{
	char millis[16], bytes[24], timeout[24], max[24];
	struct db_res *res = NULL;
	long long limit = config()->max_sandboxes_per_org;
	enum result r;

	snprintf(millis, sizeof(millis), "%u", c->cpu_millis);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)c->memory_bytes);
	snprintf(timeout, sizeof(timeout), "%lld", c->timeout);
	snprintf(max, sizeof(max), "%lld", limit);
	/* The org's row stays locked until the commit, so concurrent creates
	 * of one org count one after another (db/008_claim_functions.sql). */
	r = db_begin(rq->db);
	if (r == R_SUCCESS)
		r = db_exec(rq->db,
			    "SELECT sp_org_room($1, $2::int), (SELECT max_sandboxes FROM "
			    "organizations WHERE id = $1)",
			    2, (const char *[]){rq->auth.org_id, max}, &res);
	if (r != R_SUCCESS)
		goto fail;
	if (db_res_get(res, 0, 0) == NULL) {
		r = http_set_error(rq, R_UNAUTHORIZED, "organization not found");
		goto fail;
	}
	if (strtoll(db_res_get(res, 0, 0), NULL, 10) <= 0) {
		if (db_res_get(res, 0, 1) != NULL)
			limit = strtoll(db_res_get(res, 0, 1), NULL, 10);
		/* A count, not a rate: retrying only helps once a sandbox ends,
		 * so this is never "rate_limited" (which promises Retry-After). */
		r = http_set_error(
		    rq, R_LIMIT,
		    "MAX_SANDBOXES_PER_ORG reached: %lld running sandboxes at once; stop "
		    "one first",
		    limit);
		goto fail;
	}
	r = db_exec(
	    rq->db,
	    "INSERT INTO sandboxes (id, org_id, status, backend, cpus_millis, memory_bytes, "
	    "cpus, memory, timeout_seconds, env, metadata, expires_at, template) VALUES ($1, "
	    "$2, 'creating', $3, $4::int, $5::bigint, $6, $7, $8::int, COALESCE($9::jsonb, "
	    "'{}'), COALESCE($10::jsonb, '{}'), now() + make_interval(secs => $8::int), "
	    "NULLIF($11, ''))",
	    11,
	    (const char *[]){id, rq->auth.org_id, "local", millis, bytes, c->cpus, c->memory,
			     timeout, c->env_text, c->metadata_text, c->template},
	    NULL);
	if (r == R_SUCCESS)
		r = events_emit(rq->db, rq->auth.org_id, id, "sandbox.created", NULL);
	if (r == R_SUCCESS)
		r = db_commit(rq->db);
fail:
	db_res_free(res);
	if (r != R_SUCCESS)
		db_rollback(rq->db);
	return r;
}

/* respond_sandbox: the full representation of one sandbox row. */
static enum result respond_sandbox(struct req *rq, const char *id, int status, bool usage);

/* claim_warm: a pooled sandbox with exactly these limits, when the pool is
 * on (lib/sandbox/warmpool.h). R_NOT_FOUND means "start one cold"; the cold path
 * also reports the org limit. */
static enum result claim_warm(struct req *rq, const struct create_req *c, const struct timespec *t0,
			      char *id, size_t id_size)
{
	struct warmpool_want w = {
	    .org_id = rq->auth.org_id,
	    .cpu_millis = c->cpu_millis,
	    .memory_bytes = c->memory_bytes,
	    .cpus = c->cpus,
	    .memory = c->memory,
	    .timeout = c->timeout,
	    .env_text = c->env_text,
	    .metadata_text = c->metadata_text,
	    .max_sandboxes = config()->max_sandboxes_per_org,
	    .startup_ms = (long long)clock_ms_since(t0),
	};
	enum result r = warmpool_claim(rq->db, &w, id, id_size);

	if (r != R_SUCCESS && r != R_NOT_FOUND)
		return http_set_error(rq, r, "cannot create the sandbox");
	return r;
}

enum result sandboxes_create(struct req *rq)
{
	struct create_req c = {0};
	struct sandbox_limits lim = {0};
	char id[ID_SIZE("sbx_")], addr[BACKEND_ADDR_MAX];
	struct timespec t0;
	enum result r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = parse_create(rq, &c);
	if (r != R_SUCCESS)
		goto out;
	if (rq->backend == NULL) {
		r = http_set_error(rq, R_UPSTREAM, "the sandbox backend is not available");
		goto out;
	}
	/* pooled sandboxes have the host-directories root: never one for an
	 * image */
	r = c.image[0] ? R_NOT_FOUND : claim_warm(rq, &c, &t0, id, sizeof(id));
	if (r == R_SUCCESS) {
		r = secrets_apply(rq, id, NULL, c.env_text);
		if (r == R_SUCCESS)
			r = respond_sandbox(rq, id, 201, false);
		goto out;
	}
	if (r != R_NOT_FOUND)
		goto out;
	if (id_new("sbx_", id, sizeof(id)) != R_SUCCESS) {
		r = R_INTERNAL;
		goto out;
	}
	r = reserve(rq, id, &c);
	if (r != R_SUCCESS)
		goto out;
	lim.cpu_millis = c.cpu_millis;
	lim.memory_bytes = c.memory_bytes;
	lim.pids_max = (uint32_t)config()->pids_limit;
	lim.disk_bytes = (uint64_t)config()->workspace_size;
	r = backend_create_image(rq->backend, id, &lim, c.image[0] ? c.image : NULL, addr,
				 sizeof(addr));
	if (r != R_SUCCESS) {
		log_warnx("sandbox", "create failed id=%s err=%s", id, result_str(r));
		lifecycle_mark_error(rq->db, rq->backend, rq->auth.org_id, id,
				     "runtime_create_failed");
		if (r == R_QUOTA) {
			/* Host capacity frees as other sandboxes end: a retry later
			 * may work, so it is "rate_limited" with its Retry-After. */
			http_respond_error(rq, R_QUOTA, 0, NULL,
					   "this host has no free sandbox slots",
					   "Retry-After: " HOST_FULL_RETRY "\r\n");
			r = R_SUCCESS;
			goto out;
		}
		if (r == R_NOT_FOUND && c.image[0]) {
			/* removed from the cache since template_pick looked */
			r = http_set_error(rq, R_CONFLICT,
					   "template '%s' is not built on this host; build it with "
					   "`sandpit-admin images build %s`",
					   c.template, c.template);
			goto out;
		}
		r = http_set_error(rq, R_UPSTREAM, "the sandbox could not be started");
		goto out;
	}
	/* Before "running": nobody can run code in it without its secrets. */
	r = secrets_apply(rq, id, addr, c.env_text);
	if (r != R_SUCCESS)
		goto out;
	r = lifecycle_mark_running(rq->db, rq->backend, rq->auth.org_id, id, addr,
				   (long long)clock_ms_since(&t0));
	if (r == R_CONFLICT) {
		r = http_set_error(rq, r, "the sandbox was stopped while it was starting");
		goto out;
	}
	if (r != R_SUCCESS) {
		lifecycle_mark_error(rq->db, rq->backend, rq->auth.org_id, id,
				     "database_unavailable");
		r = http_set_error(rq, r, "cannot record the sandbox");
		goto out;
	}
	r = respond_sandbox(rq, id, 201, false);
out:
	create_req_free(&c);
	return r;
}

static struct json *usage_json(struct req *rq, const char *id)
{
	struct sandbox_usage u;
	struct json *o;

	if (rq->backend == NULL || backend_inspect(rq->backend, id, &u) != R_SUCCESS)
		return json_new_null();
	o = json_new_object();
	if (o == NULL ||
	    json_add(o, "cpu_seconds", json_new_double((double)u.cpu_usec / 1e6)) != R_SUCCESS ||
	    json_add_int(o, "memory_current_bytes", (long long)u.memory_current) != R_SUCCESS ||
	    json_add_int(o, "memory_peak_bytes", (long long)u.memory_peak) != R_SUCCESS ||
	    json_add_int(o, "pids", u.pids) != R_SUCCESS ||
	    json_add_bool(o, "alive", u.alive) != R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

/* row_json: columns of the standard sandbox SELECT into an object. */
#define SANDBOX_COLUMNS                                                                            \
	"id, status, ts(created_at), ts(ready_at), ts(expires_at), ts(stopped_at), cpus, memory, " \
	"timeout_seconds, metadata::text, stop_reason, error, "                                    \
	"EXTRACT(EPOCH FROM ready_at - created_at) * 1000, template"

static struct json *row_json(const struct db_res *res, int i)
{
	const char *md = db_res_get(res, i, 9), *startup = db_res_get(res, i, 12);
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, "sandbox_id", db_res_get(res, i, 0)) != R_SUCCESS ||
	    json_add_str(o, "status", db_res_get(res, i, 1)) != R_SUCCESS ||
	    json_add_str(o, "created_at", db_res_get(res, i, 2)) != R_SUCCESS ||
	    json_add_str_or_null(o, "ready_at", db_res_get(res, i, 3)) != R_SUCCESS ||
	    json_add_str(o, "expires_at", db_res_get(res, i, 4)) != R_SUCCESS ||
	    json_add_str_or_null(o, "stopped_at", db_res_get(res, i, 5)) != R_SUCCESS ||
	    json_add_str(o, "cpus", db_res_get(res, i, 6)) != R_SUCCESS ||
	    json_add_str(o, "memory", db_res_get(res, i, 7)) != R_SUCCESS ||
	    json_add_int(o, "timeout_seconds", strtoll(db_res_get(res, i, 8), NULL, 10)) !=
		R_SUCCESS ||
	    json_add(o, "metadata", json_parse(md, strlen(md))) != R_SUCCESS ||
	    json_add_str_or_null(o, "stop_reason", db_res_get(res, i, 10)) != R_SUCCESS ||
	    json_add_str_or_null(o, "error", db_res_get(res, i, 11)) != R_SUCCESS ||
	    json_add(o, "startup_ms",
		     startup ? json_new_double(strtod(startup, NULL)) : json_new_null()) !=
		R_SUCCESS ||
	    json_add_str_or_null(o, "template", db_res_get(res, i, 13)) != R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

static enum result respond_sandbox(struct req *rq, const char *id, int status, bool usage)
{
	struct db_res *res = NULL;
	struct json *o;
	enum result r;

	r = db_exec(rq->db,
		    "SELECT " SANDBOX_COLUMNS " FROM sandboxes WHERE id = $1 AND org_id = $2", 2,
		    (const char *[]){id, rq->auth.org_id}, &res);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "cannot read the sandbox");
	if (db_res_rows(res) != 1) {
		db_res_free(res);
		return http_set_error(rq, R_NOT_FOUND, "sandbox not found");
	}
	o = row_json(res, 0);
	if (o != NULL && usage && strcmp(db_res_get(res, 0, 1), "running") == 0 &&
	    json_add(o, "usage", usage_json(rq, id)) != R_SUCCESS) {
		json_free(o);
		o = NULL;
	}
	db_res_free(res);
	if (o == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, status, o, NULL);
	return R_SUCCESS;
}

enum result sandboxes_get(struct req *rq)
{
	if (!id_is_valid("sbx_", rq->params[0]))
		return http_set_error(rq, R_NOT_FOUND, "sandbox not found");
	return respond_sandbox(rq, rq->params[0], 200, true);
}

enum result sandboxes_status(struct req *rq)
{
	struct db_res *res = NULL;
	struct json *o;
	enum result r;

	if (!id_is_valid("sbx_", rq->params[0]))
		return http_set_error(rq, R_NOT_FOUND, "sandbox not found");
	r = db_exec(rq->db,
		    "SELECT status, ts(expires_at) FROM sandboxes WHERE id = $1 AND org_id = $2", 2,
		    (const char *[]){rq->params[0], rq->auth.org_id}, &res);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "cannot read the sandbox");
	if (db_res_rows(res) != 1) {
		db_res_free(res);
		return http_set_error(rq, R_NOT_FOUND, "sandbox not found");
	}
	o = json_new_object();
	if (o == NULL || json_add_str(o, "sandbox_id", rq->params[0]) != R_SUCCESS ||
	    json_add_str(o, "status", db_res_get(res, 0, 0)) != R_SUCCESS ||
	    json_add_str(o, "expires_at", db_res_get(res, 0, 1)) != R_SUCCESS) {
		json_free(o);
		db_res_free(res);
		return R_NO_MEMORY;
	}
	db_res_free(res);
	http_respond_json(rq, 200, o, NULL);
	return R_SUCCESS;
}

static bool status_ok(const char *s)
{
	static const char *const all[] = {"creating", "running", "stopping", "stopped",
					  "timeout",  "error",	 NULL};

	for (size_t i = 0; all[i] != NULL; i++)
		if (strcmp(all[i], s) == 0)
			return true;
	return false;
}

enum result sandboxes_list(struct req *rq)
{
	char cursor[ID_MAX_SIZE], status[16] = "";
	int limit;
	enum result r;

	r = validate_page(rq, "sbx_", PAGE_DEFAULT, PAGE_MAX, &limit, cursor, sizeof(cursor));
	if (r != R_SUCCESS)
		return r;
	r = http_query(rq, "status", status, sizeof(status));
	if (r == R_NOT_FOUND)
		status[0] = '\0';
	else if (r != R_SUCCESS || !status_ok(status))
		return http_set_error(
		    rq, R_INVALID,
		    "'status' must be one of creating, running, stopping, stopped, "
		    "timeout, error");
	return page_list(
	    rq,
	    "SELECT " SANDBOX_COLUMNS " FROM sandboxes s WHERE org_id = $1 "
	    "AND ($2 = '' OR status = $2) AND " PAGE_KEYSET("sandboxes", "$3", "org_id = $1", "$4"),
	    4, (const char *[]){rq->auth.org_id, status, cursor}, limit, "sandboxes", row_json,
	    "cannot list sandboxes");
}

static enum result stop_or_delete(struct req *rq, bool drop)
{
	struct sandbox_row row;
	enum result r = sandbox_row_load(rq, &row);

	if (r != R_SUCCESS)
		return r;
	sandbox_row_free(&row);
	r = sandbox_stop(rq, row.id, drop ? "deleted" : "user", drop);
	if (r != R_SUCCESS)
		return r;
	return drop ? http_respond_done(rq, "sandbox_id", row.id, "deleted")
		    : respond_sandbox(rq, row.id, 200, false);
}

enum result sandboxes_stop(struct req *rq)
{
	return stop_or_delete(rq, false);
}

enum result sandboxes_delete(struct req *rq)
{
	return stop_or_delete(rq, true);
}

/* sandboxes_timeout: POST /sandbox/:id/timeout {"timeout_seconds": N}: the
 * sandbox now expires N seconds from now (longer or shorter), for long agent
 * sessions. The org's max_duration_seconds (else SANDPIT_MAX_TIMEOUT) caps
 * the whole lifetime, so the new expiry is clamped to created_at + that
 * maximum; timeout_seconds becomes the lifetime it implies, rounded to the
 * nearest second (ceil read back 601 for a 600 asked of a fresh sandbox), so
 * expires_at = created_at + timeout_seconds within half a second. Only a
 * running sandbox: 409 otherwise. */
enum result sandboxes_timeout(struct req *rq)
{
	static const char *const fields[] = {"timeout_seconds", NULL};
	char secs_s[24], max_s[24];
	struct db_res *res = NULL;
	long long secs;
	enum result r;
	bool done;

	if (!id_is_valid("sbx_", rq->params[0]))
		return http_set_error(rq, R_NOT_FOUND, "sandbox not found");
	if ((r = validate_known_fields(rq, rq->body, fields)) != R_SUCCESS ||
	    (r = validate_int(rq, rq->body, "timeout_seconds", true, 1, config()->max_timeout,
			      &secs)) != R_SUCCESS)
		return r;
	snprintf(secs_s, sizeof(secs_s), "%lld", secs);
	snprintf(max_s, sizeof(max_s), "%lld", config()->max_timeout);
	r = db_exec(
	    rq->db,
	    "WITH n AS (SELECT s.id, LEAST(now() + make_interval(secs => $3::int), "
	    "s.created_at + make_interval(secs => LEAST(COALESCE(o.max_duration_seconds, "
	    "$4::int), $4::int))) AS exp FROM sandboxes s JOIN organizations o ON o.id = "
	    "s.org_id WHERE s.id = $1 AND s.org_id = $2 AND s.status = 'running' FOR UPDATE "
	    "OF s) UPDATE sandboxes s SET expires_at = n.exp, timeout_seconds = "
	    "GREATEST(1, round(EXTRACT(EPOCH FROM n.exp - s.created_at)))::int FROM n "
	    "WHERE s.id = n.id RETURNING s.id",
	    4, (const char *[]){rq->params[0], rq->auth.org_id, secs_s, max_s}, &res);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "cannot change the timeout");
	done = db_res_rows(res) == 1;
	db_res_free(res);
	if (!done) {
		r = db_exec(rq->db, "SELECT status FROM sandboxes WHERE id = $1 AND org_id = $2", 2,
			    (const char *[]){rq->params[0], rq->auth.org_id}, &res);
		if (r != R_SUCCESS)
			return http_set_error(rq, r, "cannot read the sandbox");
		done = db_res_rows(res) == 1;
		db_res_free(res);
		return done ? http_set_error(rq, R_CONFLICT, "the sandbox is not running")
			    : http_set_error(rq, R_NOT_FOUND, "sandbox not found");
	}
	return respond_sandbox(rq, rq->params[0], 200, false);
}

/* sandboxes_stream_token: a short-lived signed token for opening the
 * sandbox's WebSocket stream from a browser, which cannot set an
 * Authorization header on a WebSocket. The body, if any, is ignored. */
enum result sandboxes_stream_token(struct req *rq)
{
	const char *secret = config()->secret_key;
	char token[STREAMTOKEN_MAX];
	struct sandbox_row row;
	struct json *o;
	enum result r;

	if (*secret == '\0')
		return http_set_error(rq, R_UPSTREAM, "stream tokens are not configured");
	r = sandbox_row_load(rq, &row);
	if (r != R_SUCCESS)
		return r;
	sandbox_row_free(&row);
	if (strcmp(row.status, "running") != 0)
		return http_set_error(rq, R_CONFLICT, "sandbox is %s, not running", row.status);
	/* bound to the key that minted it: revoking the key kills the token */
	r = streamtoken_mint(secret, strlen(secret), rq->auth.org_id, row.id, rq->auth.key_id,
			     (long long)time(NULL), STREAMTOKEN_DEFAULT_TTL, token, sizeof(token));
	if (r != R_SUCCESS)
		return r;
	o = json_new_object();
	if (o == NULL || json_add_str(o, "token", token) != R_SUCCESS ||
	    json_add_int(o, "expires_in", STREAMTOKEN_DEFAULT_TTL) != R_SUCCESS ||
	    json_add_str(o, "sandbox_id", row.id) != R_SUCCESS) {
		json_free(o);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 201, o, NULL);
	return R_SUCCESS;
}
