/* exec.c: POST /api/v1/sandbox/:id/execute, the synchronous execute. The
 * command runs through the sandbox's agent; the row and the command.* events
 * frame it: once the row exists, every path ends it with exactly one
 * command.completed or command.failed. The output is encoded straight into
 * the response, capped in encoded bytes, so a request costs the API
 * process at most its two capped output buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_client.h"
#include "core/config.h"
#include "db/db.h"
#include "sandbox/events.h"
#include "handlers.h"
#include "core/log.h"
#include "sandbox_row.h"
#include "validate.h"

#define ARGV_MAX	     4096
#define ENV_MAX		     512
#define COMMAND_MAX	     (256 * 1024)
#define STDIN_MAX	     (16 * 1024 * 1024)
#define DEFAULT_EXEC_TIMEOUT 300
#define CONNECT_MS	     2000
#define GRACE_MS	     5000

static const char *const fields[] = {"command", "env", "working_dir", "timeout", "stdin", NULL};

/* An exec request with the arrays it points into. */
struct exec_plan {
	struct agentproto_exec req;
	const char *argv[ARGV_MAX];
	const char *env[ENV_MAX];
	char *env_buf[ENV_MAX]; /* owned "K=V" strings */
	size_t nenv_owned;
	char *command_text; /* owned JSON of the command, for the row */
};

static void plan_free(struct exec_plan *p)
{
	for (size_t i = 0; i < p->nenv_owned; i++)
		free(p->env_buf[i]);
	free(p->command_text);
}

static enum result parse_command(struct req *rq, struct exec_plan *p)
{
	struct json *cmd = json_get(rq->body, "command");
	size_t total = 0;

	if (json_is_string(cmd)) {
		if (*json_str(cmd) == '\0' || strlen(json_str(cmd)) > COMMAND_MAX)
			return http_set_error(rq, R_INVALID, "'command' must be 1 to %d bytes",
					      COMMAND_MAX);
		p->argv[0] = json_str(cmd);
		p->req.argc = 1;
		p->req.flags |= AP_EXEC_SHELL;
	} else if (json_is_array(cmd) && json_len(cmd) > 0 && json_len(cmd) <= ARGV_MAX) {
		for (const struct json *a = json_child(cmd); a != NULL; a = json_next(a)) {
			if (!json_is_string(a))
				return http_set_error(rq, R_INVALID,
						      "'command' items must be strings");
			total += strlen(json_str(a));
			p->argv[p->req.argc++] = json_str(a);
		}
		if (p->req.argc == 0 || *p->argv[0] == '\0' || total > COMMAND_MAX)
			return http_set_error(rq, R_INVALID, "'command' is empty or too long");
	} else {
		return http_set_error(
		    rq, R_INVALID,
		    "'command' must be a string (run by /bin/sh -c) or an array of "
		    "strings (argv)");
	}
	p->req.argv = p->argv;
	p->command_text = json_print(cmd);
	return p->command_text ? R_SUCCESS : R_NO_MEMORY;
}

/* add_env: sandbox env first, request env after it, so the request wins. */
static enum result add_env(struct req *rq, struct exec_plan *p, const struct json *obj)
{
	for (const struct json *m = json_child(obj); m != NULL; m = json_next(m)) {
		char *kv;

		if (!json_is_string(m) || !validate_env_name(json_key(m)))
			return http_set_error(rq, R_INVALID,
					      "'env' must map names like [A-Za-z_][A-Za-z0-9_]* to "
					      "strings");
		if (p->nenv_owned == ENV_MAX)
			return http_set_error(rq, R_INVALID, "too many environment variables");
		if (asprintf(&kv, "%s=%s", json_key(m), json_str(m)) < 0)
			return R_NO_MEMORY;
		p->env_buf[p->nenv_owned] = kv;
		p->env[p->nenv_owned++] = kv;
	}
	return R_SUCCESS;
}

