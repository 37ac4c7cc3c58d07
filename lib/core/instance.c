/* instance.c: per-instance paths and connection strings. */
#include "core/instance.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

static enum result fit(int n, size_t size)
{
	return n < 0 || (size_t)n >= size ? R_TOO_BIG : R_SUCCESS;
}

enum result instance_path(const char *rel, char *out, size_t size)
{
	char abs[PATH_MAX];
	const char *dir = config()->state_dir;

	/* realpath fails before the directory exists; the harness creates it
	 * first, and a relative name is still usable then. */
	if (realpath(dir, abs) == NULL)
		return fit(snprintf(out, size, "%s/%s", dir, rel), size);
	return fit(snprintf(out, size, "%s/%s", abs, rel), size);
}

enum result instance_conninfo(char *out, size_t size)
{
	const char *url = config()->database_url;
	char sock[PATH_MAX];
	enum result r;

	if (*url != '\0')
		return fit(snprintf(out, size, "%s", url), size);
	r = instance_path("pg/run", sock, sizeof(sock));
	if (r != R_SUCCESS)
		return r;
	return fit(
	    snprintf(out, size, "host=%s dbname=sandpit user=sandpit connect_timeout=5", sock),
	    size);
}

enum result instance_fcgi_listen(char *out, size_t size)
{
	const char *v = config()->fcgi_listen;

	if (*v != '\0')
		return fit(snprintf(out, size, "%s", v), size);
	return instance_path("run/api.sock", out, size);
}

enum result instance_stream_listen(char *out, size_t size)
{
	const char *v = config()->stream_listen;

	if (*v != '\0')
		return fit(snprintf(out, size, "%s", v), size);
	return instance_path("run/stream.sock", out, size);
}

enum result instance_boxd_socket(char *out, size_t size)
{
	const char *v = config()->boxd_socket;

	if (*v != '\0')
		return fit(snprintf(out, size, "%s", v), size);
	return instance_path("box/run/boxd.sock", out, size);
}
