/* result.c: names and HTTP statuses for result codes. */
#include "core/result.h"

static const struct {
	const char *name;
	int status;
} table[] = {
    [R_SUCCESS] = {"ok", 200},
    [R_INVALID] = {"invalid_request", 400},
    [R_UNAUTHORIZED] = {"unauthorized", 401},
    [R_FORBIDDEN] = {"forbidden", 403},
    [R_NOT_FOUND] = {"not_found", 404},
    [R_CONFLICT] = {"conflict", 409},
    [R_TOO_BIG] = {"payload_too_large", 413},
    [R_QUOTA] = {"rate_limited", 429},
    [R_TIMEOUT] = {"timeout", 504},
    [R_DB] = {"database_unavailable", 503},
    [R_UPSTREAM] = {"upstream_error", 502},
    [R_NO_MEMORY] = {"out_of_memory", 500},
    [R_INTERNAL] = {"internal_error", 500},
    [R_NO_SPACE] = {"insufficient_storage", 507},
    [R_UNAVAILABLE] = {"unavailable", 503},
    [R_LIMIT] = {"quota_exceeded", 409},
};

const char *result_str(enum result r)
{
	if ((unsigned)r >= sizeof(table) / sizeof(table[0]))
		return "internal_error";
	return table[r].name;
}

int result_http_status(enum result r)
{
	if ((unsigned)r >= sizeof(table) / sizeof(table[0]))
		return 500;
	return table[r].status;
}
