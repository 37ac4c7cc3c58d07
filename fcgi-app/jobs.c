/* jobs.c: the async job queue's API: submit (one or a batch), poll, list,
 * cancel. A submission is validated here in full and stored as one row
 * (db/015_jobs.sql) whose spec the runner (tools/runner/) trusts as is; the
 * answer is 202 at once, whatever the queue holds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "db/db.h"
#include "handlers.h"
#include "core/id.h"
#include "sandbox/language.h"
#include "sandbox/lifecycle.h"
#include "core/log.h"
#include "page.h"
#include "validate.h"

#define PAGE_DEFAULT	   50
#define PAGE_MAX	   200
#define BATCH_MAX	   100
#define FILES_MAX	   32
#define FILE_PATH_MAX	   128
#define STDIN_MAX	   (4 * 1024 * 1024)
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_MEMORY_MB  256
#define MIN_MEMORY_MB	   16

static const char *const job_fields[] = {
    "language", "code", "stdin", "files", "resource_limits", "tests", "compare", "tolerance", NULL};
static const char *const limit_fields[] = {"memory_mb",	      "cpu_cores", "timeout_ms",
					   "wall_timeout_ms", "disk_mb",   NULL};
static const char *const test_fields[] = {"stdin",	     "expected_output", "timeout_ms",
					  "wall_timeout_ms", "memory_mb",	NULL};

/* One validated submission: the row's columns. */
struct submission {
	const char *language; /* borrowed from the request body */
	const char *code;
	struct json *spec; /* owned */
};

/* whole: member key as an integer number in [lo, hi]; absent leaves *out. */
static enum result whole(struct req *rq, const char *where, const struct json *obj, const char *key,
			 long long lo, long long hi, long long *out)
{
	const struct json *v = json_get(obj, key);
	double d;

	if (v == NULL || json_is_null(v))
		return R_SUCCESS;
	d = json_is_number(v) ? json_number(v) : NAN;
	if (!(d >= (double)lo && d <= (double)hi) || d != (double)(long long)d)
		return http_set_error(rq, R_INVALID, "%s'%s' must be an integer from %lld to %lld",
				      where, key, lo, hi);
	*out = (long long)d;
	return R_SUCCESS;
}

/* text: member key as a string of at most max bytes, or NULL when absent. */
static enum result text(struct req *rq, const char *where, const struct json *obj, const char *key,
			size_t max, const char **out)
{
	const struct json *v = json_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return R_SUCCESS;
	if (!json_is_string(v))
		return http_set_error(rq, R_INVALID, "%s'%s' must be a string", where, key);
	if (strlen(json_str(v)) > max)
		return http_set_error(rq, R_TOO_BIG, "%s'%s' is larger than %zu bytes", where, key,
				      max);
	*out = json_str(v);
	return R_SUCCESS;
}

/* path_ok: a relative path under /workspace: [A-Za-z0-9._-] segments, no
 * "." or ".." segment, no empty one. */
static bool path_ok(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > FILE_PATH_MAX ||
	    strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") != n)
		return false;
	for (const char *s = p; *s != '\0';) {
		size_t l = strcspn(s, "/");

		if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += l;
		s += *s == '/';
		if (s[-1] == '/' && *s == '\0')
			return false;
	}
	return true;
}

static enum result parse_files(struct req *rq, const char *where, const struct json *files,
			       struct json *spec)
{
	size_t n = 0;

	if (files == NULL || json_is_null(files))
		return R_SUCCESS;
	if (!json_is_object(files))
		return http_set_error(rq, R_INVALID, "%s'files' must be an object of path: content",
				      where);
	for (const struct json *f = json_child(files); f != NULL; f = json_next(f)) {
		if (++n > FILES_MAX)
			return http_set_error(rq, R_INVALID, "%s'files' holds more than %d files",
					      where, FILES_MAX);
		if (!path_ok(json_key(f)))
			return http_set_error(rq, R_INVALID,
					      "%s'files' paths must be relative, of [A-Za-z0-9._-] "
					      "segments, at most %d bytes",
					      where, FILE_PATH_MAX);
		if (!json_is_string(f))
			return http_set_error(rq, R_INVALID, "%s'files' contents must be strings",
					      where);
	}
	return json_add(spec, "files", json_dup(files));
}

/* parse_limits: resource_limits onto the job's defaults; the CPU limit is
 * CPU time (timeout_ms), the wall limit defaults to twice it plus a second
 * so a program that sleeps is judged by wall time, not held forever. */
