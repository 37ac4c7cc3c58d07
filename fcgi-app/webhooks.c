/* webhooks.c: create, list, delete and test the organization's webhooks, and
 * read their delivery history. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retire.h"
#include "sandbox/audit.h"
#include "core/config.h"
#include "db/db.h"
#include "handlers.h"
#include "page.h"
#include "core/id.h"
#include "validate.h"
#include "sandbox/webhook.h"

#define PAGE_DEFAULT	   50
#define PAGE_MAX	   200
#define DELIVERIES_DEFAULT 20
#define DELIVERIES_MAX	   100
#define WEBHOOKS_PER_ORG   50

static const char *const create_fields[] = {"url", "events", "secret", NULL};

/* parse_events: the validated event names as a PostgreSQL text[] literal
 * with every element quoted (names are [a-z.*] only, checked first). */
static enum result parse_events(struct req *rq, const struct json *arr, struct buf *lit)
{
	size_t n = json_len(arr);

	if (!json_is_array(arr) || n == 0 || n > WEBHOOK_EVENTS_MAX)
		return http_set_error(rq, R_INVALID,
				      "'events' must be an array of 1 to %d event names",
				      WEBHOOK_EVENTS_MAX);
	if (buf_append_str(lit, "{") != R_SUCCESS)
		return R_NO_MEMORY;
	for (size_t i = 0; i < n; i++) {
		const char *e = json_str(json_at(arr, i));

		if (!webhook_event_is_known(e) || strcmp(e, WEBHOOK_TEST_EVENT) == 0)
			return http_set_error(rq, R_INVALID,
					      "'events[%zu]' is not a known event type", i);
		if (buf_printf(lit, "%s\"%s\"", i ? "," : "", e) != R_SUCCESS)
			return R_NO_MEMORY;
	}
	return buf_append_str(lit, "}");
}

static struct json *webhook_json(const char *id, const char *url, const char *events_json,
				 const char *created_at)
{
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, "id", id) != R_SUCCESS ||
	    json_add_str(o, "url", url) != R_SUCCESS ||
	    json_add(o, "events", json_parse(events_json, strlen(events_json))) != R_SUCCESS ||
	    json_add_bool(o, "active", true) != R_SUCCESS ||
	    json_add_str(o, "created_at", created_at) != R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

enum result webhooks_create(struct req *rq)
{
	char id[ID_SIZE("wh_")], gen[WEBHOOK_SECRET_MAX], maxhooks[16];
	const char *url = NULL, *secret = NULL, *why = NULL;
	struct db_res *res = NULL;
	struct json *body = NULL;
	char *sealed = NULL;
	struct buf events;
	enum result r;

	gen[0] = '\0';
	buf_init(&events, 4096);
	if ((r = validate_known_fields(rq, rq->body, create_fields)) != R_SUCCESS ||
	    (r = validate_str(rq, rq->body, "url", true, 2048, &url)) != R_SUCCESS)
		goto out;
	r = parse_events(rq, json_get(rq->body, "events"), &events);
	if (r != R_SUCCESS)
		goto out;
	r = validate_str(rq, rq->body, "secret", false, WEBHOOK_SECRET_MAX, &secret);
	if (r == R_NOT_FOUND) {
		r = webhook_new_secret(gen, sizeof(gen));
		secret = gen;
	} else if (r == R_SUCCESS && strlen(secret) < WEBHOOK_SECRET_MIN) {
		r = http_set_error(rq, R_INVALID, "'secret' must be at least %d bytes",
				   WEBHOOK_SECRET_MIN);
	}
	if (r != R_SUCCESS)
		goto out;
	r = webhook_check_url(url, config()->allow_private_webhooks, &why);
	if (r == R_INVALID) {
		r = http_set_error(rq, R_INVALID, "'url' refused: %s", why);
		goto out;
	}
	if (r != R_SUCCESS || (r = id_new("wh_", id, sizeof(id))) != R_SUCCESS ||
	    (r = webhook_seal_secret(id, secret, &sealed)) != R_SUCCESS)
		goto out;
	snprintf(maxhooks, sizeof(maxhooks), "%d", WEBHOOKS_PER_ORG);
	r = db_begin(rq->db);
	if (r == R_SUCCESS)
		r = db_exec(rq->db, "SELECT count(*) >= $2::int FROM webhooks WHERE org_id = $1", 2,
			    (const char *[]){rq->auth.org_id, maxhooks}, &res);
	if (r == R_SUCCESS && strcmp(db_res_get(res, 0, 0), "t") == 0)
		r = http_set_error(rq, R_LIMIT,
				   "an organization has at most %d webhooks; delete one first",
				   WEBHOOKS_PER_ORG);
	db_res_free(res);
	res = NULL;
	if (r == R_SUCCESS)
		r = db_exec(rq->db,
			    "INSERT INTO webhooks (id, org_id, url, events, secret_sealed) VALUES "
			    "($1, $2, $3, $4::text[], $5) RETURNING array_to_json(events)::text, "
			    "ts(created_at)",
			    5, (const char *[]){id, rq->auth.org_id, url, events.data, sealed},
			    &res);
	if (r == R_SUCCESS)
		r = audit_record(rq->db, rq->auth.org_id, rq->auth.actor, "webhook.create", id,
				 rq->id, NULL);
	if (r == R_SUCCESS)
		r = db_commit(rq->db);
	if (r != R_SUCCESS) {
		db_rollback(rq->db);
		goto out;
	}
	body = webhook_json(id, url, db_res_get(res, 0, 0), db_res_get(res, 0, 1));
	/* The secret is shown this once; only its sealed form is kept. */
	if (body == NULL || json_add_str(body, "secret", secret) != R_SUCCESS) {
		r = R_NO_MEMORY;
		goto out;
	}
	http_respond_json(rq, 201, body, NULL);
	body = NULL;
out:
	json_free(body);
	crypto_wipe(gen, sizeof(gen));
	free(sealed);
	buf_free(&events);
	db_res_free(res);
	return r;
}

