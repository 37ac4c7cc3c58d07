/* auth.c: API keys (hashed lookups in one round trip) and HS256 JWTs. */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"
#include "db.h"
#include "json.h"
#include "jwt.h"

#define KEY_PREFIX "sk-sandbox-"
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
	return R_OK;
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
	if (json_get_str(claims, "scope", &s) != R_OK) {
		*out = AUTH_SCOPES_ALL;
		return R_OK;
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
	return R_OK;
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
		if (json_push(arr, json_new_str(scope_names[i])) != R_OK) {
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

	if (r == R_OK)
		r = crypto_hex_encode(digest, sizeof(digest), out, 65);
	return r;
}

/* The token bucket, refilled at $rate a minute up to $burst: the upsert
 * takes a token only when one is there (its WHERE), so an empty bucket is
 * left untouched and "allowed" is whether the upsert returned a row. The
 * retry delay is computed only on that rare path. One statement, one round
 * trip; data-modifying CTEs run exactly once whether read or not. */
#define BUCKET_REFILL                                                                              \
	"LEAST($3::float8, b.tokens + EXTRACT(EPOCH FROM now() - b.updated_at) * $2::float8 / 60.0)"
#define BUCKET_TAKE(key, from)                                                                     \
	"INSERT INTO rate_buckets AS b (key_id, tokens, updated_at) SELECT " key                    \
	", $3::float8 - 1, now() " from " ON CONFLICT (key_id) DO UPDATE SET tokens = "             \
	BUCKET_REFILL " - 1, updated_at = now() WHERE " BUCKET_REFILL " >= 1 RETURNING b.key_id"
#define BUCKET_RETRY(key)                                                                          \
	"CASE WHEN EXISTS (SELECT 1 FROM take) THEN 0 ELSE GREATEST(1, ceil((1 - COALESCE((SELECT " \
	BUCKET_REFILL " FROM rate_buckets b WHERE b.key_id = " key "), 0)) * 60.0 / "                \
	"$2::float8))::int END"

/* AUTH_KEY_SQL: the key (live only), a rate token, and last_used_at touched
 * at most once a minute rather than written on every request. */
#define AUTH_KEY_SQL                                                                               \
	"WITH k AS (SELECT a.id, a.org_id, a.scopes, a.last_used_at FROM api_keys a "             \
	"WHERE a.key_hash = $1 AND a.revoked_at IS NULL AND (a.expires_at IS NULL OR "             \
	"a.expires_at > now())), take AS (" BUCKET_TAKE("k.id", "FROM k") "), touch AS ("             \
	"UPDATE api_keys a SET last_used_at = now() FROM k WHERE a.id = k.id AND "                 \
	"(k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute') RETURNING a.id) " \
	"SELECT k.id, k.org_id, k.scopes, EXISTS (SELECT 1 FROM take), " BUCKET_RETRY("k.id")     \
	" FROM k"

/* AUTH_ORG_SQL: the JWT path: the org must exist; the bucket is per subject
 * ($4). */
#define AUTH_ORG_SQL                                                                               \
	"WITH o AS (SELECT id FROM organizations WHERE id = $1), take AS ("                        \
	BUCKET_TAKE("$4::text", "FROM o") ") SELECT EXISTS (SELECT 1 FROM take), "                    \
	BUCKET_RETRY("$4::text") " FROM o"

static void fmt_num(char *out, size_t size, double v)
{
	snprintf(out, size, "%.6f", v);
}

static enum result check_key(struct db *db, const char *key, const struct auth_policy *p,
			     struct auth *out, int *retry_after)
{
	char hash[65], rate[32], burst[32];
	struct db_res *res = NULL;
	enum result r;
	size_t len = strlen(key);

	if (len < KEY_MIN_LEN || len > AUTH_KEY_MAX ||
	    strncmp(key, KEY_PREFIX, strlen(KEY_PREFIX)) != 0)
		return R_UNAUTHORIZED;
	r = auth_hash_key(key, hash);
	if (r != R_OK)
		return r;
	fmt_num(rate, sizeof(rate), p->rate_per_minute);
	fmt_num(burst, sizeof(burst), p->burst);
	r = db_exec(db, AUTH_KEY_SQL, 3, (const char *[]){hash, rate, burst}, &res);
	if (r != R_OK)
		return r == R_DB ? R_DB : R_INTERNAL;
	if (db_res_rows(res) != 1) {
		r = R_UNAUTHORIZED;
		goto out;
	}
	if (strcmp(db_res_get(res, 0, 3), "t") != 0) {
		*retry_after = (int)strtol(db_res_get(res, 0, 4), NULL, 10);
		r = R_QUOTA;
		goto out;
	}
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
	char bucket[128], rate[32], burst[32];
	unsigned scopes;
	enum result r;

	if (p->jwt_secret == NULL || *p->jwt_secret == '\0')
		return R_UNAUTHORIZED;
	r = jwt_verify(token, p->jwt_secret, strlen(p->jwt_secret), (long long)time(NULL),
		       &claims);
	if (r != R_OK)
		return R_UNAUTHORIZED;
	r = R_UNAUTHORIZED;
	if (json_get_str(claims, "org_id", &org) != R_OK || strlen(org) >= sizeof(out->org_id))
		goto out;
	if (json_get_str(claims, "sub", &sub) == R_INVALID || strlen(sub) > 64)
		goto out;
	if (scopes_from_claims(claims, &scopes) != R_OK)
		goto out;
	snprintf(bucket, sizeof(bucket), "jwt:%s:%s", org, sub);
	fmt_num(rate, sizeof(rate), p->rate_per_minute);
	fmt_num(burst, sizeof(burst), p->burst);
	r = db_exec(db, AUTH_ORG_SQL, 4, (const char *[]){org, rate, burst, bucket}, &res);
	if (r != R_OK) {
		r = r == R_DB ? R_DB : R_INTERNAL;
		goto out;
	}
	if (db_res_rows(res) != 1) {
		r = R_UNAUTHORIZED;
		goto out;
	}
	if (strcmp(db_res_get(res, 0, 0), "t") != 0) {
		*retry_after = (int)strtol(db_res_get(res, 0, 1), NULL, 10);
		r = R_QUOTA;
		goto out;
	}
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
		if (strncmp(cred, KEY_PREFIX, strlen(KEY_PREFIX)) == 0)
			r = check_key(db, cred, policy, &a, retry_after);
		else
			r = check_jwt(db, cred, policy, &a, retry_after);
	} else {
		return R_UNAUTHORIZED;
	}
	if (r == R_OK)
		*out = a;
	return r;
}
