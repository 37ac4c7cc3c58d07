/* http.h: one FastCGI request as the handlers see it: method, path, query,
 * headers, a capped body, the caller's identity, and JSON responses. */
#ifndef SANDPIT_HTTP_H
#define SANDPIT_HTTP_H

#include <fcgiapp.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/result.h"

#define HTTP_MAX_PARAMS 3
#define HTTP_PATH_MAX	1024

struct db;
struct backend;
struct longreq;

struct req {
	FCGX_Request *fcgi;
	struct db *db;
	struct backend *backend;  /* shared, thread-safe; NULL if unavailable */
	struct ratelimit *limits; /* the host's rate-limit table, shared */
	struct longreq *gate;	  /* the host's long-request counts, shared */
	const char *method;
	char path[HTTP_PATH_MAX];	     /* decoded path without the query */
	const char *query;		     /* raw query string, "" when absent */
	char id[48];			     /* request id, echoed in X-Request-Id */
	const char *params[HTTP_MAX_PARAMS]; /* ":id" captures, into params_buf */
	char params_buf[HTTP_PATH_MAX];
	struct auth auth; /* valid when authed */
	bool authed;
	struct json *body; /* parsed JSON body, for routes that take one */
	int status;	   /* status sent, for the access log */
	bool responded;
	char err[256]; /* message for the error body when a handler fails */
};

/* http_header: a request header by CGI name ("HTTP_AUTHORIZATION"), or NULL. */
const char *http_header(const struct req *rq, const char *cgi_name);

/* http_read_body: the raw body into out (capped at limit). R_TOO_BIG when
 * Content-Length or the bytes exceed it, R_INVALID on a short body. */
SP_MUST_CHECK enum result http_read_body(struct req *rq, size_t limit, struct buf *out);

/* http_parse_json_body: read and parse a JSON object body into rq->body.
 * 415 for a non-JSON content type is reported as R_INVALID with rq->status
 * preset; see http_set_error. */
SP_MUST_CHECK enum result http_parse_json_body(struct req *rq, size_t limit);

/* http_query: the decoded value of a query parameter into out; R_NOT_FOUND
 * when absent, R_INVALID when malformed or too long. */
SP_MUST_CHECK enum result http_query(const struct req *rq, const char *name, char *out,
				     size_t size);

/* http_path_decode: percent-decode n bytes of a path; R_INVALID on a bad
 * escape or %00. */
SP_MUST_CHECK enum result http_path_decode(const char *s, size_t n, char *out, size_t size);

/* http_respond_json: send status and body (consumed, may be NULL for no
 * body). Extra headers may be given as "Name: value\r\n" lines or NULL. */
void http_respond_json(struct req *rq, int status, struct json *body, const char *headers);

/* http_respond_json_head: the head of a JSON response of exactly len body
 * bytes, which the caller then sends with http_write (and
 * http_json_string): for bodies too big to build in memory. */
void http_respond_json_head(struct req *rq, int status, size_t len, const char *headers);

/* http_write: n bytes of the response body. A client that went away is
 * noticed by libfcgi (later writes are dropped). */
void http_write(struct req *rq, const void *p, size_t n);

/* http_json_string: n arbitrary bytes as a JSON string literal, quotes
 * included: controls escaped, NUL and invalid UTF-8 replaced by U+FFFD, so
 * the text is valid UTF-8 JSON. The literal is cut at a character boundary
 * so that it stays within budget bytes (the quotes count; budget >= 2);
 * *cut says whether it was. Written with http_write when rq is non-NULL;
 * with rq NULL only measured. Returns the literal's length; the same
 * arguments always give the same length and bytes. */
size_t http_json_string(struct req *rq, const void *p, size_t n, size_t budget, bool *cut);

/* http_json_has_nul: JSON text s (n bytes) holds a \u0000 escape. */
bool http_json_has_nul(const char *s, size_t n);

/* http_respond_done: 200 {id_key: id, flag: true}, the answer to a revoke
 * or delete ({"id":..., "revoked":true}). R_NO_MEMORY if it cannot be built. */
SP_MUST_CHECK enum result http_respond_done(struct req *rq, const char *id_key, const char *id,
					    const char *flag);

/* http_set_error: record why a handler fails (the message of the error the
 * router sends once the handler returns r; nothing is sent here). Returns r
 * so handlers can `return http_set_error(rq, R_INVALID, "...")`. */
enum result http_set_error(struct req *rq, enum result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* http_respond_error: send {"error":{"code","message"}} for r (status from
 * result_http_status unless status_override is non-zero). */
void http_respond_error(struct req *rq, enum result r, int status_override, const char *code,
			const char *message, const char *headers);

#endif
