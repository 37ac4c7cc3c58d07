/* files.c: /api/v1/sandbox/:id/files... : write, read, list, stat, remove,
 * mkdir and move files in a sandbox. Every byte goes through the sandbox's
 * agent, whose file helper acts as the sandbox user (tools/agent/files.c): no
 * host process opens a path inside a sandbox. Large bodies are streamed in
 * both directions; a worker never holds a raw upload or download whole.
 * Every handler checks its own input, then hands its operation to
 * with_agent, which runs the steps they share. Over 700 lines on purpose:
 * one file per resource (STYLE.md), and the eight routes share the skeleton,
 * the path rules and the file.written transaction that live here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_client.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "db/db.h"
#include "sandbox/events.h"
#include "handlers.h"
#include "core/log.h"
#include "sandbox_row.h"
#include "core/utf8.h"
#include "validate.h"

#define CONNECT_MS	  2000
#define OP_MS		  30000
#define STREAM_CHUNK	  (256 * 1024)
#define MAX_REQUEST_FILES 2048

/* ---- shared ------------------------------------------------------------------ */

/* running: the caller's sandbox, which must be running (409 otherwise). */
static enum result running(struct req *rq, struct sandbox_row *row)
{
	enum result r = sandbox_row_load(rq, row);

	if (r != R_SUCCESS)
		return r;
	if (strcmp(row->status, "running") != 0 || row->agent_address[0] == '\0') {
		r = http_set_error(rq, R_CONFLICT, "sandbox is %s, not running", row->status);
		sandbox_row_free(row);
	}
	return r;
}

/* path_ok: a path the agent will take: 1..PATH_MAX-1 bytes, no control bytes
 * (NUL is refused earlier, by the query decoder or the JSON check). */
static enum result path_ok(struct req *rq, const char *what, const char *p)
{
	size_t n = strlen(p);

