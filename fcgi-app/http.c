/* http.c: FastCGI request plumbing: headers, capped bodies, query strings
 * and JSON responses. */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/url.h"
#include "core/utf8.h"

const char *http_header(const struct req *rq, const char *cgi_name)
{
	return FCGX_GetParam(cgi_name, rq->fcgi->envp);
}

enum result http_read_body(struct req *rq, size_t limit, struct buf *out)
{
	const char *cl = http_header(rq, "CONTENT_LENGTH");
	char chunk[16384];
	long long want = 0;
	char *end;
	int got;

	buf_init(out, limit);
	if (cl != NULL && *cl != '\0') {
		errno = 0;
		want = strtoll(cl, &end, 10);
		if (errno != 0 || *end != '\0' || want < 0)
			return http_set_error(rq, R_INVALID, "malformed Content-Length");
		if ((unsigned long long)want > limit)
			return http_set_error(rq, R_TOO_BIG, "request body over %zu bytes", limit);
	}
	while ((got = FCGX_GetStr(chunk, sizeof(chunk), rq->fcgi->in)) > 0) {
		if (buf_append(out, chunk, (size_t)got) != R_SUCCESS)
			return http_set_error(rq, R_TOO_BIG, "request body over %zu bytes", limit);
	}
	if ((long long)out->len < want) {
		buf_free(out);
		return http_set_error(rq, R_INVALID, "request body shorter than Content-Length");
	}
	return R_SUCCESS;
}

bool http_json_has_nul(const char *s, size_t n)
{
	for (size_t i = 0; i + 6 <= n; i++) {
		size_t bs = 0;

		if (s[i] != '\\' || s[i + 1] != 'u' || memcmp(s + i + 2, "0000", 4) != 0)
			continue;
		/* "\\u0000" is a backslash and text: only an odd run escapes. */
		while (bs <= i && s[i - bs] == '\\')
			bs++;
		if (bs % 2 == 1)
			return true;
	}
	return false;
}

static bool is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL)
		return false;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

enum result http_parse_json_body(struct req *rq, size_t limit)
{
	const char *ct = http_header(rq, "CONTENT_TYPE");
	struct buf body;
	enum result r;

	if (!is_json_type(ct)) {
		rq->status = 415;
		return http_set_error(rq, R_INVALID, "Content-Type must be application/json");
	}
	r = http_read_body(rq, limit, &body);
	if (r != R_SUCCESS)
		return r;
	if (body.len == 0) {
		buf_free(&body);
		return http_set_error(rq, R_INVALID,
				      "request body is empty; a JSON object is required");
	}
	/* The parser would hand out "a\u0000b" as the C string "a": a command
	 * or a value silently cut short. Refused, as the files API does. */
	if (http_json_has_nul(body.data, body.len)) {
		buf_free(&body);
		return http_set_error(
		    rq, R_INVALID,
		    "a NUL character (\\u0000) in a JSON string; strings here cannot "
		    "hold NUL");
	}
	rq->body = json_parse(body.data, body.len);
	buf_free(&body);
	if (rq->body == NULL)
		return http_set_error(rq, R_INVALID, "request body is not valid JSON");
	if (!json_is_object(rq->body))
		return http_set_error(rq, R_INVALID, "request body must be a JSON object");
	return R_SUCCESS;
}

enum result http_query(const struct req *rq, const char *name, char *out, size_t size)
{
	enum result r = url_query_get(rq->query, name, out, size);

	/* a value that does not fit is as bad as a malformed one to a handler */
	return r == R_TOO_BIG ? R_INVALID : r;
}

enum result http_path_decode(const char *s, size_t n, char *out, size_t size)
{
	return url_decode(s, n, false, out, size);
}

/* head: the status line and headers of a response of len bytes (JSON when
 * json is set). */
static void head(struct req *rq, int status, bool json, size_t len, const char *headers)
{
	char text[1024];
	int n;

	/* libfcgi's own printf lacks %zu, so the head is formatted here. */
	n = snprintf(text, sizeof(text),
		     "Status: %d\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n%s%s"
		     "Content-Length: %zu\r\n\r\n",
		     status, rq->id, headers ? headers : "",
		     json ? "Content-Type: application/json\r\n" : "", len);
	if (n > 0 && (size_t)n < sizeof(text))
		FCGX_PutStr(text, n, rq->fcgi->out);
	rq->status = status;
	rq->responded = true;
}

