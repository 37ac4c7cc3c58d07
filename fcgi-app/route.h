/* route.h: matching a request path against a route pattern such as
 * "/api/v1/sandbox/:id/files": literal segments compare exactly, ":name"
 * captures one non-empty segment. Pure; the router's table lives in
 * router.c. */
#ifndef SANDPIT_ROUTE_H
#define SANDPIT_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define ROUTE_MAX_CAPS 4

struct route_caps {
	unsigned n;
	const char *at[ROUTE_MAX_CAPS]; /* into the path, not NUL-terminated */
	size_t len[ROUTE_MAX_CAPS];
};

/* route_match: true when path fits pattern segment for segment (no
 * trailing slash either side unless both have it, no empty capture, at most
 * ROUTE_MAX_CAPS captures); *caps is written only then. */
bool route_match(const char *pattern, const char *path, struct route_caps *caps);

#endif
