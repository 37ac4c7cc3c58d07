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
			return http_fail(rq, R_INVALID, "malformed Content-Length");
		if ((unsigned long long)want > limit)
			return http_fail(rq, R_TOO_BIG, "request body over %zu bytes", limit);
	}
	while ((got = FCGX_GetStr(chunk, sizeof(chunk), rq->fcgi->in)) > 0) {
		if (buf_append(out, chunk, (size_t)got) != R_OK)
			return http_fail(rq, R_TOO_BIG, "request body over %zu bytes", limit);
	}
	if ((long long)out->len < want) {
		buf_free(out);
		return http_fail(rq, R_INVALID, "request body shorter than Content-Length");
	}
	return R_OK;
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
		return http_fail(rq, R_INVALID, "Content-Type must be application/json");
	}
	r = http_read_body(rq, limit, &body);
	if (r != R_OK)
		return r;
	if (body.len == 0) {
		buf_free(&body);
		return http_fail(rq, R_INVALID, "request body is empty; a JSON object is required");
	}
	rq->body = json_parse(body.data, body.len);
	buf_free(&body);
	if (rq->body == NULL)
		return http_fail(rq, R_INVALID, "request body is not valid JSON");
	if (!json_is_object(rq->body))
		return http_fail(rq, R_INVALID, "request body must be a JSON object");
	return R_OK;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* url_decode: n bytes of s into out; plus_space for query strings. NUL bytes
 * and bad escapes are refused: nothing downstream expects them. */
static enum result url_decode(const char *s, size_t n, bool plus_space, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return R_INVALID;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return R_INVALID;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (o + 1 >= size)
			return R_TOO_BIG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return R_OK;
}

enum result http_query(const struct req *rq, const char *name, char *out, size_t size)
{
	const char *q = rq->query;
	size_t nlen = strlen(name);

	while (*q != '\0') {
		size_t seg = strcspn(q, "&");
		const char *eq = memchr(q, '=', seg);
		size_t klen = eq ? (size_t)(eq - q) : seg;

		if (klen == nlen && strncmp(q, name, nlen) == 0) {
			if (eq == NULL) {
				if (size == 0)
					return R_TOO_BIG;
				out[0] = '\0';
				return R_OK;
			}
			return url_decode(eq + 1, seg - klen - 1, true, out, size) == R_OK
				   ? R_OK
				   : R_INVALID;
		}
		q += seg;
		q += *q == '&';
	}
	return R_NOT_FOUND;
}

enum result http_path_decode(const char *s, size_t n, char *out, size_t size)
{
	return url_decode(s, n, false, out, size);
}

void http_respond_json(struct req *rq, int status, struct json *body, const char *headers)
{
	char *text = body ? json_print(body) : NULL;
	size_t len;
	char head[1024];
	int n;

	json_free(body);
	if (body != NULL && text == NULL) {
		status = 500;
		text = strdup("{\"error\":{\"code\":\"out_of_memory\",\"message\":\"cannot "
			      "render response\"}}");
	}
	len = text ? strlen(text) : 0;
	/* libfcgi's own printf lacks %zu, so the head is formatted here. */
	n = snprintf(head, sizeof(head),
		     "Status: %d\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n%s%s"
		     "Content-Length: %zu\r\n\r\n",
		     status, rq->id, headers ? headers : "",
		     text ? "Content-Type: application/json\r\n" : "", len);
	if (n > 0 && (size_t)n < sizeof(head))
		FCGX_PutStr(head, n, rq->fcgi->out);
	if (text != NULL)
		FCGX_PutStr(text, (int)len, rq->fcgi->out);
	free(text);
	rq->status = status;
	rq->responded = true;
}

enum result http_respond_done(struct req *rq, const char *id_key, const char *id,
			      const char *flag)
{
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, id_key, id) != R_OK || json_add_bool(o, flag, true) != R_OK) {
		json_free(o);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 200, o, NULL);
	return R_OK;
}

enum result http_fail(struct req *rq, enum result r, const char *fmt, ...)
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
	if (json_add_str(err, "code", code ? code : result_str(r)) != R_OK ||
	    json_add_str(err, "message", message && *message ? message : result_str(r)) != R_OK ||
	    json_add(root, "error", err) != R_OK) {
		json_free(root);
		http_respond_json(rq, status, NULL, headers);
		return;
	}
	http_respond_json(rq, status, root, headers);
}
