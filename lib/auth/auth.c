/* auth.c: API keys (hashed lookups in one round trip) and HS256 JWTs. */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/crypto.h"
#include "db/db.h"
#include "core/id.h"
#include "core/json.h"
#include "auth/jwt.h"
#include "core/log.h"
#include "auth/ratelimit.h"

#define KEY_MIN_LEN 24

static const char *const scope_names[] = {"read", "write", "admin"};
#define NSCOPES (sizeof(scope_names) / sizeof(scope_names[0]))

static unsigned scope_bit(const char *name, size_t len)
{
	for (unsigned i = 0; i < NSCOPES; i++)
		if (strlen(scope_names[i]) == len && strncmp(scope_names[i], name, len) == 0)
			return 1u << i;
	return 0;
}

enum result auth_scopes_from_json(const struct json *arr, unsigned *out)
{
	unsigned set = 0;

	if (!json_is_array(arr) || json_len(arr) == 0)
		return R_INVALID;
	for (const struct json *it = json_child(arr); it != NULL; it = json_next(it)) {
		const char *s = json_str(it);
		unsigned bit = s ? scope_bit(s, strlen(s)) : 0;

		if (bit == 0)
			return R_INVALID;
		set |= bit;
	}
	*out = set;
	return R_SUCCESS;
}

/* scopes_from_pg: "{read,write}" → bits; unknown names are ignored so an
 * older binary never grants more than it understands. */
static unsigned scopes_from_pg(const char *s)
{
	unsigned set = 0;

	if (s == NULL)
		return 0;
	s += *s == '{';
	while (*s != '\0' && *s != '}') {
		size_t n = strcspn(s, ",}");

		set |= scope_bit(s, n);
		s += n;
		s += *s == ',';
	}
	return set;
}

/* scopes_from_claim: JWT "scopes" (array) or "scope" (space separated);
 * absent means every scope, as an org-level token. */
static enum result scopes_from_claims(const struct json *claims, unsigned *out)
{
	struct json *arr = json_get(claims, "scopes");
	const char *s;
	unsigned set = 0;

	if (arr != NULL)
		return auth_scopes_from_json(arr, out);
	if (json_get_str(claims, "scope", &s) != R_SUCCESS) {
		*out = AUTH_SCOPES_ALL;
		return R_SUCCESS;
	}
	while (*s != '\0') {
		size_t n = strcspn(s, " ");

		set |= scope_bit(s, n);
		s += n;
		s += *s == ' ';
	}
	if (set == 0)
		return R_INVALID;
	*out = set;
	return R_SUCCESS;
}

void auth_scopes_pg(unsigned scopes, char *out, size_t size)
{
	size_t n = 0;

	n += (size_t)snprintf(out, size, "{");
	for (unsigned i = 0; i < NSCOPES && n < size; i++)
		if (scopes & (1u << i))
			n += (size_t)snprintf(out + n, size - n, "%s%s", n > 1 ? "," : "",
					      scope_names[i]);
	if (n < size)
		snprintf(out + n, size - n, "}");
}

struct json *auth_scopes_to_json(unsigned scopes)
{
	struct json *arr = json_new_array();

	for (unsigned i = 0; arr != NULL && i < NSCOPES; i++) {
		if (!(scopes & (1u << i)))
			continue;
		if (json_push(arr, json_new_str(scope_names[i])) != R_SUCCESS) {
			json_free(arr);
			return NULL;
		}
	}
	return arr;
}

enum result auth_hash_key(const char *key, char out[65])
{
	unsigned char digest[CRYPTO_SHA256_LEN];
	enum result r = crypto_sha256(key, strlen(key), digest);

	if (r == R_SUCCESS)
		r = crypto_hex_encode(digest, sizeof(digest), out, 65);
	return r;
}

/* AUTH_KEY_SQL: the key, if live, and whether last_used_at is due: it is
 * written at most once a minute, never on every request. */