static enum result parse_limits(struct req *rq, const char *where, const struct json *rl,
				struct json *spec)
{
	long long mem = DEFAULT_MEMORY_MB, tmo = DEFAULT_TIMEOUT_MS, wall = 0, disk = 0;
	long long max_ms = config()->job_max_timeout_ms;
	long long max_mb = config()->max_memory >> 20;
	long long max_disk = config()->workspace_size >> 20;
	double cores = 1.0, max_cores = (double)config()->max_cpus / 1000.0;
	struct json *o = json_new_object();
	const struct json *c;
	enum result r = R_SUCCESS;

	if (o == NULL)
		return R_NO_MEMORY;
	if (rl != NULL && !json_is_null(rl)) {
		if (!json_is_object(rl)) {
			r = http_set_error(rq, R_INVALID, "%s'resource_limits' must be an object",
					   where);
			goto out;
		}
		if ((r = validate_known_fields(rq, rl, limit_fields)) != R_SUCCESS ||
		    (r = whole(rq, where, rl, "memory_mb", MIN_MEMORY_MB, max_mb, &mem)) !=
			R_SUCCESS ||
		    (r = whole(rq, where, rl, "timeout_ms", 1, max_ms, &tmo)) != R_SUCCESS ||
		    (r = whole(rq, where, rl, "wall_timeout_ms", 1, 3 * max_ms, &wall)) !=
			R_SUCCESS ||
		    (r = whole(rq, where, rl, "disk_mb", 1, max_disk, &disk)) != R_SUCCESS)
			goto out;
		c = json_get(rl, "cpu_cores");
		if (c != NULL && !json_is_null(c)) {
			cores = json_is_number(c) ? json_number(c) : NAN;
			if (!(cores >= 0.01 && cores <= max_cores)) {
				r = http_set_error(rq, R_INVALID,
						   "%s'cpu_cores' must be a number from 0.01 to %g",
						   where, max_cores);
				goto out;
			}
		}
	}
	if (json_add_int(o, "memory_mb", mem) != R_SUCCESS ||
	    json_add_int(o, "cpu_millis", (long long)(cores * 1000.0 + 0.5)) != R_SUCCESS ||
	    json_add_int(o, "timeout_ms", tmo) != R_SUCCESS ||
	    json_add_int(o, "wall_timeout_ms", wall ? wall : 2 * tmo + 1000) != R_SUCCESS ||
	    json_add_int(o, "disk_mb", disk) != R_SUCCESS) {
		r = R_NO_MEMORY;
		goto out;
	}
	r = json_add(spec, "limits", o);
	o = NULL;
out:
	json_free(o);
	return r;
}

static enum result parse_test(struct req *rq, const char *where, size_t i, const struct json *t,
			      struct json *tests)
{
	long long max_ms = config()->job_max_timeout_ms;
	long long max_mb = config()->max_memory >> 20;
	long long tmo = 0, wall = 0, mem = 0;
	const char *in = NULL, *want = NULL;
	struct json *o = NULL;
	char w[64];
	enum result r;

	snprintf(w, sizeof(w), "%stests[%zu]: ", where, i);
	if (!json_is_object(t))
		return http_set_error(rq, R_INVALID, "%smust be an object", w);
	if ((r = validate_known_fields(rq, t, test_fields)) != R_SUCCESS ||
	    (r = text(rq, w, t, "stdin", STDIN_MAX, &in)) != R_SUCCESS ||
	    (r = text(rq, w, t, "expected_output", STDIN_MAX, &want)) != R_SUCCESS ||
	    (r = whole(rq, w, t, "timeout_ms", 1, max_ms, &tmo)) != R_SUCCESS ||
	    (r = whole(rq, w, t, "wall_timeout_ms", 1, 3 * max_ms, &wall)) != R_SUCCESS ||
	    (r = whole(rq, w, t, "memory_mb", MIN_MEMORY_MB, max_mb, &mem)) != R_SUCCESS)
		return r;
	if (want == NULL)
		return http_set_error(rq, R_INVALID, "%s'expected_output' is required", w);
	o = json_new_object();
	if (o == NULL || json_add_str(o, "stdin", in ? in : "") != R_SUCCESS ||
	    json_add_str(o, "expected_output", want) != R_SUCCESS ||
	    (tmo && json_add_int(o, "timeout_ms", tmo) != R_SUCCESS) ||
	    (wall && json_add_int(o, "wall_timeout_ms", wall) != R_SUCCESS) ||
	    (mem && json_add_int(o, "memory_mb", mem) != R_SUCCESS)) {
		json_free(o);
		return R_NO_MEMORY;
	}
	return json_push(tests, o);
}

