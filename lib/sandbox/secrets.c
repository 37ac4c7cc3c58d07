/* secrets.c: the key ring, sealing and opening of org secrets, their
 * injection into a new sandbox's agent, and key rotation. */
#include "sandbox/secrets.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/agent_client.h"
#include "core/config.h"
#include "core/crypto.h"
#include "db/db.h"
#include "core/json.h"
#include "core/log.h"

#define MOD	 "secrets"
#define AGENT_MS 5000
/* A sealed value in hex: (value + nonce + tag) * 2. */
#define SEALED_HEX_MAX (2 * (SECRETS_VALUE_MAX + CRYPTO_SEAL_OVERHEAD))

/* ring_entry: the key named id in SANDPIT_SECRET_KEYS, as its hex text
 * (64 characters, validated by config_load); NULL when absent. With id NULL,
 * the first entry (the current key), its id copied to cur_id. */
static const char *ring_entry(const char *id, char cur_id[SECRETS_KEY_ID_MAX + 1])
{
	const char *p = config()->secret_keys;

	while (*p != '\0') {
		size_t n = strcspn(p, ":");

		if (p[n] != ':' || n > SECRETS_KEY_ID_MAX)
			return NULL;
		if (id == NULL) {
			memcpy(cur_id, p, n);
			cur_id[n] = '\0';
			return p + n + 1;
		}
		if (strlen(id) == n && memcmp(p, id, n) == 0)
			return p + n + 1;
		p += n + 1;
		p += strcspn(p, ",");
		p += *p == ',';
	}
	return NULL;
}

/* key_hex: the 64 hex characters of key id (or, id NULL, of the current key,
 * its id into cur_id); NULL when the ring has no such key. */
static const char *key_hex(const char *id, char cur_id[SECRETS_KEY_ID_MAX + 1])
{
	const char *legacy = config()->secret_key;
	const char *hex = ring_entry(id, cur_id);

	if (hex != NULL)
		return hex;
	if (*legacy == '\0' || (id != NULL && strcmp(id, SECRETS_LEGACY_KEY_ID) != 0))
		return NULL;
	if (id == NULL && config()->secret_keys[0] != '\0')
		return NULL;
	if (id == NULL)
		snprintf(cur_id, SECRETS_KEY_ID_MAX + 1, "%s", SECRETS_LEGACY_KEY_ID);
	return legacy;
}

/* load_key: key id's bytes (id NULL: the current key, its id into cur_id). */
static enum result load_key(const char *id, char cur_id[SECRETS_KEY_ID_MAX + 1],
			    unsigned char key[CRYPTO_AES_KEY_LEN])
{
	const char *hex = key_hex(id, cur_id);

	if (hex == NULL)
		return R_NOT_FOUND;
	return crypto_hex_decode(hex, 2 * CRYPTO_AES_KEY_LEN, key, CRYPTO_AES_KEY_LEN, NULL);
}

enum result secrets_check_config(const char **why)
{
	const char *legacy = config()->secret_key;
	const char *zero = ring_entry(SECRETS_LEGACY_KEY_ID, NULL);
	char cur[SECRETS_KEY_ID_MAX + 1];

	if (key_hex(NULL, cur) == NULL) {
		*why = "no key for secrets at rest: set SANDPIT_SECRET_KEY (64 hex characters) "
		       "or SANDPIT_SECRET_KEYS (ID:HEX64,...)";
		return R_INVALID;
	}
	if (zero != NULL && *legacy != '\0' &&
	    strncasecmp(zero, legacy, 2 * CRYPTO_AES_KEY_LEN) != 0) {
		*why = "SANDPIT_SECRET_KEYS names key id \"0\" with other bytes than "
		       "SANDPIT_SECRET_KEY (key id \"0\" is SANDPIT_SECRET_KEY)";
		return R_INVALID;
	}
	return R_SUCCESS;
}

