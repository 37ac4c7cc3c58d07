/* id.h: prefixed random identifiers ("sbx_...", "org_...") and API key
 * material ("sk-sandbox-..."), drawn from the CSPRNG without modulo bias. */
#ifndef SANDPIT_ID_H
#define SANDPIT_ID_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

/* Resource IDs: prefix + ID_RAND_LEN characters of lowercase base36
 * [0-9a-z], about 103 bits of randomness. Lowercase because IDs end up in
 * case-insensitive or lowercase-only places: Kubernetes object names and
 * labels (RFC 1123), hostnames, cgroup and directory names on
 * case-insensitive filesystems, and URLs people retype. A prefix is 1 to
 * ID_PREFIX_MAX characters of [a-z0-9_] and by convention ends in '_'. */
#define ID_RAND_LEN   20
#define ID_PREFIX_MAX 16
/* Buffer size for an ID with a string-literal prefix: ID_SIZE("sbx_"). */
#define ID_SIZE(prefix_literal) (sizeof(prefix_literal) - 1 + ID_RAND_LEN + 1)
/* Buffer size that fits an ID with any valid prefix. */
#define ID_MAX_SIZE (ID_PREFIX_MAX + ID_RAND_LEN + 1)

/* id_new: write prefix + ID_RAND_LEN random base36 characters, NUL-terminated,
 * into out. R_INVALID for a bad prefix, R_TOO_BIG if outsize is too small,
 * R_INTERNAL if the random generator fails; out is written only on R_SUCCESS. */
SP_MUST_CHECK enum result id_new(const char *prefix, char *out, size_t outsize);

/* id_is_valid: true when s is exactly prefix followed by exactly ID_RAND_LEN
 * characters of [0-9a-z]. NULL or an invalid prefix is false. Use it on every
 * ID taken from a URL or body before it reaches SQL or a path. */
bool id_is_valid(const char *prefix, const char *s);

/* Runtime names: what names a sandbox's runtime objects (cgroup, socket,
 * state file) and crosses the backend protocol. Looser than id_is_valid
 * (any case, '-', any prefix) because the backend does not care which kind
 * of ID it is given, but still safe as one path component and one word of
 * a line protocol: no '/', '.', space or control byte. */
#define ID_NAME_MAX 63

/* id_is_name: true when s is 1..ID_NAME_MAX bytes of [A-Za-z0-9_-]. NULL is
 * false; the scan stops after ID_NAME_MAX + 1 bytes. */
bool id_is_name(const char *s);

/* Request IDs: a client's X-Request-Id is echoed back and written into log
 * lines, so it is kept only when it is 1..ID_REQUEST_MAX bytes of
 * [A-Za-z0-9._-]; otherwise the server makes its own. The API and the stream
 * proxy must judge the same header the same way. */
#define ID_REQUEST_MAX 39

/* id_request_is_sane: true when s is a request ID the server may adopt as
 * given (the rule above). NULL is false. */
bool id_request_is_sane(const char *s);

/* API keys: "sk-sandbox-" + ID_API_KEY_RAND_LEN characters of base62
 * [0-9A-Za-z]. Mixed case because keys are only ever pasted, never typed, and
 * 43 base62 characters carry 256.03 bits: at least as much as the 32 random
 * bytes asked for, each character uniform. */
#define ID_API_KEY_PREFIX   "sk-sandbox-"
#define ID_API_KEY_RAND_LEN 43
#define ID_API_KEY_LEN	    (sizeof(ID_API_KEY_PREFIX) - 1 + ID_API_KEY_RAND_LEN)
#define ID_API_KEY_SIZE	    (ID_API_KEY_LEN + 1)
/* The display prefix (stored in clear, shown in listings) is the first 15
 * characters, "sk-sandbox-" + 4 random ones: enough to tell keys apart,
 * 24 bits of the 256 disclosed. */
#define ID_API_KEY_DISPLAY_LEN	15
#define ID_API_KEY_DISPLAY_SIZE (ID_API_KEY_DISPLAY_LEN + 1)

/* id_new_api_key: a fresh key into out (ID_API_KEY_SIZE bytes suffice).
 * R_TOO_BIG if outsize is too small, R_INTERNAL if the generator fails. The
 * caller shows it once, stores only its SHA-256, and wipes the buffer. */
SP_MUST_CHECK enum result id_new_api_key(char *out, size_t outsize);

/* id_is_api_key: true when s has exactly the format id_new_api_key makes. */
bool id_is_api_key(const char *s);

/* id_api_key_display: the display prefix of a well-formed key into out.
 * R_INVALID if !id_is_api_key(key), R_TOO_BIG if outsize <
 * ID_API_KEY_DISPLAY_SIZE. */
SP_MUST_CHECK enum result id_api_key_display(const char *key, char *out, size_t outsize);

#endif
