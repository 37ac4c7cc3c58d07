/* url.h: percent-decoding of URL paths and query strings (RFC 3986), for
 * bytes a client controls. Pure functions. */
#ifndef SANDPIT_URL_H
#define SANDPIT_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

/* url_decode: the n bytes at s, decoded, into out (NUL-terminated);
 * plus_space turns '+' into ' ' (query strings). R_INVALID for a truncated
 * or non-hex escape and for %00 (nothing downstream expects a NUL),
 * R_TOO_BIG when out cannot hold the result. out is written only on R_SUCCESS. */
SP_MUST_CHECK enum result url_decode(const char *s, size_t n, bool plus_space, char *out,
				     size_t size);

/* url_query_get: the decoded value of the first name=value pair called name
 * in a raw query string ("a=1&b=2"); a bare "name" is the empty value.
 * R_NOT_FOUND when absent, else as url_decode. Names compare undecoded. */
SP_MUST_CHECK enum result url_query_get(const char *query, const char *name, char *out,
					size_t size);

#endif
