/* settings.c: the stream proxy's configuration table. */
#include "settings.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "instance.h"

#define MiB (1024LL * 1024)

enum kind { K_STR, K_INT, K_SIZE };

static const struct key {
	const char *name;
	enum kind kind;
	const char *def;
	long long min, max;
	size_t off;
	const char *help;
} keys[] = {
	{"SANDPIT_STREAM_LISTEN", K_STR, "", 0, 0, offsetof(struct settings, listen),
	 "unix socket path, or host:port on loopback; empty: <state>/run/stream.sock"},
	{"SANDPIT_STREAM_MAX_CONNS", K_INT, "4096", 1, 1000000, offsetof(struct settings, max_conns),
	 "open client connections; more are refused with 503"},
	{"SANDPIT_STREAM_SEND_BUFFER", K_SIZE, "1MiB", 64 * 1024, 256 * MiB,
	 offsetof(struct settings, send_buffer),
	 "output queued to one client before reading from its command pauses"},
	{"SANDPIT_STREAM_MAX_MESSAGE", K_SIZE, "1MiB", 4096, 16 * MiB,
	 offsetof(struct settings, max_message), "largest client message (close 1009 past it)"},
	{"SANDPIT_STREAM_PING_INTERVAL", K_INT, "20", 1, 3600,
	 offsetof(struct settings, ping_interval),
	 "seconds between pings; no frame for 3 intervals = client gone"},
	{"SANDPIT_STREAM_IDLE_TIMEOUT", K_INT, "900", 0, 86400 * 7,
	 offsetof(struct settings, idle_timeout),
	 "seconds without a message either way before close 1001; 0 disables"},
	{"SANDPIT_STREAM_HANDSHAKE_TIMEOUT", K_INT, "10", 1, 300,
	 offsetof(struct settings, handshake_timeout), "seconds to send the upgrade request"},
	{"SANDPIT_STREAM_DRAIN_TIMEOUT", K_INT, "10", 0, 3600,
	 offsetof(struct settings, drain_timeout), "seconds streams get to close on SIGTERM"},
	{"SANDPIT_STREAM_KILL_GRACE", K_INT, "2", 0, 60, offsetof(struct settings, kill_grace),
	 "seconds between SIGHUP and SIGKILL of a command whose client went away"},
	{"SANDPIT_STREAM_AGENT_CONNECT_TIMEOUT", K_INT, "2000", 10, 60000,
	 offsetof(struct settings, connect_timeout_ms), "milliseconds to reach a sandbox agent"},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

enum result settings_load(struct settings *out, const char **why)
{
	struct settings s;
	enum result r;

	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *v = getenv(k->name);
		long long n;

		if (v == NULL)
			v = k->def;
		if (k->kind == K_STR) {
			char *dst = (char *)&s + k->off;

			if (strlen(v) >= sizeof(s.listen)) {
				*why = k->name;
				return R_INVALID;
			}
			memcpy(dst, v, strlen(v) + 1);
			continue;
		}
		r = k->kind == K_SIZE ? config_parse_size(v, &n) : config_parse_int(v, &n);
		if (r != R_OK || n < k->min || n > k->max) {
			*why = k->name;
			return R_INVALID;
		}
		memcpy((char *)&s + k->off, &n, sizeof(n));
	}
	if (s.listen[0] == '\0') {
		r = instance_path("run/stream.sock", s.listen, sizeof(s.listen));
		if (r != R_OK) {
			*why = "SANDPIT_STREAM_LISTEN";
			return r;
		}
	}
	*out = s;
	return R_OK;
}

void settings_print(const struct settings *s, FILE *out)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		if (k->kind == K_STR)
			fprintf(out, "%s=%s\n", k->name, (const char *)s + k->off);
		else {
			long long n;

			memcpy(&n, (const char *)s + k->off, sizeof(n));
			fprintf(out, "%s=%lld\n", k->name, n);
		}
	}
}
