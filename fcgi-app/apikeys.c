/* apikeys.c: list, create and revoke the caller's organization's API keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/apikey.h"
#include "retire.h"
#include "sandbox/audit.h"
#include "core/config.h"
#include "db/db.h"
#include "handlers.h"
#include "page.h"
#include "validate.h"

#define PAGE_DEFAULT   50
#define PAGE_MAX       200
#define EXPIRES_IN_MAX (10LL * 365 * 86400)

static const char *const create_fields[] = {"name", "scopes", "expires_in", "expires_at", NULL};

/* add_ts: a timestamp member, null when the column is NULL. */
static enum result add_ts(struct json *o, const char *key, const char *v)
{
	return json_add_str_or_null(o, key, v);
}

static struct json *key_row(const struct db_res *res, int i)
{
	struct json *o = json_new_object();
	struct json *scopes = json_new_array();
	const char *pg = db_res_get(res, i, 3);

	/* scopes arrive as a text[] literal of plain words: "{read,write}" */
	for (const char *p = pg ? pg + 1 : ""; scopes && *p && *p != '}';) {
		size_t n = strcspn(p, ",}");

		if (json_push(scopes, json_new_strn(p, n)) != R_SUCCESS) {
			scopes = NULL;
			break;
		}
		p += n;
		p += *p == ',';
	}
	if (o == NULL || scopes == NULL ||
	    json_add_str(o, "id", db_res_get(res, i, 0)) != R_SUCCESS ||
	    json_add_str(o, "name", db_res_get(res, i, 1)) != R_SUCCESS ||
	    json_add_str(o, "key_prefix", db_res_get(res, i, 2)) != R_SUCCESS ||
	    json_add(o, "scopes", scopes) != R_SUCCESS ||
	    add_ts(o, "created_at", db_res_get(res, i, 4)) != R_SUCCESS ||
	    add_ts(o, "last_used_at", db_res_get(res, i, 5)) != R_SUCCESS ||
	    add_ts(o, "expires_at", db_res_get(res, i, 6)) != R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

enum result apikeys_list(struct req *rq)
{
	char cursor[ID_MAX_SIZE];
	int limit;
	enum result r;

	r = validate_page(rq, "key_", PAGE_DEFAULT, PAGE_MAX, &limit, cursor, sizeof(cursor));
	if (r != R_SUCCESS)
		return r;
	return page_list(rq,
			 "SELECT id, name, key_prefix, scopes, ts(created_at), ts(last_used_at), "
			 "ts(expires_at) FROM api_keys k WHERE org_id = $1 AND revoked_at IS NULL "
			 "AND " PAGE_KEYSET("api_keys", "$2", "org_id = $1", "$3"),
			 3, (const char *[]){rq->auth.org_id, cursor}, limit, "api_keys", key_row,
			 "cannot list API keys");
}

static enum result parse_create(struct req *rq, struct apikey_new *k)
{
	struct json *scopes = json_get(rq->body, "scopes");
	enum result r;

	if ((r = validate_known_fields(rq, rq->body, create_fields)) != R_SUCCESS ||
	    (r = validate_str(rq, rq->body, "name", true, 100, &k->name)) != R_SUCCESS)
		return r;
	k->scopes = rq->auth.scopes;
	if (scopes != NULL && !json_is_null(scopes) &&
	    auth_scopes_from_json(scopes, &k->scopes) != R_SUCCESS)
		return http_set_error(rq, R_INVALID,
				      "'scopes' must be a non-empty array of \"read\", \"write\", "
				      "\"admin\"");
	if ((k->scopes & rq->auth.scopes) != k->scopes)
		return http_set_error(rq, R_FORBIDDEN,
				      "a key cannot grant scopes its creator lacks");
	r = validate_int(rq, rq->body, "expires_in", false, 1, EXPIRES_IN_MAX, &k->expires_in);
	if (r != R_SUCCESS && r != R_NOT_FOUND)
		return r;
	r = validate_str(rq, rq->body, "expires_at", false, 64, &k->expires_at);
	if (r != R_SUCCESS && r != R_NOT_FOUND)
		return r;
	if (k->expires_at != NULL && !validate_timestamp(k->expires_at))
		return http_set_error(rq, R_INVALID, "'expires_at' must be an RFC 3339 timestamp");
	if (k->expires_at != NULL && k->expires_in != 0)
		return http_set_error(rq, R_INVALID, "give 'expires_in' or 'expires_at', not both");
	return R_SUCCESS;
}

static struct json *created_body(const struct apikey_new *k)
{
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, "id", k->id) != R_SUCCESS ||
	    json_add_str(o, "key", k->key) != R_SUCCESS ||
	    json_add_str(o, "key_prefix", k->prefix) != R_SUCCESS ||
	    json_add_str(o, "name", k->name) != R_SUCCESS ||
	    json_add(o, "scopes", auth_scopes_to_json(k->scopes)) != R_SUCCESS ||
	    json_add_str(o, "created_at", k->created_at) != R_SUCCESS ||
	    json_add_str_or_null(o, "expires_at",
				 k->expires_at_out[0] ? k->expires_at_out : NULL) != R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

/* KEY_ROOM_SQL: the org's live keys against its cap, counted under the org
 * row's lock so that concurrent creates count one after another. */
#define KEY_ROOM_SQL                                                                               \
	"SELECT COALESCE(o.max_api_keys, $2::int), (SELECT count(*) FROM api_keys k WHERE "        \
	"k.org_id = o.id AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > "    \
	"now())) FROM organizations o WHERE o.id = $1 FOR UPDATE OF o"

/* key_room: R_LIMIT (with the message) when the org has its cap of live
 * keys: each key has its own rate bucket, and the org's bucket bounds them
 * together, but an unbounded number of keys is still unbounded rows,
 * lookups and buckets. Runs in the caller's transaction. */
static enum result key_room(struct req *rq)
{
	struct db_res *res = NULL;
	char def[24];
	long long cap, live;
	enum result r;

	snprintf(def, sizeof(def), "%lld", config()->max_keys_per_org);
	r = db_exec(rq->db, KEY_ROOM_SQL, 2, (const char *[]){rq->auth.org_id, def}, &res);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "cannot count the organization's keys");
	if (db_res_rows(res) != 1) {
		db_res_free(res);
		return http_set_error(rq, R_UNAUTHORIZED, "organization not found");
	}
	cap = strtoll(db_res_get(res, 0, 0), NULL, 10);
	live = strtoll(db_res_get(res, 0, 1), NULL, 10);
	db_res_free(res);
	if (live >= cap)
		return http_set_error(
		    rq, R_LIMIT, "an organization has at most %lld live API keys; revoke one first",
		    cap);
	return R_SUCCESS;
}

enum result apikeys_create(struct req *rq)
{
	struct apikey_new k = {0};
	struct json *body;
	enum result r;

