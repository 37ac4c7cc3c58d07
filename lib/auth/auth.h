/* auth.h: who is calling. Shared by the API workers and the stream proxy so
 * both accept exactly the same credentials:
 *   Authorization: ApiKey sk-sandbox-...
 *   Authorization: Bearer sk-sandbox-...
 *   Authorization: Bearer <HS256 JWT with org_id, sub, optional scopes, exp>
 */
#ifndef SANDPIT_AUTH_H
#define SANDPIT_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

struct db;
struct json;
struct ratelimit;

enum auth_scope {
	AUTH_SCOPE_READ = 1,  /* GET anything of the org */
	AUTH_SCOPE_WRITE = 2, /* create, execute, write, stop */
	AUTH_SCOPE_ADMIN = 4, /* API keys, webhooks */
};
#define AUTH_SCOPES_ALL (AUTH_SCOPE_READ | AUTH_SCOPE_WRITE | AUTH_SCOPE_ADMIN)

#define AUTH_KEY_MAX 256 /* longest Authorization credential we look at */

struct auth {
	char org_id[48];
	char key_id[48]; /* "" for a JWT */
	char actor[96];	 /* key id, or "jwt:<sub>", for audit rows and logs */
	unsigned scopes;
};

struct auth_policy {
	const char *jwt_secret; /* NULL or "" disables JWTs */
	double rate_per_minute; /* per key, or per JWT org and subject */
	double burst;
	/* per organization, over all its keys and JWTs (an org row's rate_limit
	 * and rate_burst override them); 0 turns the org bucket off */
	double org_rate_per_minute;
	double org_burst;
	struct ratelimit *limits; /* the host's leased tokens (ratelimit.h) */
};

/* auth_policy_from_config: the policy of the configuration table
 * (SANDPIT_JWT_SECRET, SANDPIT_RATE_*, SANDPIT_ORG_RATE_*) over limits. */
void auth_policy_from_config(struct auth_policy *p, struct ratelimit *limits);

/* auth_check: resolve an Authorization header value. R_UNAUTHORIZED when it
 * is missing, malformed, unknown, revoked, expired or badly signed; R_QUOTA
 * when the caller's bucket, or its organization's, is empty (*retry_after
 * then holds seconds; the caller's bucket is asked first, so one key that
 * exceeds its own rate does not drain its org's); R_DB when the database is
 * away. *out is written only on R_SUCCESS. */
SP_MUST_CHECK enum result auth_check(struct db *db, const char *authorization,
				     const struct auth_policy *policy, struct auth *out,
				     int *retry_after);

/* auth_hash_key: lowercase hex SHA-256 of an API key (65 bytes with NUL). */
SP_MUST_CHECK enum result auth_hash_key(const char *key, char out[65]);

/* auth_scopes_from_json: an array of scope names ("read", "write", "admin")
 * into a bit set. R_INVALID on an unknown name, a non-string or an empty set. */
SP_MUST_CHECK enum result auth_scopes_from_json(const struct json *arr, unsigned *out);

/* auth_scopes_pg: the bit set as a PostgreSQL text[] literal ("{read,write}"). */
void auth_scopes_pg(unsigned scopes, char *out, size_t size);

/* auth_scopes_to_json: the bit set as a JSON array (owned), NULL on OOM. */
struct json *auth_scopes_to_json(unsigned scopes);

#endif
