/* validate.h: request body checks shared by handlers; each failure is
 * recorded on the request with a message naming the field. */
#ifndef SANDPIT_VALIDATE_H
#define SANDPIT_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* validate_known_fields: R_INVALID if obj has a member not in the
 * NULL-terminated list. */
SP_MUST_CHECK enum result validate_known_fields(struct req *rq, const struct json *obj,
						const char *const *known);

/* validate_str: member key as a string of 1..maxlen bytes (after no
 * trimming; control characters refused). Absent: R_NOT_FOUND if !required
 * (and *out untouched), else R_INVALID. */
SP_MUST_CHECK enum result validate_str(struct req *rq, const struct json *obj, const char *key,
				       bool required, size_t maxlen, const char **out);

/* validate_int: member key as an integer within [min, max]; absence as in
 * validate_str. */
SP_MUST_CHECK enum result validate_int(struct req *rq, const struct json *obj, const char *key,
				       bool required, long long min, long long max, long long *out);

/* validate_email: a plausible address: one '@', non-empty local part of at
 * most 64 bytes, a dotted domain, printable ASCII without spaces. */
bool validate_email(const char *s);

/* validate_env_name: a portable environment variable name, [A-Za-z_][A-Za-z0-9_]*. */
bool validate_env_name(const char *s);

/* validate_timestamp: strict RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)),
 * so database-specific words ("tomorrow", "epoch") never pass through. */
bool validate_timestamp(const char *s);

/* validate_page: ?limit= (1..max, default def) and ?cursor= (an ID
 * with the given prefix, or "" when absent) from the query string. */
SP_MUST_CHECK enum result validate_page(struct req *rq, const char *cursor_prefix, int def, int max,
					int *limit, char *cursor, size_t cursor_size);

#endif
