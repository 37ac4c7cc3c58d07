/* upgrade.c: a stream's HTTP upgrade: the request head, the route and
 * request id, the lookup handed to the lookup threads (who is calling, where
 * the sandbox is), the connect to its agent (retried on a timer while the
 * agent's backlog is full), then the 101, or a refusal with an HTTP error. */
#include "upgrade.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_client.h"
#include "auth/auth.h"
#include "bridge.h"
#include "client.h"
#include "core/crypto.h"
#include "core/id.h"
#include "core/json.h"
#include "lookup.h"
#include "stream.h"

#define PATH_PREFIX "/api/v1/sandbox/"
#define PATH_SUFFIX "/stream"
/* An agent whose backlog is full (it is stuck, or flooded) is retried on a
 * timer, first soon, then at most this often, until the connect timeout. */
#define CONNECT_RETRY_FIRST_MS 2
#define CONNECT_RETRY_MAX_MS   50
/* Streams of one org that may wait for a busy agent at once: the rest are
 * told to come back later, so one org's stuck sandbox cannot hold an
 * unbounded share of the proxy's descriptors and timers. */
#define ORG_CONNECTING_MAX 16

static void finish_upgrade(struct conn *c);
static enum result arm_retry(struct conn *c);
static size_t org_connecting(const struct conns *cs, const char *org);
static void http_refuse(struct conn *c, enum result r, const char *msg);
static bool route(const char *target, char *id, size_t idsize, char *token, size_t toksize);
static void set_request_id(struct conn *c, const char *given);

