/* register.c: POST /api/v1/register creates an organization, its owner and
 * a first API key in one transaction, when registration is open
 * (SANDPIT_REGISTRATION) and the client's address has registrations left. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "auth/apikey.h"
#include "sandbox/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "db/db.h"
#include "handlers.h"
#include "core/id.h"
#include "core/log.h"
#include "auth/ratelimit.h"
#include "validate.h"

#define NAME_MAX_LEN 100
#define SLUG_MAX     48
#define SLUG_TRIES   20

static const char *const fields[] = {"first_name",	  "last_name", "email",
				     "organization_name", "use_case",  NULL};

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
static enum result insert_org(struct req *rq, const char *org_id, const char *name, char *slug,
			      size_t slug_size)
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
		if (r != R_SUCCESS)
			return r;
		if (db_res_rows(res) == 1) {
			snprintf(slug, slug_size, "%s", cand);
			db_res_free(res);
			return R_SUCCESS;
		}
		db_res_free(res);
	}
	/* Twenty taken: a random suffix ends the search. */
	snprintf(cand, sizeof(cand), "%s-%s", base, org_id + 4 + 12);
	r = db_exec(rq->db, "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)", 3,
		    (const char *[]){org_id, name, cand}, NULL);
	if (r == R_SUCCESS)
		snprintf(slug, slug_size, "%s", cand);
	return r;
}

static struct json *response(const char *org_id, const char *org_name, const char *slug,
			     const char *user_id, const char *email, const struct apikey_new *k)
{
	struct json *root = json_new_object(), *org = json_new_object(), *user = json_new_object(),
		    *key = json_new_object();
	bool ok = root && org && user && key;

	ok = ok && json_add_str(org, "id", org_id) == R_SUCCESS &&
	     json_add_str(org, "name", org_name) == R_SUCCESS &&
	     json_add_str(org, "slug", slug) == R_SUCCESS &&
	     json_add_str(org, "plan", "hobby") == R_SUCCESS;
	ok = ok && json_add_str(user, "id", user_id) == R_SUCCESS &&
	     json_add_str(user, "email", email) == R_SUCCESS &&
	     json_add_str(user, "role", "owner") == R_SUCCESS;
	ok = ok && json_add_str(key, "id", k->id) == R_SUCCESS &&
	     json_add_str(key, "key", k->key) == R_SUCCESS &&
	     json_add_str(key, "key_prefix", k->prefix) == R_SUCCESS &&
	     json_add_str(key, "name", k->name) == R_SUCCESS;
	if (!ok) {
		json_free(root);
		json_free(org);
		json_free(user);
		json_free(key);
		return NULL;
	}
	if (json_add(root, "organization", org) != R_SUCCESS ||
	    json_add(root, "user", user) != R_SUCCESS ||
	    json_add(root, "api_key", key) != R_SUCCESS) {
		json_free(root);
		return NULL;
	}
	return root;
}

/* client_bucket: the rate bucket of the client's address. REMOTE_ADDR is
 * what the web server saw; X-Forwarded-For is never read, since any client
 * can write it (behind another proxy, have the web server set REMOTE_ADDR
 * from the proxy's header: Caddy trusted_proxies, Apache mod_remoteip). An
 * IPv6 client gets a whole /64 as cheaply as one address, so a /64 counts as
 * one. */
static enum result client_bucket(struct req *rq, char *out, size_t size)
{
	const char *addr = http_header(rq, "REMOTE_ADDR");
	struct in6_addr a6;
	char text[INET6_ADDRSTRLEN];

	if (addr == NULL || *addr == '\0')
		return R_NOT_FOUND;
	if (inet_pton(AF_INET6, addr, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
		memset(a6.s6_addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a6, text, sizeof(text)) == NULL)
			return R_INVALID;
		snprintf(out, size, "reg:%s/64", text);
		return R_SUCCESS;
	}
	if (strlen(addr) > 64)
		return R_INVALID;
	snprintf(out, size, "reg:%s", addr);
	return R_SUCCESS;
}

/* admitted: one registration from the client's address, or the error
 * answered (429 with Retry-After). */
static enum result admitted(struct req *rq)
{
	struct ratelimit_policy p = {
	    .rate_per_minute = (double)config()->registration_rate / 60.0,
	    .burst = (double)config()->registration_burst,
	};
	char bucket[RATELIMIT_NAME_MAX + 1], hdr[48];
	int retry_after = 0;
	enum result r;

