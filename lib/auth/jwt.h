/* jwt.h: JSON Web Tokens (RFC 7519), HS256 only: the alternative bearer to
 * API keys. Anything else (other algorithms, "none", "crit" extensions,
 * encrypted tokens) is refused rather than half-supported. */
#ifndef SANDPIT_JWT_H
#define SANDPIT_JWT_H

#include <stddef.h>

#include "core/json.h"
#include "core/result.h"

/* Longest token accepted or produced, in characters (NUL excluded). A bearer
 * header is attacker-controlled; this bounds the work done before the MAC. */
#define JWT_MAX_LEN 8192

/* jwt_sign: sign claims (a JSON object, borrowed) with HMAC-SHA256 under the
 * secretlen bytes of secret. The header is {"alg":"HS256","typ":"JWT"}. On
 * R_SUCCESS *token is a malloc'd NUL-terminated compact token owned by the caller.
 * R_INVALID if claims is not an object or the secret is empty; R_TOO_BIG if
 * the token would exceed JWT_MAX_LEN; R_NO_MEMORY; R_INTERNAL. */
SP_MUST_CHECK enum result jwt_sign(const struct json *claims, const void *secret, size_t secretlen,
				   char **token);

/* jwt_verify: check a compact token (NUL-terminated) against secret at time
 * now (seconds since the epoch). On R_SUCCESS *claims is the decoded claims
 * object, owned by the caller (json_free). Every failure leaves *claims
 * untouched; a bad token is always R_UNAUTHORIZED (only the server's own
 * failures differ: R_NO_MEMORY, R_INTERNAL). R_UNAUTHORIZED for:
 *  - token NULL, longer than JWT_MAX_LEN, or not exactly three non-empty
 *    dot-separated parts; a part that is not strict base64url (no padding);
 *  - header not a JSON object, "alg" missing or anything but exactly "HS256"
 *    (so "none", "HS512", "hs256" fail), or a "crit" member present;
 *  - signature not 32 bytes or not the HMAC of "<header>.<payload>" (compared
 *    in constant time; checked before the claims are parsed);
 *  - claims not a JSON object; "exp" present and not a number or <= now;
 *    "nbf" present and not a number or > now;
 *  - an empty secret (never accept tokens signed with no key).
 * No leeway is applied to exp/nbf; callers wanting clock-skew tolerance
 * adjust now. */
SP_MUST_CHECK enum result jwt_verify(const char *token, const void *secret, size_t secretlen,
				     long long now, struct json **claims);

#endif
