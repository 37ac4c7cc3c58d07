/* webhook.c: subscriptions' secrets, signing, fan-out of the outbox and
 * delivery with retries. */
#include "sandbox/webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "db/db.h"
#include "sandbox/events.h"
#include "net/httpc.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "net/netguard.h"
#include "core/utf8.h"

/* pg_try_advisory_lock key: one outbox fan-out per database at a time. */
#define FANOUT_LOCK "727276"

/* The seeds' event table: every type a client may subscribe to, including
 * those whose features have not landed yet (subscribing early is harmless). */
static const char *const known_events[] = {
    "*",
    "sandbox.created",
    "sandbox.ready",
    "sandbox.stopped",
    "sandbox.error",
    "sandbox.timeout",
    "command.started",
    "command.completed",
    "command.failed",
    "file.written",
    "checkpoint.created",
    "checkpoint.restored",
    "checkpoint.cloned",
    "checkpoint.deleted",
    "artifact.uploaded",
    "artifact.deleted",
    "resource.warning",
    "resource.critical",
    "mcp.started",
    "mcp.stopped",
    "job.completed",
    "job.failed",
    WEBHOOK_TEST_EVENT,
};

bool webhook_event_is_known(const char *type)
{
	if (type == NULL)
		return false;
	for (size_t i = 0; i < sizeof(known_events) / sizeof(known_events[0]); i++)
		if (strcmp(type, known_events[i]) == 0)
			return true;
	return false;
}

enum result webhook_sign(const char *secret, const void *body, size_t len,
			 char out[WEBHOOK_SIG_SIZE])
{
	unsigned char mac[CRYPTO_SHA256_LEN];
	enum result r;

	r = crypto_hmac_sha256(secret, strlen(secret), body, len, mac);
	if (r == R_SUCCESS) {
		memcpy(out, "sha256=", 7);
		r = crypto_hex_encode(mac, sizeof(mac), out + 7, WEBHOOK_SIG_SIZE - 7);
	}
	crypto_wipe(mac, sizeof(mac));
	return r;
}

enum result webhook_check_url(const char *url, bool allow_private, const char **why)
{
	struct netguard_url *u = malloc(sizeof(*u));
	struct sockaddr_storage ss;
	enum result r;

	if (u == NULL)
		return R_NO_MEMORY;
	r = netguard_parse_url(url, u, why);
	if (r == R_SUCCESS)
		r = netguard_resolve(u, allow_private, &ss, why);
	free(u);
	return r == R_FORBIDDEN ? R_INVALID : r;
}

enum result webhook_new_secret(char *out, size_t size)
{
	unsigned char raw[32];
	enum result r;

	if (size < 6 + CRYPTO_HEX_SIZE(sizeof(raw)))
		return R_TOO_BIG;
	r = crypto_random(raw, sizeof(raw));
	if (r == R_SUCCESS) {
		memcpy(out, "whsec_", 6);
		r = crypto_hex_encode(raw, sizeof(raw), out + 6, size - 6);
	}
	crypto_wipe(raw, sizeof(raw));
	return r;
}

/* secret_key: SANDPIT_SECRET_KEY as the 32-byte AES key. */
static enum result secret_key(unsigned char key[CRYPTO_AES_KEY_LEN])
{
	const char *hex = config()->secret_key;

	if (strlen(hex) != 2 * CRYPTO_AES_KEY_LEN ||
	    crypto_hex_decode(hex, strlen(hex), key, CRYPTO_AES_KEY_LEN, NULL) != R_SUCCESS) {
		log_errx("webhook", "SANDPIT_SECRET_KEY is not 64 hex characters");
		return R_INTERNAL;
	}
	return R_SUCCESS;
}

enum result webhook_seal_secret(const char *webhook_id, const char *secret, char **out)
{
	unsigned char key[CRYPTO_AES_KEY_LEN];
	enum result r;

	r = secret_key(key);
	if (r == R_SUCCESS)
		r = crypto_seal_text(key, secret, webhook_id, out);
	crypto_wipe(key, sizeof(key));
	return r;
}

enum result webhook_open_secret(const char *webhook_id, const char *sealed_hex, char **out)
{
	unsigned char key[CRYPTO_AES_KEY_LEN];
	enum result r;

