/* secrets.h: an organization's stored secrets (bring-your-own keys): sealed
 * at rest with AES-256-GCM under a key ring from the configuration, and
 * injected into the environment of every sandbox the organization creates.
 *
 * Key ring: SANDPIT_SECRET_KEYS = "ID:HEX64[,ID:HEX64...]" (the first entry is
 * the current key, the others only open older ciphertexts) plus
 * SANDPIT_SECRET_KEY, which is key id "0" (the key webhooks seal with). When
 * SANDPIT_SECRET_KEYS is empty, "0" is the current key. Every ciphertext is
 * stored with the id of the key that sealed it and is bound (associated data)
 * to its org id and name, so a row cannot be moved to another org or name.
 *
 * A value is never logged, never returned by the API, and never written
 * anywhere but the agent of a sandbox of its organization. */
#ifndef SANDPIT_SECRETS_H
#define SANDPIT_SECRETS_H

#include <stddef.h>

#include "core/result.h"

struct db;

#define SECRETS_NAME_MAX      128   /* bytes of a name */
#define SECRETS_VALUE_MAX     16384 /* bytes of a value */
#define SECRETS_PER_ORG	      50    /* all of them fit one agent SETENV frame */
#define SECRETS_KEY_ID_MAX    32    /* bytes of a key id */
#define SECRETS_LEGACY_KEY_ID "0"   /* SANDPIT_SECRET_KEY's id in the ring */

/* secrets_check_config: is the key ring usable? R_INVALID with *why (static
 * text, never key material) when no key is configured at all, or when
 * SANDPIT_SECRET_KEYS names key "0" with other bytes than SANDPIT_SECRET_KEY.
 * (The format of both keys is checked by config_load.) */
SP_MUST_CHECK enum result secrets_check_config(const char **why);

/* secrets_seal: seal value for (org_id, name) under the current key. On R_SUCCESS
 * *sealed_hex is malloc'd hex and key_id (SECRETS_KEY_ID_MAX + 1 bytes) holds
 * the current key's id. R_INTERNAL when no key is configured. */
SP_MUST_CHECK enum result secrets_seal(const char *org_id, const char *name, const char *value,
				       char key_id[SECRETS_KEY_ID_MAX + 1], char **sealed_hex);

/* secrets_open: the reverse. On R_SUCCESS *value is malloc'd; release it with
 * secrets_value_free (which wipes it). R_NOT_FOUND when key_id is not in the
 * ring, R_INVALID for a tampered or moved ciphertext. */
SP_MUST_CHECK enum result secrets_open(const char *org_id, const char *name, const char *key_id,
				       const char *sealed_hex, char **value);
void secrets_value_free(char *value);

/* secrets_inject: merge org_id's secrets into the environment of sandbox
 * sandbox_id (through its agent at agent_addr, or the address in the
 * sandbox's row when agent_addr is NULL), skipping every name that env_text
 * (the create's own env, a JSON object text, or NULL) sets: the create's env
 * wins. An org without secrets costs one query and no agent round trip.
 * R_DB, R_INTERNAL (a secret sealed under an unknown key, or tampered),
 * R_UPSTREAM / R_TIMEOUT (the agent), R_NO_MEMORY. */
SP_MUST_CHECK enum result secrets_inject(struct db *db, const char *org_id, const char *sandbox_id,
					 const char *agent_addr, const char *env_text);

/* secrets_rotate: in one transaction, re-seal every secret not sealed under
 * the current key with the current key. Idempotent: a second run finds
 * nothing to do. *rotated counts the re-sealed rows. On any failure (an
 * unknown key id: R_NOT_FOUND; a tampered row: R_INVALID) nothing changes. */
SP_MUST_CHECK enum result secrets_rotate(struct db *db, long long *rotated);

#endif