static enum result parse(struct req *rq, const struct sandbox_row *row, struct exec_plan *p)
{
	struct json *env = json_get(rq->body, "env");
	long long timeout = DEFAULT_EXEC_TIMEOUT;
	const char *stdin_text = NULL;
	enum result r;

	if ((r = validate_known_fields(rq, rq->body, fields)) != R_SUCCESS ||
	    (r = parse_command(rq, p)) != R_SUCCESS || (r = add_env(rq, p, row->env)) != R_SUCCESS)
		return r;
	if (env != NULL && !json_is_null(env)) {
		if (!json_is_object(env))
			return http_set_error(rq, R_INVALID, "'env' must be an object of strings");
		if ((r = add_env(rq, p, env)) != R_SUCCESS)
			return r;
	}
	r = validate_str(rq, rq->body, "working_dir", false, 4096, &p->req.cwd);
	if (r != R_SUCCESS && r != R_NOT_FOUND)
		return r;
	r = validate_int(rq, rq->body, "timeout", false, 1, config()->exec_max_timeout, &timeout);
	if (r != R_SUCCESS && r != R_NOT_FOUND)
		return r;
	r = json_get_str(rq->body, "stdin", &stdin_text);
	if (r == R_INVALID || (r == R_SUCCESS && strlen(stdin_text) > STDIN_MAX))
		return http_set_error(rq, R_INVALID, "'stdin' must be a string of at most %d bytes",
				      STDIN_MAX);
	p->req.stdin_data = (const uint8_t *)stdin_text;
	p->req.stdin_len = stdin_text ? strlen(stdin_text) : 0;
	p->req.env = p->env;
	p->req.envc = p->nenv_owned;
	p->req.timeout_ms = (uint32_t)(timeout * 1000);
	p->req.stdout_cap = p->req.stderr_cap = (uint64_t)config()->exec_output_cap;
	return R_SUCCESS;
}

/* record_start: the execution row and command.started in one statement
 * (atomic without a transaction, one round trip on the hot path). */
static enum result record_start(struct req *rq, const char *sbx, const char *exec_id,
				const struct exec_plan *p)
{
	char evt[ID_SIZE("evt_")];
	struct json *data = json_new_object();
	char *payload = NULL;
	enum result r = R_NO_MEMORY;

	if (data == NULL || p->command_text == NULL ||
	    json_add_str(data, "executionId", exec_id) != R_SUCCESS ||
	    json_add(data, "command", json_parse(p->command_text, strlen(p->command_text))) !=
		R_SUCCESS)
		goto out;
	r = events_build(rq->auth.org_id, sbx, "command.started", data, evt, sizeof(evt), &payload);
	if (r != R_SUCCESS)
		goto out;
	r = db_exec(rq->db,
		    "WITH x AS (INSERT INTO executions (id, org_id, sandbox_id, command) "
		    "VALUES ($1, $2, $3, $4::jsonb)) INSERT INTO events (id, org_id, sandbox_id, "
		    "type, payload) VALUES ($5, $2, $3, 'command.started', $6::jsonb)",
		    6,
		    (const char *[]){exec_id, rq->auth.org_id, sbx, p->command_text, evt, payload},
		    NULL);
out:
	free(payload);
	json_free(data);
	return r;
}

/* record_end: the outcome and command.completed/failed, one statement.
 * error is NULL when the command ran to its end (x is its result), else
 * why there is no result (x is ignored): the row is finished all the same
 * and the event is command.failed. The UPDATE only matches an unfinished
 * row and the event is only inserted when it did, so a second call can
 * never announce a second end. */
