/* run.c: one job, step by step (see run.h).
 *
 * Every test case runs in a fresh sandbox: the cgroup's memory peak cannot
 * be reset between runs, so a sandbox shared by the cases would report the
 * largest peak so far, not this case's; and a fresh sandbox costs ~15 ms.
 * CPU time is the cgroup's cpu_usec taken before and after the run (the
 * idle agent adds next to nothing), memory the cgroup's peak minus what the
 * sandbox held before the run (the agent and the files). The memory limit
 * is set to that baseline plus the case's limit just before the run, so a
 * case gets exactly its memory_mb for the program.
 *
 * Each sandbox has a sandboxes row (status, expiry, events) like any other,
 * owned by the job's org and named in the job row, so the reaper's orphan
 * sweep leaves it alone, its expiry bounds it if this runner dies, and a
 * cancel can stop it. */
#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent_client.h"
#include "backend/backend.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "db/db.h"
#include "sandbox/events.h"
#include "core/id.h"
#include "core/json.h"
#include "judge.h"
#include "sandbox/language.h"
#include "sandbox/lifecycle.h"
#include "core/log.h"
#include "core/utf8.h"

#define MOD	       "runner"
#define MiB	       (1024ull * 1024ull)
#define CONNECT_MS     2000
#define FILE_MS	       10000
#define GRACE_MS       5000
#define HEADROOM       (64 * MiB)   /* agent and files, before the limit is set */
#define COMPILE_MEMORY (1024 * MiB) /* compilers need more than most programs */
#define ARTIFACT_MAX   (64 * MiB)
#define STDERR_CAP     (64 * 1024)
#define SHOWN_MAX      (64 * 1024) /* output kept per test case in the result */

struct box {
	char id[ID_SIZE("sbx_")];
	char addr[BACKEND_ADDR_MAX];
	bool up;
};

struct ctx {
	struct db *db;
	struct backend *b;
	const struct job *j;
	char *why;
	size_t why_size;
};

static long long spec_int(const struct json *o, const char *key, long long def)
{
	const struct json *v = json_get(o, key);

	return json_is_number(v) ? (long long)json_number(v) : def;
}

static enum result fail(struct ctx *cx, enum result r, const char *what)
{
	if (cx->why[0] == '\0')
		snprintf(cx->why, cx->why_size, "%s: %s", what, result_str(r));
	return r;
}

/* box_reserve: the sandbox row, and the job row pointing at it, in one
 * transaction; R_CONFLICT when the job is no longer ours. */
static enum result box_reserve(struct ctx *cx, struct box *bx, const struct sandbox_limits *lim,
			       long long wall_ms)
{
	char millis[16], bytes[24], secs[24], cpus[24], mem[32];
	struct db_res *res = NULL;
	enum result r;

	snprintf(millis, sizeof(millis), "%u", lim->cpu_millis);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)lim->memory_bytes);
	/* The expiry is the backstop should this runner die: the run's wall
	 * limit plus a minute for the steps around it. */
	snprintf(secs, sizeof(secs), "%lld", wall_ms / 1000 + 60);
	snprintf(cpus, sizeof(cpus), "%um", lim->cpu_millis);
	snprintf(mem, sizeof(mem), "%lluMi", (unsigned long long)(lim->memory_bytes / MiB));
	r = db_begin(cx->db);
	if (r == R_SUCCESS)
		r = db_exec(cx->db,
			    "UPDATE jobs SET sandbox_id = $1 WHERE id = $2 AND runner = $3 AND "
			    "status = 'running' RETURNING id",
			    3, (const char *[]){bx->id, cx->j->id, cx->j->runner}, &res);
	if (r == R_SUCCESS && db_res_rows(res) != 1)
		r = R_CONFLICT;
	if (r == R_SUCCESS)
		r = db_exec(
		    cx->db,
		    "INSERT INTO sandboxes (id, org_id, status, backend, cpus_millis, "
		    "memory_bytes, cpus, memory, timeout_seconds, metadata, expires_at) "
		    "VALUES ($1, $2, 'creating', 'local', $3::int, $4::bigint, $5, $6, $7::int, "
		    "jsonb_build_object('job_id', $8::text), "
		    "now() + make_interval(secs => $7::int))",
		    8,
		    (const char *[]){bx->id, cx->j->org_id, millis, bytes, cpus, mem, secs,
				     cx->j->id},
		    NULL);
	if (r == R_SUCCESS)
		r = events_emit(cx->db, cx->j->org_id, bx->id, "sandbox.created", NULL);
	if (r == R_SUCCESS)
		r = db_commit(cx->db);
	db_res_free(res);
	if (r != R_SUCCESS)
		db_rollback(cx->db);
	return r;
}

