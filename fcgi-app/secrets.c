/* secrets.c: store, list and delete the organization's secrets (values are
 * write-only: no response, log line or audit row ever carries one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/audit.h"
#include "core/crypto.h"
#include "db/db.h"
#include "handlers.h"
#include "core/id.h"
#include "retire.h"
#include "sandbox/lifecycle.h"
#include "page.h"
#include "sandbox/secrets.h"
#include "core/utf8.h"
#include "validate.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     200
/* A body is a name, a value with JSON escapes (up to 6 bytes per byte) and
 * some punctuation. */
#define BODY_MAX (6 * SECRETS_VALUE_MAX + 1024)

static const char *const create_fields[] = {"name", "value", NULL};

/* read_body: the JSON object body into rq->body. The raw text holds the
 * value: it is wiped before it is freed. */
static enum result read_body(struct req *rq)
{
	const char *ct = http_header(rq, "CONTENT_TYPE");
	struct buf body;
	enum result r;

	if (ct == NULL || strncmp(ct, "application/json", strlen("application/json")) != 0) {
		rq->status = 415;
		return http_set_error(rq, R_INVALID, "Content-Type must be application/json");
	}
	r = http_read_body(rq, BODY_MAX, &body);
	if (r == R_TOO_BIG)
		return http_set_error(rq, r, "'value' is larger than %d bytes", SECRETS_VALUE_MAX);
	if (r != R_SUCCESS)
		return r;
	if (body.len == 0)
		r = http_set_error(rq, R_INVALID,
				   "request body is empty; a JSON object is required");
	else if (http_json_has_nul(body.data, body.len))
		r = http_set_error(rq, R_INVALID, "'value' must not contain a NUL byte (\\u0000)");
	else if ((rq->body = json_parse(body.data, body.len)) == NULL || !json_is_object(rq->body))
		r = http_set_error(rq, R_INVALID, "request body must be a JSON object");
	crypto_wipe(body.data, body.len);
	buf_free(&body);
	return r;
}

/* parse_create: name and value, checked; value points into rq->body. */
static enum result parse_create(struct req *rq, const char **name, const char **value)
{
	const struct json *v;
	size_t len;
	enum result r;

	if ((r = validate_known_fields(rq, rq->body, create_fields)) != R_SUCCESS ||
	    (r = validate_str(rq, rq->body, "name", true, SECRETS_NAME_MAX, name)) != R_SUCCESS)
		return r;
	if (!validate_env_name(*name))
		return http_set_error(rq, R_INVALID, "'name' must match [A-Za-z_][A-Za-z0-9_]*");
	v = json_get(rq->body, "value");
	if (v == NULL || !json_is_string(v))
		return http_set_error(rq, R_INVALID, "'value' is required and must be a string");
	len = strlen(json_str(v));
	if (len == 0)
		return http_set_error(rq, R_INVALID, "'value' must not be empty");
	if (len > SECRETS_VALUE_MAX)
		return http_set_error(rq, R_TOO_BIG, "'value' is larger than %d bytes",
				      SECRETS_VALUE_MAX);
	if (!utf8_is_valid(json_str(v), len))
		return http_set_error(rq, R_INVALID, "'value' must be valid UTF-8");
	*value = json_str(v);
	return R_SUCCESS;
}

/* wipe_value: the value's bytes in the parsed body, whatever happened. */
static void wipe_value(struct req *rq)
{
	const struct json *v = rq->body ? json_get(rq->body, "value") : NULL;

	if (v != NULL && json_is_string(v))
		crypto_wipe((char *)json_str(v), strlen(json_str(v)));
}

static struct json *secret_json(const char *name, const char *created_at, const char *updated_at)
{
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, "name", name) != R_SUCCESS ||
	    json_add_str(o, "created_at", created_at) != R_SUCCESS ||
	    json_add_str(o, "updated_at", updated_at) != R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

/* store: the cap check (org row locked, so parallel posts count one after
 * another), the upsert and its audit row, in one transaction. */
static enum result store(struct req *rq, const char *name, const char *key_id, const char *sealed,
			 struct db_res **out)
{
	char id[ID_SIZE("sec_")], cap[16];
	struct db_res *res = NULL;
	enum result r;