/* aad: what a ciphertext is bound to: "org_id/name" (names have no '/'). */
static enum result aad(const char *org_id, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", org_id, name);

	return n < 0 || (size_t)n >= size ? R_TOO_BIG : R_SUCCESS;
}

enum result secrets_seal(const char *org_id, const char *name, const char *value,
			 char key_id[SECRETS_KEY_ID_MAX + 1], char **sealed_hex)
{
	unsigned char key[CRYPTO_AES_KEY_LEN];
	char id[SECRETS_KEY_ID_MAX + 1], ad[256], *hex = NULL;
	enum result r;

	r = load_key(NULL, id, key);
	if (r == R_NOT_FOUND)
		r = R_INTERNAL;
	if (r == R_SUCCESS)
		r = aad(org_id, name, ad, sizeof(ad));
	if (r == R_SUCCESS)
		r = crypto_seal_text(key, value, ad, &hex);
	crypto_wipe(key, sizeof(key));
	if (r != R_SUCCESS)
		return r;
	memcpy(key_id, id, strlen(id) + 1);
	*sealed_hex = hex;
	return R_SUCCESS;
}

enum result secrets_open(const char *org_id, const char *name, const char *key_id,
			 const char *sealed_hex, char **value)
{
	unsigned char key[CRYPTO_AES_KEY_LEN];
	char ad[256];
	enum result r;

	r = load_key(key_id, NULL, key);
	if (r != R_SUCCESS)
		return r;
	r = aad(org_id, name, ad, sizeof(ad));
	if (r == R_SUCCESS)
		r = crypto_open_text(key, sealed_hex, SEALED_HEX_MAX, ad, value);
	crypto_wipe(key, sizeof(key));
	return r;
}

void secrets_value_free(char *value)
{
	if (value == NULL)
		return;
	crypto_wipe(value, strlen(value));
	free(value);
}

/* env_list: "NAME=value" for every row (name, key_id, sealed) whose name
 * the create's env does not set; entries are malloc'd, wiped by the caller. */
static enum result env_list(const struct db_res *res, const char *org_id, const struct json *env,
			    char **list, size_t *count)
{
	size_t n = 0;

	for (int i = 0; i < db_res_rows(res); i++) {
		const char *name = db_res_get(res, i, 0);
		char *value = NULL;
		size_t nl = strlen(name), vl;
		enum result r;

		if (env != NULL && json_get(env, name) != NULL)
			continue;
		r = secrets_open(org_id, name, db_res_get(res, i, 1), db_res_get(res, i, 2),
				 &value);
		if (r != R_SUCCESS) {
			log_errx(MOD, "cannot open secret org=%s name=%s key_id=%s err=%s", org_id,
				 name, db_res_get(res, i, 1), result_str(r));
			*count = n;
			return R_INTERNAL;
		}
		vl = strlen(value);
		list[n] = malloc(nl + vl + 2);
		if (list[n] == NULL) {
			secrets_value_free(value);
			*count = n;
			return R_NO_MEMORY;
		}
		memcpy(list[n], name, nl);
		list[n][nl] = '=';
		memcpy(list[n] + nl + 1, value, vl + 1);
		secrets_value_free(value);
		n++;
	}
	*count = n;
	return R_SUCCESS;
}

/* push: one SETENV (merge) to the agent at addr. */
static enum result push(const char *addr, char *const *list, size_t count)
{
	struct agent_conn *c = NULL;
	enum result r = agent_client_connect(addr, NULL, AGENT_MS, &c);

	if (r == R_SUCCESS)
		r = agent_client_set_env(c, (const char *const *)list, count, false, AGENT_MS);
	agent_client_close(c);
	return r;
}

