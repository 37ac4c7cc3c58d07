/* files.c: /api/v1/sandbox/:id/files... : write, read, list, stat, remove,
 * mkdir and move files in a sandbox. Every byte goes through the sandbox's
 * agent, whose file helper acts as the sandbox user (tools/agent/files.c): no
 * host process opens a path inside a sandbox. Large bodies are streamed in
 * both directions; a worker never holds a raw upload or download whole.
 * Each handler checks its input, then runs its agent request through
 * with_agent (sandbox running, agent reached, refusals mapped, connection
 * closed) and answers. Over 700 lines because a resource's handlers live in
 * one file (STYLE); none of them is long. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_client.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "events.h"
#include "handlers.h"
#include "log.h"
#include "sandbox_row.h"
#include "utf8.h"
#include "validate.h"

#define CONNECT_MS 2000
#define OP_MS 30000
#define STREAM_CHUNK (256 * 1024)
#define MAX_REQUEST_FILES 2048

/* ---- shared ------------------------------------------------------------------ */

/* running: the caller's sandbox, which must be running (409 otherwise). */
static enum result running(struct req *rq, struct sandbox_row *row)
{
	enum result r = sandbox_row_load(rq, row);

	if (r != R_OK)
		return r;
	if (strcmp(row->status, "running") != 0 || row->agent_address[0] == '\0') {
		r = http_fail(rq, R_CONFLICT, "sandbox is %s, not running", row->status);
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
		return http_fail(rq, R_INVALID, "'%s' must not be empty", what);
	if (n >= AGENTPROTO_MAX_PATH)
		return http_fail(rq, R_INVALID, "'%s' is longer than %d bytes", what,
				 AGENTPROTO_MAX_PATH - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return http_fail(rq, R_INVALID, "'%s' contains control characters", what);
	return R_OK;
}

static enum result query_path(struct req *rq, const char *name, char *out, size_t size)
{
	enum result r = http_query(rq, name, out, size);

	if (r == R_NOT_FOUND)
		return http_fail(rq, R_INVALID, "query parameter '%s' is required", name);
	if (r != R_OK)
		return http_fail(rq, R_INVALID,
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

	return r == R_OK ? path_ok(rq, key, *out) : r;
}

/* has_json_nul: the JSON text escapes a NUL ("\u0000" after an odd run of
 * backslashes). The parser would hand out a C string cut at it, turning
 * "a\u0000b" into "a": such bodies are refused before parsing. */
static bool has_json_nul(const char *s, size_t n)
{
	for (size_t i = 0; i + 6 <= n; i++) {
		size_t bs = 0;

		if (s[i] != '\\' || s[i + 1] != 'u' || memcmp(s + i + 2, "0000", 4) != 0)
			continue;
		while (bs <= i && s[i - bs] == '\\')
			bs++;
		if (bs % 2 == 1)
			return true;
	}
	return false;
}

/* read_json: the JSON object body into rq->body, capped at limit. */
static enum result read_json(struct req *rq, size_t limit)
{
	const char *ct = http_header(rq, "CONTENT_TYPE");
	struct buf body;
	enum result r;

	if (ct == NULL || strncmp(ct, "application/json", strlen("application/json")) != 0) {
		rq->status = 415;
		return http_fail(rq, R_INVALID, "Content-Type must be application/json");
	}
	r = http_read_body(rq, limit, &body);
	if (r != R_OK)
		return r;
	if (body.len == 0 || has_json_nul(body.data, body.len)) {
		r = http_fail(rq, R_INVALID, body.len ? "a NUL byte (\\u0000) in the body"
						      : "request body is empty");
		buf_free(&body);
		return r;
	}
	rq->body = json_parse(body.data, body.len);
	buf_free(&body);
	if (rq->body == NULL || !json_is_object(rq->body))
		return http_fail(rq, R_INVALID, "request body must be a JSON object");
	return R_OK;
}

/* agent_fail: the agent's refusal as the API's error. */
static enum result agent_fail(struct req *rq, struct agent_conn *c, enum result r,
			      const char *path)
{
	const char *why = c ? agent_client_last_error(c) : "";

	switch (r) {
	case R_NOT_FOUND:
	case R_FORBIDDEN:
	case R_INVALID:
	case R_CONFLICT:
	case R_NO_SPACE:
	case R_TOO_BIG:
		return http_fail(rq, r, "%s: %s", path, *why ? why : result_str(r));
	case R_TIMEOUT:
		return http_fail(rq, R_TIMEOUT, "the sandbox agent did not answer in time");
	case R_NO_MEMORY:
		return r;
	default:
		log_warnx("files", "agent failed path='%s' err=%s msg='%s'", path, result_str(r),
			  why);
		return http_fail(rq, R_UPSTREAM, "the sandbox agent failed");
	}
}

static enum result connect_agent(struct req *rq, const struct sandbox_row *row,
				 struct agent_conn **out)
{
	enum result r = agent_client_connect(row->agent_address, NULL, CONNECT_MS, out);

	if (r != R_OK)
		return http_fail(rq, r == R_TIMEOUT ? R_TIMEOUT : R_UPSTREAM,
				 "the sandbox agent is unreachable");
	return R_OK;
}

/* file_op: what one files request does on its sandbox's agent, run by
 * with_agent. Handlers embed it as the first member of their own state. */
struct file_op {
	/* what an agent failure names; run may point it elsewhere as it goes,
	 * or set it to NULL when what it returns is final (answered or
	 * formatted already, not the agent's) */
	const char *path;
	/* optional: after the sandbox was found running, before its agent is
	 * reached (a body only a running sandbox may take is parsed here) */
	enum result (*prepare)(struct req *rq, struct file_op *op);
	/* the request on a fresh connection to the agent */
	enum result (*run)(struct req *rq, struct agent_conn *c, struct file_op *op);
};

/* with_agent: the steps every files request shares: the caller's sandbox
 * must be running (409), op->prepare, its agent reachable (502/504), then
 * op->run; an agent refusal becomes the API's error about op->path
 * (agent_fail). The connection is closed before returning, which drops
 * whatever an unfinished put left behind. */
static enum result with_agent(struct req *rq, struct file_op *op)
{
	struct sandbox_row row = {0};
	struct agent_conn *c = NULL;
	enum result r = running(rq, &row);

	if (r != R_OK)
		return r;
	if (op->prepare)
		r = op->prepare(rq, op);
	if (r == R_OK)
		r = connect_agent(rq, &row, &c);
	if (r == R_OK) {
		r = op->run(rq, c, op);
		if (r != R_OK && op->path)
			r = agent_fail(rq, c, r, op->path);
	}
	agent_client_close(c);
	sandbox_row_free(&row);
	return r;
}

#define WHEN_SIZE 64

/* iso_ms: RFC 3339 UTC with milliseconds; out holds WHEN_SIZE bytes. */
static void iso_ms(int64_t ms, char *out)
{
	time_t s = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	char date[40];
	struct tm tm;

	if (frac < 0) {
		frac += 1000;
		s--;
	}
	if (gmtime_r(&s, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		memcpy(date, "1970-01-01T00:00:00", sizeof("1970-01-01T00:00:00"));
	snprintf(out, WHEN_SIZE, "%s.%03dZ", date, frac);
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
	const char *slash = strrchr(path, '/');
	char when[WHEN_SIZE];

	iso_ms(fi->mtime_ms, when);
	if (o == NULL || add_text(o, "name", slash && slash[1] ? slash + 1 : path) != R_OK ||
	    add_text(o, "path", path) != R_OK || json_add_str(o, "type", type_name(fi->ftype)) != R_OK ||
	    json_add_int(o, "size", (long long)fi->size) != R_OK ||
	    json_add_int(o, "mode", (long long)fi->mode) != R_OK ||
	    json_add_str(o, "modified_at", when) != R_OK ||
	    (fi->ftype == AP_FT_SYMLINK ? add_text(o, "symlink_target", fi->target)
					: json_add(o, "symlink_target", json_new_null())) != R_OK) {
		json_free(o);
		return NULL;
	}
	return o;
}

/* record_written: file.written, in its own transaction. */
static void record_written(struct req *rq, const char *sbx, struct json *paths,
			   unsigned long long bytes)
{
	struct json *data = json_new_object();
	enum result r = R_NO_MEMORY;

	enum result added = data ? json_add(data, "paths", paths) : R_NO_MEMORY;

	if (data != NULL)
		paths = NULL; /* json_add owns it either way */
	if (added == R_OK && json_add_int(data, "bytes", (long long)bytes) == R_OK) {
		r = db_begin(rq->db);
		if (r == R_OK)
			r = events_emit(rq->db, rq->auth.org_id, sbx, "file.written", data);
		if (r == R_OK)
			r = db_commit(rq->db);
		if (r != R_OK)
			db_rollback(rq->db);
	}
	json_free(paths);
	json_free(data);
	if (r != R_OK)
		log_warnx("files", "cannot record file.written sandbox=%s err=%s", sbx,
			  result_str(r));
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
		return R_OK;
	}
	if (json_is_number(m)) {
		double d = json_number(m);

		if (d < 0 || d > 07777 || d != (double)(unsigned long)d)
			return http_fail(rq, R_INVALID, "'mode' must be 0..4095 (07777)");
		*out = (uint32_t)d;
		return R_OK;
	}
	if (json_is_string(m) && *json_str(m) != '\0' && strlen(json_str(m)) <= 5) {
		v = strtoul(json_str(m), &end, 8);
		if (*end == '\0' && v <= 07777) {
			*out = (uint32_t)v;
			return R_OK;
		}
	}
	return http_fail(rq, R_INVALID, "'mode' must be a number or an octal string like \"0755\"");
}

static enum result parse_file(struct req *rq, const struct json *o, struct one_file *f)
{
	static const char *const known[] = {"path", "content", "mode", "encoding", NULL};
	const char *content = NULL, *enc = "base64";
	size_t clen, max;
	enum result r;

	if (!json_is_object(o))
		return http_fail(rq, R_INVALID, "each file must be an object {path, content}");
	if ((r = validate_known_fields(rq, o, known)) != R_OK ||
	    (r = json_path(rq, o, "path", &f->path)) != R_OK ||
	    (r = parse_mode(rq, json_get(o, "mode"), &f->mode)) != R_OK)
		return r;
	if (json_get_str(o, "content", &content) != R_OK)
		return http_fail(rq, R_INVALID, "'content' must be a string");
	r = json_get_str(o, "encoding", &enc);
	if (r == R_INVALID || (r == R_OK && strcmp(enc, "base64") != 0 && strcmp(enc, "utf8") != 0 &&
			       strcmp(enc, "utf-8") != 0))
		return http_fail(rq, R_INVALID, "'encoding' must be \"base64\" or \"utf8\"");
	clen = strlen(content);
	if (strcmp(enc, "base64") != 0) {
		f->bytes = malloc(clen + 1);
		if (f->bytes == NULL)
			return R_NO_MEMORY;
		memcpy(f->bytes, content, clen);
		f->len = clen;
		return R_OK;
	}
	max = crypto_base64_decoded_max(clen);
	f->bytes = malloc(max + 1);
	if (f->bytes == NULL)
		return R_NO_MEMORY;
	if (crypto_base64_decode(content, clen, f->bytes, max + 1, &f->len) != R_OK)
		return http_fail(rq, R_INVALID, "'content' of '%s' is not valid base64", f->path);
	return R_OK;
}

struct post_op {
	struct file_op op;
	struct one_file *fs;
	size_t n;
};

static enum result post_parse(struct req *rq, struct file_op *op)
{
	struct post_op *po = (struct post_op *)op;
	struct json *list;
	enum result r;
	size_t i;

	r = read_json(rq, (size_t)config_int("SANDPIT_FILES_MAX_JSON"));
	if (r != R_OK)
		return r;
	list = json_get(rq->body, "files");
	if (list != NULL) {
		po->n = json_is_array(list) ? json_len(list) : 0;
		if (po->n == 0 || po->n > MAX_REQUEST_FILES) {
			/* R_INVALID whatever http_fail returns: run needs n >= 1 */
			(void)http_fail(rq, R_INVALID, "'files' must be an array of 1 to %d files",
					MAX_REQUEST_FILES);
			return R_INVALID;
		}
	} else {
		po->n = 1; /* a single {path, content} */
	}
	po->fs = calloc(po->n, sizeof(*po->fs));
	if (po->fs == NULL)
		return R_NO_MEMORY;
	i = 0;
	for (struct json *o = list ? json_child(list) : rq->body; r == R_OK && i < po->n; i++) {
		r = parse_file(rq, o, &po->fs[i]);
		o = list ? json_next(o) : NULL;
	}
	return r;
}

static enum result post_write(struct req *rq, struct agent_conn *c, struct file_op *op)
{
	struct post_op *po = (struct post_op *)op;
	struct one_file *fs = po->fs;
	enum result r = R_OK;
	size_t i;

	(void)rq;
	for (i = 0; r == R_OK && i < po->n; i++) {
		op->path = fs[i].path;
		r = agent_client_put_file(c, fs[i].path, fs[i].mode, OP_MS);
		if (r == R_OK && fs[i].len > 0)
			r = agent_client_put_data(c, fs[i].bytes, fs[i].len, OP_MS);
	}
	if (r == R_OK) {
		op->path = fs[0].path;
		r = agent_client_put_commit(c, OP_MS);
	}
	return r;
}

enum result files_post(struct req *rq)
{
	struct post_op po = {.op = {.prepare = post_parse, .run = post_write}};
	struct json *out = NULL, *arr = NULL, *paths = NULL;
	unsigned long long bytes = 0;
	enum result r;
	size_t i;

	r = with_agent(rq, &po.op);
	if (r != R_OK)
		goto done;
	out = json_new_object();
	arr = json_new_array();
	paths = json_new_array();
	if (out == NULL || arr == NULL || paths == NULL) {
		r = R_NO_MEMORY;
		goto done;
	}
	for (i = 0; i < po.n; i++) {
		struct json *e = json_new_object();

		bytes += po.fs[i].len;
		if (e == NULL || json_add_str(e, "path", po.fs[i].path) != R_OK ||
		    json_add_int(e, "size", (long long)po.fs[i].len) != R_OK ||
		    json_push(arr, e) != R_OK ||
		    json_push(paths, json_new_str(po.fs[i].path)) != R_OK) {
			r = R_NO_MEMORY;
			goto done;
		}
	}
	record_written(rq, rq->params[0], paths, bytes);
	paths = NULL;
	if (json_add(out, "files", arr) != R_OK) {
		arr = NULL;
		r = R_NO_MEMORY;
		goto done;
	}
	arr = NULL;
	http_respond_json(rq, 200, out, NULL);
	out = NULL;
done:
	json_free(out);
	json_free(arr);
	json_free(paths);
	for (i = 0; po.fs != NULL && i < po.n; i++)
		free(po.fs[i].bytes);
	free(po.fs);
	return r;
}

/* ---- PUT /files?path=: a raw body, streamed ---------------------------------------- */

struct put_op {
	struct file_op op;
	uint32_t mode;
	unsigned long long cap, want, got;
	bool have_len;
};

/* put_stream: the body to the agent as it comes; a body over its caps or
 * shorter than announced is refused here (closing the connection drops the
 * temporary). */
static enum result put_stream(struct req *rq, struct agent_conn *c, struct file_op *op)
{
	struct put_op *po = (struct put_op *)op;
	char *chunk = malloc(STREAM_CHUNK);
	enum result r;
	int n;

	if (chunk == NULL)
		return R_NO_MEMORY;
	r = agent_client_put_file(c, op->path, po->mode, OP_MS);
	while (r == R_OK && (n = FCGX_GetStr(chunk, STREAM_CHUNK, rq->fcgi->in)) > 0) {
		po->got += (unsigned long long)n;
		if (po->got > po->cap || (po->have_len && po->got > po->want)) {
			op->path = NULL;
			r = http_fail(rq, R_TOO_BIG, "upload over %llu bytes", po->cap);
			goto done;
		}
		r = agent_client_put_data(c, chunk, (size_t)n, OP_MS);
	}
	if (r == R_OK && po->have_len && po->got < po->want) {
		op->path = NULL;
		r = http_fail(rq, R_INVALID, "request body shorter than Content-Length");
		goto done;
	}
	if (r == R_OK)
		r = agent_client_put_commit(c, OP_MS);
done:
	free(chunk);
	return r;
}

enum result files_put(struct req *rq)
{
	struct put_op po = {.op = {.run = put_stream}};
	const char *cl = http_header(rq, "CONTENT_LENGTH");
	char path[AGENTPROTO_MAX_PATH];
	struct json *out, *paths;
	char modeq[8], *end;
	enum result r;

	po.cap = (unsigned long long)config_int("SANDPIT_FILES_MAX_UPLOAD");
	po.have_len = cl != NULL && *cl != '\0';
	if (po.have_len) {
		po.want = strtoull(cl, &end, 10);
		if (*end != '\0' || cl[0] == '-')
			return http_fail(rq, R_INVALID, "malformed Content-Length");
		/* refuse before touching the sandbox or reading a byte */
		if (po.want > po.cap)
			return http_fail(rq, R_TOO_BIG, "upload over %llu bytes", po.cap);
	}
	if ((r = query_path(rq, "path", path, sizeof(path))) != R_OK)
		return r;
	r = http_query(rq, "mode", modeq, sizeof(modeq));
	if (r == R_OK) {
		unsigned long v = strtoul(modeq, &end, 8);

		if (*modeq == '\0' || *end != '\0' || v > 07777)
			return http_fail(rq, R_INVALID, "'mode' must be octal, like 0755");
		po.mode = (uint32_t)v;
	} else if (r != R_NOT_FOUND) {
		return http_fail(rq, R_INVALID, "'mode' must be octal, like 0755");
	}
	po.op.path = path;
	r = with_agent(rq, &po.op);
	if (r != R_OK)
		return r;
	paths = json_new_array();
	if (paths != NULL && json_push(paths, json_new_str(path)) == R_OK)
		record_written(rq, rq->params[0], paths, po.got);
	else
		json_free(paths);
	out = json_new_object();
	if (out == NULL || json_add_str(out, "path", path) != R_OK ||
	    json_add_int(out, "size", (long long)po.got) != R_OK) {
		json_free(out);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 200, out, NULL);
	return R_OK;
}

/* ---- GET /files?path= ------------------------------------------------------------- */

static bool wants_raw(struct req *rq)
{
	const char *accept = http_header(rq, "HTTP_ACCEPT");
	char enc[16];

	if (http_query(rq, "encoding", enc, sizeof(enc)) == R_OK && strcmp(enc, "raw") == 0)
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
	enum result r = R_OK;
	int hn;

	hn = snprintf(head, sizeof(head),
		      "Status: 200\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n"
		      "Content-Type: application/octet-stream\r\nContent-Length: %llu\r\n\r\n",
		      rq->id, (unsigned long long)fi->size);
	if (hn <= 0 || (size_t)hn >= sizeof(head))
		return R_INTERNAL;
	FCGX_PutStr(head, hn, rq->fcgi->out);
	rq->status = 200;
	rq->responded = true;
	while (!end) {
		r = agent_client_get_chunk(c, OP_MS, &data, &len, &end);
		if (r != R_OK) {
			log_warnx("files", "raw read cut short req=%s err=%s", rq->id, result_str(r));
			return R_OK; /* responded already */
		}
		if (len > 0 && FCGX_PutStr((const char *)data, (int)len, rq->fcgi->out) != (int)len)
			return R_OK; /* the client went away */
	}
	return R_OK;
}

static enum result respond_json_file(struct req *rq, struct agent_conn *c,
				     const struct agentproto_finfo *fi, const char *path)
{
	struct buf content;
	const uint8_t *data;
	size_t len, b64size;
	bool end = false;
	char *b64 = NULL, when[WHEN_SIZE];
	struct json *o = NULL;
	enum result r;

	if (fi->size > (uint64_t)config_int("SANDPIT_FILES_MAX_JSON") / 4 * 3)
		return http_fail(rq, R_TOO_BIG,
				 "%s: %llu bytes is too large for a JSON read; use encoding=raw", path,
				 (unsigned long long)fi->size);
	buf_init(&content, (size_t)fi->size + 1);
	while (!end) {
		r = agent_client_get_chunk(c, OP_MS, &data, &len, &end);
		if (r == R_OK && len > 0)
			r = buf_append(&content, data, len);
		if (r != R_OK) {
			buf_free(&content);
			return agent_fail(rq, c, r, path);
		}
	}
	r = crypto_base64_size(content.len, &b64size);
	if (r == R_OK) {
		b64 = malloc(b64size);
		r = b64 ? crypto_base64_encode(content.data ? content.data : "", content.len, b64,
					       b64size, NULL)
			: R_NO_MEMORY;
	}
	iso_ms(fi->mtime_ms, when);
	if (r == R_OK) {
		o = json_new_object();
		if (o == NULL || json_add_str(o, "path", path) != R_OK ||
		    json_add_str(o, "content", b64) != R_OK ||
		    json_add_str(o, "encoding", "base64") != R_OK ||
		    json_add_int(o, "size", (long long)content.len) != R_OK ||
		    json_add_int(o, "mode", (long long)fi->mode) != R_OK ||
		    json_add_str(o, "modified_at", when) != R_OK)
			r = R_NO_MEMORY;
	}
	free(b64);
	buf_free(&content);
	if (r != R_OK) {
		json_free(o);
		return r;
	}
	http_respond_json(rq, 200, o, NULL);
	return R_OK;
}

/* get_send: the file, answered raw or as JSON. Past get_begin what this
 * returns is final: the body may have begun. */
static enum result get_send(struct req *rq, struct agent_conn *c, struct file_op *op)
{
	struct agentproto_finfo *fi = malloc(sizeof(*fi));
	const char *path = op->path;
	enum result r = fi ? agent_client_get_begin(c, path, OP_MS, fi) : R_NO_MEMORY;

	if (r == R_OK) {
		op->path = NULL;
		r = wants_raw(rq) ? stream_raw(rq, c, fi) : respond_json_file(rq, c, fi, path);
	}
	free(fi);
	return r;
}

enum result files_get(struct req *rq)
{
	struct file_op op = {.run = get_send};
	char path[AGENTPROTO_MAX_PATH];
	enum result r;

	if ((r = query_path(rq, "path", path, sizeof(path))) != R_OK)
		return r;
	op.path = path;
	return with_agent(rq, &op);
}

/* ---- list, stat ------------------------------------------------------------------- */

struct listing {
	struct file_op op;
	unsigned depth;
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
		return R_OK;
	memcpy(l->joined, l->base, bl);
	if (slash)
		l->joined[bl++] = '/';
	memcpy(l->joined + bl, fi->path, pl + 1);
	e = info_json(fi, l->joined);
	if (e == NULL || json_push(l->arr, e) != R_OK)
		return R_NO_MEMORY;
	return R_OK;
}

static enum result list_entries(struct req *rq, struct agent_conn *c, struct file_op *op)
{
	struct listing *l = (struct listing *)op;

	(void)rq;
	l->arr = json_new_array();
	l->joined = malloc(2 * AGENTPROTO_MAX_PATH);
	if (l->arr == NULL || l->joined == NULL)
		return R_NO_MEMORY;
	return agent_client_list(c, l->base, l->depth, OP_MS, add_entry, l);
}

enum result files_list(struct req *rq)
{
	struct listing l = {.op = {.run = list_entries}};
	char path[AGENTPROTO_MAX_PATH], dq[8];
	struct json *out = NULL;
	unsigned long depth = 1;
	enum result r;
	char *end;

	r = http_query(rq, "path", path, sizeof(path));
	if (r == R_NOT_FOUND)
		memcpy(path, "/workspace", sizeof("/workspace"));
	else if ((r = query_path(rq, "path", path, sizeof(path))) != R_OK)
		return r;
	r = http_query(rq, "depth", dq, sizeof(dq));
	if (r == R_OK) {
		depth = strtoul(dq, &end, 10);
		if (*dq == '\0' || *end != '\0' || depth < 1 || depth > AGENTPROTO_MAX_DEPTH)
			return http_fail(rq, R_INVALID, "'depth' must be 1..%d", AGENTPROTO_MAX_DEPTH);
	} else if (r != R_NOT_FOUND) {
		return http_fail(rq, R_INVALID, "'depth' must be 1..%d", AGENTPROTO_MAX_DEPTH);
	}
	l.op.path = l.base = path;
	l.depth = (unsigned)depth;
	r = with_agent(rq, &l.op);
	if (r == R_OK) {
		out = json_new_object();
		if (out == NULL || json_add_str(out, "path", path) != R_OK) {
			r = R_NO_MEMORY;
		} else {
			r = json_add(out, "entries", l.arr);
			l.arr = NULL; /* json_add owns it either way */
			if (r == R_OK) {
				http_respond_json(rq, 200, out, NULL);
				out = NULL;
			}
		}
	}
	json_free(out);
	json_free(l.arr);
	free(l.joined);
	return r;
}

struct stat_op {
	struct file_op op;
	struct agentproto_finfo *fi;
};

static enum result stat_path(struct req *rq, struct agent_conn *c, struct file_op *op)
{
	struct stat_op *so = (struct stat_op *)op;

	(void)rq;
	so->fi = malloc(sizeof(*so->fi));
	return so->fi ? agent_client_stat(c, op->path, OP_MS, so->fi) : R_NO_MEMORY;
}

enum result files_stat(struct req *rq)
{
	struct stat_op so = {.op = {.run = stat_path}};
	char path[AGENTPROTO_MAX_PATH];
	struct json *o;
	enum result r;

	if ((r = query_path(rq, "path", path, sizeof(path))) != R_OK)
		return r;
	so.op.path = path;
	r = with_agent(rq, &so.op);
	if (r == R_OK) {
		o = info_json(so.fi, path);
		if (o == NULL)
			r = R_NO_MEMORY;
		else
			http_respond_json(rq, 200, o, NULL);
	}
	free(so.fi);
	return r;
}

/* ---- remove, mkdir, move ---------------------------------------------------------- */

static bool truthy(const char *s)
{
	return strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0 ||
	       *s == '\0';
}

/* respond_out: answer the object a handler built after its op (NULL when
 * building it ran out of memory). */
static enum result respond_out(struct req *rq, struct json *out)
{
	if (out == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, 200, out, NULL);
	return R_OK;
}

struct change_op {
	struct file_op op;
	const char *to; /* move */
	uint32_t mode;  /* mkdir */
	bool flag;      /* remove: recursive; mkdir, move: parents */
};

static enum result remove_path(struct req *rq, struct agent_conn *c, struct file_op *op)
{
	struct change_op *co = (struct change_op *)op;

	(void)rq;
	return agent_client_remove(c, op->path, co->flag, OP_MS);
}

enum result files_delete(struct req *rq)
{
	struct change_op co = {.op = {.run = remove_path}};
	char path[AGENTPROTO_MAX_PATH], rec[8];
	struct json *out;
	enum result r;

	if ((r = query_path(rq, "path", path, sizeof(path))) != R_OK)
		return r;
	r = http_query(rq, "recursive", rec, sizeof(rec));
	if (r == R_OK)
		co.flag = truthy(rec);
	else if (r != R_NOT_FOUND)
		return http_fail(rq, R_INVALID, "'recursive' must be true or false");
	co.op.path = path;
	r = with_agent(rq, &co.op);
	if (r != R_OK)
		return r;
	out = json_new_object();
	if (out && (json_add_str(out, "path", path) != R_OK ||
		    json_add_bool(out, "deleted", true) != R_OK)) {
		json_free(out);
		out = NULL;
	}
	return respond_out(rq, out);
}

static enum result opt_bool(struct req *rq, const char *key, bool def, bool *out)
{
	struct json *v = json_get(rq->body, key);

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return R_OK;
	}
	if (!json_is_bool(v))
		return http_fail(rq, R_INVALID, "'%s' must be true or false", key);
	*out = json_bool_value(v);
	return R_OK;
}

static enum result make_dir(struct req *rq, struct agent_conn *c, struct file_op *op)
{
	struct change_op *co = (struct change_op *)op;

	(void)rq;
	return agent_client_mkdir(c, op->path, co->mode, co->flag, OP_MS);
}

enum result files_mkdir(struct req *rq)
{
	static const char *const known[] = {"path", "mode", "parents", NULL};
	struct change_op co = {.op = {.run = make_dir}};
	struct json *out;
	enum result r;

	if ((r = read_json(rq, (size_t)config_int("SANDPIT_MAX_BODY"))) != R_OK ||
	    (r = validate_known_fields(rq, rq->body, known)) != R_OK ||
	    (r = json_path(rq, rq->body, "path", &co.op.path)) != R_OK ||
	    (r = parse_mode(rq, json_get(rq->body, "mode"), &co.mode)) != R_OK ||
	    (r = opt_bool(rq, "parents", true, &co.flag)) != R_OK)
		return r;
	r = with_agent(rq, &co.op);
	if (r != R_OK)
		return r;
	out = json_new_object();
	if (out && (json_add_str(out, "path", co.op.path) != R_OK ||
		    json_add_bool(out, "created", true) != R_OK)) {
		json_free(out);
		out = NULL;
	}
	return respond_out(rq, out);
}

static enum result move_path(struct req *rq, struct agent_conn *c, struct file_op *op)
{
	struct change_op *co = (struct change_op *)op;

	(void)rq;
	return agent_client_move(c, op->path, co->to, co->flag, OP_MS);
}

enum result files_move(struct req *rq)
{
	static const char *const known[] = {"from", "to", "parents", NULL};
	struct change_op co = {.op = {.run = move_path}};
	struct json *out;
	enum result r;

	if ((r = read_json(rq, (size_t)config_int("SANDPIT_MAX_BODY"))) != R_OK ||
	    (r = validate_known_fields(rq, rq->body, known)) != R_OK ||
	    (r = json_path(rq, rq->body, "from", &co.op.path)) != R_OK ||
	    (r = json_path(rq, rq->body, "to", &co.to)) != R_OK ||
	    (r = opt_bool(rq, "parents", true, &co.flag)) != R_OK)
		return r;
	r = with_agent(rq, &co.op);
	if (r != R_OK)
		return r;
	out = json_new_object();
	if (out && (json_add_str(out, "from", co.op.path) != R_OK ||
		    json_add_str(out, "to", co.to) != R_OK)) {
		json_free(out);
		out = NULL;
	}
	return respond_out(rq, out);
}
