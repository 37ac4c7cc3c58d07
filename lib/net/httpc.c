/* httpc.c: guarded, parallel HTTP POSTs over libcurl's multi interface. */
#include "net/httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "net/netguard.h"

struct xfer {
	const struct httpc_req *req;
	struct httpc_res *res;
	CURL *easy;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	bool blocked; /* the socket callback refused an address */
	bool enough;  /* the excerpt is full: the rest of the body is not read */
	bool added;
	struct timespec t0;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	size_t n = size * nmemb, room;
	char *grown;

	/* The status and the excerpt are all we keep: past that, stop reading
	 * rather than let a receiver trickle a body until the total timeout. */
	if (x->res->excerpt_len >= x->req->excerpt_max) {
		x->enough = true;
		return 0;
	}
	room = x->req->excerpt_max - x->res->excerpt_len;
	if (n < room)
		room = n;
	grown = realloc(x->res->excerpt, x->res->excerpt_len + room + 1);
	if (grown == NULL)
		return n;
	memcpy(grown + x->res->excerpt_len, data, room);
	x->res->excerpt_len += room;
	grown[x->res->excerpt_len] = '\0';
	x->res->excerpt = grown;
	return n;
}

/* on_socket: the last word on where a connection goes, whatever curl
 * resolved: the address must pass the guard. */
static curl_socket_t on_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = clientp;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    !netguard_is_allowed(netguard_classify_here(&a->addr), x->req->allow_private)) {
		x->blocked = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void fail(struct xfer *x, enum result r, const char *msg)
{
	x->res->r = r;
	snprintf(x->res->error, sizeof(x->res->error), "%s", msg);
}

/* setup: guard the URL and build the easy handle. On failure the result is
 * final and the transfer is not added. */
static enum result setup(struct xfer *x)
{
	const struct httpc_req *q = x->req;
	struct netguard_url *u = malloc(sizeof(*u));
	struct sockaddr_storage ss;
	const char *why = NULL;
	enum result r;
	bool ok;

	if (u == NULL) {
		fail(x, R_NO_MEMORY, "out of memory");
		return R_NO_MEMORY;
	}
	r = netguard_parse_url(q->url, u, &why);
	/* A literal address is judged now. A name is left to curl's threaded
	 * resolver: bounded by the connect timeout and running beside the other
	 * transfers, where a blocking lookup here ran one after another with no
	 * bound but the system resolver's (a tenant's silent nameserver held up
	 * the whole round). Whatever a name resolves to, on_socket refuses a
	 * disallowed address at connect time, so rebinding gains nothing. */
	if (r == R_SUCCESS && u->kind != NETGUARD_HOST_NAME)
		r = netguard_resolve(u, q->allow_private, &ss, &why);
	if (r != R_SUCCESS) {
		fail(x, r, why);
		goto out;
	}
	x->headers = curl_slist_append(NULL, "Content-Type: application/json");
	ok = x->headers != NULL;
	for (const char *const *h = q->headers; ok && h != NULL && *h != NULL; h++) {
		struct curl_slist *n = curl_slist_append(x->headers, *h);

		ok = n != NULL;
		if (ok)
			x->headers = n;
	}
	if (ok) {
		/* No 100-continue round trip: bodies are small. */
		struct curl_slist *n = curl_slist_append(x->headers, "Expect:");

		ok = n != NULL;
		if (ok)
			x->headers = n;
	}
	x->easy = ok ? curl_easy_init() : NULL;
	if (x->easy == NULL) {
		fail(x, R_NO_MEMORY, "cannot set up the http client");
		r = R_NO_MEMORY;
		goto out;
	}
	x->errbuf[0] = '\0';
	ok = curl_easy_setopt(x->easy, CURLOPT_URL, u->canonical) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_PROXY, "") == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, q->connect_timeout_ms) ==
		 CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, q->timeout_ms) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "Sandpit-Webhooks/1") == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len) ==
		 CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, q->body ? q->body : "") == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETFUNCTION, on_socket) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETDATA, x) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x) == CURLE_OK;
	if (!ok) {
		fail(x, R_INTERNAL, "cannot configure the http client");
		r = R_INTERNAL;
		goto out;
	}
	r = R_SUCCESS;
out:
	free(u);
	return r;
}

/* record_outcome: a finished transfer's status, duration and result
 * (curl's rc mapped to a result code) into its httpc_res. */
static void record_outcome(struct xfer *x, CURLcode rc)
{
	long status = 0;

	x->res->duration_ms = (long)clock_ms_since(&x->t0);
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	x->res->status = (int)status;
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x->enough && status != 0)) {
		x->res->r = R_SUCCESS;
		x->res->error[0] = '\0';
		return;
	}
	if (x->blocked)
		fail(x, R_FORBIDDEN, "connection to a refused address blocked");
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		fail(x, R_TIMEOUT, x->errbuf[0] ? x->errbuf : "timed out");
	else
		fail(x, R_UPSTREAM, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
}

static void release(struct xfer *x, CURLM *multi)
{
	if (x->easy != NULL) {
		if (x->added)
			curl_multi_remove_handle(multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->headers);
}

enum result httpc_post_many(const struct httpc_req *reqs, struct httpc_res *res, size_t n)
{
	struct xfer *xs = NULL;
	CURLM *multi = NULL;
	enum result r = R_SUCCESS;
	int running = 0;

	for (size_t i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		res[i].r = R_INTERNAL;
		snprintf(res[i].error, sizeof(res[i].error), "not attempted");
	}
	if (n == 0)
		return R_SUCCESS;
	pthread_once(&once, global_init);
	if (global_rc != CURLE_OK)
		return R_INTERNAL;
	xs = calloc(n, sizeof(*xs));
	multi = xs ? curl_multi_init() : NULL;
	if (multi == NULL) {
		r = R_NO_MEMORY;
		for (size_t i = 0; i < n; i++)
			res[i].r = R_NO_MEMORY;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		xs[i].req = &reqs[i];
		xs[i].res = &res[i];
		clock_gettime(CLOCK_MONOTONIC, &xs[i].t0);
		if (setup(&xs[i]) != R_SUCCESS)
			continue;
		if (curl_multi_add_handle(multi, xs[i].easy) != CURLM_OK) {
			fail(&xs[i], R_INTERNAL, "cannot start the transfer");
			continue;
		}
		xs[i].added = true;
	}
	do {
		CURLMcode mc = curl_multi_perform(multi, &running);
		struct CURLMsg *m;
		int left;

		while ((m = curl_multi_info_read(multi, &left)) != NULL) {
			struct xfer *x = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			if (x != NULL)
				record_outcome(x, m->data.result);
		}
		if (mc != CURLM_OK)
			break;
		if (running > 0 && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	} while (running > 0);
	for (size_t i = 0; i < n; i++)
		if (xs[i].added && res[i].r == R_INTERNAL &&
		    strcmp(res[i].error, "not attempted") == 0)
			fail(&xs[i], R_UPSTREAM, "transfer aborted");
out:
	for (size_t i = 0; xs != NULL && i < n; i++)
		release(&xs[i], multi);
	if (multi != NULL)
		curl_multi_cleanup(multi);
	free(xs);
	return r;
}

void httpc_res_clear(struct httpc_res *res)
{
	if (res == NULL)
		return;
	free(res->excerpt);
	res->excerpt = NULL;
	res->excerpt_len = 0;
}
