/* settings.h: the stream proxy's SANDPIT_STREAM_* settings as a struct,
 * taken from the shared configuration table (lib/config.c) at start-up. */
#ifndef SANDPIT_STREAM_SETTINGS_H
#define SANDPIT_STREAM_SETTINGS_H

#include <stddef.h>
#include <stdio.h>

#include "result.h"

struct settings {
	char listen[256];        /* SANDPIT_STREAM_LISTEN: unix path or host:port */
	long long max_conns;     /* SANDPIT_STREAM_MAX_CONNS */
	long long send_buffer;   /* SANDPIT_STREAM_SEND_BUFFER: backpressure bound */
	long long max_message;   /* SANDPIT_STREAM_MAX_MESSAGE: client message cap */
	long long ping_interval; /* SANDPIT_STREAM_PING_INTERVAL (s) */
	long long idle_timeout;  /* SANDPIT_STREAM_IDLE_TIMEOUT (s), 0 = never */
	long long handshake_timeout; /* SANDPIT_STREAM_HANDSHAKE_TIMEOUT (s) */
	long long drain_timeout; /* SANDPIT_STREAM_DRAIN_TIMEOUT (s) */
	long long kill_grace;    /* SANDPIT_STREAM_KILL_GRACE (s) */
	long long connect_timeout_ms; /* SANDPIT_STREAM_AGENT_CONNECT_TIMEOUT (ms) */
};

/* settings_load: the values config_load validated; SANDPIT_STREAM_LISTEN
 * defaults to <state dir>/run/stream.sock. On failure *why names the key. */
SP_MUST_CHECK enum result settings_load(struct settings *out, const char **why);

#endif
