/* files.c: /api/v1/sandbox/:id/files... : write, read, list, stat, remove,
 * mkdir and move files in a sandbox. Every byte goes through the sandbox's
 * agent, whose file helper acts as the sandbox user (tools/agent/files.c): no
 * host process opens a path inside a sandbox. Large bodies are streamed in
 * both directions; a worker never holds a raw upload or download whole. */
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
	/* Answers and file.written events name the path in JSON, which holds
	 * Unicode text only: a name that is not UTF-8 could be recorded only
	 * lossily (U+FFFD, two names alike) or in an escaped form no client can
	 * hand back. Refusing it keeps every answer and event exact; code in
	 * the sandbox can still create such names. */
	if (!utf8_is_valid(p, n))
		return http_fail(rq, R_INVALID, "'%s' is not valid UTF-8", what);
	return R_OK;
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
	const char *slash;
	char when[WHEN_SIZE], abs[ABS_PATH_SIZE];

	iso_ms(fi->mtime_ms, when);
	abs_path(path, abs);
	slash = strrchr(abs, '/');
	if (o == NULL || add_text(o, "name", slash && slash[1] ? slash + 1 : abs) != R_OK ||
	    add_text(o, "path", abs) != R_OK || json_add_str(o, "type", type_name(fi->ftype)) != R_OK ||
	    json_add_int(o, "size", (long long)fi->size) != R_OK || add_mode(o, fi->mode) != R_OK ||
	    json_add_str(o, "modified_at", when) != R_OK ||
	    (fi->ftype == AP_FT_SYMLINK ? add_text(o, "symlink_target", fi->target)
					: json_add(o, "symlink_target", json_new_null())) != R_OK) {
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
	if (r == R_OK)
		r = json_add_int(data, "bytes", (long long)bytes);
	if (r == R_OK)
		r = db_begin(rq->db);
	if (r == R_OK) {
		r = events_emit(rq->db, rq->auth.org_id, sbx, "file.written", data);
		if (r != R_OK)
			db_rollback(rq->db);
	}
	json_free(data);
	if (r != R_OK) {
		log_warnx("files", "cannot record file.written sandbox=%s err=%s", sbx,
			  result_str(r));
		return http_fail(rq, r == R_NO_MEMORY ? r : R_DB,
				 "the file.written event cannot be recorded; nothing was written");
	}
	return R_OK;
}

/* written_end: commit the event when the agent committed the files (r). */
static enum result written_end(struct req *rq, const char *sbx, enum result r)
{
	if (r != R_OK) {
		db_rollback(rq->db);
		return r;
	}
	r = db_commit(rq->db);
	if (r != R_OK) {
		db_rollback(rq->db);
		log_errx("files", "file written without its file.written event sandbox=%s", sbx);
		return http_fail(rq, R_DB,
				 "the file was written but its file.written event could not be "
				 "recorded");
	}
	return R_OK;
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
		if (json_push(paths, json_new_str(abs)) != R_OK) {
			json_free(paths);
			return NULL;
		}
	}
	return paths;
}

static enum result write_all(struct req *rq, const struct sandbox_row *row, struct one_file *fs,
			     size_t n)
{
	struct agent_conn *c = NULL;
	unsigned long long bytes;
	struct json *paths;
	enum result r;
	size_t i;

	r = connect_agent(rq, row, &c);
	if (r != R_OK)
		return r;
	for (i = 0; r == R_OK && i < n; i++) {
		r = agent_client_put_file(c, fs[i].path, fs[i].mode, OP_MS);
		if (r == R_OK && fs[i].len > 0)
			r = agent_client_put_data(c, fs[i].bytes, fs[i].len, OP_MS);
		if (r != R_OK)
			r = agent_fail(rq, c, r, fs[i].path);
	}
	if (r == R_OK) {
		paths = written_paths(fs, n, &bytes);
		r = paths ? written_begin(rq, row->id, paths, bytes) : R_NO_MEMORY;
	}
	if (r == R_OK) {
		r = agent_client_put_commit(c, OP_MS);
		if (r != R_OK)
			r = agent_fail(rq, c, r, fs[0].path);
		r = written_end(rq, row->id, r);
	}
	agent_client_close(c); /* without a commit the helper drops every temporary */
	return r;
}

enum result files_post(struct req *rq)
{
	struct sandbox_row row = {0};
	struct one_file *fs = NULL;
	struct json *list, *out = NULL, *arr = NULL;
	size_t n = 0, i;
	enum result r;

