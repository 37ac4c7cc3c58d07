/* settings.c: the stream proxy's settings, read once from the shared
 * configuration table (lib/config.c holds their names, defaults and bounds). */
#include "settings.h"

#include <string.h>

#include "config.h"
#include "instance.h"

enum result settings_load(struct settings *out, const char **why)
{
	const char *listen = config_str("SANDPIT_STREAM_LISTEN");
	struct settings s;
	enum result r;

	memset(&s, 0, sizeof(s));
	*why = "SANDPIT_STREAM_LISTEN";
	if (strlen(listen) >= sizeof(s.listen))
		return R_INVALID;
	if (*listen != '\0')
		memcpy(s.listen, listen, strlen(listen) + 1);
	else if ((r = instance_path("run/stream.sock", s.listen, sizeof(s.listen))) != R_OK)
		return r;
	s.max_conns = config_int("SANDPIT_STREAM_MAX_CONNS");
	s.send_buffer = config_int("SANDPIT_STREAM_SEND_BUFFER");
	s.max_message = config_int("SANDPIT_STREAM_MAX_MESSAGE");
	s.ping_interval = config_int("SANDPIT_STREAM_PING_INTERVAL");
	s.idle_timeout = config_int("SANDPIT_STREAM_IDLE_TIMEOUT");
	s.handshake_timeout = config_int("SANDPIT_STREAM_HANDSHAKE_TIMEOUT");
	s.drain_timeout = config_int("SANDPIT_STREAM_DRAIN_TIMEOUT");
	s.kill_grace = config_int("SANDPIT_STREAM_KILL_GRACE");
	s.connect_timeout_ms = config_int("SANDPIT_STREAM_AGENT_CONNECT_TIMEOUT");
	*out = s;
	return R_OK;
}