static enum result parse_tests(struct req *rq, const char *where, const struct json *tests,
			       struct json *spec)
{
	long long max = config()->job_max_tests;
	struct json *arr;
	enum result r = R_SUCCESS;

	if (tests == NULL || json_is_null(tests))
		return R_SUCCESS;
	if (!json_is_array(tests) || json_len(tests) == 0 || json_len(tests) > (size_t)max)
		return http_set_error(rq, R_INVALID,
				      "%s'tests' must be an array of 1 to %lld test cases", where,
				      max);
	arr = json_new_array();
	if (arr == NULL)
		return R_NO_MEMORY;
	for (size_t i = 0; i < json_len(tests) && r == R_SUCCESS; i++)
		r = parse_test(rq, where, i, json_at(tests, i), arr);
	if (r != R_SUCCESS) {
		json_free(arr);
		return r;
	}
	return json_add(spec, "tests", arr);
}

static enum result parse_compare(struct req *rq, const char *where, const struct json *obj,
				 struct json *spec)
{
	const struct json *tol = json_get(obj, "tolerance");
	const char *mode = NULL;
	double t = 1e-6;
	enum result r = text(rq, where, obj, "compare", 32, &mode);

	if (r != R_SUCCESS)
		return r;
	if (mode == NULL)
		mode = "trailing_whitespace";
	if (strcmp(mode, "exact") != 0 && strcmp(mode, "trailing_whitespace") != 0 &&
	    strcmp(mode, "numeric") != 0)
		return http_set_error(rq, R_INVALID,
				      "%s'compare' must be exact, trailing_whitespace or numeric",
				      where);
	if (tol != NULL && !json_is_null(tol)) {
		t = json_is_number(tol) ? json_number(tol) : NAN;
		if (!(t >= 0 && t <= 1e6))
			return http_set_error(
			    rq, R_INVALID, "%s'tolerance' must be a number from 0 to 1e6", where);
	}
	if (json_add_str(spec, "compare", mode) != R_SUCCESS ||
	    json_add(spec, "tolerance", json_new_double(t)) != R_SUCCESS)
		return R_NO_MEMORY;
	return R_SUCCESS;
}

/* parse_submission: one job object into s (s->spec owned by the caller
 * even on failure). where prefixes messages ("submissions[3]: "). */
static enum result parse_submission(struct req *rq, const char *where, const struct json *obj,
				    struct submission *s)
{
	size_t max_code = (size_t)config()->job_max_code;
	const char *in = NULL;
	char names[256];
	enum result r;

	if (!json_is_object(obj))
		return http_set_error(rq, R_INVALID, "%sa job must be a JSON object", where);
	if ((r = validate_known_fields(rq, obj, job_fields)) != R_SUCCESS)
		return r;
	s->language = json_str(json_get(obj, "language"));
	if (language_find(s->language) == NULL) {
		language_names(names, sizeof(names));
		return http_set_error(rq, R_INVALID, "%s'language' must be one of: %s", where,
				      names);
	}
	if ((r = text(rq, where, obj, "code", max_code, &s->code)) != R_SUCCESS)
		return r;
	if (s->code == NULL || s->code[0] == '\0')
		return http_set_error(rq, R_INVALID, "%s'code' is required", where);
	s->spec = json_new_object();
	if (s->spec == NULL)
		return R_NO_MEMORY;
	if ((r = text(rq, where, obj, "stdin", STDIN_MAX, &in)) != R_SUCCESS)
		return r;
	if (json_add_str(s->spec, "stdin", in ? in : "") != R_SUCCESS)
		return R_NO_MEMORY;
	if ((r = parse_files(rq, where, json_get(obj, "files"), s->spec)) != R_SUCCESS ||
	    (r = parse_limits(rq, where, json_get(obj, "resource_limits"), s->spec)) != R_SUCCESS ||
	    (r = parse_tests(rq, where, json_get(obj, "tests"), s->spec)) != R_SUCCESS ||
	    (r = parse_compare(rq, where, obj, s->spec)) != R_SUCCESS)
		return r;
	return R_SUCCESS;
}

/* insert: one queued row for s; its id into id. In the caller's
 * transaction. */
static enum result insert(struct req *rq, const struct submission *s, char *id, size_t id_size)
{
	char *spec = json_print(s->spec);
	enum result r;