	r = running(rq, &row);
	if (r != R_OK)
		return r;
	r = read_json(rq, (size_t)config()->files_max_json);
	if (r != R_OK)
		goto done;
	list = json_get(rq->body, "files");
	if (list != NULL) {
		if (!json_is_array(list) || json_len(list) == 0 || json_len(list) > MAX_REQUEST_FILES) {
			r = http_fail(rq, R_INVALID, "'files' must be an array of 1 to %d files",
				      MAX_REQUEST_FILES);
			goto done;
		}
		n = json_len(list);
	} else {
		n = 1; /* a single {path, content} */
	}
	fs = calloc(n, sizeof(*fs));
	if (fs == NULL) {
		r = R_NO_MEMORY;
		goto done;
	}
	i = 0;
	for (struct json *o = list ? json_child(list) : rq->body; r == R_OK && i < n; i++) {
		r = parse_file(rq, o, &fs[i]);
		o = list ? json_next(o) : NULL;
	}
	if (r != R_OK)
		goto done;
	r = write_all(rq, &row, fs, n);
	if (r != R_OK)
		goto done;
	out = json_new_object();
	arr = json_new_array();
	if (out == NULL || arr == NULL) {
		r = R_NO_MEMORY;
		goto done;
	}
	for (i = 0; i < n; i++) {
		struct json *e = json_new_object();

		if (e == NULL || add_path(e, "path", fs[i].path) != R_OK ||
		    json_add_int(e, "size", (long long)fs[i].len) != R_OK) {
			json_free(e);
			r = R_NO_MEMORY;
			goto done;
		}
		if (json_push(arr, e) != R_OK) { /* it owns e either way */
			r = R_NO_MEMORY;
			goto done;
		}
	}
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
	for (i = 0; fs != NULL && i < n; i++)
		free(fs[i].bytes);
	free(fs);
	sandbox_row_free(&row);
	return r;
}

/* ---- PUT /files?path=: a raw body, streamed ---------------------------------------- */

enum result files_put(struct req *rq)
{
	unsigned long long cap = (unsigned long long)config()->files_max_upload;
	const char *cl = http_header(rq, "CONTENT_LENGTH");
	unsigned long long want = 0, got = 0;
	bool have_len = cl != NULL && *cl != '\0';
	struct sandbox_row row = {0};
	struct agent_conn *c = NULL;
	char path[AGENTPROTO_MAX_PATH], abs[ABS_PATH_SIZE];
	char *chunk = NULL, *end;
	struct json *out, *paths;
	uint32_t mode = 0;
	char modeq[8];
	enum result r;
	int n;

	if (have_len) {
		want = strtoull(cl, &end, 10);
		if (*end != '\0' || cl[0] == '-')
			return http_fail(rq, R_INVALID, "malformed Content-Length");
		/* refuse before touching the sandbox or reading a byte */
		if (want > cap)
			return http_fail(rq, R_TOO_BIG, "upload over %llu bytes", cap);
	}
	if ((r = query_path(rq, "path", path, sizeof(path))) != R_OK)
		return r;
	r = http_query(rq, "mode", modeq, sizeof(modeq));
	if (r == R_OK) {
		unsigned long v = strtoul(modeq, &end, 8);

		if (*modeq == '\0' || *end != '\0' || v > 07777)
			return http_fail(rq, R_INVALID, "'mode' must be octal, like 0755");
		mode = (uint32_t)v;
	} else if (r != R_NOT_FOUND) {
		return http_fail(rq, R_INVALID, "'mode' must be octal, like 0755");
	}
	r = running(rq, &row);
	if (r != R_OK)
		return r;
	chunk = malloc(STREAM_CHUNK);
	if (chunk == NULL) {
		r = R_NO_MEMORY;
		goto done;
	}
	r = connect_agent(rq, &row, &c);
	if (r != R_OK)
		goto done;
	r = agent_client_put_file(c, path, mode, OP_MS);
	while (r == R_OK && (n = FCGX_GetStr(chunk, STREAM_CHUNK, rq->fcgi->in)) > 0) {
		got += (unsigned long long)n;
		if (got > cap || (have_len && got > want)) {
			r = http_fail(rq, R_TOO_BIG, "upload over %llu bytes", cap);
			goto done; /* closing the connection drops the temporary */
		}
		r = agent_client_put_data(c, chunk, (size_t)n, OP_MS);
	}
	if (r == R_OK && have_len && got < want) {
		r = http_fail(rq, R_INVALID, "request body shorter than Content-Length");
		goto done;
	}
	if (r != R_OK) {
		r = agent_fail(rq, c, r, path);
		goto done;
	}
	abs_path(path, abs);
	paths = json_new_array();
	if (paths == NULL || json_push(paths, json_new_str(abs)) != R_OK) {
		json_free(paths);
		r = R_NO_MEMORY;
		goto done;
	}
	r = written_begin(rq, row.id, paths, got);
	if (r != R_OK)
		goto done;
	r = agent_client_put_commit(c, OP_MS);
	if (r != R_OK)
		r = agent_fail(rq, c, r, path);
	r = written_end(rq, row.id, r);
	if (r != R_OK)
		goto done;
	out = json_new_object();
	if (out == NULL || json_add_str(out, "path", abs) != R_OK ||
	    json_add_int(out, "size", (long long)got) != R_OK) {
		json_free(out);
		r = R_NO_MEMORY;
		goto done;
	}
	http_respond_json(rq, 200, out, NULL);
done:
	agent_client_close(c);
	free(chunk);
	sandbox_row_free(&row);
	return r;
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
		      "Status: 200\r\nX-Request-Id: %s\r\n"
		      "Cache-Control: no-store\r\nContent-Type: application/octet-stream\r\nContent-Length: %llu\r\n\r\n",
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