enum result secrets_inject(struct db *db, const char *org_id, const char *sandbox_id,
			   const char *agent_addr, const char *env_text)
{
	char *list[SECRETS_PER_ORG] = {0}, cap[16];
	struct db_res *res = NULL, *addr_res = NULL;
	struct json *env = NULL;
	size_t count = 0;
	int rows;
	enum result r;

	snprintf(cap, sizeof(cap), "%d", SECRETS_PER_ORG);
	r = db_exec(db,
		    "SELECT name, key_id, sealed FROM secrets WHERE org_id = $1 ORDER BY name "
		    "LIMIT $2::int",
		    2, (const char *[]){org_id, cap}, &res);
	if (r != R_SUCCESS)
		return r;
	rows = db_res_rows(res);
	if (rows == 0)
		goto out;
	if (env_text != NULL && (env = json_parse(env_text, strlen(env_text))) == NULL) {
		r = R_NO_MEMORY;
		goto out;
	}
	r = env_list(res, org_id, env, list, &count);
	if (r != R_SUCCESS || count == 0)
		goto out;
	if (agent_addr == NULL) {
		r = db_exec(db, "SELECT agent_address FROM sandboxes WHERE id = $1 AND org_id = $2",
			    2, (const char *[]){sandbox_id, org_id}, &addr_res);
		if (r == R_SUCCESS && (db_res_rows(addr_res) != 1 || !db_res_get(addr_res, 0, 0)))
			r = R_NOT_FOUND;
		if (r != R_SUCCESS)
			goto out;
		agent_addr = db_res_get(addr_res, 0, 0);
	}
	r = push(agent_addr, list, count);
	if (r != R_SUCCESS)
		log_warnx(MOD, "cannot set the secrets of sandbox id=%s err=%s", sandbox_id,
			  result_str(r));
	else
		log_info(MOD, "injected secrets id=%s count=%zu", sandbox_id, count);
out:
	for (size_t i = 0; i < count; i++)
		secrets_value_free(list[i]);
	json_free(env);
	db_res_free(addr_res);
	db_res_free(res);
	return r;
}

/* reseal: row i (id, org_id, name, key_id, sealed) opened and sealed again
 * under the current key, in the caller's transaction. */
static enum result reseal(struct db *db, const struct db_res *res, int i)
{
	const char *org = db_res_get(res, i, 1), *name = db_res_get(res, i, 2);
	char key_id[SECRETS_KEY_ID_MAX + 1], *value = NULL, *sealed = NULL;
	enum result r;

	r = secrets_open(org, name, db_res_get(res, i, 3), db_res_get(res, i, 4), &value);
	if (r != R_SUCCESS) {
		log_errx(MOD, "cannot open secret org=%s name=%s key_id=%s err=%s", org, name,
			 db_res_get(res, i, 3), result_str(r));
		return r;
	}
	r = secrets_seal(org, name, value, key_id, &sealed);
	secrets_value_free(value);
	if (r == R_SUCCESS)
		r = db_exec(db, "UPDATE secrets SET key_id = $2, sealed = $3 WHERE id = $1", 3,
			    (const char *[]){db_res_get(res, i, 0), key_id, sealed}, NULL);
	free(sealed);
	return r;
}

enum result secrets_rotate(struct db *db, long long *rotated)
{
	char cur[SECRETS_KEY_ID_MAX + 1];
	struct db_res *res = NULL;
	long long n = 0;
	enum result r;

	if (key_hex(NULL, cur) == NULL)
		return R_INTERNAL;
	r = db_begin(db);
	/* Locked rows: a concurrent POST of the same name waits for us, so its
	 * value is never overwritten with the old one. */
	if (r == R_SUCCESS)
		r = db_exec(
		    db,
		    "SELECT id, org_id, name, key_id, sealed FROM secrets WHERE key_id <> $1 "
		    "ORDER BY id FOR UPDATE",
		    1, (const char *[]){cur}, &res);
	for (int i = 0; r == R_SUCCESS && i < db_res_rows(res); i++, n++)
		r = reseal(db, res, i);
	if (r == R_SUCCESS)
		r = db_commit(db);
	db_res_free(res);
	if (r != R_SUCCESS) {
		db_rollback(db);
		return r;
	}
	*rotated = n;
	return R_SUCCESS;
}