	if (spec == NULL)
		return R_NO_MEMORY;
	r = id_new("job_", id, id_size);
	if (r == R_SUCCESS)
		r = db_exec(rq->db,
			    "INSERT INTO jobs (id, org_id, language, code, spec) "
			    "VALUES ($1, $2, $3, $4, $5::jsonb)",
			    5, (const char *[]){id, rq->auth.org_id, s->language, s->code, spec},
			    NULL);
	free(spec);
	return r;
}

static struct json *queued_json(const char *id)
{
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, "job_id", id) != R_SUCCESS ||
	    json_add_str(o, "status", "queued") != R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

enum result jobs_create(struct req *rq)
{
	struct submission s = {0};
	char id[ID_SIZE("job_")];
	struct json *body;
	enum result r = parse_submission(rq, "", rq->body, &s);

	if (r == R_SUCCESS)
		r = insert(rq, &s, id, sizeof(id));
	json_free(s.spec);
	if (r != R_SUCCESS)
		return r == R_DB ? http_set_error(rq, r, "cannot queue the job") : r;
	body = queued_json(id);
	if (body == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, 202, body, NULL);
	return R_SUCCESS;
}

/* jobs_batch: {submissions: [...]} of 1..BATCH_MAX jobs, all validated
 * before any is queued, queued in one transaction: all or none. */
enum result jobs_batch(struct req *rq)
{
	static const char *const fields[] = {"submissions", NULL};
	const struct json *subs = json_get(rq->body, "submissions");
	struct json *body = NULL, *arr = NULL;
	struct submission s;
	char id[ID_SIZE("job_")], where[48];
	enum result r;

	if ((r = validate_known_fields(rq, rq->body, fields)) != R_SUCCESS)
		return r;
	if (!json_is_array(subs) || json_len(subs) == 0 || json_len(subs) > BATCH_MAX)
		return http_set_error(rq, R_INVALID,
				      "'submissions' must be an array of 1 to %d jobs", BATCH_MAX);
	body = json_new_object();
	arr = json_new_array();
	if (body == NULL || arr == NULL || json_add(body, "jobs", arr) != R_SUCCESS) {
		json_free(arr);
		r = R_NO_MEMORY;
		goto out;
	}
	r = db_begin(rq->db);
	for (size_t i = 0; i < json_len(subs) && r == R_SUCCESS; i++) {
		memset(&s, 0, sizeof(s));
		snprintf(where, sizeof(where), "submissions[%zu]: ", i);
		r = parse_submission(rq, where, json_at(subs, i), &s);
		if (r == R_SUCCESS)
			r = insert(rq, &s, id, sizeof(id));
		json_free(s.spec);
		if (r == R_SUCCESS)
			r = json_push(arr, queued_json(id));
	}
	if (r == R_SUCCESS)
		r = db_commit(rq->db);
	if (r != R_SUCCESS) {
		db_rollback(rq->db);
		if (r == R_DB)
			r = http_set_error(rq, r, "cannot queue the jobs");
		goto out;
	}
	http_respond_json(rq, 202, body, NULL);
	body = NULL;
out:
	json_free(body);
	return r;
}

#define JOB_COLUMNS                                                                                \
	"id, status, language, attempts, ts(created_at), ts(started_at), ts(finished_at), error, " \
	"result->>'verdict'"

/* job_row: the summary every job representation starts with. */
static struct json *job_row(const struct db_res *res, int i)
{
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, "job_id", db_res_get(res, i, 0)) != R_SUCCESS ||
	    json_add_str(o, "status", db_res_get(res, i, 1)) != R_SUCCESS ||
	    json_add_str(o, "language", db_res_get(res, i, 2)) != R_SUCCESS ||
	    json_add_int(o, "attempts", strtoll(db_res_get(res, i, 3), NULL, 10)) != R_SUCCESS ||
	    json_add_str(o, "created_at", db_res_get(res, i, 4)) != R_SUCCESS ||
	    json_add_str_or_null(o, "started_at", db_res_get(res, i, 5)) != R_SUCCESS ||
	    json_add_str_or_null(o, "finished_at", db_res_get(res, i, 6)) != R_SUCCESS ||
	    json_add_str_or_null(o, "error", db_res_get(res, i, 7)) != R_SUCCESS ||
	    json_add_str_or_null(o, "verdict", db_res_get(res, i, 8)) != R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

enum result jobs_get(struct req *rq)
{
	const char *id = rq->params[0], *result;
	struct db_res *res = NULL;
	struct json *o;
	enum result r;

