/* instance.h: names derived from this instance's state directory, so two
 * instances on one machine (a `make run` and a `make test`) never collide. */
#ifndef SANDPIT_INSTANCE_H
#define SANDPIT_INSTANCE_H

#include <stddef.h>

#include "core/result.h"

/* instance_path: "<absolute state dir>/<rel>" into out. R_TOO_BIG if it does
 * not fit. Requires config_load. */
SP_MUST_CHECK enum result instance_path(const char *rel, char *out, size_t size);

/* instance_conninfo: SANDPIT_DATABASE_URL, or when empty the private cluster:
 * "host=<state>/pg/run dbname=sandpit user=sandpit connect_timeout=5". */
SP_MUST_CHECK enum result instance_conninfo(char *out, size_t size);

/* instance_fcgi_listen: SANDPIT_FCGI_LISTEN or "<state>/run/api.sock". */
SP_MUST_CHECK enum result instance_fcgi_listen(char *out, size_t size);

/* instance_stream_listen: SANDPIT_STREAM_LISTEN or "<state>/run/stream.sock". */
SP_MUST_CHECK enum result instance_stream_listen(char *out, size_t size);

/* instance_boxd_socket: SANDPIT_BOXD_SOCKET or the privileged daemon's
 * socket under its own directory, "<state>/box/run/boxd.sock". */
SP_MUST_CHECK enum result instance_boxd_socket(char *out, size_t size);

#endif
