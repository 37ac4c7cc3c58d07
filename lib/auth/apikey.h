/* apikey.h: minting API keys. The key is shown once; only its SHA-256 and a
 * display prefix are stored. */
#ifndef SANDPIT_APIKEY_H
#define SANDPIT_APIKEY_H

#include "core/id.h"
#include "core/result.h"

struct db;

struct apikey_new {
	/* in */
	const char *name;
	unsigned scopes;	/* AUTH_SCOPE_* bits */
	long long expires_in;	/* seconds from now, 0 for none */
	const char *expires_at; /* RFC 3339 text, or NULL; wins over expires_in */
	/* out */
	char id[ID_SIZE("key_")];
	char key[ID_API_KEY_SIZE]; /* secret: wipe with apikey_new_wipe */
	char prefix[ID_API_KEY_DISPLAY_SIZE];
	char created_at[40];
	char expires_at_out[40]; /* "" when the key does not expire */
};

/* apikey_insert: generate and store a key for org (user may be NULL), in the
 * caller's transaction if any. R_INVALID when expires_at is not a future
 * timestamp. */
SP_MUST_CHECK enum result apikey_insert(struct db *db, const char *org_id, const char *user_id,
					struct apikey_new *k);

/* apikey_new_wipe: erase the key material. */
void apikey_new_wipe(struct apikey_new *k);

#endif