static struct json *webhook_row(const struct db_res *res, int i)
{
	return webhook_json(db_res_get(res, i, 0), db_res_get(res, i, 1), db_res_get(res, i, 2),
			    db_res_get(res, i, 3));
}

enum result webhooks_list(struct req *rq)
{
	char cursor[ID_MAX_SIZE];
	int limit;
	enum result r;

	r = validate_page(rq, "wh_", PAGE_DEFAULT, PAGE_MAX, &limit, cursor, sizeof(cursor));
	if (r != R_SUCCESS)
		return r;
	return page_list(
	    rq,
	    "SELECT id, url, array_to_json(events)::text, ts(created_at) FROM webhooks "
	    "WHERE org_id = $1 AND " PAGE_KEYSET("webhooks", "$2", "org_id = $1", "$3"),
	    3, (const char *[]){rq->auth.org_id, cursor}, limit, "webhooks", webhook_row,
	    "cannot list webhooks");
}

enum result webhooks_get(struct req *rq)
{
	const char *id = rq->params[0];
	struct db_res *res = NULL;
	struct json *o;
	enum result r;

	if (!id_is_valid("wh_", id))
		return http_set_error(rq, R_NOT_FOUND, "webhook not found");
	r = db_exec(rq->db,
		    "SELECT id, url, array_to_json(events)::text, ts(created_at) FROM webhooks "
		    "WHERE id = $1 AND org_id = $2",
		    2, (const char *[]){id, rq->auth.org_id}, &res);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "cannot read the webhook");
	if (db_res_rows(res) != 1) {
		db_res_free(res);
		return http_set_error(rq, R_NOT_FOUND, "webhook not found");
	}
	o = webhook_row(res, 0);
	db_res_free(res);
	if (o == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, 200, o, NULL);
	return R_SUCCESS;
}

enum result webhooks_delete(struct req *rq)
{
	const char *id = rq->params[0];

	if (!id_is_valid("wh_", id))
		return http_set_error(rq, R_NOT_FOUND, "webhook not found");
	/* Deleting cascades to pending deliveries: nothing more is sent. */
	return retire(rq,
		      &(struct retire){
			  .sql = "DELETE FROM webhooks WHERE id = $1 AND org_id = $2 RETURNING id",
			  .subject = id,
			  .audit_action = "webhook.delete",
			  .not_found = "webhook not found",
			  .id_key = "id",
			  .flag = "deleted",
		      });
}

enum result webhooks_test(struct req *rq)
{
	const char *id = rq->params[0];
	struct webhook_sweep_opts opts;
	struct webhook_test_result t;
	struct json *o;
	enum result r;