	if (n == 0)
		return http_set_error(rq, R_INVALID, "'%s' must not be empty", what);
	if (n >= AGENTPROTO_MAX_PATH)
		return http_set_error(rq, R_INVALID, "'%s' is longer than %d bytes", what,
				      AGENTPROTO_MAX_PATH - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return http_set_error(rq, R_INVALID, "'%s' contains control characters",
					      what);
	/* Answers and file.written events name the path in JSON, which holds
	 * Unicode text only: a name that is not UTF-8 could be recorded only
	 * lossily (U+FFFD, two names alike) or in an escaped form no client can
	 * hand back. Refusing it keeps every answer and event exact; code in
	 * the sandbox can still create such names. */
	if (!utf8_is_valid(p, n))
		return http_set_error(rq, R_INVALID, "'%s' is not valid UTF-8", what);
	return R_SUCCESS;
}

/* abs_path: the one form a path takes in answers and events: absolute, with
 * "." segments and repeated or trailing slashes gone and ".." resolved
 * lexically, stopping at the root the agent resolves it under (relative
 * paths and /workspace/... live under /workspace, other absolute paths
 * under /). out holds AGENTPROTO_MAX_PATH + 16 bytes; a longer result is
 * cut (path_ok bounds the input first). */
#define ABS_PATH_SIZE (AGENTPROTO_MAX_PATH + 16)
static void abs_path(const char *in, char *out)
{
	const char *p = in;
	size_t n = 0, floor;

	if (in[0] != '/' || (strncmp(in, "/workspace", 10) == 0 && (in[10] == '/' || !in[10]))) {
		memcpy(out, "/workspace", 10);
		n = floor = 10;
		p = in[0] == '/' ? in + 10 : in;
	} else {
		floor = 0;
	}
	while (*p != '\0') {
		size_t seg;

		while (*p == '/')
			p++;
		seg = strcspn(p, "/");
		if (seg == 0 || (seg == 1 && p[0] == '.')) {
			/* nothing */
		} else if (seg == 2 && p[0] == '.' && p[1] == '.') {
			while (n > floor && out[n - 1] != '/')
				n--;
			if (n > floor)
				n--; /* the slash before the dropped name */
		} else if (n + 1 + seg < ABS_PATH_SIZE) {
			out[n++] = '/';
			memcpy(out + n, p, seg);
			n += seg;
		}
		p += seg;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
}

/* add_path: member key holding the absolute form of path. */
static enum result add_path(struct json *o, const char *key, const char *path)
{
	char abs[ABS_PATH_SIZE];

	abs_path(path, abs);
	return json_add_str(o, key, abs);
}

/* add_mode: permission bits as an octal string ("0644"), the form a client
 * writes them in (a request takes "0644" too). */
static enum result add_mode(struct json *o, uint32_t mode)
{
	char text[8];

	snprintf(text, sizeof(text), "%04o", (unsigned)(mode & 07777));
	return json_add_str(o, "mode", text);
}

static enum result query_path(struct req *rq, const char *name, char *out, size_t size)
{
	enum result r = http_query(rq, name, out, size);

	if (r == R_NOT_FOUND)
		return http_set_error(rq, R_INVALID, "query parameter '%s' is required", name);
	if (r != R_SUCCESS)
		return http_set_error(
		    rq, R_INVALID,
		    "query parameter '%s' is malformed, has a NUL byte or is over %d "
		    "bytes",
		    name, AGENTPROTO_MAX_PATH - 1);
	return path_ok(rq, name, out);
}

/* json_path: a path member of a JSON object (NUL bytes were refused with
 * the body, see read_json). */
static enum result json_path(struct req *rq, const struct json *obj, const char *key,
			     const char **out)
{
	enum result r = validate_str(rq, obj, key, true, AGENTPROTO_MAX_PATH - 1, out);

	return r == R_SUCCESS ? path_ok(rq, key, *out) : r;
}

/* read_json: the JSON object body into rq->body, capped at limit. Not
 * http_parse_json_body: its answers differ from the ones the files API has
 * given so far (a case-insensitive Content-Type that must end after
 * "application/json", other texts for an empty body, a NUL escape and text
 * that is not JSON), and this change keeps every answer. */
static enum result read_json(struct req *rq, size_t limit)
{
	const char *ct = http_header(rq, "CONTENT_TYPE");
	struct buf body;
	enum result r;

	if (ct == NULL || strncmp(ct, "application/json", strlen("application/json")) != 0) {
		rq->status = 415;
		return http_set_error(rq, R_INVALID, "Content-Type must be application/json");
	}
	r = http_read_body(rq, limit, &body);
	if (r != R_SUCCESS)
		return r;
	if (body.len == 0 || http_json_has_nul(body.data, body.len)) {
		r = http_set_error(rq, R_INVALID,
				   body.len ? "a NUL byte (\\u0000) in the body"
					    : "request body is empty");
		buf_free(&body);
		return r;
	}
	rq->body = json_parse(body.data, body.len);
	buf_free(&body);
	if (rq->body == NULL || !json_is_object(rq->body))
		return http_set_error(rq, R_INVALID, "request body must be a JSON object");
	return R_SUCCESS;
}

/* agent_fail: the agent's refusal as the API's error. */
static enum result agent_fail(struct req *rq, struct agent_conn *c, enum result r, const char *path)
{
	const char *why = c ? agent_client_last_error(c) : "";

	switch (r) {
	case R_NOT_FOUND:
	case R_FORBIDDEN:
	case R_INVALID:
	case R_CONFLICT:
	case R_NO_SPACE:
	case R_TOO_BIG:
		return http_set_error(rq, r, "%s: %s", path, *why ? why : result_str(r));
	case R_TIMEOUT:
		return http_set_error(rq, R_TIMEOUT, "the sandbox agent did not answer in time");
	case R_NO_MEMORY:
		return r;
	default:
		log_warnx("files", "agent failed path='%s' err=%s msg='%s'", path, result_str(r),
			  why);
		return http_set_error(rq, R_UPSTREAM, "the sandbox agent failed");
	}
}

static enum result connect_agent(struct req *rq, const struct sandbox_row *row,
				 struct agent_conn **out)
{
	enum result r = agent_client_connect(row->agent_address, NULL, CONNECT_MS, out);

	if (r != R_SUCCESS)
		return http_set_error(rq, r == R_TIMEOUT ? R_TIMEOUT : R_UPSTREAM,
				      "the sandbox agent is unreachable");
	return R_SUCCESS;
}

static const char *type_name(uint8_t t)
{
	switch (t) {
	case AP_FT_FILE:
		return "file";
	case AP_FT_DIR:
		return "dir";
	case AP_FT_SYMLINK:
		return "symlink";
	default:
		return "other";
	}
}

/* add_text: a string from the sandbox, made valid UTF-8. */
static enum result add_text(struct json *o, const char *key, const char *s)
{
	char *clean = utf8_sanitize(s, strlen(s), NULL);
	enum result r;

	if (clean == NULL)
		return R_NO_MEMORY;
	r = json_add_str(o, key, clean);
	free(clean);
	return r;
}

/* info_json: {name, path, type, size, mode, modified_at, symlink_target}. */
static struct json *info_json(const struct agentproto_finfo *fi, const char *path)
{
	struct json *o = json_new_object();
	const char *slash;
	char when[CLOCK_RFC3339_SIZE], abs[ABS_PATH_SIZE];

	clock_rfc3339(fi->mtime_ms, when);
	abs_path(path, abs);
	slash = strrchr(abs, '/');
	if (o == NULL || add_text(o, "name", slash && slash[1] ? slash + 1 : abs) != R_SUCCESS ||
	    add_text(o, "path", abs) != R_SUCCESS ||
	    json_add_str(o, "type", type_name(fi->ftype)) != R_SUCCESS ||
	    json_add_int(o, "size", (long long)fi->size) != R_SUCCESS ||
	    add_mode(o, fi->mode) != R_SUCCESS ||
	    json_add_str(o, "modified_at", when) != R_SUCCESS ||
	    (fi->ftype == AP_FT_SYMLINK
		 ? add_text(o, "symlink_target", fi->target)
		 : json_add(o, "symlink_target", json_new_null())) != R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

/* Every write is announced by file.written, and a write whose event cannot
 * be recorded must not succeed silently. The agent keeps a write in a
 * temporary until its commit, so the event goes first: written_begin opens a
 * transaction holding it, the agent commits (renames) the files, and
 * written_end commits the event, or rolls it back when the agent failed.
 * Only a database failure between the rename and the commit remains, and it
 * is answered as an error, never as a success. */

/* written_begin: the file.written event of paths (consumed) in an open
 * transaction. */
static enum result written_begin(struct req *rq, const char *sbx, struct json *paths,
				 unsigned long long bytes)
{
	struct json *data = json_new_object();
	enum result r = data ? json_add(data, "paths", paths) : R_NO_MEMORY;

	if (data == NULL)
		json_free(paths); /* json_add owns it otherwise, even on failure */
	if (r == R_SUCCESS)
		r = json_add_int(data, "bytes", (long long)bytes);
	if (r == R_SUCCESS)
		r = db_begin(rq->db);
	if (r == R_SUCCESS) {
		r = events_emit(rq->db, rq->auth.org_id, sbx, "file.written", data);
		if (r != R_SUCCESS)
			db_rollback(rq->db);
	}
	json_free(data);
	if (r != R_SUCCESS) {
		log_warnx("files", "cannot record file.written sandbox=%s err=%s", sbx,
			  result_str(r));
		return http_set_error(
		    rq, r == R_NO_MEMORY ? r : R_DB,
		    "the file.written event cannot be recorded; nothing was written");
	}
	return R_SUCCESS;
}

/* written_end: commit the event when the agent committed the files (r). */
static enum result written_end(struct req *rq, const char *sbx, enum result r)
{
	if (r != R_SUCCESS) {
		db_rollback(rq->db);
		return r;
	}
	r = db_commit(rq->db);
	if (r != R_SUCCESS) {
		db_rollback(rq->db);
		log_errx("files", "file written without its file.written event sandbox=%s", sbx);
		return http_set_error(
		    rq, R_DB,
		    "the file was written but its file.written event could not be "
		    "recorded");
	}
	return R_SUCCESS;
}

/* ---- the skeleton ------------------------------------------------------------------- */

/* file_op: one request's operation on the agent, run by with_agent. A
 * handler embeds it as the first member of its own state. */
struct file_op {
	/* what an agent failure names; run points it elsewhere as it goes, or
	 * sets it to NULL once what it returns is final (answered, or formatted
	 * by http_set_error already) */
	const char *path;
	/* optional: after the sandbox was found running, before its agent is
	 * reached (a body only a running sandbox may take is parsed here) */
	enum result (*prepare)(struct req *rq, struct file_op *op);
	/* the operation on a fresh connection to the agent, answering on
	 * success */
	enum result (*run)(struct req *rq, struct file_op *op, struct agent_conn *c);
	const char *sbx; /* set by with_agent: the sandbox's id */
};

/* with_agent: the steps every files request shares: the caller's sandbox
 * must be running (409), op is prepared, the agent reached (502/504), op
 * run, an agent refusal turned into the API's error, the connection closed
 * (which drops a write the agent was not told to commit). */
static enum result with_agent(struct req *rq, struct file_op *op)
{
	struct sandbox_row row = {0};
	struct agent_conn *c = NULL;
	enum result r = running(rq, &row);

	if (r != R_SUCCESS)
		return r;
	if (op->prepare != NULL)
		r = op->prepare(rq, op);
	if (r == R_SUCCESS)
		r = connect_agent(rq, &row, &c);
	if (r == R_SUCCESS) {
		op->sbx = row.id;
		r = op->run(rq, op, c);
		op->sbx = NULL; /* row is gone once this returns */
		if (r != R_SUCCESS && op->path != NULL)
			r = agent_fail(rq, c, r, op->path);
	}
	agent_client_close(c);
	sandbox_row_free(&row);
	return r;
}

/* commit_written: the write sent on c made final and announced (see
 * written_begin): the event of paths (consumed, NULL when out of memory)
 * and bytes is opened, the agent commits, the event is committed. An
 * agent refusal names op->path; what this returns is final. */
static enum result commit_written(struct req *rq, struct file_op *op, struct agent_conn *c,
				  struct json *paths, unsigned long long bytes)
{
	const char *sbx = op->sbx;
	const char *path = op->path;
	enum result r = paths ? written_begin(rq, sbx, paths, bytes) : R_NO_MEMORY;

	op->path = NULL;
	if (r != R_SUCCESS)
		return r;
	r = agent_client_put_commit(c, OP_MS);
	if (r != R_SUCCESS)
		r = agent_fail(rq, c, r, path);
	return written_end(rq, sbx, r);
}

/* answer_path: {key: absolute path, flag: true}. */
static enum result answer_path(struct req *rq, const char *key, const char *path, const char *flag)
{
	struct json *out = json_new_object();

	if (out == NULL || add_path(out, key, path) != R_SUCCESS ||
	    json_add_bool(out, flag, true) != R_SUCCESS) {
		json_free(out);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 200, out, NULL);
	return R_SUCCESS;
}

/* ---- POST /files: JSON, all or nothing ---------------------------------------------- */

struct one_file {
	const char *path;
	uint8_t *bytes; /* owned, decoded content */
	size_t len;
	uint32_t mode;
};

static enum result parse_mode(struct req *rq, const struct json *m, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (m == NULL || json_is_null(m)) {
		*out = 0;
		return R_SUCCESS;
	}
	if (json_is_number(m)) {
		double d = json_number(m);

		if (d < 0 || d > 07777 || d != (double)(unsigned long)d)
			return http_set_error(rq, R_INVALID, "'mode' must be 0..4095 (07777)");
		*out = (uint32_t)d;
		return R_SUCCESS;
	}
	if (json_is_string(m) && *json_str(m) != '\0' && strlen(json_str(m)) <= 5) {
		v = strtoul(json_str(m), &end, 8);
		if (*end == '\0' && v <= 07777) {
			*out = (uint32_t)v;
			return R_SUCCESS;
		}
	}
	return http_set_error(rq, R_INVALID,
			      "'mode' must be a number or an octal string like \"0755\"");
}

static enum result parse_file(struct req *rq, const struct json *o, struct one_file *f)
{
	static const char *const known[] = {"path", "content", "mode", "encoding", NULL};
	const char *content = NULL, *enc = "base64";
	size_t clen, max;
	enum result r;

	if (!json_is_object(o))
		return http_set_error(rq, R_INVALID, "each file must be an object {path, content}");
	if ((r = validate_known_fields(rq, o, known)) != R_SUCCESS ||
	    (r = json_path(rq, o, "path", &f->path)) != R_SUCCESS ||
	    (r = parse_mode(rq, json_get(o, "mode"), &f->mode)) != R_SUCCESS)
		return r;
	if (json_get_str(o, "content", &content) != R_SUCCESS)
		return http_set_error(rq, R_INVALID, "'content' must be a string");
	r = json_get_str(o, "encoding", &enc);
	if (r == R_INVALID || (r == R_SUCCESS && strcmp(enc, "base64") != 0 &&
			       strcmp(enc, "utf8") != 0 && strcmp(enc, "utf-8") != 0))
		return http_set_error(rq, R_INVALID, "'encoding' must be \"base64\" or \"utf8\"");
	clen = strlen(content);
	if (strcmp(enc, "base64") != 0) {
		f->bytes = malloc(clen + 1);
		if (f->bytes == NULL)
			return R_NO_MEMORY;
		memcpy(f->bytes, content, clen);
		f->len = clen;
		return R_SUCCESS;
	}
	max = crypto_base64_decoded_max(clen);
	f->bytes = malloc(max + 1);
	if (f->bytes == NULL)
		return R_NO_MEMORY;
	if (crypto_base64_decode(content, clen, f->bytes, max + 1, &f->len) != R_SUCCESS)
		return http_set_error(rq, R_INVALID, "'content' of '%s' is not valid base64",
				      f->path);
	return R_SUCCESS;
}

/* written_paths: the absolute paths of fs for the event, with their total
 * size. */
static struct json *written_paths(const struct one_file *fs, size_t n, unsigned long long *bytes)
{
	struct json *paths = json_new_array();
	char abs[ABS_PATH_SIZE];

	*bytes = 0;
	for (size_t i = 0; paths != NULL && i < n; i++) {
		abs_path(fs[i].path, abs);
		*bytes += fs[i].len;
		if (json_push(paths, json_new_str(abs)) != R_SUCCESS) {
			json_free(paths);
			return NULL;
		}
	}
	return paths;
}

struct post_op {
	struct file_op op;
	struct one_file *fs; /* n of them, parsed */
	size_t n;
};

/* post_parse: the body's files; only a running sandbox's body is read. */
static enum result post_parse(struct req *rq, struct file_op *op)
{
	struct post_op *po = (struct post_op *)op;
	struct json *list;
	enum result r;
	size_t i;

	r = read_json(rq, (size_t)config()->files_max_json);
	if (r != R_SUCCESS)
		return r;
	list = json_get(rq->body, "files");
	if (list != NULL) {
		if (!json_is_array(list) || json_len(list) == 0 ||
		    json_len(list) > MAX_REQUEST_FILES)
			return http_set_error(rq, R_INVALID,
					      "'files' must be an array of 1 to %d files",
					      MAX_REQUEST_FILES);
		po->n = json_len(list);
	} else {
		po->n = 1; /* a single {path, content} */
	}
	po->fs = calloc(po->n, sizeof(*po->fs));
	if (po->fs == NULL)
		return R_NO_MEMORY;
	i = 0;
	for (struct json *o = list ? json_child(list) : rq->body; r == R_SUCCESS && i < po->n;
	     i++) {
		r = parse_file(rq, o, &po->fs[i]);
		o = list ? json_next(o) : NULL;
	}
	return r;
}

/* post_answer: {files: [{path, size}...]}. */
static enum result post_answer(struct req *rq, const struct one_file *fs, size_t n)
{
	struct json *out = json_new_object(), *arr = json_new_array();

	if (out == NULL || arr == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct json *e = json_new_object();

		if (e == NULL || add_path(e, "path", fs[i].path) != R_SUCCESS ||
		    json_add_int(e, "size", (long long)fs[i].len) != R_SUCCESS) {
			json_free(e);
			goto fail;
		}
		if (json_push(arr, e) != R_SUCCESS) /* it owns e either way */
			goto fail;
	}
	if (json_add(out, "files", arr) != R_SUCCESS) { /* it owns arr either way */
		json_free(out);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 200, out, NULL);
	return R_SUCCESS;
fail:
	json_free(out);
	json_free(arr);
	return R_NO_MEMORY;
}

static enum result post_write(struct req *rq, struct file_op *op, struct agent_conn *c)
{
	struct post_op *po = (struct post_op *)op;
	struct one_file *fs = po->fs;
	unsigned long long bytes;
	struct json *paths;
	enum result r = R_SUCCESS;

	if (fs == NULL || po->n == 0) /* post_parse gave one file at least */
		return R_INTERNAL;
	for (size_t i = 0; r == R_SUCCESS && i < po->n; i++) {
		op->path = fs[i].path;
		r = agent_client_put_file(c, fs[i].path, fs[i].mode, OP_MS);
		if (r == R_SUCCESS && fs[i].len > 0)
			r = agent_client_put_data(c, fs[i].bytes, fs[i].len, OP_MS);
	}
	if (r != R_SUCCESS)
		return r;
	op->path = fs[0].path;
	paths = written_paths(fs, po->n, &bytes);
	r = commit_written(rq, op, c, paths, bytes);
	return r == R_SUCCESS ? post_answer(rq, fs, po->n) : r;
}

enum result files_post(struct req *rq)
{
	struct post_op po = {.op = {.prepare = post_parse, .run = post_write}};
	enum result r = with_agent(rq, &po.op);

	for (size_t i = 0; po.fs != NULL && i < po.n; i++)
		free(po.fs[i].bytes);
	free(po.fs);
	return r;
}

/* ---- PUT /files?path=: a raw body, streamed ---------------------------------------- */

struct put_op {
	struct file_op op;
	char path[AGENTPROTO_MAX_PATH];
	uint32_t mode;
	bool have_len; /* a Content-Length of want bytes */
	unsigned long long cap, want, got;
	char *chunk; /* STREAM_CHUNK bytes */
};

static enum result put_alloc(struct req *rq, struct file_op *op)
{
	struct put_op *po = (struct put_op *)op;

	(void)rq;
	po->chunk = malloc(STREAM_CHUNK);
	return po->chunk ? R_SUCCESS : R_NO_MEMORY;
}

/* put_stream: the body to the agent as it comes; a body over the cap or
 * other than its Content-Length is refused (closing the connection drops
 * the temporary). */
static enum result put_stream(struct req *rq, struct file_op *op, struct agent_conn *c)
{
	struct put_op *po = (struct put_op *)op;
	char abs[ABS_PATH_SIZE];
	struct json *out, *paths;
	enum result r;
	int n;

	r = agent_client_put_file(c, po->path, po->mode, OP_MS);
	while (r == R_SUCCESS && (n = FCGX_GetStr(po->chunk, STREAM_CHUNK, rq->fcgi->in)) > 0) {
		po->got += (unsigned long long)n;
		if (po->got > po->cap || (po->have_len && po->got > po->want)) {
			op->path = NULL;
			return http_set_error(rq, R_TOO_BIG, "upload over %llu bytes", po->cap);
		}
		r = agent_client_put_data(c, po->chunk, (size_t)n, OP_MS);
	}
	if (r == R_SUCCESS && po->have_len && po->got < po->want) {
		op->path = NULL;
		return http_set_error(rq, R_INVALID, "request body shorter than Content-Length");
	}
	if (r != R_SUCCESS)
		return r;
	abs_path(po->path, abs);
	paths = json_new_array();
	if (paths != NULL && json_push(paths, json_new_str(abs)) != R_SUCCESS) {
		json_free(paths);
		paths = NULL;
	}
	r = commit_written(rq, op, c, paths, po->got);
	if (r != R_SUCCESS)
		return r;
	out = json_new_object();
	if (out == NULL || json_add_str(out, "path", abs) != R_SUCCESS ||
	    json_add_int(out, "size", (long long)po->got) != R_SUCCESS) {
		json_free(out);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 200, out, NULL);
	return R_SUCCESS;
}

enum result files_put(struct req *rq)
{
	struct put_op po = {.op = {.prepare = put_alloc, .run = put_stream}};
	const char *cl = http_header(rq, "CONTENT_LENGTH");
	char modeq[8], *end;
	enum result r;

	po.op.path = po.path;
	po.cap = (unsigned long long)config()->files_max_upload;
	po.have_len = cl != NULL && *cl != '\0';
	if (po.have_len) {
		po.want = strtoull(cl, &end, 10);
		if (*end != '\0' || cl[0] == '-')
			return http_set_error(rq, R_INVALID, "malformed Content-Length");
		/* refuse before touching the sandbox or reading a byte */
		if (po.want > po.cap)
			return http_set_error(rq, R_TOO_BIG, "upload over %llu bytes", po.cap);
	}
	if ((r = query_path(rq, "path", po.path, sizeof(po.path))) != R_SUCCESS)
		return r;
	r = http_query(rq, "mode", modeq, sizeof(modeq));
	if (r == R_SUCCESS) {
		unsigned long v = strtoul(modeq, &end, 8);

		if (*modeq == '\0' || *end != '\0' || v > 07777)
			return http_set_error(rq, R_INVALID, "'mode' must be octal, like 0755");
		po.mode = (uint32_t)v;
	} else if (r != R_NOT_FOUND) {
		return http_set_error(rq, R_INVALID, "'mode' must be octal, like 0755");
	}
	r = with_agent(rq, &po.op);
	free(po.chunk);
	return r;
}

/* ---- GET /files?path= ------------------------------------------------------------- */

static bool wants_raw(struct req *rq)
{
	const char *accept = http_header(rq, "HTTP_ACCEPT");
	char enc[16];

	if (http_query(rq, "encoding", enc, sizeof(enc)) == R_SUCCESS && strcmp(enc, "raw") == 0)
		return true;
	return accept != NULL && strstr(accept, "application/octet-stream") != NULL &&
	       strstr(accept, "application/json") == NULL;
}

/* stream_raw: headers, then the bytes as the agent sends them. A failure
 * after the headers can only cut the body short, which Content-Length makes
 * visible to the client. */
static enum result stream_raw(struct req *rq, struct agent_conn *c,
			      const struct agentproto_finfo *fi)
{
	char head[512];
	const uint8_t *data;
	size_t len;
	bool end = false;
	enum result r = R_SUCCESS;
	int hn;

	hn = snprintf(head, sizeof(head),
		      "Status: 200\r\nX-Request-Id: %s\r\n"
		      "Cache-Control: no-store\r\nContent-Type: "
		      "application/octet-stream\r\nContent-Length: %llu\r\n\r\n",
		      rq->id, (unsigned long long)fi->size);
	if (hn <= 0 || (size_t)hn >= sizeof(head))
		return R_INTERNAL;
	FCGX_PutStr(head, hn, rq->fcgi->out);
	rq->status = 200;
	rq->responded = true;
	while (!end) {
		r = agent_client_get_chunk(c, OP_MS, &data, &len, &end);
		if (r != R_SUCCESS) {
			log_warnx("files", "raw read cut short req=%s err=%s", rq->id,
				  result_str(r));
			return R_SUCCESS; /* responded already */
		}
		if (len > 0 && FCGX_PutStr((const char *)data, (int)len, rq->fcgi->out) != (int)len)
			return R_SUCCESS; /* the client went away */
	}
	return R_SUCCESS;
}

static enum result respond_json_file(struct req *rq, struct agent_conn *c,
				     const struct agentproto_finfo *fi, const char *path)
{
	struct buf content;
	const uint8_t *data;
	size_t len, b64size;
	bool end = false;
	char *b64 = NULL, when[CLOCK_RFC3339_SIZE];
	struct json *o = NULL;
	enum result r;

	if (fi->size > (uint64_t)config()->files_max_json / 4 * 3)
		return http_set_error(
		    rq, R_TOO_BIG, "%s: %llu bytes is too large for a JSON read; use encoding=raw",
		    path, (unsigned long long)fi->size);
	buf_init(&content, (size_t)fi->size + 1);
	while (!end) {
		r = agent_client_get_chunk(c, OP_MS, &data, &len, &end);
		if (r == R_SUCCESS && len > 0)
			r = buf_append(&content, data, len);
		if (r != R_SUCCESS) {
			buf_free(&content);
			return agent_fail(rq, c, r, path);
		}
	}
	r = crypto_base64_size(content.len, &b64size);
	if (r == R_SUCCESS) {
		b64 = malloc(b64size);
		r = b64 ? crypto_base64_encode(content.data ? content.data : "", content.len, b64,
					       b64size, NULL)
			: R_NO_MEMORY;
	}
	clock_rfc3339(fi->mtime_ms, when);
	if (r == R_SUCCESS) {
		o = json_new_object();
		if (o == NULL || add_path(o, "path", path) != R_SUCCESS ||
		    json_add_str(o, "content", b64) != R_SUCCESS ||
		    json_add_str(o, "encoding", "base64") != R_SUCCESS ||
		    json_add_int(o, "size", (long long)content.len) != R_SUCCESS ||
		    add_mode(o, fi->mode) != R_SUCCESS ||
		    json_add_str(o, "modified_at", when) != R_SUCCESS)
			r = R_NO_MEMORY;
	}
	free(b64);
	buf_free(&content);
	if (r != R_SUCCESS) {
		json_free(o);
		return r;
	}
	http_respond_json(rq, 200, o, NULL);
	return R_SUCCESS;
}

/* info_op: a read or a stat of path, whose metadata lands in fi. */
struct info_op {
	struct file_op op;
	char path[AGENTPROTO_MAX_PATH];
	struct agentproto_finfo *fi; /* large: on the heap */
};

static enum result info_alloc(struct req *rq, struct file_op *op)
{
	struct info_op *io = (struct info_op *)op;

	(void)rq;
	io->fi = malloc(sizeof(*io->fi));
	return io->fi ? R_SUCCESS : R_NO_MEMORY;
}

/* info_handle: the steps of GET and stat with run. */
static enum result info_handle(struct req *rq, enum result (*run)(struct req *, struct file_op *,
								  struct agent_conn *))
{
	struct info_op io = {.op = {.prepare = info_alloc, .run = run}};
	enum result r = query_path(rq, "path", io.path, sizeof(io.path));

	io.op.path = io.path;
	if (r == R_SUCCESS)
		r = with_agent(rq, &io.op);
	free(io.fi);
	return r;
}

static enum result get_read(struct req *rq, struct file_op *op, struct agent_conn *c)
{
	struct info_op *io = (struct info_op *)op;
	enum result r = agent_client_get_begin(c, io->path, OP_MS, io->fi);

	if (r != R_SUCCESS)
		return r;
	op->path = NULL; /* both answer for themselves */
	return wants_raw(rq) ? stream_raw(rq, c, io->fi)
			     : respond_json_file(rq, c, io->fi, io->path);
}

enum result files_get(struct req *rq)
{
	return info_handle(rq, get_read);
}

/* ---- list, stat ------------------------------------------------------------------- */

struct listing {
	struct json *arr;
	const char *base;
	char *joined;
};

static enum result add_entry(void *ctx, const struct agentproto_finfo *fi)
{
	struct listing *l = ctx;
	size_t bl = strlen(l->base), pl = strlen(fi->path);
	bool slash = bl > 0 && l->base[bl - 1] != '/';
	struct json *e;

	if (bl + 1 + pl + 1 > 2 * AGENTPROTO_MAX_PATH)
		return R_SUCCESS;
	memcpy(l->joined, l->base, bl);
	if (slash)
		l->joined[bl++] = '/';
	memcpy(l->joined + bl, fi->path, pl + 1);
	e = info_json(fi, l->joined);
	if (e == NULL || json_push(l->arr, e) != R_SUCCESS)
		return R_NO_MEMORY;
	return R_SUCCESS;
}

struct list_op {
	struct file_op op;
	char path[AGENTPROTO_MAX_PATH];
	unsigned depth;
	struct listing l;
};

static enum result list_alloc(struct req *rq, struct file_op *op)
{
	struct list_op *lo = (struct list_op *)op;

	(void)rq;
	lo->l.arr = json_new_array();
	lo->l.base = lo->path;
	lo->l.joined = malloc(2 * AGENTPROTO_MAX_PATH);
	return lo->l.arr && lo->l.joined ? R_SUCCESS : R_NO_MEMORY;
}

static enum result list_run(struct req *rq, struct file_op *op, struct agent_conn *c)
{
	struct list_op *lo = (struct list_op *)op;
	enum result r = agent_client_list(c, lo->path, lo->depth, OP_MS, add_entry, &lo->l);
	struct json *out;

	if (r != R_SUCCESS)
		return r;
	out = json_new_object();
	if (out == NULL || add_path(out, "path", lo->path) != R_SUCCESS) {
		json_free(out);
		return R_NO_MEMORY;
	}
	r = json_add(out, "entries", lo->l.arr);
	lo->l.arr = NULL; /* json_add owns it either way */
	if (r != R_SUCCESS) {
		json_free(out);
		return r;
	}
	http_respond_json(rq, 200, out, NULL);
	return R_SUCCESS;
}

enum result files_list(struct req *rq)
{
	struct list_op lo = {.op = {.prepare = list_alloc, .run = list_run}, .depth = 1};
	unsigned long depth;
	enum result r;
	char dq[8], *end;

	lo.op.path = lo.path;
	r = http_query(rq, "path", lo.path, sizeof(lo.path));
	if (r == R_NOT_FOUND)
		memcpy(lo.path, "/workspace", sizeof("/workspace"));
	else if ((r = query_path(rq, "path", lo.path, sizeof(lo.path))) != R_SUCCESS)
		return r;
	r = http_query(rq, "depth", dq, sizeof(dq));
	if (r == R_SUCCESS) {
		depth = strtoul(dq, &end, 10);
		if (*dq == '\0' || *end != '\0' || depth < 1 || depth > AGENTPROTO_MAX_DEPTH)
			return http_set_error(rq, R_INVALID, "'depth' must be 1..%d",
					      AGENTPROTO_MAX_DEPTH);
		lo.depth = (unsigned)depth;
	} else if (r != R_NOT_FOUND) {
		return http_set_error(rq, R_INVALID, "'depth' must be 1..%d", AGENTPROTO_MAX_DEPTH);
	}
	r = with_agent(rq, &lo.op);
	json_free(lo.l.arr);
	free(lo.l.joined);
	return r;
}

static enum result stat_run(struct req *rq, struct file_op *op, struct agent_conn *c)
{
	struct info_op *io = (struct info_op *)op;
	enum result r = agent_client_stat(c, io->path, OP_MS, io->fi);
	struct json *o;

	if (r != R_SUCCESS)
		return r;
	o = info_json(io->fi, io->path);
	if (o == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, 200, o, NULL);
	return R_SUCCESS;
}

enum result files_stat(struct req *rq)
{
	return info_handle(rq, stat_run);
}

/* ---- remove, mkdir, move ---------------------------------------------------------- */

static bool truthy(const char *s)
{
	return strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0 || *s == '\0';
}

struct delete_op {
	struct file_op op;
	char path[AGENTPROTO_MAX_PATH];
	bool recursive;
};

static enum result delete_run(struct req *rq, struct file_op *op, struct agent_conn *c)
{
	struct delete_op *d = (struct delete_op *)op;
	enum result r = agent_client_remove(c, d->path, d->recursive, OP_MS);

	return r == R_SUCCESS ? answer_path(rq, "path", d->path, "deleted") : r;
}

enum result files_delete(struct req *rq)
{
	struct delete_op d = {.op = {.run = delete_run}};
	char rec[8];
	enum result r;

	d.op.path = d.path;
	if ((r = query_path(rq, "path", d.path, sizeof(d.path))) != R_SUCCESS)
		return r;
	r = http_query(rq, "recursive", rec, sizeof(rec));
	if (r == R_SUCCESS)
		d.recursive = truthy(rec);
	else if (r != R_NOT_FOUND)
		return http_set_error(rq, R_INVALID, "'recursive' must be true or false");
	return with_agent(rq, &d.op);
}

static enum result opt_bool(struct req *rq, const char *key, bool def, bool *out)
{
	struct json *v = json_get(rq->body, key);

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return R_SUCCESS;
	}
	if (!json_is_bool(v))
		return http_set_error(rq, R_INVALID, "'%s' must be true or false", key);
	*out = json_bool_value(v);
	return R_SUCCESS;
}

struct mkdir_op {
	struct file_op op; /* op.path: the directory */
	uint32_t mode;
	bool parents;
};

static enum result mkdir_run(struct req *rq, struct file_op *op, struct agent_conn *c)
{
	struct mkdir_op *m = (struct mkdir_op *)op;
	enum result r = agent_client_mkdir(c, op->path, m->mode, m->parents, OP_MS);

	return r == R_SUCCESS ? answer_path(rq, "path", op->path, "created") : r;
}

enum result files_mkdir(struct req *rq)
{
	static const char *const known[] = {"path", "mode", "parents", NULL};
	struct mkdir_op m = {.op = {.run = mkdir_run}};
	enum result r;

	if ((r = read_json(rq, (size_t)config()->max_body)) != R_SUCCESS ||
	    (r = validate_known_fields(rq, rq->body, known)) != R_SUCCESS ||
	    (r = json_path(rq, rq->body, "path", &m.op.path)) != R_SUCCESS ||
	    (r = parse_mode(rq, json_get(rq->body, "mode"), &m.mode)) != R_SUCCESS ||
	    (r = opt_bool(rq, "parents", true, &m.parents)) != R_SUCCESS)
		return r;
	return with_agent(rq, &m.op);
}

struct move_op {
	struct file_op op; /* op.path: the source */
	const char *from, *to;
	bool parents;
};

static enum result move_run(struct req *rq, struct file_op *op, struct agent_conn *c)
{
	struct move_op *m = (struct move_op *)op;
	enum result r = agent_client_move(c, m->from, m->to, m->parents, OP_MS);
	struct json *out;

	if (r != R_SUCCESS)
		return r;
	out = json_new_object();
	if (out == NULL || add_path(out, "from", m->from) != R_SUCCESS ||
	    add_path(out, "to", m->to) != R_SUCCESS) {
		json_free(out);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 200, out, NULL);
	return R_SUCCESS;
}

enum result files_move(struct req *rq)
{
	static const char *const known[] = {"from", "to", "parents", NULL};
	struct move_op m = {.op = {.run = move_run}};
	enum result r;

	if ((r = read_json(rq, (size_t)config()->max_body)) != R_SUCCESS ||
	    (r = validate_known_fields(rq, rq->body, known)) != R_SUCCESS ||
	    (r = json_path(rq, rq->body, "from", &m.from)) != R_SUCCESS ||
	    (r = json_path(rq, rq->body, "to", &m.to)) != R_SUCCESS ||
	    (r = opt_bool(rq, "parents", true, &m.parents)) != R_SUCCESS)
		return r;
	m.op.path = m.from;
	return with_agent(rq, &m.op);
}