	if (!id_is_valid("job_", id))
		return http_set_error(rq, R_NOT_FOUND, "job not found");
	r = db_exec(rq->db,
		    "SELECT " JOB_COLUMNS ", result::text FROM jobs WHERE id = $1 AND org_id = $2",
		    2, (const char *[]){id, rq->auth.org_id}, &res);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "cannot read the job");
	if (db_res_rows(res) != 1) {
		db_res_free(res);
		return http_set_error(rq, R_NOT_FOUND, "job not found");
	}
	o = job_row(res, 0);
	result = db_res_get(res, 0, 9);
	if (o != NULL &&
	    json_add(o, "result", result ? json_parse(result, strlen(result)) : json_new_null()) !=
		R_SUCCESS) {
		json_free(o);
		o = NULL;
	}
	db_res_free(res);
	if (o == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, 200, o, NULL);
	return R_SUCCESS;
}

static bool status_ok(const char *s)
{
	static const char *const all[] = {"queued", "running", "completed", "failed", "cancelled"};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, all[i]) == 0)
			return true;
	return false;
}

enum result jobs_list(struct req *rq)
{
	char cursor[ID_MAX_SIZE], status[16];
	int limit;
	enum result r;

	r = validate_page(rq, "job_", PAGE_DEFAULT, PAGE_MAX, &limit, cursor, sizeof(cursor));
	if (r != R_SUCCESS)
		return r;
	r = http_query(rq, "status", status, sizeof(status));
	if (r == R_NOT_FOUND)
		status[0] = '\0';
	else if (r != R_SUCCESS || (status[0] != '\0' && !status_ok(status)))
		return http_set_error(
		    rq, R_INVALID,
		    "'status' must be queued, running, completed, failed or cancelled");
	return page_list(rq,
			 "SELECT " JOB_COLUMNS " FROM jobs WHERE org_id = $1 AND ($2 = '' OR "
			 "status = $2) AND " PAGE_KEYSET("jobs", "$3", "org_id = $1", "$4"),
			 4, (const char *[]){rq->auth.org_id, status, cursor}, limit, "jobs",
			 job_row, "cannot list jobs");
}

/* jobs_cancel: a queued job never starts; a running one ends now: its row
 * is final at once and its sandbox is stopped here, so the program dies
 * without waiting for the runner (which notices the row is no longer its
 * own and leaves it as it is). */
enum result jobs_cancel(struct req *rq)
{
	const char *id = rq->params[0];
	struct db_res *res = NULL;
	struct json *o = NULL;
	enum result r;

	if (!id_is_valid("job_", id))
		return http_set_error(rq, R_NOT_FOUND, "job not found");
	r = db_exec(rq->db,
		    "WITH c AS (UPDATE jobs SET status = 'cancelled', finished_at = now(), "
		    "lease_until = NULL, error = 'cancelled' WHERE id = $1 AND org_id = $2 AND "
		    "status IN ('queued', 'running') RETURNING sandbox_id) "
		    "SELECT (SELECT count(*) FROM c), (SELECT sandbox_id FROM c), "
		    "(SELECT status FROM jobs WHERE id = $1 AND org_id = $2)",
		    2, (const char *[]){id, rq->auth.org_id}, &res);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "cannot cancel the job");
	if (strcmp(db_res_get(res, 0, 0), "1") != 0) {
		r = db_res_get(res, 0, 2) == NULL
			? http_set_error(rq, R_NOT_FOUND, "job not found")
			: http_set_error(rq, R_CONFLICT, "the job is already %s",
					 db_res_get(res, 0, 2));
		goto out;
	}
	if (db_res_get(res, 0, 1) != NULL && rq->backend != NULL &&
	    lifecycle_stop(rq->db, rq->backend, rq->auth.org_id, db_res_get(res, 0, 1),
			   LIFECYCLE_STOPPED, "job_cancelled", true) != R_SUCCESS)
		log_warnx("jobs", "cannot stop the sandbox of cancelled job id=%s sandbox=%s", id,
			  db_res_get(res, 0, 1));
	o = json_new_object();
	if (o == NULL || json_add_str(o, "job_id", id) != R_SUCCESS ||
	    json_add_str(o, "status", "cancelled") != R_SUCCESS) {
		r = R_NO_MEMORY;
		goto out;
	}
	http_respond_json(rq, 200, o, NULL);
	o = NULL;
out:
	json_free(o);
	db_res_free(res);
	return r;
}