static enum result record_end(struct req *rq, const char *sbx, const char *exec_id,
			      const struct agent_exec_result *x, const char *error)
{
	char code[16], sig[16], dur[24], outb[24], errb[24], evt[ID_SIZE("evt_")];
	const char *type = error == NULL && x->exit_code == 0 && !x->timed_out ? "command.completed"
									       : "command.failed";
	struct json *data = json_new_object();
	char *payload = NULL;
	enum result r = R_NO_MEMORY;

	snprintf(code, sizeof(code), "%d", x->exit_code);
	snprintf(sig, sizeof(sig), "%d", x->signal);
	snprintf(dur, sizeof(dur), "%llu", (unsigned long long)x->duration_ms);
	snprintf(outb, sizeof(outb), "%zu", x->out_len);
	snprintf(errb, sizeof(errb), "%zu", x->err_len);
	if (data == NULL || json_add_str(data, "executionId", exec_id) != R_SUCCESS ||
	    json_add(data, "exitCode", error ? json_new_null() : json_new_int(x->exit_code)) !=
		R_SUCCESS ||
	    json_add_int(data, "durationMs", (long long)x->duration_ms) != R_SUCCESS ||
	    json_add_bool(data, "timedOut", x->timed_out) != R_SUCCESS ||
	    (error != NULL && json_add_str(data, "error", error) != R_SUCCESS))
		goto out;
	r = events_build(rq->auth.org_id, sbx, type, data, evt, sizeof(evt), &payload);
	if (r != R_SUCCESS)
		goto out;
	r = db_exec(rq->db,
		    "WITH x AS (UPDATE executions SET exit_code = $2::int, signal = $3::int, "
		    "timed_out = $4::bool, oom_killed = $5::bool, duration_ms = $6::bigint, "
		    "stdout_bytes = $7::bigint, stderr_bytes = $8::bigint, error = $14, "
		    "finished_at = now() WHERE id = $1 AND finished_at IS NULL RETURNING id) "
		    "INSERT INTO events (id, org_id, sandbox_id, type, payload) "
		    "SELECT $9, $10, $11, $12, $13::jsonb FROM x",
		    14,
		    (const char *[]){exec_id, error ? NULL : code, error ? NULL : sig,
				     x->timed_out ? "t" : "f", x->oom_killed ? "t" : "f", dur, outb,
				     errb, evt, rq->auth.org_id, sbx, type, payload, error},
		    NULL);
out:
	free(payload);
	json_free(data);
	return r;
}

/* record_failure: end the row of a command that has no result. */
static void record_failure(struct req *rq, const char *sbx, const char *exec_id, enum result why)
{
	const struct agent_exec_result none = {.exit_code = -1};
	const char *error = why == R_INVALID   ? "not_started"
			    : why == R_TIMEOUT ? "agent_timeout"
					       : "agent_failed";

	if (record_end(rq, sbx, exec_id, &none, error) != R_SUCCESS)
		log_warnx("exec", "cannot record the failure of execution id=%s", exec_id);
}

/* rest_json: the response fields after stdout and stderr, as JSON text. */
static char *rest_json(const char *exec_id, const struct agent_exec_result *x, bool out_cut,
		       bool err_cut)
{
	struct json *o = json_new_object();
	bool out_trunc = x->stdout_truncated || out_cut, err_trunc = x->stderr_truncated || err_cut;
	char *text = NULL;

	if (o != NULL && json_add_int(o, "exit_code", x->exit_code) == R_SUCCESS &&
	    json_add_int(o, "duration_ms", (long long)x->duration_ms) == R_SUCCESS &&
	    json_add_bool(o, "timed_out", x->timed_out) == R_SUCCESS &&
	    json_add_bool(o, "truncated", out_trunc || err_trunc) == R_SUCCESS &&
	    json_add_bool(o, "stdout_truncated", out_trunc) == R_SUCCESS &&
	    json_add_bool(o, "stderr_truncated", err_trunc) == R_SUCCESS &&
	    json_add_bool(o, "oom_killed", x->oom_killed) == R_SUCCESS &&
	    json_add(o, "signal", x->signal ? json_new_int(x->signal) : json_new_null()) ==
		R_SUCCESS &&
	    json_add_str(o, "execution_id", exec_id) == R_SUCCESS)
		text = json_print(o);
	json_free(o);
	return text;
}