static enum result box_start(struct ctx *cx, struct box *bx, uint32_t cpu_millis,
			     uint64_t memory_bytes, uint64_t disk_bytes, long long wall_ms)
{
	struct sandbox_limits lim = {
	    .cpu_millis = cpu_millis,
	    .memory_bytes = memory_bytes,
	    .pids_max = (uint32_t)config()->pids_limit,
	    .disk_bytes = disk_bytes ? disk_bytes : (uint64_t)config()->workspace_size,
	};
	struct timespec t0;
	enum result r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	bx->up = false;
	if (id_new("sbx_", bx->id, sizeof(bx->id)) != R_SUCCESS)
		return fail(cx, R_INTERNAL, "cannot name a sandbox");
	r = box_reserve(cx, bx, &lim, wall_ms);
	if (r != R_SUCCESS)
		return r == R_CONFLICT ? r : fail(cx, r, "cannot record the sandbox");
	r = backend_create(cx->b, bx->id, &lim, bx->addr, sizeof(bx->addr));
	if (r != R_SUCCESS) {
		lifecycle_mark_error(cx->db, cx->b, cx->j->org_id, bx->id, "runtime_create_failed");
		return fail(cx, r, "the sandbox could not be started");
	}
	r = lifecycle_mark_running(cx->db, cx->b, cx->j->org_id, bx->id, bx->addr,
				   (long long)clock_ms_since(&t0));
	if (r == R_CONFLICT) /* a cancel stopped it while it started */
		return r;
	if (r != R_SUCCESS) {
		lifecycle_mark_error(cx->db, cx->b, cx->j->org_id, bx->id, "database_unavailable");
		return fail(cx, r, "cannot record the sandbox");
	}
	bx->up = true;
	return R_SUCCESS;
}

static void box_stop(struct ctx *cx, struct box *bx)
{
	enum result r;

	if (!bx->up)
		return;
	bx->up = false;
	r = lifecycle_stop(cx->db, cx->b, cx->j->org_id, bx->id, LIFECYCLE_STOPPED, "job_finished",
			   true);
	if (r != R_SUCCESS)
		log_warnx(MOD, "cannot stop job sandbox job=%s id=%s err=%s (the reaper will)",
			  cx->j->id, bx->id, result_str(r));
}

/* put: write files into /workspace in one request: the job's files, then
 * name with data (the code or the compiled artifact). */
static enum result put(struct ctx *cx, struct box *bx, const char *name, const void *data,
		       size_t len, uint32_t mode)
{
	const struct json *files = json_get(cx->j->spec, "files");
	struct agent_conn *c = NULL;
	enum result r = agent_client_connect(bx->addr, NULL, CONNECT_MS, &c);

	for (const struct json *f = json_child(files); f != NULL && r == R_SUCCESS;
	     f = json_next(f)) {
		r = agent_client_put_file(c, json_key(f), 0644, FILE_MS);
		if (r == R_SUCCESS)
			r = agent_client_put_data(c, json_str(f), strlen(json_str(f)), FILE_MS);
	}
	if (r == R_SUCCESS)
		r = agent_client_put_file(c, name, mode, FILE_MS);
	if (r == R_SUCCESS)
		r = agent_client_put_data(c, data, len, FILE_MS);
	if (r == R_SUCCESS)
		r = agent_client_put_commit(c, FILE_MS);
	agent_client_close(c);
	return r == R_SUCCESS ? R_SUCCESS : fail(cx, r, "cannot write the job's files");
}

/* fetch: the compiled artifact out of the compile sandbox. */
static enum result fetch(struct ctx *cx, struct box *bx, const char *path, struct buf *out)
{
	struct agentproto_finfo info;
	struct agent_conn *c = NULL;
	const uint8_t *data;
	size_t len;
	bool end = false;
	enum result r = agent_client_connect(bx->addr, NULL, CONNECT_MS, &c);