#define AUTH_KEY_SQL                                                                               \
	"SELECT k.id, k.org_id, k.scopes, k.last_used_at IS NULL OR k.last_used_at < now() - "     \
	"interval '1 minute', o.rate_limit, o.rate_burst FROM api_keys k JOIN organizations o ON " \
	"o.id = k.org_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND "                      \
	"(k.expires_at IS NULL OR k.expires_at > now())"
/* The guard makes concurrent touches of one key write once, and SKIP LOCKED
 * keeps a request (or the stream proxy's event loop) from ever waiting on a
 * lock for bookkeeping: if the row is busy, the next minute's touch does it. */
#define TOUCH_KEY_SQL                                                                              \
	"UPDATE api_keys SET last_used_at = now() WHERE id = (SELECT id FROM api_keys WHERE "      \
	"id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') "        \
	"FOR UPDATE SKIP LOCKED)"
/* AUTH_ORG_SQL: the JWT path: the org must exist (the bucket is per org and
 * subject), with its own limits if it has any. */
#define AUTH_ORG_SQL "SELECT rate_limit, rate_burst FROM organizations WHERE id = $1"

void auth_policy_from_config(struct auth_policy *p, struct ratelimit *limits)
{
	p->jwt_secret = config()->jwt_secret;
	p->rate_per_minute = (double)config()->rate_limit;
	p->burst = (double)config()->rate_burst;
	p->org_rate_per_minute = (double)config()->org_rate_limit;
	p->org_burst = (double)config()->org_rate_burst;
	p->limits = limits;
}

/* take_tokens: one token of the caller's bucket, then one of its org's.
 * Every key has its own bucket, so without the second an admin key could
 * multiply its org's rate by minting keys. rate/burst are the org row's
 * overrides (NULL: the policy's). */
static enum result take_tokens(struct db *db, const char *bucket, const char *org_id,
			       const char *rate, const char *burst, const struct auth_policy *p,
			       int *retry_after)
{
	struct ratelimit_policy rp = {.rate_per_minute = p->rate_per_minute, .burst = p->burst};
	char org_bucket[RATELIMIT_NAME_MAX + 1];
	enum result r;

	r = ratelimit_take(p->limits, db, bucket, &rp, retry_after);
	if (r != R_SUCCESS || p->org_rate_per_minute <= 0)
		return r;
	rp.rate_per_minute = rate ? strtod(rate, NULL) : p->org_rate_per_minute;
	rp.burst = burst ? strtod(burst, NULL) : p->org_burst;
	snprintf(org_bucket, sizeof(org_bucket), "org:%s", org_id);
	return ratelimit_take(p->limits, db, org_bucket, &rp, retry_after);
}

/* touch: last_used_at is bookkeeping; failing to write it fails nothing. */
static void touch(struct db *db, const char *key_id)
{
	struct db_res *res = NULL;

	if (db_exec(db, TOUCH_KEY_SQL, 1, (const char *[]){key_id}, &res) != R_SUCCESS)
		log_warnx("auth", "cannot record use of key '%s': %s", key_id, db_last_error(db));
	db_res_free(res);
}

static enum result check_key(struct db *db, const char *key, const struct auth_policy *p,
			     struct auth *out, int *retry_after)
{
	char hash[65];
	struct db_res *res = NULL;
	enum result r;
	size_t len = strlen(key);