	if (fi->size > (uint64_t)config()->files_max_json / 4 * 3)
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
		if (o == NULL || add_path(o, "path", path) != R_OK ||
		    json_add_str(o, "content", b64) != R_OK ||
		    json_add_str(o, "encoding", "base64") != R_OK ||
		    json_add_int(o, "size", (long long)content.len) != R_OK ||
		    add_mode(o, fi->mode) != R_OK ||
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

enum result files_get(struct req *rq)
{
	struct agentproto_finfo *fi = NULL;
	struct sandbox_row row = {0};
	struct agent_conn *c = NULL;
	char path[AGENTPROTO_MAX_PATH];
	enum result r;

	if ((r = query_path(rq, "path", path, sizeof(path))) != R_OK)
		return r;
	r = running(rq, &row);
	if (r != R_OK)
		return r;
	fi = malloc(sizeof(*fi));
	r = fi ? connect_agent(rq, &row, &c) : R_NO_MEMORY;
	if (r == R_OK) {
		r = agent_client_get_begin(c, path, OP_MS, fi);
		if (r != R_OK)
			r = agent_fail(rq, c, r, path);
	}
	if (r == R_OK)
		r = wants_raw(rq) ? stream_raw(rq, c, fi) : respond_json_file(rq, c, fi, path);
	agent_client_close(c);
	free(fi);
	sandbox_row_free(&row);
	return r;
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

enum result files_list(struct req *rq)
{
	struct listing l = {0};
	struct sandbox_row row = {0};
	struct agent_conn *c = NULL;
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
	r = running(rq, &row);
	if (r != R_OK)
		return r;
	l.arr = json_new_array();
	l.base = path;
	l.joined = malloc(2 * AGENTPROTO_MAX_PATH);
	r = l.arr && l.joined ? connect_agent(rq, &row, &c) : R_NO_MEMORY;
	if (r == R_OK) {
		r = agent_client_list(c, path, (unsigned)depth, OP_MS, add_entry, &l);
		if (r != R_OK)
			r = agent_fail(rq, c, r, path);
	}
	if (r == R_OK) {
		out = json_new_object();
		if (out == NULL || add_path(out, "path", path) != R_OK) {
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
	agent_client_close(c);
	sandbox_row_free(&row);
	return r;
}

enum result files_stat(struct req *rq)
{
	struct agentproto_finfo *fi = NULL;
	struct sandbox_row row = {0};
	struct agent_conn *c = NULL;
	char path[AGENTPROTO_MAX_PATH];
	struct json *o;
	enum result r;

	if ((r = query_path(rq, "path", path, sizeof(path))) != R_OK)
		return r;
	r = running(rq, &row);
	if (r != R_OK)
		return r;
	fi = malloc(sizeof(*fi));
	r = fi ? connect_agent(rq, &row, &c) : R_NO_MEMORY;
	if (r == R_OK) {
		r = agent_client_stat(c, path, OP_MS, fi);
		if (r != R_OK)
			r = agent_fail(rq, c, r, path);
	}
	if (r == R_OK) {
		o = info_json(fi, path);
		if (o == NULL)
			r = R_NO_MEMORY;
		else
			http_respond_json(rq, 200, o, NULL);
	}
	agent_client_close(c);
	free(fi);
	sandbox_row_free(&row);
	return r;
}

/* ---- remove, mkdir, move ---------------------------------------------------------- */

static bool truthy(const char *s)
{
	return strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0 ||
	       *s == '\0';
}

/* finish: run op's result and answer {key: value...} on success. */
static enum result finish(struct req *rq, struct agent_conn *c, enum result r, const char *path,
			  struct json *out)
{
	if (r != R_OK) {
		json_free(out);
		return agent_fail(rq, c, r, path);
	}
	if (out == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, 200, out, NULL);
	return R_OK;
}

enum result files_delete(struct req *rq)
{
	struct sandbox_row row = {0};
	struct agent_conn *c = NULL;
	char path[AGENTPROTO_MAX_PATH], rec[8];
	bool recursive = false;
	struct json *out;
	enum result r;

	if ((r = query_path(rq, "path", path, sizeof(path))) != R_OK)
		return r;
	r = http_query(rq, "recursive", rec, sizeof(rec));
	if (r == R_OK)
		recursive = truthy(rec);
	else if (r != R_NOT_FOUND)
		return http_fail(rq, R_INVALID, "'recursive' must be true or false");
	r = running(rq, &row);
	if (r != R_OK)
		return r;
	r = connect_agent(rq, &row, &c);
	if (r == R_OK) {
		r = agent_client_remove(c, path, recursive, OP_MS);
		out = json_new_object();
		if (out && (add_path(out, "path", path) != R_OK ||
			    json_add_bool(out, "deleted", true) != R_OK)) {
			json_free(out);
			out = NULL;
		}
		r = finish(rq, c, r, path, out);
	}
	agent_client_close(c);
	sandbox_row_free(&row);
	return r;
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

enum result files_mkdir(struct req *rq)
{
	static const char *const known[] = {"path", "mode", "parents", NULL};
	struct sandbox_row row = {0};
	struct agent_conn *c = NULL;
	const char *path = NULL;
	uint32_t mode = 0;
	bool parents = true;
	struct json *out;
	enum result r;

	if ((r = read_json(rq, (size_t)config()->max_body)) != R_OK ||
	    (r = validate_known_fields(rq, rq->body, known)) != R_OK ||
	    (r = json_path(rq, rq->body, "path", &path)) != R_OK ||
	    (r = parse_mode(rq, json_get(rq->body, "mode"), &mode)) != R_OK ||
	    (r = opt_bool(rq, "parents", true, &parents)) != R_OK)
		return r;
	r = running(rq, &row);
	if (r != R_OK)
		return r;
	r = connect_agent(rq, &row, &c);
	if (r == R_OK) {
		r = agent_client_mkdir(c, path, mode, parents, OP_MS);
		out = json_new_object();
		if (out && (add_path(out, "path", path) != R_OK ||
			    json_add_bool(out, "created", true) != R_OK)) {
			json_free(out);
			out = NULL;
		}
		r = finish(rq, c, r, path, out);
	}
	agent_client_close(c);
	sandbox_row_free(&row);
	return r;
}

enum result files_move(struct req *rq)
{
	static const char *const known[] = {"from", "to", "parents", NULL};
	struct sandbox_row row = {0};
	struct agent_conn *c = NULL;
	const char *from = NULL, *to = NULL;
	bool parents = true;
	struct json *out;
	enum result r;

	if ((r = read_json(rq, (size_t)config()->max_body)) != R_OK ||
	    (r = validate_known_fields(rq, rq->body, known)) != R_OK ||
	    (r = json_path(rq, rq->body, "from", &from)) != R_OK ||
	    (r = json_path(rq, rq->body, "to", &to)) != R_OK ||
	    (r = opt_bool(rq, "parents", true, &parents)) != R_OK)
		return r;
	r = running(rq, &row);
	if (r != R_OK)
		return r;
	r = connect_agent(rq, &row, &c);
	if (r == R_OK) {
		r = agent_client_move(c, from, to, parents, OP_MS);
		out = json_new_object();
		if (out && (add_path(out, "from", from) != R_OK || add_path(out, "to", to) != R_OK)) {
			json_free(out);
			out = NULL;
		}
		r = finish(rq, c, r, from, out);
	}
	agent_client_close(c);
	sandbox_row_free(&row);
	return r;
}