	if (r == R_SUCCESS)
		r = agent_client_get_begin(c, path, FILE_MS, &info);
	if (r == R_SUCCESS && info.size > ARTIFACT_MAX)
		r = R_TOO_BIG;
	while (r == R_SUCCESS && !end) {
		r = agent_client_get_chunk(c, FILE_MS, &data, &len, &end);
		if (r == R_SUCCESS && len > 0)
			r = buf_append(out, data, len);
	}
	agent_client_close(c);
	return r == R_SUCCESS ? R_SUCCESS : fail(cx, r, "cannot read the compiled program");
}

static enum result exec(struct ctx *cx, struct box *bx, const char *cmd, const char *in,
			size_t in_len, long long wall_ms, uint64_t out_cap,
			struct agent_exec_result *res)
{
	struct agentproto_exec req = {
	    .flags = AP_EXEC_SHELL,
	    .timeout_ms = (uint32_t)wall_ms,
	    .stdout_cap = out_cap,
	    .stderr_cap = STDERR_CAP,
	    .argv = (const char *const[]){cmd},
	    .argc = 1,
	    .stdin_data = (const uint8_t *)in,
	    .stdin_len = in_len,
	};
	struct agent_conn *c = NULL;
	enum result r = agent_client_connect(bx->addr, NULL, CONNECT_MS, &c);

	if (r == R_SUCCESS)
		r = agent_client_exec(c, &req, GRACE_MS, res);
	agent_client_close(c);
	return r == R_SUCCESS ? R_SUCCESS : fail(cx, r, "the run did not complete");
}

/* add_text: bytes as a JSON string member (sanitized, at most max bytes). */
static enum result add_text(struct json *o, const char *key, const char *p, size_t n, size_t max)
{
	char *s = utf8_sanitize(p ? p : "", p ? (n < max ? n : max) : 0, NULL);
	enum result r;

	if (s == NULL)
		return R_NO_MEMORY;
	r = json_add_str(o, key, s);
	free(s);
	return r;
}

/* One case: a test (expected non-NULL) or the plain run. */
struct run_case {
	const char *in;
	const char *expected;
	long long cpu_ms, wall_ms, memory_mb;
};

/* run_case: one run in a fresh sandbox, its verdict and measures into o. */
static enum result run_case(struct ctx *cx, const struct run_case *k, const struct buf *artifact,
			    struct json *o)
{
	const struct json *lim = json_get(cx->j->spec, "limits");
	const struct language *lang = cx->j->lang;
	uint64_t out_cap = (uint64_t)config()->job_output_limit;
	struct agent_exec_result res = {0};
	struct sandbox_usage before = {0}, after = {0};
	struct sandbox_limits tight = {0};
	struct run_facts f = {0};
	struct box bx = {0};
	char cmd[256];
	enum verdict v;
	enum result r;

	r = box_start(cx, &bx, (uint32_t)spec_int(lim, "cpu_millis", 1000),
		      (uint64_t)k->memory_mb * MiB + HEADROOM,
		      (uint64_t)spec_int(lim, "disk_mb", 0) * MiB, k->wall_ms);
	if (r != R_SUCCESS)
		return r;
	r = artifact ? put(cx, &bx, lang->artifact, artifact->data, artifact->len, 0755)
		     : put(cx, &bx, lang->file, cx->j->code, strlen(cx->j->code), 0644);
	if (r == R_SUCCESS && (r = backend_inspect(cx->b, bx.id, &before)) != R_SUCCESS)
		r = fail(cx, r, "cannot measure the sandbox");
	tight.memory_bytes = before.memory_current + (uint64_t)k->memory_mb * MiB;
	if (r == R_SUCCESS && (r = backend_resize(cx->b, bx.id, &tight)) != R_SUCCESS)
		r = fail(cx, r, "cannot set the memory limit");
	/* The CPU limit is also an rlimit (whole seconds, rounded up, plus
	 * one) so a spinning program ends near it rather than at the wall
	 * limit; the verdict uses the measured CPU time. */
	snprintf(cmd, sizeof(cmd), "ulimit -t %lld; %s", (k->cpu_ms + 999) / 1000 + 1, lang->run);
	if (r == R_SUCCESS)
		r = exec(cx, &bx, cmd, k->in, strlen(k->in), k->wall_ms, out_cap, &res);
	if (r == R_SUCCESS && (r = backend_inspect(cx->b, bx.id, &after)) != R_SUCCESS)
		r = fail(cx, r, "cannot measure the sandbox");
	box_stop(cx, &bx);
	if (r != R_SUCCESS)
		goto out;
	f.exit_code = res.exit_code;
	f.signal = res.signal;
	f.wall_timed_out = res.timed_out;
	f.oom_killed = res.oom_killed;
	f.output_cut = res.stdout_truncated;
	f.cpu_usec = after.cpu_usec - before.cpu_usec;
	f.cpu_limit_usec = (uint64_t)k->cpu_ms * 1000;
	f.peak_bytes = after.memory_peak;
	f.limit_bytes = tight.memory_bytes;
	v = judge_run(&f, res.out, res.out_len, k->expected,
		      judge_mode(json_str(json_get(cx->j->spec, "compare"))),
		      json_number(json_get(cx->j->spec, "tolerance")));
	if (json_add_str(o, "verdict", judge_name(v)) != R_SUCCESS ||
	    json_add_int(o, "exit_code", res.exit_code) != R_SUCCESS ||
	    json_add_int(o, "signal", res.signal) != R_SUCCESS ||
	    json_add_int(o, "cpu_ms", (long long)(f.cpu_usec / 1000)) != R_SUCCESS ||
	    json_add_int(o, "wall_ms", (long long)res.duration_ms) != R_SUCCESS ||
	    json_add_int(o, "memory_kb",
			 after.memory_peak > before.memory_current
			     ? (long long)((after.memory_peak - before.memory_current) / 1024)
			     : 0) != R_SUCCESS ||
	    add_text(o, "stdout", res.out, res.out_len, k->expected ? SHOWN_MAX : out_cap) !=
		R_SUCCESS ||
	    add_text(o, "stderr", res.err, res.err_len, SHOWN_MAX) != R_SUCCESS)
		r = R_NO_MEMORY;
out:
	agent_exec_result_free(&res);
	return r;
}

