/* apikey.c: key generation and storage. */
#include "auth/apikey.h"

#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "core/crypto.h"
#include "db/db.h"

enum result apikey_insert(struct db *db, const char *org_id, const char *user_id,
			  struct apikey_new *k)
{
	char hash[65], scopes[64], expires_in[24];
	struct db_res *res = NULL;
	enum result r;

	if (id_new("key_", k->id, sizeof(k->id)) != R_SUCCESS ||
	    id_new_api_key(k->key, sizeof(k->key)) != R_SUCCESS ||
	    id_api_key_display(k->key, k->prefix, sizeof(k->prefix)) != R_SUCCESS ||
	    auth_hash_key(k->key, hash) != R_SUCCESS)
		return R_INTERNAL;
	auth_scopes_pg(k->scopes, scopes, sizeof(scopes));
	snprintf(expires_in, sizeof(expires_in), "%lld", k->expires_in);
	/* The expiry must lie in the future; the CASE turns a past one into a
	 * check violation (23514 → R_INVALID) rather than a dead key. */
	r = db_exec(
	    db,
	    "INSERT INTO api_keys (id, org_id, user_id, name, key_hash, key_prefix, scopes, "
	    "expires_at) SELECT $1, $2, $3, $4, $5, $6, $7::text[], e FROM (SELECT CASE "
	    "WHEN $8::timestamptz IS NOT NULL THEN $8::timestamptz "
	    "WHEN $9::bigint > 0 THEN now() + make_interval(secs => $9::bigint) END AS e) x "
	    "WHERE e IS NULL OR e > now() RETURNING ts(created_at), COALESCE(ts(expires_at), '')",
	    9,
	    (const char *[]){k->id, org_id, user_id, k->name, hash, k->prefix, scopes,
			     k->expires_at, expires_in},
	    &res);
	if (r != R_SUCCESS)
		return r;
	if (db_res_rows(res) != 1) {
		db_res_free(res);
		return R_INVALID;
	}
	snprintf(k->created_at, sizeof(k->created_at), "%s", db_res_get(res, 0, 0));
	snprintf(k->expires_at_out, sizeof(k->expires_at_out), "%s", db_res_get(res, 0, 1));
	db_res_free(res);
	return R_SUCCESS;
}

void apikey_new_wipe(struct apikey_new *k)
{
	crypto_wipe(k->key, sizeof(k->key));
}