	r = parse_create(rq, &k);
	if (r != R_SUCCESS)
		return r;
	r = db_begin(rq->db);
	if (r == R_SUCCESS)
		r = key_room(rq);
	if (r == R_SUCCESS)
		r = apikey_insert(rq->db, rq->auth.org_id, NULL, &k);
	if (r == R_INVALID)
		http_set_error(rq, r, "'expires_at' must be a timestamp in the future");
	if (r == R_SUCCESS)
		r = audit_record(rq->db, rq->auth.org_id, rq->auth.actor, "api_key.create", k.id,
				 rq->id, NULL);
	if (r == R_SUCCESS)
		r = db_commit(rq->db);
	if (r != R_SUCCESS) {
		db_rollback(rq->db);
		apikey_new_wipe(&k);
		return r;
	}
	body = created_body(&k);
	apikey_new_wipe(&k);
	if (body == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, 201, body, NULL);
	return R_SUCCESS;
}

enum result apikeys_delete(struct req *rq)
{
	const char *id = rq->params[0];

	if (!id_is_valid("key_", id))
		return http_set_error(rq, R_NOT_FOUND, "API key not found");
	return retire(rq, &(struct retire){
			      .sql = "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND "
				     "org_id = $2 AND revoked_at IS NULL RETURNING id",
			      .subject = id,
			      .audit_action = "api_key.revoke",
			      .not_found = "API key not found",
			      .id_key = "id",
			      .flag = "revoked",
			  });
}