/* builds: the compile step leaves a new file (a binary) rather than
 * checking the source in place. */
static bool builds(const struct language *l)
{
	return l->compile != NULL && strcmp(l->artifact, l->file) != 0;
}

/* compile: the language's compile step in its own sandbox (so its memory
 * does not count against the first test); the artifact into out, or *ce
 * with the compiler's output as the job's compile_error. */
static enum result compile(struct ctx *cx, struct buf *out, struct json *info, bool *ce)
{
	const struct json *lim = json_get(cx->j->spec, "limits");
	const struct language *lang = cx->j->lang;
	long long wall = config()->job_compile_timeout_ms;
	uint64_t mem = (uint64_t)spec_int(lim, "memory_mb", 256) * MiB;
	struct agent_exec_result res = {0};
	struct box bx = {0};
	enum result r;

	if (mem < COMPILE_MEMORY)
		mem = COMPILE_MEMORY;
	if (mem > (uint64_t)config()->max_memory)
		mem = (uint64_t)config()->max_memory;
	*ce = false;
	r = box_start(cx, &bx, (uint32_t)spec_int(lim, "cpu_millis", 1000), mem,
		      (uint64_t)spec_int(lim, "disk_mb", 0) * MiB, wall);
	if (r != R_SUCCESS)
		return r;
	r = put(cx, &bx, lang->file, cx->j->code, strlen(cx->j->code), 0644);
	if (r == R_SUCCESS)
		r = exec(cx, &bx, lang->compile, "", 0, wall, STDERR_CAP, &res);
	if (r == R_SUCCESS) {
		*ce = res.timed_out || res.exit_code != 0;
		if (json_add_int(info, "exit_code", res.exit_code) != R_SUCCESS ||
		    json_add_int(info, "wall_ms", (long long)res.duration_ms) != R_SUCCESS ||
		    add_text(info, "stdout", res.out, res.out_len, SHOWN_MAX) != R_SUCCESS ||
		    add_text(info, "stderr", res.err, res.err_len, SHOWN_MAX) != R_SUCCESS)
			r = R_NO_MEMORY;
	}
	if (r == R_SUCCESS && res.timed_out) {
		char msg[128];

		snprintf(msg, sizeof(msg), "the compile exceeded its time limit of %lld ms", wall);
		r = json_add_str(info, "reason", msg);
	}
	if (r == R_SUCCESS && !*ce && builds(lang))
		r = fetch(cx, &bx, lang->artifact, out);
	box_stop(cx, &bx);
	agent_exec_result_free(&res);
	return r;
}

/* case_of: test i (or the plain run when tests is NULL) with its limits:
 * a test's own limits win over the job's; a test that sets a CPU limit
 * but no wall limit gets twice it plus a second. */