	r = secret_key(key);
	if (r == R_SUCCESS)
		r = crypto_open_text(key, sealed_hex, 2 * 4 * WEBHOOK_SECRET_MAX, webhook_id, out);
	crypto_wipe(key, sizeof(key));
	return r;
}

void webhook_secret_free(char *secret)
{
	if (secret == NULL)
		return;
	crypto_wipe(secret, strlen(secret));
	free(secret);
}

long long webhook_backoff_seconds(int attempt, long long base, long long max, uint32_t rnd)
{
	long long d = base < 1 ? 1 : base;

	for (int i = 1; i < attempt && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	if (d < 1)
		d = 1;
	/* equal jitter: [d/2, d] */
	d = d / 2 + (long long)(rnd % (uint32_t)(d - d / 2 + 1));
	return d < 1 ? 1 : d;
}

void webhook_sweep_opts_from_config(struct webhook_sweep_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fanout_batch = 500;
	o->delivery_batch = (int)config()->webhook_batch;
	o->max_rounds = (int)config()->webhook_rounds;
	o->max_attempts = (int)config()->webhook_max_attempts;
	o->backoff_base_s = config()->webhook_backoff_base;
	o->backoff_max_s = config()->webhook_backoff_max;
	o->connect_timeout_ms = (long)config()->webhook_connect_timeout_ms;
	o->timeout_ms = (long)config()->webhook_timeout_ms;
	o->allow_private = config()->allow_private_webhooks;
}

/* One delivery to attempt: strings borrowed from a claim result, plus the
 * headers built for it. */
struct attempt {
	const char *id, *type, *body, *webhook_id, *url, *sealed;
	int attempts;
	bool ready; /* signed; otherwise res holds why not */
	char h_sig[WEBHOOK_SIG_SIZE + 32];
	char h_event[96], h_delivery[96], h_ts[64];
	const char *headers[5];
};

/* prepare: open the secret, sign the body, build the headers. The secret
 * lives only for the signing. */
static enum result prepare(struct attempt *a, long long now)
{
	char sig[WEBHOOK_SIG_SIZE], *secret = NULL;
	enum result r;

	r = webhook_open_secret(a->webhook_id, a->sealed, &secret);
	if (r == R_SUCCESS)
		r = webhook_sign(secret, a->body, strlen(a->body), sig);
	webhook_secret_free(secret);
	if (r != R_SUCCESS)
		return r;
	snprintf(a->h_sig, sizeof(a->h_sig), "X-Sandpit-Signature: %s", sig);
	snprintf(a->h_event, sizeof(a->h_event), "X-Sandpit-Event: %s", a->type);
	snprintf(a->h_delivery, sizeof(a->h_delivery), "X-Sandpit-Delivery: %s", a->id);
	snprintf(a->h_ts, sizeof(a->h_ts), "X-Sandpit-Timestamp: %lld", now);
	a->headers[0] = a->h_sig;
	a->headers[1] = a->h_event;
	a->headers[2] = a->h_delivery;
	a->headers[3] = a->h_ts;
	a->headers[4] = NULL;
	a->ready = true;
	return R_SUCCESS;
}

/* post_all: sign and POST n attempts in parallel; res[i] always written. */
static enum result post_all(struct attempt *as, size_t n, const struct webhook_sweep_opts *o,
			    struct httpc_res *res)
{
	struct httpc_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	struct httpc_res *tmp = calloc(n ? n : 1, sizeof(*tmp));
	size_t *map = calloc(n ? n : 1, sizeof(*map)), m = 0;
	long long now = (long long)time(NULL);
	enum result r = R_NO_MEMORY;

	memset(res, 0, n * sizeof(*res));
	if (reqs == NULL || tmp == NULL || map == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (prepare(&as[i], now) != R_SUCCESS) {
			res[i].r = R_INTERNAL;
			snprintf(res[i].error, sizeof(res[i].error),
				 "cannot open the webhook secret");
			continue;
		}
		reqs[m] = (struct httpc_req){
		    .url = as[i].url,
		    .headers = as[i].headers,
		    .body = as[i].body,
		    .body_len = strlen(as[i].body),
		    .connect_timeout_ms = o->connect_timeout_ms,
		    .timeout_ms = o->timeout_ms,
		    .excerpt_max = WEBHOOK_EXCERPT_MAX,
		    .allow_private = o->allow_private,
		};
		map[m++] = i;
	}
	r = httpc_post_many(reqs, tmp, m);
	for (size_t k = 0; k < m; k++)
		res[map[k]] = tmp[k]; /* the excerpt moves with it */
out:
	if (r != R_SUCCESS)
		for (size_t i = 0; i < n; i++) {
			res[i].r = r;
			snprintf(res[i].error, sizeof(res[i].error), "http client unavailable");
		}
	free(reqs);
	free(tmp);
	free(map);
	return r;
}

static bool delivered(const struct httpc_res *res)
{
	return res->r == R_SUCCESS && res->status >= 200 && res->status < 300;
}

/* outcome: one attempt's row update as a JSON object (for record_all), and
 * its count in *st. */
static struct json *outcome(const struct attempt *a, const struct httpc_res *res,
			    const struct webhook_sweep_opts *o, struct webhook_sweep_stats *st)
{
	struct json *u = json_new_object();
	const char *status;
	char err[300];
	char *excerpt = NULL, *err_text = NULL;
	uint32_t rnd = 0;
	bool ok;

	if (delivered(res)) {
		status = "delivered";
		st->delivered++;
	} else if (a->attempts >= o->max_attempts) {
		status = "failed";
		st->failed++;
	} else {
		status = "pending";
		st->retried++;
	}
	if (crypto_random(&rnd, sizeof(rnd)) != R_SUCCESS)
		rnd = (uint32_t)time(NULL);
	if (res->r != R_SUCCESS)
		snprintf(err, sizeof(err), "%s", res->error);
	else if (!delivered(res))
		snprintf(err, sizeof(err), "receiver answered HTTP %d", res->status);
	else
		err[0] = '\0';
	/* Receivers answer anything (and curl's error text may quote them):
	 * both are stored as valid text, or the batch's jsonb would fail. */
	if (res->excerpt != NULL)
		excerpt = utf8_sanitize(res->excerpt, res->excerpt_len, NULL);
	if (err[0] != '\0')
		err_text = utf8_sanitize(err, strlen(err), NULL);
	ok = u != NULL && (res->excerpt == NULL || excerpt != NULL) &&
	     (err[0] == '\0' || err_text != NULL) && json_add_str(u, "id", a->id) == R_SUCCESS &&
	     json_add_str(u, "status", status) == R_SUCCESS &&
	     (res->status ? json_add_int(u, "code", res->status)
			  : json_add(u, "code", json_new_null())) == R_SUCCESS &&
	     json_add_str_or_null(u, "err", err_text) == R_SUCCESS &&
	     json_add_int(u, "dur", res->duration_ms) == R_SUCCESS &&
	     json_add_str_or_null(u, "excerpt", excerpt) == R_SUCCESS &&
	     json_add_int(u, "delay",
			  webhook_backoff_seconds(a->attempts, o->backoff_base_s, o->backoff_max_s,
						  rnd)) == R_SUCCESS &&
	     json_add_int(u, "att", a->attempts) == R_SUCCESS;
	free(excerpt);
	free(err_text);
	if (!ok) {
		json_free(u);
		return NULL;
	}
	return u;
}

/* record_all: the outcomes of n attempts in one statement (one round trip
 * and one commit per round, not per delivery). The attempts check keeps a
 * sweep whose lease ran out from overwriting a newer attempt's record. */
static enum result record_all(struct db *db, const struct attempt *as, const struct httpc_res *hr,
			      size_t n, const struct webhook_sweep_opts *o,
			      struct webhook_sweep_stats *st)
{
	struct json *arr = json_new_array();
	char *text = NULL;
	enum result r = R_NO_MEMORY;

	for (size_t i = 0; arr != NULL && i < n; i++)
		if (json_push(arr, outcome(&as[i], &hr[i], o, st)) != R_SUCCESS)
			goto out;
	if (arr == NULL || (text = json_print(arr)) == NULL)
		goto out;
	r = db_exec(db,
		    "UPDATE webhook_deliveries d SET status = u.status, last_status_code = u.code, "
		    "last_error = u.err, last_duration_ms = u.dur, response_excerpt = u.excerpt, "
		    "delivered_at = CASE WHEN u.status = 'delivered' THEN now() END, "
		    "next_attempt_at = CASE WHEN u.status = 'pending' THEN now() + "
		    "make_interval(secs => u.delay) END "
		    "FROM jsonb_to_recordset($1::jsonb) AS u(id text, status text, code int, "
		    "err text, dur int, excerpt text, delay int, att int) "
		    "WHERE d.id = u.id AND d.attempts = u.att",
		    1, (const char *[]){text}, NULL);
	if (r != R_SUCCESS)
		log_warnx("webhook", "cannot record %zu deliveries err=\"%s\"", n,
			  db_last_error(db));
out:
	free(text);
	json_free(arr);
	return r;
}

/* fan_out: one statement: take a batch of undispatched events (skipping
 * those another sweep holds), insert a delivery per matching subscription
 * created before the event, and mark the events dispatched. The body is
 * the compact form of the payload (sp_event_body, db/009_events_once.sql);
 * the sandbox and the event's seq order the deliveries (claim). */
static enum result fan_out(struct db *db, int batch, long long *events, long long *created)
{
	struct db_res *res = NULL;
	char lim[16];
	enum result r;

	snprintf(lim, sizeof(lim), "%d", batch);
	r = db_exec(
	    db,
	    "WITH ev AS (SELECT id, seq, org_id, sandbox_id, type, payload, created_at "
	    "FROM events WHERE dispatched_at IS NULL ORDER BY seq LIMIT $1::int "
	    "FOR UPDATE SKIP LOCKED), "
	    "ins AS (INSERT INTO webhook_deliveries (id, webhook_id, org_id, event_id, "
	    "event_type, body, next_attempt_at, sandbox_id, event_seq) SELECT "
	    "sp_rand_id('dlv_'), w.id, w.org_id, ev.id, ev.type, sp_event_body(ev.payload), "
	    "now(), ev.sandbox_id, ev.seq FROM ev JOIN webhooks w ON "
	    "w.org_id = ev.org_id AND w.created_at <= ev.created_at AND "
	    "(ev.type = ANY (w.events) OR '*' = ANY (w.events)) "
	    "ON CONFLICT (webhook_id, event_id) DO NOTHING RETURNING 1), "
	    "upd AS (UPDATE events e SET dispatched_at = now() FROM ev WHERE e.id = ev.id "
	    "RETURNING 1) "
	    "SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM ins)",
	    1, (const char *[]){lim}, &res);
	if (r == R_SUCCESS && db_res_rows(res) == 1) {
		*events = strtoll(db_res_get(res, 0, 0), NULL, 10);
		*created = strtoll(db_res_get(res, 0, 1), NULL, 10);
	} else if (r == R_SUCCESS) {
		r = R_INTERNAL;
	}
	db_res_free(res);
	return r;
}

/* fan_out_all: fan-out batches, bounded per sweep, by one sweep at a time.
 * Two at once could split one sandbox's events between two batches and
 * commit the later one first, and its delivery could be sent before the
 * earlier one exists; a sweep that finds another fanning out leaves the
 * outbox to it and only delivers. */
static enum result fan_out_all(struct db *db, int batch, struct webhook_sweep_stats *st)
{
	struct db_res *res = NULL;
	enum result r;
	bool locked;

	r = db_exec(db, "SELECT pg_try_advisory_lock(" FANOUT_LOCK ")", 0, NULL, &res);
	if (r != R_SUCCESS)
		return r;
	locked = db_res_rows(res) == 1 && strcmp(db_res_get(res, 0, 0), "t") == 0;
	db_res_free(res);
	if (!locked)
		return R_SUCCESS;
	for (int i = 0; i < 20; i++) {
		long long ev = 0, created = 0;

		r = fan_out(db, batch, &ev, &created);
		if (r != R_SUCCESS)
			break;
		st->events_dispatched += ev;
		st->deliveries_created += created;
		if (ev < batch)
			break;
	}
	(void)!db_exec(db, "SELECT pg_advisory_unlock(" FANOUT_LOCK ")", 0, NULL, NULL);
	return r;
}

/* claim: take up to batch due deliveries: count the attempt and push the
 * next attempt past this one's timeout (the lease), in one statement, so the
 * row is neither held locked during the POST nor lost if we die. A delivery
 * waits while an earlier event of its sandbox is still pending for the same
 * webhook (in flight under its lease, or waiting for a retry): one endpoint
 * gets each sandbox's events one at a time, in outbox order. A delivery
 * given up on ("failed") no longer holds the later ones back. */
static enum result claim(struct db *db, const struct webhook_sweep_opts *o, struct db_res **out)
{
	char lim[16], lease[24];

	snprintf(lim, sizeof(lim), "%d", o->delivery_batch);
	snprintf(lease, sizeof(lease), "%ld", (o->connect_timeout_ms + o->timeout_ms) / 1000 + 30);
	return db_exec(
	    db,
	    "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, "
	    "last_attempt_at = now(), next_attempt_at = now() + "
	    "make_interval(secs => $2::int) FROM webhooks w WHERE w.id = d.webhook_id "
	    "AND d.id IN (SELECT c.id FROM webhook_deliveries c WHERE c.status = "
	    "'pending' AND c.next_attempt_at <= now() AND NOT EXISTS (SELECT 1 FROM "
	    "webhook_deliveries p WHERE p.webhook_id = c.webhook_id AND p.sandbox_id = "
	    "c.sandbox_id AND p.status = 'pending' AND p.event_seq < c.event_seq) "
	    "ORDER BY c.next_attempt_at LIMIT $1::int FOR UPDATE OF c SKIP LOCKED) "
	    "RETURNING d.id, d.event_type, d.body, d.attempts, w.id, w.url, w.secret_sealed",
	    2, (const char *[]){lim, lease}, out);
}

static enum result deliver_round(struct db *db, const struct webhook_sweep_opts *o,
				 struct webhook_sweep_stats *st, int *claimed)
{
	struct db_res *res = NULL;
	struct attempt *as = NULL;
	struct httpc_res *hr = NULL;
	enum result r;
	int n;

	*claimed = 0;
	r = claim(db, o, &res);
	if (r != R_SUCCESS)
		return r;
	n = db_res_rows(res);
	*claimed = n;
	if (n == 0)
		goto out;
	as = calloc((size_t)n, sizeof(*as));
	hr = calloc((size_t)n, sizeof(*hr));
	if (as == NULL || hr == NULL) {
		/* The lease expires and a later sweep retries these. */
		r = R_NO_MEMORY;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		as[i].id = db_res_get(res, i, 0);
		as[i].type = db_res_get(res, i, 1);
		as[i].body = db_res_get(res, i, 2);
		as[i].attempts = (int)strtol(db_res_get(res, i, 3), NULL, 10);
		as[i].webhook_id = db_res_get(res, i, 4);
		as[i].url = db_res_get(res, i, 5);
		as[i].sealed = db_res_get(res, i, 6);
	}
	st->attempted += n;
	if (post_all(as, (size_t)n, o, hr) != R_SUCCESS)
		log_warnx("webhook", "http client unavailable; %d deliveries wait for their lease",
			  n);
	r = record_all(db, as, hr, (size_t)n, o, st);
	for (int i = 0; i < n; i++)
		httpc_res_clear(&hr[i]);
out:
	free(as);
	free(hr);
	db_res_free(res);
	return r;
}

enum result webhook_sweep(struct db *db, const struct webhook_sweep_opts *o,
			  struct webhook_sweep_stats *stats)
{
	struct webhook_sweep_stats st = {0};
	enum result r = R_SUCCESS;

	/* Fan-out is cheap (one statement per batch) but still bounded, so one
	 * sweep never spends unbounded time on a backlog. */
	r = fan_out_all(db, o->fanout_batch, &st);
	/* A round that sent a sandbox's event makes its next one due, so
	 * rounds go on while they find work, not only while batches are full. */
	for (int round = 0; r == R_SUCCESS && round < o->max_rounds; round++) {
		int claimed = 0;

		r = deliver_round(db, o, &st, &claimed);
		if (claimed == 0)
			break;
	}
	if (st.events_dispatched || st.attempted)
		log_info("webhook",
			 "sweep events=%lld deliveries_created=%lld attempted=%lld delivered=%lld "
			 "retried=%lld failed=%lld",
			 st.events_dispatched, st.deliveries_created, st.attempted, st.delivered,
			 st.retried, st.failed);
	if (stats != NULL) {
		stats->events_dispatched += st.events_dispatched;
		stats->deliveries_created += st.deliveries_created;
		stats->attempted += st.attempted;
		stats->delivered += st.delivered;
		stats->retried += st.retried;
		stats->failed += st.failed;
	}
	return r;
}

/* test_payload: the test event as the outbox would hold it (events_build). */
static enum result test_payload(const char *org_id, const char *webhook_id, char *evt,
				size_t evt_size, char **payload)
{
	struct json *d = json_new_object();
	enum result r = R_NO_MEMORY;

	if (d != NULL && json_add_str(d, "webhookId", webhook_id) == R_SUCCESS &&
	    json_add_str(d, "message", "test delivery from Sandpit") == R_SUCCESS)
		r = events_build(org_id, NULL, WEBHOOK_TEST_EVENT, d, evt, evt_size, payload);
	json_free(d);
	return r;
}

enum result webhook_test(struct db *db, const struct webhook_sweep_opts *o, const char *org_id,
			 const char *webhook_id, struct webhook_test_result *out)
{
	struct webhook_test_result t = {0};
	char evt[ID_SIZE("evt_")], dlv[ID_SIZE("dlv_")];
	struct webhook_sweep_stats st = {0};
	struct webhook_sweep_opts once = *o;
	struct attempt a = {0};
	struct httpc_res hr = {0};
	struct db_res *res = NULL;
	char *payload = NULL;
	const char *body;
	enum result r;

	if (id_new("dlv_", dlv, sizeof(dlv)) != R_SUCCESS) {
		r = R_INTERNAL;
		goto out;
	}
	r = test_payload(org_id, webhook_id, evt, sizeof(evt), &payload);
	if (r != R_SUCCESS)
		goto out;
	/* The body in the outbox's form: the same function the fan-out uses. */
	r = db_exec(db,
		    "SELECT url, secret_sealed, sp_event_body($3::jsonb) FROM webhooks "
		    "WHERE id = $1 AND org_id = $2",
		    3, (const char *[]){webhook_id, org_id, payload}, &res);
	if (r != R_SUCCESS)
		goto out;
	if (db_res_rows(res) != 1) {
		r = R_NOT_FOUND;
		goto out;
	}
	body = db_res_get(res, 0, 2);
	a = (struct attempt){.id = dlv,
			     .type = WEBHOOK_TEST_EVENT,
			     .body = body,
			     .webhook_id = webhook_id,
			     .url = db_res_get(res, 0, 0),
			     .sealed = db_res_get(res, 0, 1),
			     .attempts = 1};
	(void)post_all(&a, 1, o, &hr); /* a client failure is in hr */
	/* The test is one attempt: recorded as delivered or failed, never retried. */
	r = db_exec(db,
		    "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event_id, event_type, "
		    "body, status, attempts, last_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, "
		    "'failed', 1, now())",
		    6, (const char *[]){dlv, webhook_id, org_id, evt, WEBHOOK_TEST_EVENT, body},
		    NULL);
	once.max_attempts = 1;
	if (r == R_SUCCESS)
		r = record_all(db, &a, &hr, 1, &once, &st);
	if (r != R_SUCCESS)
		goto out;
	t.success = delivered(&hr);
	t.status_code = hr.status;
	t.duration_ms = hr.duration_ms;
	if (!t.success)
		snprintf(t.error, sizeof(t.error), "%s",
			 hr.r != R_SUCCESS ? hr.error : "receiver did not answer 2xx");
	if (hr.r == R_SUCCESS && !t.success)
		snprintf(t.error, sizeof(t.error), "receiver answered HTTP %d", hr.status);
	snprintf(t.delivery_id, sizeof(t.delivery_id), "%s", dlv);
	*out = t;
out:
	httpc_res_clear(&hr);
	free(payload);
	db_res_free(res);
	return r;
}