/* respond: {"stdout":..,"stderr":..,<rest>} encoded straight into the
 * response: measured once, then written, never held encoded in memory
 * (10 MiB of control bytes would be 60 MB of "\u0001"). Each stream is
 * cut at SANDPIT_EXEC_OUTPUT_CAP encoded bytes. */
static enum result respond(struct req *rq, const char *exec_id, const struct agent_exec_result *x)
{
	static const char k_out[] = "{\"stdout\":", k_err[] = ",\"stderr\":";
	size_t cap = (size_t)config()->exec_output_cap + 2; /* + quotes */
	bool out_cut, err_cut;
	size_t out_len = http_json_string(NULL, x->out, x->out_len, cap, &out_cut);
	size_t err_len = http_json_string(NULL, x->err, x->err_len, cap, &err_cut);
	char *rest = rest_json(exec_id, x, out_cut, err_cut);
	size_t rest_len;

	if (rest == NULL)
		return R_NO_MEMORY;
	/* rest is an object: its "{" becomes the "," after stderr. */
	rest_len = strlen(rest);
	http_respond_json_head(rq, 200,
			       strlen(k_out) + out_len + strlen(k_err) + err_len + rest_len, NULL);
	http_write(rq, k_out, strlen(k_out));
	(void)http_json_string(rq, x->out, x->out_len, cap, &out_cut);
	http_write(rq, k_err, strlen(k_err));
	(void)http_json_string(rq, x->err, x->err_len, cap, &err_cut);
	http_write(rq, ",", 1);
	http_write(rq, rest + 1, rest_len - 1);
	free(rest);
	return R_SUCCESS;
}

static enum result run(struct req *rq, const struct sandbox_row *row, struct exec_plan *p)
{
	char exec_id[ID_SIZE("exe_")];
	struct agent_exec_result x = {0};
	struct agent_conn *conn = NULL;
	enum result r;

	if (id_new("exe_", exec_id, sizeof(exec_id)) != R_SUCCESS)
		return R_INTERNAL;
	r = record_start(rq, row->id, exec_id, p);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "cannot record the execution");
	r = agent_client_connect(row->agent_address, NULL, CONNECT_MS, &conn);
	if (r == R_SUCCESS)
		r = agent_client_exec(conn, &p->req, GRACE_MS, &x);
	agent_client_close(conn);
	if (r != R_SUCCESS) {
		record_failure(rq, row->id, exec_id, r);
		if (r == R_INVALID)
			return http_set_error(rq, r,
					      "the command could not be started: no such program, "
					      "or working_dir is not a directory");
		log_warnx("exec", "agent failed id=%s err=%s", row->id, result_str(r));
		return http_set_error(rq, r == R_TIMEOUT ? R_TIMEOUT : R_UPSTREAM,
				      "the sandbox agent did not answer");
	}
	if (record_end(rq, row->id, exec_id, &x, NULL) != R_SUCCESS)
		log_warnx("exec", "cannot record the end of execution id=%s", exec_id);
	r = respond(rq, exec_id, &x);
	agent_exec_result_free(&x);
	return r;
}

enum result exec_post(struct req *rq)
{
	struct sandbox_row row = {0};
	struct exec_plan *p;
	enum result r;

	r = sandbox_row_load(rq, &row);
	if (r != R_SUCCESS)
		return r;
	if (strcmp(row.status, "running") != 0) {
		sandbox_row_free(&row);
		return http_set_error(rq, R_CONFLICT, "sandbox is %s, not running", row.status);
	}
	/* The plan holds argv/env pointer tables: too big for a thread stack. */
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		sandbox_row_free(&row);
		return R_NO_MEMORY;
	}
	r = parse(rq, &row, p);
	if (r == R_SUCCESS)
		r = run(rq, &row, p);
	plan_free(p);
	free(p);
	sandbox_row_free(&row);
	return r;
}