static void case_of(const struct json *spec, const struct json *t, struct run_case *k)
{
	const struct json *lim = json_get(spec, "limits");
	long long tmo = spec_int(lim, "timeout_ms", 5000);

	k->in = t ? json_str(json_get(t, "stdin")) : json_str(json_get(spec, "stdin"));
	if (k->in == NULL)
		k->in = "";
	k->expected = t ? json_str(json_get(t, "expected_output")) : NULL;
	k->cpu_ms = spec_int(t, "timeout_ms", tmo);
	k->wall_ms = spec_int(t, "wall_timeout_ms",
			      k->cpu_ms != tmo ? 2 * k->cpu_ms + 1000
					       : spec_int(lim, "wall_timeout_ms", 2 * tmo + 1000));
	k->memory_mb = spec_int(t, "memory_mb", spec_int(lim, "memory_mb", 256));
}

/* overall: the first verdict other than accepted, in test order. */
static const char *overall(const struct json *tests)
{
	for (const struct json *t = json_child(tests); t != NULL; t = json_next(t)) {
		const char *v = json_str(json_get(t, "verdict"));

		if (v != NULL && strcmp(v, "accepted") != 0)
			return v;
	}
	return "accepted";
}

static enum result run_all(struct ctx *cx, const struct buf *artifact, struct json *result)
{
	const struct json *tests = json_get(cx->j->spec, "tests");
	struct json *arr = NULL, *o = NULL;
	struct run_case k;
	enum result r = R_SUCCESS;

	if (tests == NULL) {
		case_of(cx->j->spec, NULL, &k);
		return run_case(cx, &k, artifact, result);
	}
	arr = json_new_array();
	if (arr == NULL)
		return R_NO_MEMORY;
	for (size_t i = 0; i < json_len(tests) && r == R_SUCCESS; i++) {
		case_of(cx->j->spec, json_at(tests, i), &k);
		o = json_new_object();
		r = o ? json_add_int(o, "index", (long long)i) : R_NO_MEMORY;
		if (r == R_SUCCESS)
			r = run_case(cx, &k, artifact, o);
		if (r == R_SUCCESS)
			r = json_push(arr, o);
		else
			json_free(o);
	}
	if (r == R_SUCCESS)
		r = json_add_str(result, "verdict", overall(arr));
	if (r == R_SUCCESS)
		return json_add(result, "tests", arr);
	json_free(arr);
	return r;
}

/* compile_failed: every test (or the run) gets compile_error. */
static enum result compile_failed(const struct job *j, struct json *result)
{
	const struct json *tests = json_get(j->spec, "tests");
	struct json *arr;
	enum result r = json_add_str(result, "verdict", "compile_error");

	if (r != R_SUCCESS || tests == NULL)
		return r;
	arr = json_new_array();
	if (arr == NULL)
		return R_NO_MEMORY;
	for (size_t i = 0; i < json_len(tests) && r == R_SUCCESS; i++) {
		struct json *o = json_new_object();

		if (o == NULL || json_add_int(o, "index", (long long)i) != R_SUCCESS ||
		    json_add_str(o, "verdict", "compile_error") != R_SUCCESS) {
			json_free(o);
			r = R_NO_MEMORY;
		} else {
			r = json_push(arr, o);
		}
	}
	if (r == R_SUCCESS)
		return json_add(result, "tests", arr);
	json_free(arr);
	return r;
}

enum result run_job(struct db *db, struct backend *b, const struct job *j, struct json **result,
		    char *why, size_t why_size)
{
	struct ctx cx = {.db = db, .b = b, .j = j, .why = why, .why_size = why_size};
	struct json *res = json_new_object(), *info = NULL;
	struct buf artifact;
	bool ce = false;
	enum result r = res ? R_SUCCESS : R_NO_MEMORY;

	why[0] = '\0';
	buf_init(&artifact, ARTIFACT_MAX);
	if (r == R_SUCCESS && j->lang->compile != NULL) {
		info = json_new_object();
		r = info ? compile(&cx, &artifact, info, &ce) : R_NO_MEMORY;
		if (r == R_SUCCESS)
			r = json_add(res, "compile", info);
		else
			json_free(info);
	}
	if (r == R_SUCCESS)
		r = ce ? compile_failed(j, res)
		       : run_all(&cx, builds(j->lang) ? &artifact : NULL, res);
	buf_free(&artifact);
	if (r != R_SUCCESS) {
		json_free(res);
		return r;
	}
	*result = res;
	return R_SUCCESS;
}