	if (!id_is_valid("wh_", id))
		return http_set_error(rq, R_NOT_FOUND, "webhook not found");
	webhook_sweep_opts_from_config(&opts);
	r = webhook_test(rq->db, &opts, rq->auth.org_id, id, &t);
	if (r == R_NOT_FOUND)
		return http_set_error(rq, r, "webhook not found");
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "cannot test the webhook");
	o = json_new_object();
	if (o == NULL || json_add_bool(o, "success", t.success) != R_SUCCESS ||
	    (t.status_code ? json_add_int(o, "status_code", t.status_code)
			   : json_add(o, "status_code", json_new_null())) != R_SUCCESS ||
	    json_add_int(o, "duration_ms", t.duration_ms) != R_SUCCESS ||
	    json_add_str(o, "delivery_id", t.delivery_id) != R_SUCCESS ||
	    (!t.success && json_add_str(o, "error", t.error) != R_SUCCESS)) {
		json_free(o);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 200, o, NULL);
	return R_SUCCESS;
}

/* add_int_col: an integer member from a column, null for SQL NULL. */
static enum result add_int_col(struct json *o, const char *key, const char *v)
{
	return v ? json_add_int(o, key, strtoll(v, NULL, 10)) : json_add(o, key, json_new_null());
}

static struct json *delivery_row(const struct db_res *res, int i)
{
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, "id", db_res_get(res, i, 0)) != R_SUCCESS ||
	    json_add_str(o, "event_id", db_res_get(res, i, 1)) != R_SUCCESS ||
	    json_add_str(o, "event_type", db_res_get(res, i, 2)) != R_SUCCESS ||
	    json_add_str(o, "status", db_res_get(res, i, 3)) != R_SUCCESS ||
	    add_int_col(o, "status_code", db_res_get(res, i, 4)) != R_SUCCESS ||
	    add_int_col(o, "attempts", db_res_get(res, i, 5)) != R_SUCCESS ||
	    add_int_col(o, "duration_ms", db_res_get(res, i, 6)) != R_SUCCESS ||
	    json_add_str_or_null(o, "next_attempt_at", db_res_get(res, i, 7)) != R_SUCCESS ||
	    json_add_str_or_null(o, "response_excerpt", db_res_get(res, i, 8)) != R_SUCCESS ||
	    json_add_str_or_null(o, "error", db_res_get(res, i, 9)) != R_SUCCESS ||
	    json_add_str(o, "created_at", db_res_get(res, i, 10)) != R_SUCCESS ||
	    json_add_str_or_null(o, "last_attempt_at", db_res_get(res, i, 11)) != R_SUCCESS ||
	    json_add_str_or_null(o, "delivered_at", db_res_get(res, i, 12)) != R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

enum result webhooks_deliveries(struct req *rq)
{
	const char *id = rq->params[0];
	char cursor[ID_MAX_SIZE];
	struct db_res *res = NULL;
	int limit;
	enum result r;

	if (!id_is_valid("wh_", id))
		return http_set_error(rq, R_NOT_FOUND, "webhook not found");
	r = validate_page(rq, "dlv_", DELIVERIES_DEFAULT, DELIVERIES_MAX, &limit, cursor,
			  sizeof(cursor));
	if (r != R_SUCCESS)
		return r;
	r = db_exec(rq->db, "SELECT 1 FROM webhooks WHERE id = $1 AND org_id = $2", 2,
		    (const char *[]){id, rq->auth.org_id}, &res);
	if (r == R_SUCCESS && db_res_rows(res) != 1)
		r = http_set_error(rq, R_NOT_FOUND, "webhook not found");
	db_res_free(res);
	res = NULL;
	if (r != R_SUCCESS)
		return r;
	return page_list(
	    rq,
	    "SELECT id, event_id, event_type, status, last_status_code, attempts, "
	    "last_duration_ms, CASE WHEN status = 'pending' THEN ts(next_attempt_at) END, "
	    "response_excerpt, last_error, ts(created_at), ts(last_attempt_at), "
	    "ts(delivered_at) FROM webhook_deliveries WHERE webhook_id = $1 AND org_id = $2 "
	    "AND " PAGE_KEYSET("webhook_deliveries", "$3", "webhook_id = $1", "$4"),
	    4, (const char *[]){id, rq->auth.org_id, cursor}, limit, "deliveries", delivery_row,
	    "cannot list deliveries");
}