	snprintf(cap, sizeof(cap), "%d", SECRETS_PER_ORG);
	if (id_new("sec_", id, sizeof(id)) != R_SUCCESS)
		return R_INTERNAL;
	r = db_begin(rq->db);
	if (r == R_SUCCESS)
		r = db_exec(
		    rq->db,
		    "SELECT (SELECT count(*) FROM secrets WHERE org_id = $1 AND name <> $2) "
		    ">= $3::int FROM organizations WHERE id = $1 FOR UPDATE",
		    3, (const char *[]){rq->auth.org_id, name, cap}, &res);
	if (r == R_SUCCESS && (db_res_rows(res) != 1 || strcmp(db_res_get(res, 0, 0), "t") == 0))
		r = http_set_error(rq, R_QUOTA,
				   "an organization has at most %d secrets; delete one first",
				   SECRETS_PER_ORG);
	db_res_free(res);
	res = NULL;
	if (r == R_SUCCESS)
		r = db_exec(
		    rq->db,
		    "INSERT INTO secrets (id, org_id, name, key_id, sealed) VALUES ($1, $2, "
		    "$3, $4, $5) ON CONFLICT (org_id, name) DO UPDATE SET key_id = "
		    "EXCLUDED.key_id, sealed = EXCLUDED.sealed, updated_at = now() "
		    "RETURNING ts(created_at), ts(updated_at), xmax = 0",
		    5, (const char *[]){id, rq->auth.org_id, name, key_id, sealed}, &res);
	if (r == R_SUCCESS)
		r = audit_record(rq->db, rq->auth.org_id, rq->auth.actor,
				 strcmp(db_res_get(res, 0, 2), "t") == 0 ? "secret.create"
									 : "secret.update",
				 name, rq->id, NULL);
	if (r == R_SUCCESS)
		r = db_commit(rq->db);
	if (r != R_SUCCESS) {
		db_rollback(rq->db);
		db_res_free(res);
		return r;
	}
	*out = res;
	return R_SUCCESS;
}

enum result secrets_create(struct req *rq)
{
	char key_id[SECRETS_KEY_ID_MAX + 1], *sealed = NULL;
	const char *name = NULL, *value = NULL;
	struct db_res *res = NULL;
	struct json *body;
	enum result r;

	r = read_body(rq);
	if (r == R_SUCCESS)
		r = parse_create(rq, &name, &value);
	if (r == R_SUCCESS &&
	    (r = secrets_seal(rq->auth.org_id, name, value, key_id, &sealed)) != R_SUCCESS)
		r = http_set_error(rq, r, "cannot seal the secret");
	/* From here on only the sealed form is needed. */
	wipe_value(rq);
	if (r == R_SUCCESS)
		r = store(rq, name, key_id, sealed, &res);
	free(sealed);
	if (r != R_SUCCESS)
		return r;
	body = secret_json(name, db_res_get(res, 0, 0), db_res_get(res, 0, 1));
	if (body == NULL) {
		db_res_free(res);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, strcmp(db_res_get(res, 0, 2), "t") == 0 ? 201 : 200, body, NULL);
	db_res_free(res);
	return R_SUCCESS;
}

static struct json *secret_row(const struct db_res *res, int i)
{
	return secret_json(db_res_get(res, i, 1), db_res_get(res, i, 2), db_res_get(res, i, 3));
}

enum result secrets_list(struct req *rq)
{
	char cursor[ID_MAX_SIZE];
	int limit;
	enum result r;

	r = validate_page(rq, "sec_", PAGE_DEFAULT, PAGE_MAX, &limit, cursor, sizeof(cursor));
	if (r != R_SUCCESS)
		return r;
	return page_list(rq,
			 "SELECT id, name, ts(created_at), ts(updated_at) FROM secrets "
			 "WHERE org_id = $1 AND " PAGE_KEYSET("secrets", "$2", "org_id = $1", "$3"),
			 3, (const char *[]){rq->auth.org_id, cursor}, limit, "secrets", secret_row,
			 "cannot list secrets");
}

enum result secrets_delete(struct req *rq)
{
	const char *name = rq->params[0];

	if (strlen(name) > SECRETS_NAME_MAX || !validate_env_name(name))
		return http_set_error(rq, R_NOT_FOUND, "secret not found");
	return retire(rq, &(struct retire){
			      .sql = "DELETE FROM secrets WHERE name = $1 AND org_id = $2 "
				     "RETURNING id",
			      .subject = name,
			      .audit_action = "secret.delete",
			      .not_found = "secret not found",
			      .id_key = "name",
			      .flag = "deleted",
			  });
}

enum result secrets_apply(struct req *rq, const char *id, const char *addr, const char *env_text)
{
	enum result r = secrets_inject(rq->db, rq->auth.org_id, id, addr, env_text);

	if (r == R_SUCCESS)
		return R_SUCCESS;
	/* A sandbox without the secrets its org stored would run code that
	 * expects them: it goes, and the create fails. */
	lifecycle_mark_error(rq->db, rq->backend, rq->auth.org_id, id, "secrets_injection_failed");
	return http_set_error(rq, r == R_DB ? R_DB : R_UPSTREAM,
			      "cannot set the organization's secrets in the sandbox");
}
