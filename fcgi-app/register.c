/* register.c: POST /api/v1/register creates an organization, its owner and
 * a first API key in one transaction. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "audit.h"
#include "crypto.h"
#include "db.h"
#include "handlers.h"
#include "id.h"
#include "validate.h"

#define NAME_MAX_LEN 100
#define SLUG_MAX 48
#define SLUG_TRIES 20

static const char *const fields[] = {"first_name", "last_name",  "email",
				     "organization_name", "use_case", NULL};

/* slugify: lowercase ASCII letters and digits, runs of anything else
 * become one '-', no leading or trailing '-'. */
static void slugify(const char *name, char *out, size_t size)
{
	size_t n = 0;
	bool dash = false;

	for (const char *p = name; *p != '\0' && n + 2 < size; p++) {
		unsigned char c = (unsigned char)*p;

		if (isalnum(c) && c < 0x80) {
			if (dash && n > 0)
				out[n++] = '-';
			out[n++] = (char)tolower(c);
			dash = false;
		} else {
			dash = true;
		}
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, size, "org");
}

/* insert_org: the slug is made unique by a numeric suffix; a conflict on
 * slug just tries the next one inside the same transaction. */
static enum result insert_org(struct req *rq, const char *org_id, const char *name,
			      char *slug, size_t slug_size)
{
	char base[SLUG_MAX], cand[SLUG_MAX + 32];
	struct db_res *res = NULL;
	enum result r;

	slugify(name, base, sizeof(base));
	for (int i = 1; i <= SLUG_TRIES; i++) {
		if (i == 1)
			snprintf(cand, sizeof(cand), "%s", base);
		else
			snprintf(cand, sizeof(cand), "%s-%d", base, i);
		r = db_exec(rq->db,
			    "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3) "
			    "ON CONFLICT (slug) DO NOTHING RETURNING slug",
			    3, (const char *[]){org_id, name, cand}, &res);
		if (r != R_OK)
			return r;
		if (db_res_rows(res) == 1) {
			snprintf(slug, slug_size, "%s", cand);
			db_res_free(res);
			return R_OK;
		}
		db_res_free(res);
	}
	/* Twenty taken: a random suffix ends the search. */
	snprintf(cand, sizeof(cand), "%s-%s", base, org_id + 4 + 12);
	r = db_exec(rq->db, "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)", 3,
		    (const char *[]){org_id, name, cand}, NULL);
	if (r == R_OK)
		snprintf(slug, slug_size, "%s", cand);
	return r;
}

static struct json *response(const char *org_id, const char *org_name, const char *slug,
			     const char *user_id, const char *email, const struct apikey_new *k)
{
	struct json *root = json_new_object(), *org = json_new_object(),
		    *user = json_new_object(), *key = json_new_object();
	bool ok = root && org && user && key;

	ok = ok && json_add_str(org, "id", org_id) == R_OK &&
	     json_add_str(org, "name", org_name) == R_OK && json_add_str(org, "slug", slug) == R_OK &&
	     json_add_str(org, "plan", "hobby") == R_OK;
	ok = ok && json_add_str(user, "id", user_id) == R_OK &&
	     json_add_str(user, "email", email) == R_OK &&
	     json_add_str(user, "role", "owner") == R_OK;
	ok = ok && json_add_str(key, "id", k->id) == R_OK &&
	     json_add_str(key, "key", k->key) == R_OK &&
	     json_add_str(key, "key_prefix", k->prefix) == R_OK &&
	     json_add_str(key, "name", k->name) == R_OK;
	if (!ok) {
		json_free(root);
		json_free(org);
		json_free(user);
		json_free(key);
		return NULL;
	}
	if (json_add(root, "organization", org) != R_OK || json_add(root, "user", user) != R_OK ||
	    json_add(root, "api_key", key) != R_OK) {
		json_free(root);
		return NULL;
	}
	return root;
}

enum result register_post(struct req *rq)
{
	const char *first, *last, *email, *org_name, *use_case = NULL;
	char org_id[ID_SIZE("org_")], user_id[ID_SIZE("user_")], slug[SLUG_MAX + 32];
	struct apikey_new key = {.name = "Default API Key", .scopes = AUTH_SCOPES_ALL};
	struct json *body;
	enum result r;

	if ((r = validate_known_fields(rq, rq->body, fields)) != R_OK ||
	    (r = validate_str(rq, rq->body, "first_name", true, NAME_MAX_LEN, &first)) != R_OK ||
	    (r = validate_str(rq, rq->body, "last_name", true, NAME_MAX_LEN, &last)) != R_OK ||
	    (r = validate_str(rq, rq->body, "email", true, 254, &email)) != R_OK ||
	    (r = validate_str(rq, rq->body, "organization_name", true, NAME_MAX_LEN, &org_name)) !=
		R_OK)
		return r;
	r = validate_str(rq, rq->body, "use_case", false, 1000, &use_case);
	if (r != R_OK && r != R_NOT_FOUND)
		return r;
	if (!validate_email(email))
		return http_fail(rq, R_INVALID, "'email' is not a valid address");
	if (id_new("org_", org_id, sizeof(org_id)) != R_OK ||
	    id_new("user_", user_id, sizeof(user_id)) != R_OK)
		return R_INTERNAL;
	r = db_begin(rq->db);
	if (r != R_OK)
		return http_fail(rq, r, "database unavailable");
	r = insert_org(rq, org_id, org_name, slug, sizeof(slug));
	if (r == R_OK)
		r = db_exec(rq->db,
			    "INSERT INTO users (id, org_id, first_name, last_name, email, role, "
			    "use_case) VALUES ($1, $2, $3, $4, $5, 'owner', $6)",
			    6, (const char *[]){user_id, org_id, first, last, email, use_case}, NULL);
	if (r == R_CONFLICT) {
		http_fail(rq, r, "an account with this email already exists");
		goto fail;
	}
	if (r == R_OK)
		r = apikey_insert(rq->db, org_id, user_id, &key);
	if (r == R_OK)
		r = audit_record(rq->db, org_id, user_id, "organization.register", org_id, rq->id,
				 NULL);
	if (r == R_OK)
		r = db_commit(rq->db);
	if (r != R_OK)
		goto fail;
	body = response(org_id, org_name, slug, user_id, email, &key);
	apikey_new_wipe(&key);
	if (body == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, 201, body, NULL);
	return R_OK;
fail:
	db_rollback(rq->db);
	apikey_new_wipe(&key);
	return r;
}