static const char *reason_phrase(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 414:
		return "URI Too Long";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

/* upgrade_cancel: the upgrade will not go on: let go of its lookup (the
 * loop frees the job when it comes back), its retry timer and handshake. */
void upgrade_cancel(struct conn *c)
{
	if (c->job != NULL) {
		c->job->owner = NULL;
		c->job = NULL;
	}
	ev_timer_stop(c->set->ev, &c->retry);
	if (c->hs != NULL) {
		crypto_wipe(c->hs, sizeof(*c->hs));
		free(c->hs);
		c->hs = NULL;
	}
}

/* http_error: refuse the upgrade with status and the error body of code r
 * (its name in the one mapping; status may differ from the mapping's where
 * HTTP has a more exact one: 405, 408, 426, 431). */
static void http_error(struct conn *c, int status, enum result code_r, const char *msg,
		       const char *extra)
{
	struct json *o = json_new_object(), *e = json_new_object();
	const char *code = result_str(code_r);
	struct buf b;
	char *body = NULL;
	enum result r;

	upgrade_cancel(c);
	if (c->as == AG_NONE)
		bridge_close(c); /* a connect in progress */
	stream_ctx(c);
	log_info(MOD, "refused status=%d code=%s msg='%s' peer='%s'", status, code, msg, c->peer);
	if (o == NULL || e == NULL || json_add_str(e, "code", code) != R_SUCCESS ||
	    json_add_str(e, "message", msg) != R_SUCCESS)
		goto fail;
	r = json_add(o, "error", e);
	e = NULL; /* json_add owns it now, even on failure */
	if (r != R_SUCCESS)
		goto fail;
	body = json_print(o);
	if (body == NULL)
		goto fail;
	buf_init(&b, 8192);
	if (buf_printf(&b,
		       "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		       "Content-Length: %zu\r\nConnection: close\r\nX-Request-Id: %s\r\n%s\r\n%s",
		       status, reason_phrase(status), strlen(body), c->id, extra ? extra : "",
		       body) != R_SUCCESS ||
	    client_queue_bytes(c, b.data, b.len) != R_SUCCESS) {
		buf_free(&b);
		goto fail;
	}
	buf_free(&b);
	c->cs = CL_CLOSING;
	c->http_only = true;
	c->lingering = true; /* the rest of the request is read and dropped */
	c->close_received = true;
	c->deadline_ms = stream_now(c) + CLOSE_TIMEOUT_MS;
	free(body);
	json_free(e);
	json_free(o);
	return;

fail:
	free(body);
	json_free(e);
	json_free(o);
	client_close(c, "out of memory");
}

static void http_refuse(struct conn *c, enum result r, const char *msg)
{
	http_error(c, result_http_status(r), r, msg, NULL);
}

/* route: "/api/v1/sandbox/<id>/stream[?query]" -> id, and the token= value. */
static bool route(const char *target, char *id, size_t idsize, char *token, size_t toksize)
{
	const char *p = target, *q, *end;
	size_t n;

	if (strncmp(p, PATH_PREFIX, strlen(PATH_PREFIX)) != 0)
		return false;
	p += strlen(PATH_PREFIX);
	end = strchr(p, '?');
	if (end == NULL)
		end = p + strlen(p);
	q = memchr(p, '/', (size_t)(end - p));
	if (q == NULL || (size_t)(end - q) != strlen(PATH_SUFFIX) ||
	    memcmp(q, PATH_SUFFIX, strlen(PATH_SUFFIX)) != 0)
		return false;
	n = (size_t)(q - p);
	if (n == 0 || n >= idsize)
		return false;
	memcpy(id, p, n);
	id[n] = '\0';
	if (!id_is_name(id))
		return false;
	token[0] = '\0';
	if (*end == '?') {
		const char *s = end + 1;

		while (*s != '\0') {
			size_t plen = strcspn(s, "&");

			if (plen > 6 && strncmp(s, "token=", 6) == 0) {
				/* Tokens are base64url and dots: no percent-decoding needed;
				 * anything else simply fails verification. */
				if (plen - 6 >= toksize)
					return false;
				memcpy(token, s + 6, plen - 6);
				token[plen - 6] = '\0';
			}
			s += plen;
			if (*s == '&')
				s++;
		}
	}
	return true;
}

static void set_request_id(struct conn *c, const char *given)
{
	if (id_request_is_sane(given))
		memcpy(c->id, given, strlen(given) + 1);
}

/* finish_upgrade: the agent is connected: answer 101, and the stream is
 * open. The bytes after the head, if any, are its first frames. */
static void finish_upgrade(struct conn *c)
{
	const char *proto = NULL;
	struct buf resp;

	ev_timer_stop(c->set->ev, &c->retry);
	if (ws_handshake_has_protocol(c->hs, MESSAGE_SUBPROTOCOL_CHANNEL)) {
		proto = MESSAGE_SUBPROTOCOL_CHANNEL;
		c->channel = true;
	} else if (ws_handshake_has_protocol(c->hs, MESSAGE_SUBPROTOCOL_JSON))
		proto = MESSAGE_SUBPROTOCOL_JSON;
	buf_init(&resp, 1024);
	if (ws_handshake_response(&resp, c->hs->key, proto) != R_SUCCESS ||
	    client_queue_bytes(c, resp.data, resp.len) != R_SUCCESS) {
		buf_free(&resp);
		client_close(c, "out of memory");
		return;
	}
	buf_free(&resp);
	upgrade_cancel(c); /* the handshake is answered: free it */
	c->cs = CL_OPEN;
	ws_parser_init(&c->parser, (size_t)c->set->cfg->stream_max_message, true);
	buf_init(&c->msg, (size_t)c->set->cfg->stream_max_message);
	c->opened_ms = c->last_rx_ms = c->last_activity_ms = stream_now(c);
	c->next_ping_ms = stream_now(c) + c->set->cfg->stream_ping_interval * 1000;
	c->in_off = c->head_len;
	stream_ctx(c);
	log_info(MOD, "stream open sandbox='%s' org='%s' actor='%s' proto='%s' peer='%s'",
		 c->sandbox_id, c->org_id, c->actor, proto ? proto : "", c->peer);
}

/* arm_retry: the next connect attempt, later each time (up to
 * CONNECT_RETRY_MAX_MS). */
static enum result arm_retry(struct conn *c)
{
	unsigned d = c->connect_delay_ms;

	c->connect_delay_ms = d * 2 > CONNECT_RETRY_MAX_MS ? CONNECT_RETRY_MAX_MS : d * 2;
	return ev_timer_start(c->set->ev, &c->retry, d);
}

/* org_connecting: streams of org waiting for a busy agent. */
static size_t org_connecting(const struct conns *cs, const char *org)
{
	size_t n = 0;

	for (const struct conn *o = cs->list; o != NULL; o = o->next)
		if (o->cs == CL_CONNECTING && !o->dead && strcmp(o->org_id, org) == 0)
			n++;
	return n;
}

/* start_connect: connect to the sandbox's agent without waiting; an agent
 * with a full backlog is retried on a timer the loop watches. */
static void start_connect(struct conn *c)
{
	bool pending = false;
	enum result r;

	r = agent_client_connect_start(c->agent_address, NULL, &c->ac, &pending);
	if (r != R_SUCCESS) {
		http_refuse(c, R_UPSTREAM, "sandbox agent unreachable");
		return;
	}
	side_attach(&c->agent, agent_client_fd(c->ac));
	if (!pending) {
		finish_upgrade(c);
		return;
	}
	if (org_connecting(c->set, c->org_id) >= ORG_CONNECTING_MAX) {
		http_error(c, 429, R_QUOTA, "too many streams wait for a busy sandbox agent",
			   "Retry-After: 1\r\n");
		return;
	}
	c->connect_delay_ms = CONNECT_RETRY_FIRST_MS;
	if (arm_retry(c) != R_SUCCESS) {
		http_error(c, 503, R_UNAVAILABLE, "cannot wait for the sandbox agent now",
			   "Retry-After: 1\r\n");
		return;
	}
	c->cs = CL_CONNECTING;
	c->connect_deadline_ms = stream_now(c) + c->set->cfg->stream_agent_connect_timeout_ms;
}

/* upgrade_retry: the retry timer fired. */
void upgrade_retry(struct conn *c)
{
	bool pending = true;
	enum result r;

	r = agent_client_connect_retry(c->ac, c->agent_address, &pending);
	if (r != R_SUCCESS)
		http_refuse(c, R_UPSTREAM, "sandbox agent unreachable");
	else if (!pending)
		finish_upgrade(c);
	else if (stream_now(c) >= c->connect_deadline_ms)
		http_refuse(c, R_UPSTREAM, "sandbox agent busy: it accepts no connection");
	else if (arm_retry(c) != R_SUCCESS)
		http_refuse(c, R_INTERNAL, "cannot wait for the sandbox agent");
}

/* upgrade_lookup_done: who the caller is and where the sandbox is: refuse, or go on
 * to the agent. */
void upgrade_lookup_done(struct conn *c, const struct lookup_job *job)
{
	const struct session_target *t = &job->target;
	enum result r = job->auth_r;

	stream_ctx(c);
	if (r == R_QUOTA) {
		char extra[64];

		snprintf(extra, sizeof(extra), "Retry-After: %d\r\n",
			 job->retry_after > 0 ? job->retry_after : 1);
		http_error(c, 429, r, "rate limit exceeded", extra);
		return;
	}
	if (r != R_SUCCESS) {
		http_refuse(c, r,
			    r == R_UNAUTHORIZED ? "missing or invalid credentials"
						: "cannot authenticate now");
		return;
	}
	memcpy(c->org_id, job->grant.org_id, sizeof(c->org_id));
	memcpy(c->actor, job->grant.actor, sizeof(c->actor));
	if (!(job->grant.scopes & AUTH_SCOPE_WRITE)) {
		http_refuse(c, R_FORBIDDEN, "streaming a command needs the write scope");
		return;
	}
	r = job->find_r;
	if (r != R_SUCCESS) {
		http_refuse(c, r,
			    r == R_NOT_FOUND ? "sandbox not found" : "cannot look up sandbox");
		return;
	}
	if (strcmp(t->status, "running") != 0 || t->agent_address[0] == '\0') {
		char msg[96];

		snprintf(msg, sizeof(msg), "sandbox is %s, not running", t->status);
		http_refuse(c, R_CONFLICT, msg);
		return;
	}
	memcpy(c->agent_address, t->agent_address, sizeof(c->agent_address));
	start_connect(c);
}

/* begin_upgrade: a complete request head: validate it, then hand the
 * database work to the lookup threads. */
static void begin_upgrade(struct conn *c, const char *head, size_t len)
{
	struct ws_handshake_error he;
	struct lookup_job *job;
	struct ws_handshake *h;

	h = malloc(sizeof(*h));
	if (h == NULL) {
		client_close(c, "out of memory");
		return;
	}
	if (ws_handshake_parse(head, len, h, &he) != R_SUCCESS) {
		free(h);
		http_error(c, he.status, he.status == 431 ? R_TOO_BIG : R_INVALID, he.message,
			   he.status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL);
		return;
	}
	c->hs = h; /* freed by upgrade_cancel from here on */
	set_request_id(c, h->request_id);
	memcpy(c->peer, h->forwarded_for, sizeof(c->peer));
	stream_ctx(c);
	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		client_close(c, "out of memory");
		return;
	}
	if (!route(h->target, c->sandbox_id, sizeof(c->sandbox_id), job->token,
		   sizeof(job->token))) {
		lookup_job_free(job);
		http_refuse(c, R_NOT_FOUND, "no such endpoint");
		return;
	}
	if (c->set->draining) {
		lookup_job_free(job);
		http_error(c, 503, R_UNAVAILABLE, "stream proxy is shutting down",
			   "Retry-After: 1\r\n");
		return;
	}
	memcpy(job->req_id, c->id, sizeof(job->req_id));
	memcpy(job->authorization, h->authorization, sizeof(job->authorization));
	crypto_wipe(h->authorization, sizeof(h->authorization));
	memcpy(job->sandbox_id, c->sandbox_id, sizeof(c->sandbox_id));
	job->owner = c;
	if (lookup_submit(c->set->lookup, job) != R_SUCCESS) {
		lookup_job_free(job);
		http_error(c, 503, R_UNAVAILABLE, "too many upgrades are waiting",
			   "Retry-After: 1\r\n");
		return;
	}
	c->job = job;
	c->cs = CL_LOOKUP;
	/* the lookup gets its own deadline: a database that does not answer
	 * in time is a 503, not a stream that waits forever */
	c->deadline_ms = stream_now(c) + c->set->cfg->stream_handshake_timeout * 1000;
	client_mask(c);
}