void http_respond_json(struct req *rq, int status, struct json *body, const char *headers)
{
	char *text = body ? json_print(body) : NULL;
	size_t len;

	json_free(body);
	if (body != NULL && text == NULL) {
		status = 500;
		text = strdup("{\"error\":{\"code\":\"out_of_memory\",\"message\":\"cannot "
			      "render response\"}}");
	}
	len = text ? strlen(text) : 0;
	head(rq, status, text != NULL, len, headers);
	if (text != NULL)
		FCGX_PutStr(text, (int)len, rq->fcgi->out);
	free(text);
}

void http_respond_json_head(struct req *rq, int status, size_t len, const char *headers)
{
	head(rq, status, true, len, headers);
}

void http_write(struct req *rq, const void *p, size_t n)
{
	const char *s = p;

	/* FCGX_PutStr takes an int: hand it bounded pieces. */
	while (n > 0) {
		int piece = n > 65536 ? 65536 : (int)n;

		if (FCGX_PutStr(s, piece, rq->fcgi->out) != piece)
			return;
		s += piece;
		n -= (size_t)piece;
	}
}

/* ---- JSON strings, encoded as they are written ---------------------------- */

struct jsout {
	struct req *rq; /* NULL: only count */
	char buf[4096];
	size_t len;
	size_t total;
};

static void jsout_put(struct jsout *o, const char *p, size_t n)
{
	o->total += n;
	if (o->rq == NULL)
		return;
	if (o->len + n > sizeof(o->buf)) {
		http_write(o->rq, o->buf, o->len);
		o->len = 0;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* lead_len: the length a UTF-8 sequence starting with c claims, 0 if c
 * cannot start one. */
static size_t lead_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/* encode_one: the JSON text of the character at s (of n bytes) into out
 * (at least 6 bytes); returns its length and sets *used to the input bytes
 * it stands for. Controls are escaped; NUL and invalid UTF-8 become
 * U+FFFD, as utf8_sanitize does. */
static size_t encode_one(const unsigned char *s, size_t n, char *out, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	size_t l = lead_len(s[0]);

	*used = 1;
	if (s[0] == 0 || l == 0 || l > n || !utf8_is_valid(s, l)) {
		memcpy(out, "\xef\xbf\xbd", 3);
		return 3;
	}
	*used = l;
	if (l > 1) {
		memcpy(out, s, l);
		return l;
	}
	switch (s[0]) {
	case '"':
	case '\\':
		out[0] = '\\', out[1] = (char)s[0];
		return 2;
	case '\n':
		memcpy(out, "\\n", 2);
		return 2;
	case '\r':
		memcpy(out, "\\r", 2);
		return 2;
	case '\t':
		memcpy(out, "\\t", 2);
		return 2;
	default:
		break;
	}
	if (s[0] >= 0x20) {
		out[0] = (char)s[0];
		return 1;
	}
	memcpy(out, "\\u00", 4);
	out[4] = hex[s[0] >> 4];
	out[5] = hex[s[0] & 15];
	return 6;
}

size_t http_json_string(struct req *rq, const void *p, size_t n, size_t budget, bool *cut)
{
	const unsigned char *s = p;
	struct jsout o = {.rq = rq};
	size_t i = 0;

	*cut = false;
	jsout_put(&o, "\"", 1);
	while (i < n) {
		char enc[8];
		size_t used, len = encode_one(s + i, n - i, enc, &used);

		if (o.total + len + 1 > budget) { /* + the closing quote */
			*cut = true;
			break;
		}
		jsout_put(&o, enc, len);
		i += used;
	}
	jsout_put(&o, "\"", 1);
	if (rq != NULL && o.len > 0)
		http_write(rq, o.buf, o.len);
	return o.total;
}

enum result http_respond_done(struct req *rq, const char *id_key, const char *id, const char *flag)
{
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, id_key, id) != R_SUCCESS ||
	    json_add_bool(o, flag, true) != R_SUCCESS) {
		json_free(o);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 200, o, NULL);
	return R_SUCCESS;
}

enum result http_set_error(struct req *rq, enum result r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rq->err, sizeof(rq->err), fmt, ap);
	va_end(ap);
	return r;
}

void http_respond_error(struct req *rq, enum result r, int status_override, const char *code,
			const char *message, const char *headers)
{
	struct json *root = json_new_object(), *err = json_new_object();
	int status = status_override ? status_override : result_http_status(r);

	if (root == NULL || err == NULL) {
		json_free(root);
		json_free(err);
		http_respond_json(rq, status, NULL, headers);
		return;
	}
	if (json_add_str(err, "code", code ? code : result_str(r)) != R_SUCCESS ||
	    json_add_str(err, "message", message && *message ? message : result_str(r)) !=
		R_SUCCESS ||
	    json_add(root, "error", err) != R_SUCCESS) {
		json_free(root);
		http_respond_json(rq, status, NULL, headers);
		return;
	}
	http_respond_json(rq, status, root, headers);
}
