/* route.c: path patterns (route.h). */
#include "route.h"

#include <string.h>

bool route_match(const char *pattern, const char *path, struct route_caps *caps)
{
	struct route_caps c = {0};

	while (*pattern != '\0' && *path != '\0') {
		size_t pl = strcspn(pattern, "/"), sl = strcspn(path, "/");

		if (pattern[0] == ':') {
			if (sl == 0 || c.n == ROUTE_MAX_CAPS)
				return false;
			c.at[c.n] = path;
			c.len[c.n++] = sl;
		} else if (pl != sl || strncmp(pattern, path, pl) != 0) {
			return false;
		}
		pattern += pl;
		path += sl;
		if ((*pattern == '/') != (*path == '/'))
			return false;
		pattern += *pattern == '/';
		path += *path == '/';
	}
	if (*pattern != '\0' || *path != '\0')
		return false;
	*caps = c;
	return true;
}