void upgrade_read_head(struct conn *c)
{
	for (;;) {
		const char *end;
		size_t hl;

		if (c->in_len == c->in_cap) {
			if (!client_make_room(c, WS_HEAD_MAX)) {
				http_error(c, 431, R_TOO_BIG, "request head too large", NULL);
				return;
			}
		}
		if (client_read(c, NULL) == 0)
			return;
		end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
		hl = end ? (size_t)(end - (const char *)c->in) + 4 : 0;
		if (end == NULL) {
			end = memmem(c->in, c->in_len, "\n\n", 2);
			hl = end ? (size_t)(end - (const char *)c->in) + 2 : 0;
		}
		if (end == NULL)
			continue;
		/* Bytes after the head are the client's first frames: they stay
		 * in c->in until the stream opens (finish_upgrade). */
		c->head_len = hl;
		begin_upgrade(c, (const char *)c->in, hl);
		if (c->cs != CL_LOOKUP)
			c->in_off = c->in_len = 0;
		return;
	}
}

void upgrade_tick(struct conn *c)
{
	if (stream_now(c) < c->deadline_ms)
		return;
	if (c->cs == CL_HTTP)
		http_error(c, 408, R_TIMEOUT, "upgrade request not received in time", NULL);
	else if (c->cs == CL_LOOKUP)
		http_error(c, 503, R_DB, "cannot authenticate now", "Retry-After: 1\r\n");
}

void upgrade_shut(struct conn *c)
{
	http_error(c, 503, R_UNAVAILABLE, "stream proxy is shutting down", "Retry-After: 1\r\n");
}