	r = client_bucket(rq, bucket, sizeof(bucket));
	if (r != R_SUCCESS) {
		/* no address means a misconfigured web server: refuse rather
		 * than let every client share one unthrottled bucket */
		log_warnx("register", "no usable REMOTE_ADDR; refusing the registration");
		return http_set_error(rq, R_FORBIDDEN, "the client address is unknown");
	}
	r = ratelimit_take(rq->limits, rq->db, bucket, &p, &retry_after);
	if (r == R_QUOTA) {
		snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", retry_after);
		http_respond_error(rq, R_QUOTA, 0, NULL,
				   "too many registrations from this address; retry later", hdr);
	} else if (r != R_SUCCESS) {
		return http_set_error(rq, r, "cannot check the registration rate");
	}
	return r;
}

enum result register_post(struct req *rq)
{
	const char *first, *last, *email, *org_name, *use_case = NULL;
	char org_id[ID_SIZE("org_")], user_id[ID_SIZE("user_")], slug[SLUG_MAX + 32];
	struct apikey_new key = {.name = "Default API Key", .scopes = AUTH_SCOPES_ALL};
	struct json *body;
	enum result r;

	if (!config()->registration_open) {
		http_respond_error(rq, R_FORBIDDEN, 0, "registration_closed",
				   "registration is closed on this instance; an operator creates "
				   "organizations with sandpit-admin create-org",
				   NULL);
		return R_SUCCESS;
	}
	r = http_parse_json_body(rq, (size_t)config()->max_body);
	if (r != R_SUCCESS)
		return r;
	if ((r = validate_known_fields(rq, rq->body, fields)) != R_SUCCESS ||
	    (r = validate_str(rq, rq->body, "first_name", true, NAME_MAX_LEN, &first)) !=
		R_SUCCESS ||
	    (r = validate_str(rq, rq->body, "last_name", true, NAME_MAX_LEN, &last)) != R_SUCCESS ||
	    (r = validate_str(rq, rq->body, "email", true, 254, &email)) != R_SUCCESS ||
	    (r = validate_str(rq, rq->body, "organization_name", true, NAME_MAX_LEN, &org_name)) !=
		R_SUCCESS)
		return r;
	r = validate_str(rq, rq->body, "use_case", false, 1000, &use_case);
	if (r != R_SUCCESS && r != R_NOT_FOUND)
		return r;
	if (!validate_email(email))
		return http_set_error(rq, R_INVALID, "'email' is not a valid address");
	/* Only a valid request costs a token: a typo should not lock a
	 * newcomer out for an hour. */
	r = admitted(rq);
	if (r == R_QUOTA)
		return R_SUCCESS; /* answered */
	if (r != R_SUCCESS)
		return r;
	if (id_new("org_", org_id, sizeof(org_id)) != R_SUCCESS ||
	    id_new("user_", user_id, sizeof(user_id)) != R_SUCCESS)
		return R_INTERNAL;
	r = db_begin(rq->db);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "database unavailable");
	r = insert_org(rq, org_id, org_name, slug, sizeof(slug));
	if (r == R_SUCCESS)
		r = db_exec(rq->db,
			    "INSERT INTO users (id, org_id, first_name, last_name, email, role, "
			    "use_case) VALUES ($1, $2, $3, $4, $5, 'owner', $6)",
			    6, (const char *[]){user_id, org_id, first, last, email, use_case},
			    NULL);
	if (r == R_CONFLICT) {
		http_set_error(rq, r, "an account with this email already exists");
		goto fail;
	}
	if (r == R_SUCCESS)
		r = apikey_insert(rq->db, org_id, user_id, &key);
	if (r == R_SUCCESS)
		r = audit_record(rq->db, org_id, user_id, "organization.register", org_id, rq->id,
				 NULL);
	if (r == R_SUCCESS)
		r = db_commit(rq->db);
	if (r != R_SUCCESS)
		goto fail;
	body = response(org_id, org_name, slug, user_id, email, &key);
	apikey_new_wipe(&key);
	if (body == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, 201, body, NULL);
	return R_SUCCESS;
fail:
	db_rollback(rq->db);
	apikey_new_wipe(&key);
	return r;
}