	if (len < KEY_MIN_LEN || len > AUTH_KEY_MAX ||
	    strncmp(key, ID_API_KEY_PREFIX, strlen(ID_API_KEY_PREFIX)) != 0)
		return R_UNAUTHORIZED;
	r = auth_hash_key(key, hash);
	if (r != R_SUCCESS)
		return r;
	r = db_exec(db, AUTH_KEY_SQL, 1, (const char *[]){hash}, &res);
	if (r != R_SUCCESS)
		return r == R_DB ? R_DB : R_INTERNAL;
	if (db_res_rows(res) != 1) {
		r = R_UNAUTHORIZED;
		goto out;
	}
	r = take_tokens(db, db_res_get(res, 0, 0), db_res_get(res, 0, 1), db_res_get(res, 0, 4),
			db_res_get(res, 0, 5), p, retry_after);
	if (r != R_SUCCESS)
		goto out;
	if (strcmp(db_res_get(res, 0, 3), "t") == 0)
		touch(db, db_res_get(res, 0, 0));
	snprintf(out->org_id, sizeof(out->org_id), "%s", db_res_get(res, 0, 1));
	snprintf(out->key_id, sizeof(out->key_id), "%s", db_res_get(res, 0, 0));
	snprintf(out->actor, sizeof(out->actor), "%s", out->key_id);
	out->scopes = scopes_from_pg(db_res_get(res, 0, 2));
out:
	db_res_free(res);
	return r;
}

static enum result check_jwt(struct db *db, const char *token, const struct auth_policy *p,
			     struct auth *out, int *retry_after)
{
	struct json *claims = NULL;
	struct db_res *res = NULL;
	const char *org, *sub = "";
	char bucket[RATELIMIT_NAME_MAX + 1];
	unsigned scopes;
	enum result r;

	if (p->jwt_secret == NULL || *p->jwt_secret == '\0')
		return R_UNAUTHORIZED;
	r = jwt_verify(token, p->jwt_secret, strlen(p->jwt_secret), (long long)time(NULL), &claims);
	if (r != R_SUCCESS)
		return R_UNAUTHORIZED;
	r = R_UNAUTHORIZED;
	if (json_get_str(claims, "org_id", &org) != R_SUCCESS || strlen(org) >= sizeof(out->org_id))
		goto out;
	if (json_get_str(claims, "sub", &sub) == R_INVALID || strlen(sub) > 64)
		goto out;
	if (scopes_from_claims(claims, &scopes) != R_SUCCESS)
		goto out;
	r = db_exec(db, AUTH_ORG_SQL, 1, (const char *[]){org}, &res);
	if (r != R_SUCCESS) {
		r = r == R_DB ? R_DB : R_INTERNAL;
		goto out;
	}
	if (db_res_rows(res) != 1) {
		r = R_UNAUTHORIZED;
		goto out;
	}
	snprintf(bucket, sizeof(bucket), "jwt:%s:%s", org, sub);
	r = take_tokens(db, bucket, org, db_res_get(res, 0, 0), db_res_get(res, 0, 1), p,
			retry_after);
	if (r != R_SUCCESS)
		goto out;
	snprintf(out->org_id, sizeof(out->org_id), "%s", org);
	out->key_id[0] = '\0';
	snprintf(out->actor, sizeof(out->actor), "jwt:%s", sub);
	out->scopes = scopes;
out:
	db_res_free(res);
	json_free(claims);
	return r;
}

enum result auth_check(struct db *db, const char *authorization, const struct auth_policy *policy,
		       struct auth *out, int *retry_after)
{
	const char *cred;
	struct auth a;
	enum result r;

	if (authorization == NULL)
		return R_UNAUTHORIZED;
	if (strncasecmp(authorization, "ApiKey ", 7) == 0) {
		cred = authorization + 7;
		while (*cred == ' ')
			cred++;
		r = check_key(db, cred, policy, &a, retry_after);
	} else if (strncasecmp(authorization, "Bearer ", 7) == 0) {
		cred = authorization + 7;
		while (*cred == ' ')
			cred++;
		if (strncmp(cred, ID_API_KEY_PREFIX, strlen(ID_API_KEY_PREFIX)) == 0)
			r = check_key(db, cred, policy, &a, retry_after);
		else
			r = check_jwt(db, cred, policy, &a, retry_after);
	} else {
		return R_UNAUTHORIZED;
	}
	if (r == R_SUCCESS)
		*out = a;
	return r;
}
