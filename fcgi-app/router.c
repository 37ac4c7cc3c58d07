/* router.c: one table of routes; every request goes through the same
 * pipeline so no handler can forget auth, scopes or the error format. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "db/db.h"
#include "core/id.h"
#include "handlers.h"
#include "core/log.h"
#include "longreq.h"
#include "route.h"

struct route {
	const char *method;
	const char *pattern; /* literal segments and ":name" captures */
	enum result (*handler)(struct req *);
	unsigned scope; /* 0: no authentication */
	bool json_body; /* parse a JSON object body before the handler */
};

static const struct route routes[] = {
    {"GET", "/api/v1/health", health_get, 0, false},
    {"GET", "/api/v1/ready", ready_get, 0, false},
    /* register.c reads its body once it knows registration is open */
    {"POST", "/api/v1/register", register_post, 0, false},
    {"GET", "/api/v1/api-keys", apikeys_list, AUTH_SCOPE_ADMIN, false},
    {"POST", "/api/v1/api-keys", apikeys_create, AUTH_SCOPE_ADMIN, true},
    {"DELETE", "/api/v1/api-keys/:id", apikeys_delete, AUTH_SCOPE_ADMIN, false},
    {"POST", "/api/v1/sandbox/create", sandboxes_create, AUTH_SCOPE_WRITE, true},
    {"GET", "/api/v1/sandboxes", sandboxes_list, AUTH_SCOPE_READ, false},
    {"GET", "/api/v1/sandbox/:id", sandboxes_get, AUTH_SCOPE_READ, false},
    {"DELETE", "/api/v1/sandbox/:id", sandboxes_delete, AUTH_SCOPE_WRITE, false},
    {"GET", "/api/v1/sandbox/:id/status", sandboxes_status, AUTH_SCOPE_READ, false},
    {"POST", "/api/v1/sandbox/:id/stop", sandboxes_stop, AUTH_SCOPE_WRITE, false},
    {"POST", "/api/v1/sandbox/:id/timeout", sandboxes_timeout, AUTH_SCOPE_WRITE, true},
    {"POST", "/api/v1/sandbox/:id/stream-token", sandboxes_stream_token, AUTH_SCOPE_WRITE, false},
    {"POST", "/api/v1/sandbox/:id/execute", exec_post, AUTH_SCOPE_WRITE, true},
    /* files.c reads its own bodies: NUL escapes are refused before parsing */
    {"POST", "/api/v1/sandbox/:id/files", files_post, AUTH_SCOPE_WRITE, false},
    {"PUT", "/api/v1/sandbox/:id/files", files_put, AUTH_SCOPE_WRITE, false},
    {"GET", "/api/v1/sandbox/:id/files", files_get, AUTH_SCOPE_READ, false},
    {"DELETE", "/api/v1/sandbox/:id/files", files_delete, AUTH_SCOPE_WRITE, false},
    {"GET", "/api/v1/sandbox/:id/files/list", files_list, AUTH_SCOPE_READ, false},
    {"GET", "/api/v1/sandbox/:id/files/stat", files_stat, AUTH_SCOPE_READ, false},
    {"POST", "/api/v1/sandbox/:id/files/mkdir", files_mkdir, AUTH_SCOPE_WRITE, false},
    {"POST", "/api/v1/sandbox/:id/files/move", files_move, AUTH_SCOPE_WRITE, false},
    {"GET", "/api/v1/templates", templates_list, AUTH_SCOPE_READ, false},
    {"GET", "/api/v1/templates/:name", templates_get, AUTH_SCOPE_READ, false},
    {"POST", "/api/v1/jobs", jobs_create, AUTH_SCOPE_WRITE, true},
    {"POST", "/api/v1/jobs/batch", jobs_batch, AUTH_SCOPE_WRITE, true},
    {"GET", "/api/v1/jobs", jobs_list, AUTH_SCOPE_READ, false},
    {"GET", "/api/v1/jobs/:id", jobs_get, AUTH_SCOPE_READ, false},
    {"DELETE", "/api/v1/jobs/:id", jobs_cancel, AUTH_SCOPE_WRITE, false},
    {"GET", "/api/v1/webhooks", webhooks_list, AUTH_SCOPE_ADMIN, false},
    {"POST", "/api/v1/webhooks", webhooks_create, AUTH_SCOPE_ADMIN, true},
    {"GET", "/api/v1/webhooks/:id", webhooks_get, AUTH_SCOPE_ADMIN, false},
    {"DELETE", "/api/v1/webhooks/:id", webhooks_delete, AUTH_SCOPE_ADMIN, false},
    {"POST", "/api/v1/webhooks/:id/test", webhooks_test, AUTH_SCOPE_ADMIN, false},
    {"GET", "/api/v1/webhooks/:id/deliveries", webhooks_deliveries, AUTH_SCOPE_ADMIN, false},
    /* secrets.c reads its own body: NUL escapes refused, the raw text wiped */
    {"POST", "/api/v1/secrets", secrets_create, AUTH_SCOPE_ADMIN, false},
    {"GET", "/api/v1/secrets", secrets_list, AUTH_SCOPE_ADMIN, false},
    {"DELETE", "/api/v1/secrets/:name", secrets_delete, AUTH_SCOPE_ADMIN, false},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* match: does path fit pattern? Captures go to rq->params (copied into
 * rq->params_buf) only when it does. */
static bool match(const char *pattern, const char *path, struct req *rq)
{
	struct route_caps caps;
	size_t off = 0;

	if (!route_match(pattern, path, &caps) || caps.n > HTTP_MAX_PARAMS)
		return false;
	for (unsigned i = 0; i < caps.n; i++) {
		memcpy(rq->params_buf + off, caps.at[i], caps.len[i]);
		rq->params_buf[off + caps.len[i]] = '\0';
		rq->params[i] = rq->params_buf + off;
		off += caps.len[i] + 1;
	}
	return true;
}

/* find: the route for method+path; *path_known tells 404 from 405. */
static const struct route *find(struct req *rq, bool *path_known, char *allow, size_t allow_size)
{
	const struct route *hit = NULL;
	size_t n = 0;

	*path_known = false;
	allow[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		if (!match(routes[i].pattern, rq->path, rq))
			continue;
		*path_known = true;
		n += (size_t)snprintf(allow + n, n < allow_size ? allow_size - n : 0, "%s%s",
				      n ? ", " : "", routes[i].method);
		if (hit == NULL && strcmp(routes[i].method, rq->method) == 0)
			hit = &routes[i];
	}
	if (hit != NULL)
		match(hit->pattern, rq->path, rq);
	return hit;
}

static void set_request_id(struct req *rq)
{
	const char *given = http_header(rq, "HTTP_X_REQUEST_ID");
	unsigned char raw[12];

	if (id_request_is_sane(given)) {
		snprintf(rq->id, sizeof(rq->id), "%s", given);
		return;
	}
	if (crypto_random(raw, sizeof(raw)) != R_SUCCESS ||
	    crypto_hex_encode(raw, sizeof(raw), rq->id + 4, sizeof(rq->id) - 4) != R_SUCCESS) {
		snprintf(rq->id, sizeof(rq->id), "req_%lx", (unsigned long)time(NULL));
		return;
	}
	memcpy(rq->id, "req_", 4);
}

/* init: method, decoded path and raw query from the CGI parameters. */
static enum result init(struct req *rq)
{
	const char *uri = http_header(rq, "REQUEST_URI");
	const char *q;
	size_t plen;

	rq->method = http_header(rq, "REQUEST_METHOD");
	if (rq->method == NULL)
		rq->method = "GET";
	if (uri == NULL)
		uri = http_header(rq, "SCRIPT_NAME");
	if (uri == NULL || uri[0] != '/')
		return http_set_error(rq, R_INVALID, "malformed request target");
	q = strchr(uri, '?');
	plen = q ? (size_t)(q - uri) : strlen(uri);
	rq->query = q ? q + 1 : "";
	if (http_path_decode(uri, plen, rq->path, sizeof(rq->path)) != R_SUCCESS)
		return http_set_error(rq, R_INVALID, "malformed request path");
	/* A trailing slash names the same resource. */
	plen = strlen(rq->path);
	if (plen > 1 && rq->path[plen - 1] == '/')
		rq->path[plen - 1] = '\0';
	return R_SUCCESS;
}

static enum result authenticate(struct req *rq, unsigned scope, char *hdrs, size_t hsize)
{
	struct auth_policy policy;
	int retry_after = 0;
	enum result r;

	auth_policy_from_config(&policy, rq->limits);
	r = auth_check(rq->db, http_header(rq, "HTTP_AUTHORIZATION"), &policy, &rq->auth,
		       &retry_after);
	switch (r) {
	case R_SUCCESS:
		break;
	case R_UNAUTHORIZED:
		snprintf(hdrs, hsize, "WWW-Authenticate: ApiKey, Bearer\r\n");
		return http_set_error(rq, r, "missing or invalid credentials");
	case R_QUOTA:
		snprintf(hdrs, hsize, "Retry-After: %d\r\n", retry_after);
		return http_set_error(rq, r,
				      "rate limit exceeded (per key and per organization); retry "
				      "after %d s",
				      retry_after);
	case R_DB:
		return http_set_error(rq, r, "database unavailable");
	default:
		return http_set_error(rq, r, "cannot authenticate");
	}
	rq->authed = true;
	if ((rq->auth.scopes & scope) != scope)
		return http_set_error(rq, R_FORBIDDEN,
				      "this key lacks the scope this request needs");
	return R_SUCCESS;
}

/* is_long: routes whose duration a tenant controls (its sandbox's agent,
 * its webhook endpoint). Each holds a request thread while it runs, so
 * they are counted per org and per host (longreq.h). */
static bool is_long(const struct route *rt)
{
	static enum result (*const handlers[])(struct req *) = {
	    exec_post,	files_post, files_put,	 files_get,  files_delete,
	    files_list, files_stat, files_mkdir, files_move, webhooks_test,
	};

	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (rt->handler == handlers[i])
			return true;
	return false;
}

/* long_total: the host-wide bound, always below the thread count so that
 * cheap requests keep at least one thread (a quarter of them by default). */
static unsigned long_total(void)
{
	long long threads = config()->workers * config()->threads;
	long long n = config()->long_requests;

	if (n == 0)
		n = threads * 3 / 4;
	if (n > threads - 1)
		n = threads - 1;
	return n < 1 ? 1 : (unsigned)n;
}

/* gate_enter: a long-request slot for the caller's org, or the answer that
 * says when to come back (sent here: the codes are this gate's own). */
static enum result gate_enter(struct req *rq)
{
	long long per_org = config()->long_requests_per_org;
	enum result r = longreq_enter(rq->gate, rq->auth.org_id, (unsigned)per_org, long_total());
	char msg[200];

	if (r == R_SUCCESS)
		return R_SUCCESS;
	if (r == R_QUOTA) {
		snprintf(msg, sizeof(msg),
			 "this organization already has %lld long requests (execute, file "
			 "transfers, webhook tests) in flight; retry when one has finished",
			 per_org);
		http_respond_error(rq, r, 429, "concurrency_limited", msg, "Retry-After: 1\r\n");
		return r;
	}
	log_warnx("http", "long requests at the host bound count=%u org=%s", long_total(),
		  rq->auth.org_id);
	http_respond_error(rq, R_CONFLICT, 503, "server_busy",
			   "the server is running as many long requests as it can; retry shortly",
			   "Retry-After: 1\r\n");
	return r;
}

static enum result run_route(struct req *rq, const struct route *rt)
{
	enum result r;

	if (rt->json_body) {
		r = http_parse_json_body(rq, (size_t)config()->max_body);
		if (r != R_SUCCESS)
			return r;
	}
	return rt->handler(rq);
}

static enum result dispatch(struct req *rq, char *hdrs, size_t hsize)
{
	const struct route *rt;
	bool path_known;
	char allow[128];
	enum result r;

	r = init(rq);
	if (r != R_SUCCESS)
		return r;
	rt = find(rq, &path_known, allow, sizeof(allow));
	if (rt == NULL && path_known) {
		rq->status = 405;
		snprintf(hdrs, hsize, "Allow: %s\r\n", allow);
		return http_set_error(rq, R_INVALID, "method %s not allowed here", rq->method);
	}
	if (rt == NULL)
		return http_set_error(rq, R_NOT_FOUND, "no route for %s %s", rq->method, rq->path);
	if (rt->scope != 0) {
		r = authenticate(rq, rt->scope, hdrs, hsize);
		if (r != R_SUCCESS)
			return r;
	}
	if (!is_long(rt) || !rq->authed || rq->gate == NULL)
		return run_route(rq, rt);
	r = gate_enter(rq);
	if (r != R_SUCCESS)
		return r;
	r = run_route(rq, rt);
	longreq_leave(rq->gate, rq->auth.org_id);
	return r;
}

/* error_code: the code name for a status override (405, 415). */
static const char *error_code(int status)
{
	switch (status) {
	case 405:
		return "method_not_allowed";
	case 415:
		return "unsupported_media_type";
	default:
		return NULL;
	}
}

/* printable: a copy safe to put in a log line (no quotes, controls). */
static void printable(const char *s, char *out, size_t size)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		out[i] = (s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' || s[i] == '\\') ? '?' : s[i];
	out[i] = '\0';
}

void router_handle(FCGX_Request *fcgi, struct db *db, struct backend *backend,
		   struct ratelimit *limits, struct longreq *gate)
{
	char logpath[256];
	struct req rq = {
	    .fcgi = fcgi, .db = db, .backend = backend, .limits = limits, .gate = gate};
	char hdrs[256] = "";
	struct timespec t0;
	enum result r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	set_request_id(&rq);
	log_set_request(rq.id);
	r = dispatch(&rq, hdrs, sizeof(hdrs));
	if (r != R_SUCCESS && !rq.responded)
		http_respond_error(&rq, r, rq.status, error_code(rq.status),
				   rq.err[0] ? rq.err : result_str(r), hdrs);
	else if (!rq.responded)
		http_respond_json(&rq, 204, NULL, NULL);
	printable(rq.path, logpath, sizeof(logpath));
	log_info("http", "request method=%s path=\"%s\" status=%d ms=%.2f org=%s", rq.method,
		 logpath, rq.status, clock_ms_since(&t0), rq.authed ? rq.auth.org_id : "-");
	json_free(rq.body);
	log_set_request(NULL);
}
