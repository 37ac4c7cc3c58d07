/* webhook.h: webhook subscriptions and delivery of the events outbox.
 *
 * Flow: events_emit writes an outbox row in the transaction of the change it
 * announces; webhook_sweep (called by the reaper on every sweep) fans
 * undispatched events out into one webhook_deliveries row per matching
 * subscription, then claims due deliveries (FOR UPDATE SKIP LOCKED plus a
 * lease, so concurrent sweeps never double-send and a sweep killed mid-way is
 * retried), POSTs them in parallel, and records each attempt: 2xx is
 * delivered; anything else, a timeout or a refused address is retried with
 * exponential backoff and jitter until the maximum number of attempts, then
 * the delivery is failed. One webhook gets each sandbox's events one at a
 * time, in outbox order: a delivery waits while an earlier one of its
 * sandbox is pending for the same webhook (in flight or waiting to retry).
 *
 * Each POST carries the event's payload as compact JSON (sp_event_body in
 * db/009_events_once.sql: envelope keys in the documented order, no blanks),
 * the same form for the outbox and for webhook_test, as its body and
 *   X-Sandpit-Signature: sha256=<hex HMAC-SHA256(secret, body)>
 *   X-Sandpit-Event: <type>   X-Sandpit-Delivery: <delivery id>
 *   X-Sandpit-Timestamp: <unix seconds of the attempt>
 * Secrets are stored sealed with AES-256-GCM under SANDPIT_SECRET_KEY, bound to
 * the webhook id, and never logged. */
#ifndef SANDPIT_WEBHOOK_H
#define SANDPIT_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/result.h"

struct db;

#define WEBHOOK_SECRET_MIN  8
#define WEBHOOK_SECRET_MAX  256
#define WEBHOOK_EVENTS_MAX  32
#define WEBHOOK_EXCERPT_MAX 1024
#define WEBHOOK_SIG_SIZE    (sizeof("sha256=") - 1 + CRYPTO_HEX_SIZE(CRYPTO_SHA256_LEN))
#define WEBHOOK_TEST_EVENT  "webhook.test"

/* webhook_event_is_known: an event type a subscription may name: one of the
 * documented types, or "*" for all. */
bool webhook_event_is_known(const char *type);

/* webhook_sign: "sha256=<lowercase hex HMAC-SHA256 of len bytes of body
 * under secret>" into out. */
SP_MUST_CHECK enum result webhook_sign(const char *secret, const void *body, size_t len,
				       char out[WEBHOOK_SIG_SIZE]);

/* webhook_check_url: may a subscription target url? Parses it (http/https
 * only, canonical IPv4 spellings), resolves it and classifies every address.
 * R_INVALID with *why (static text) when refused. */
SP_MUST_CHECK enum result webhook_check_url(const char *url, bool allow_private, const char **why);

/* webhook_new_secret: a fresh "whsec_" + 64 hex character secret into out
 * (WEBHOOK_SECRET_MAX bytes suffice). */
SP_MUST_CHECK enum result webhook_new_secret(char *out, size_t size);

/* webhook_seal_secret: AES-256-GCM of secret under SANDPIT_SECRET_KEY with the
 * webhook id as associated data, hex-encoded; *out is malloc'd. R_INTERNAL when
 * the key is not configured. */
SP_MUST_CHECK enum result webhook_seal_secret(const char *webhook_id, const char *secret,
					      char **out);

/* webhook_open_secret: the reverse; *out is malloc'd, release it with
 * webhook_secret_free (which wipes it). R_INVALID for a tampered or moved
 * ciphertext. */
SP_MUST_CHECK enum result webhook_open_secret(const char *webhook_id, const char *sealed_hex,
					      char **out);
void webhook_secret_free(char *secret);

/* webhook_backoff_seconds: delay before the attempt after attempt number
 * `attempt` (1-based): base * 2^(attempt-1), capped at max, then "equal
 * jitter": a uniform value in [d/2, d] drawn from rnd, so receivers that
 * failed together do not retry in lockstep. Pure; never below 1. */
long long webhook_backoff_seconds(int attempt, long long base, long long max, uint32_t rnd);

struct webhook_sweep_opts {
	int fanout_batch;   /* events fanned out per statement */
	int delivery_batch; /* deliveries POSTed in parallel per round */
	int max_rounds;	    /* rounds of claim+POST per sweep: bounds a sweep's time */
	int max_attempts;   /* then 'failed' */
	long long backoff_base_s;
	long long backoff_max_s;
	long connect_timeout_ms;
	long timeout_ms;
	bool allow_private;
};

struct webhook_sweep_stats {
	long long events_dispatched;
	long long deliveries_created;
	long long attempted;
	long long delivered;
	long long retried; /* failed attempts that will be retried */
	long long failed;  /* deliveries given up on */
};

/* webhook_sweep_opts_from_config: options from the SANDPIT_WEBHOOK_* keys. */
void webhook_sweep_opts_from_config(struct webhook_sweep_opts *o);

/* webhook_sweep: one bounded pass: fan out, then up to max_rounds of claiming
 * and POSTing due deliveries. Safe to run concurrently with itself. *stats
 * (may be NULL) is added to. R_DB when the database fails (work done so far
 * is kept; the rest waits for the next sweep). */
SP_MUST_CHECK enum result webhook_sweep(struct db *db, const struct webhook_sweep_opts *o,
					struct webhook_sweep_stats *stats);

struct webhook_test_result {
	bool success;
	int status_code; /* 0 when no response */
	long duration_ms;
	char error[256]; /* "" on success */
	char delivery_id[48];
};

/* webhook_test: POST a signed "webhook.test" event to org_id's webhook now
 * (one attempt, recorded in its delivery history). R_NOT_FOUND when the
 * webhook is not the org's; a failed delivery is still R_SUCCESS with
 * out->success false. */
SP_MUST_CHECK enum result webhook_test(struct db *db, const struct webhook_sweep_opts *o,
				       const char *org_id, const char *webhook_id,
				       struct webhook_test_result *out);

#endif
