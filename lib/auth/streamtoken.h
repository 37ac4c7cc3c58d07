/* streamtoken.h: short-lived signed stream tokens. A browser cannot set an
 * Authorization header on a WebSocket, so the API mints a token bound to one
 * org, one sandbox and an expiry (POST /api/v1/sandbox/:id/stream-token) and
 * the stream proxy accepts it as ?token=.
 *
 * Format: "st2.<base64url(org_id LF sandbox_id LF expiry LF key_id)>.<base64url(MAC)>",
 * MAC = HMAC-SHA256 over everything before the second dot, under a key
 * derived from the instance secret (so the secret's other uses never yield a
 * valid token). key_id is the API key that minted the token ("" for a JWT):
 * the proxy refuses the token once that key is revoked or expired, so a
 * token dies with its key. Tokens are bearer credentials: never log one. */
#ifndef SANDPIT_STREAMTOKEN_H
#define SANDPIT_STREAMTOKEN_H

#include <stddef.h>

#include "core/result.h"

#define STREAMTOKEN_MAX		384  /* longest token, NUL included */
#define STREAMTOKEN_ID_MAX	64   /* longest org or sandbox id */
#define STREAMTOKEN_DEFAULT_TTL 60   /* seconds */
#define STREAMTOKEN_MAX_TTL	3600 /* seconds; longer is refused both ways */

/* streamtoken_mint: a token for (org_id, sandbox_id), minted with API key
 * key_id (NULL or "" when the caller used a JWT), valid until now + ttl
 * (unix seconds), NUL-terminated into out. secret is the instance secret
 * (SANDPIT_SECRET_KEY); it must not be empty. R_INVALID for an empty secret,
 * an id that is empty (key_id may be), too long or contains a byte below 0x21,
 * or a ttl of 0 or over STREAMTOKEN_MAX_TTL; R_TOO_BIG if outsize is too
 * small; R_INTERNAL if the MAC fails. */
SP_MUST_CHECK enum result streamtoken_mint(const void *secret, size_t secretlen, const char *org_id,
					   const char *sandbox_id, const char *key_id,
					   long long now, unsigned ttl, char *out, size_t outsize);

/* streamtoken_verify: check token (MAC compared in constant time, then
 * format, expiry and that it was minted for sandbox_id). On R_SUCCESS the org id
 * and the minting key's id ("" for a JWT) are copied into org_out and
 * key_out (NUL-terminated); the caller checks that key is still live.
 * R_UNAUTHORIZED for anything wrong with the token (malformed, bad MAC,
 * expired, too far in the future, other sandbox, an st1 token, which names
 * no key); R_TOO_BIG if a buffer is too small; R_INTERNAL if the MAC fails. */
SP_MUST_CHECK enum result streamtoken_verify(const void *secret, size_t secretlen,
					     const char *token, const char *sandbox_id,
					     long long now, char *org_out, size_t orgsize,
					     char *key_out, size_t keysize);

#endif
