/* config.c: a declarative table of settings (name, type, default, bounds),
 * like PgBouncer's. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum config_type { T_STR, T_INT, T_SIZE, T_BOOL };

struct setting {
	const char *name;
	enum config_type type;
	const char *def;
	long long min, max;
	bool secret;
	const char *help;
	const char *choices; /* T_STR: "a|b|c", the only values allowed; NULL: any */
	/* parsed value */
	char *str;
	long long num;
};

#define GiB (1024LL * 1024 * 1024)
#define MiB (1024LL * 1024)

#define S(n, t, d, lo, hi, sec, h)                                                               \
	{.name = (n), .type = (t), .def = (d), .min = (lo), .max = (hi), .secret = (sec), .help = (h)}
/* SC: a string that must be one of the '|'-separated choices. */
#define SC(n, d, ch, h) {.name = (n), .type = T_STR, .def = (d), .choices = (ch), .help = (h)}

static struct setting table[] = {
	S("SANDPIT_STATE_DIR", T_STR, "./var", 0, 0, false, "state directory of this instance"),
	S("SANDPIT_DATABASE_URL", T_STR, "", 0, 0, true,
	 "libpq conninfo; empty means the private cluster under the state directory"),
	S("SANDPIT_FCGI_LISTEN", T_STR, "", 0, 0, false,
	 "FastCGI socket path or :port; empty means <state>/run/api.sock"),
	S("SANDPIT_WORKERS", T_INT, "4", 1, 256, false, "API worker processes"),
	S("SANDPIT_THREADS", T_INT, "8", 1, 256, false, "request threads per worker process"),
	S("SANDPIT_MAX_BODY", T_SIZE, "1MiB", 1024, 64 * MiB, false, "largest JSON request body"),
	S("SANDPIT_JWT_SECRET", T_STR, "", 0, 0, true, "HS256 secret for bearer JWTs; empty disables JWT"),
	S("SANDPIT_SECRET_KEY", T_STR, "", 0, 0, true,
	 "64 hex chars: AES-256-GCM key for secrets at rest and signed tokens"),
	S("SANDPIT_RATE_LIMIT", T_INT, "600", 1, 10000000, false, "requests per minute per API key"),
	S("SANDPIT_RATE_BURST", T_INT, "120", 1, 10000000, false, "token bucket size per API key"),
	S("SANDPIT_ORG_RATE_LIMIT", T_INT, "1200", 1, 10000000, false,
	  "requests per minute per organization, all its keys and JWTs together"),
	S("SANDPIT_ORG_RATE_BURST", T_INT, "240", 1, 10000000, false,
	  "token bucket size per organization"),
	S("SANDPIT_MAX_KEYS_PER_ORG", T_INT, "50", 1, 1000000, false,
	  "live (unrevoked, unexpired) API keys per organization"),
	SC("SANDPIT_REGISTRATION", "open", "open|closed",
	   "open: anyone may POST /register; closed: only sandpit-admin creates organizations"),
	S("SANDPIT_REGISTRATION_RATE", T_INT, "10", 1, 10000000, false,
	  "registrations per hour per client address (REMOTE_ADDR; IPv6 per /64)"),
	S("SANDPIT_REGISTRATION_BURST", T_INT, "5", 1, 10000000, false,
	  "registrations one client address may make at once"),
	S("SANDPIT_LOG_LEVEL", T_STR, "info", 0, 0, false, "debug, info, warn or error"),
	S("SANDPIT_BOXD_SOCKET", T_STR, "", 0, 0, false,
	 "privileged sandbox daemon socket; empty means <state>/box/run/boxd.sock"),
	S("SANDPIT_EXEC_OUTPUT_CAP", T_SIZE, "1MiB", 1024, 64 * MiB, false,
	 "cap on each of stdout and stderr in a synchronous execute's response, as JSON-encoded "
	 "bytes (what a request may cost the API process; stream or download for more)"),
	S("SANDPIT_LONG_REQUESTS_PER_ORG", T_INT, "8", 1, 1000000, false,
	 "long requests (execute, file transfers, webhook tests) one org may have in flight on one "
	 "API host; more get 429 concurrency_limited"),
	S("SANDPIT_LONG_REQUESTS", T_INT, "0", 0, 1000000, false,
	 "long requests in flight on one API host, all orgs; 0 means 3/4 of SANDPIT_WORKERS x "
	 "SANDPIT_THREADS; always below that product, so cheap requests keep threads"),
	S("SANDPIT_FILES_MAX_UPLOAD", T_SIZE, "100MiB", 1024, 1024 * GiB, false,
	 "largest raw file upload (PUT .../files)"),
	S("SANDPIT_FILES_MAX_JSON", T_SIZE, "64MiB", 1024, 1 * GiB, false,
	 "largest JSON files body (POST .../files) and JSON file read"),
	S("SANDPIT_EXEC_MAX_TIMEOUT", T_INT, "3600", 1, 86400, false, "largest per-execute timeout (s)"),
	S("SANDPIT_WORKSPACE_SIZE", T_SIZE, "1GiB", 1 * MiB, 1024 * GiB, false, "size of /workspace"),
	S("SANDPIT_TMP_SIZE", T_SIZE, "256MiB", 1 * MiB, 1024 * GiB, false, "size of /tmp"),
	S("SANDPIT_PIDS_LIMIT", T_INT, "256", 8, 1000000, false, "processes per sandbox"),
	S("SANDPIT_IMAGE_CACHE", T_STR, "/var/cache/sandpit/images", 0, 0, false,
	  "built image layers, shared by every instance on the machine"),
	S("SANDPIT_IMAGES", T_BOOL, "off", 0, 1, false,
	  "sandboxes created without a template boot from the 'default' image (it must be "
	  "built); off: they get the host-directories root of before images"),
	S("SANDPIT_IMAGE_RECIPES", T_STR, "etc/images", 0, 0, false,
	  "directory of the image recipes (NAME.image)"),
	S("SANDPIT_IMAGE_MIRROR", T_STR, "http://deb.debian.org/debian", 0, 0, false,
	  "Debian mirror the base image is built from"),
	S("SANDPIT_IMAGE_SUITE", T_STR, "bookworm", 0, 0, false, "Debian suite of the images"),
	S("SANDPIT_MAX_TIMEOUT", T_INT, "86400", 1, 31536000, false, "largest sandbox lifetime (s)"),
	S("DEFAULT_CPUS", T_STR, "2", 0, 0, false, "CPU limit of a new sandbox"),
	S("DEFAULT_MEMORY", T_STR, "2Gi", 0, 0, false, "memory limit of a new sandbox"),
	S("DEFAULT_TIMEOUT", T_INT, "600", 1, 31536000, false, "lifetime of a new sandbox (s)"),
	S("SANDPIT_MAX_MEMORY", T_SIZE, "8GiB", 16 * MiB, 1024 * GiB, false,
	  "largest memory a sandbox may ask for (host protection)"),
	S("SANDPIT_MAX_CPUS", T_INT, "4000", 10, 1024000, false,
	  "largest CPU limit a sandbox may ask for, in millicores"),
	S("MAX_SANDBOXES_PER_ORG", T_INT, "5", 1, 1000000, false, "running sandboxes per org"),
	S("SANDBOX_EXEC_BACKEND", T_STR, "local", 0, 0, false, "local, kubernetes (or kubectl)"),
	S("WARM_POOL_ENABLED", T_BOOL, "false", 0, 1, false, "keep ready sandboxes"),
	S("WARM_POOL_SIZE", T_INT, "4", 0, 10000, false, "ready sandboxes kept by the reaper"),
	S("SANDPIT_REAPER_INTERVAL", T_INT, "30", 1, 86400, false,
	 "seconds between sweeps of sandpit-reaper --loop (unless --interval)"),
	S("SANDPIT_REAPER_BATCH", T_INT, "100", 1, 10000, false,
	 "rows one reaper claims per statement (FOR UPDATE SKIP LOCKED)"),
	S("SANDPIT_CREATING_GRACE", T_INT, "300", 1, 86400, false,
	 "seconds a sandbox may stay 'creating' before the reaper fails it"),
	S("SANDPIT_STOPPING_GRACE", T_INT, "60", 0, 86400, false,
	 "seconds a sandbox may stay 'stopping' before the reaper finishes the stop"),
	S("SANDPIT_USAGE_INTERVAL", T_INT, "60", 0, 86400, false,
	 "seconds between usage samples of one running sandbox (0: every sweep)"),
	S("SANDPIT_STREAM_LISTEN", T_STR, "", 0, 0, false,
	  "stream proxy socket path or host:port; empty: <state>/run/stream.sock"),
	S("SANDPIT_STREAM_MAX_CONNS", T_INT, "4096", 1, 1000000, false,
	  "open stream connections; more are refused with 503"),
	S("SANDPIT_STREAM_SEND_BUFFER", T_SIZE, "1MiB", 64 * 1024, 256 * MiB, false,
	  "output queued to one client before reading from its command pauses"),
	S("SANDPIT_STREAM_MAX_MESSAGE", T_SIZE, "1MiB", 4096, 16 * MiB, false,
	  "largest client message (close 1009 past it)"),
	S("SANDPIT_STREAM_PING_INTERVAL", T_INT, "20", 1, 3600, false,
	  "seconds between pings; no frame for 3 intervals = client gone"),
	S("SANDPIT_STREAM_IDLE_TIMEOUT", T_INT, "900", 0, 86400 * 7, false,
	  "seconds without a message either way before close 1001; 0 disables"),
	S("SANDPIT_STREAM_HANDSHAKE_TIMEOUT", T_INT, "10", 1, 300, false,
	  "seconds to send the upgrade request"),
	S("SANDPIT_STREAM_DRAIN_TIMEOUT", T_INT, "10", 0, 3600, false,
	  "seconds streams get to close on SIGTERM"),
	S("SANDPIT_STREAM_KILL_GRACE", T_INT, "2", 0, 60, false,
	  "seconds between SIGHUP and SIGKILL of a command whose client went away"),
	S("SANDPIT_STREAM_AGENT_CONNECT_TIMEOUT", T_INT, "2000", 10, 60000, false,
	  "milliseconds to reach a sandbox agent"),
	S("SANDPIT_ALLOW_PRIVATE_WEBHOOKS", T_BOOL, "false", 0, 1, false,
	 "let webhooks target loopback/private addresses (tests only)"),
	S("SANDPIT_WEBHOOK_TIMEOUT_MS", T_INT, "10000", 100, 120000, false,
	 "total time one webhook POST may take (ms)"),
	S("SANDPIT_WEBHOOK_CONNECT_TIMEOUT_MS", T_INT, "5000", 100, 60000, false,
	 "time to connect to a webhook receiver (ms)"),
	S("SANDPIT_WEBHOOK_MAX_ATTEMPTS", T_INT, "8", 1, 50, false,
	 "attempts per delivery before it is marked failed"),
	S("SANDPIT_WEBHOOK_BACKOFF_BASE", T_INT, "10", 1, 86400, false,
	 "first retry delay (s); doubles per attempt, with jitter"),
	S("SANDPIT_WEBHOOK_BACKOFF_MAX", T_INT, "3600", 1, 604800, false, "longest retry delay (s)"),
	S("SANDPIT_WEBHOOK_BATCH", T_INT, "64", 1, 1024, false,
	 "webhook deliveries POSTed in parallel per round"),
	S("SANDPIT_WEBHOOK_ROUNDS", T_INT, "16", 1, 100000, false,
	 "rounds of deliveries per sweep (bounds one sweep's work)"),
};

#define NSETTINGS (sizeof(table) / sizeof(table[0]))

static struct setting *find(const char *name)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

enum result config_parse_int(const char *s, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return R_INVALID;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return R_INVALID;
	*out = v;
	return R_OK;
}

enum result config_parse_size(const char *s, long long *out)
{
	static const struct {
		const char *suffix;
		long long mul;
	} units[] = {
	    {"", 1},
	    {"b", 1},
	    {"k", 1024},
	    {"kb", 1024},
	    {"kib", 1024},
	    {"ki", 1024},
	    {"m", MiB},
	    {"mb", MiB},
	    {"mib", MiB},
	    {"mi", MiB},
	    {"g", GiB},
	    {"gb", GiB},
	    {"gib", GiB},
	    {"gi", GiB},
	    {"t", 1024 * GiB},
	    {"ti", 1024 * GiB},
	    {"tib", 1024 * GiB},
	};
	char *end;
	long long v;

	if (s == NULL || !isdigit((unsigned char)*s))
		return R_INVALID;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return R_INVALID;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		if (v > LLONG_MAX / units[i].mul)
			return R_INVALID;
		*out = v * units[i].mul;
		return R_OK;
	}
	return R_INVALID;
}

static enum result parse_bool(const char *s, long long *out)
{
	if (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
	    strcasecmp(s, "on") == 0) {
		*out = 1;
		return R_OK;
	}
	if (strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 ||
	    strcasecmp(s, "off") == 0) {
		*out = 0;
		return R_OK;
	}
	return R_INVALID;
}

static char why_buf[256];

/* one_of: value is one of the '|'-separated words of choices. */
static bool one_of(const char *value, const char *choices)
{
	size_t n = strlen(value);

	while (*choices != '\0') {
		size_t w = strcspn(choices, "|");

		if (w == n && strncmp(choices, value, n) == 0)
			return true;
		choices += w;
		choices += *choices == '|';
	}
	return false;
}

/* set: parse value into the setting; on failure explain in why_buf. */
static enum result set(struct setting *st, const char *value, const char *origin)
{
	long long v = 0;
	enum result r = R_OK;
	char *copy;

	switch (st->type) {
	case T_STR:
		break;
	case T_INT:
		r = config_parse_int(value, &v);
		break;
	case T_SIZE:
		r = config_parse_size(value, &v);
		break;
	case T_BOOL:
		r = parse_bool(value, &v);
		break;
	}
	if (r == R_OK && st->type != T_STR && (v < st->min || v > st->max))
		r = R_INVALID;
	if (st->choices != NULL && !one_of(value, st->choices)) {
		snprintf(why_buf, sizeof(why_buf), "invalid value for '%s' from %s (one of %s)",
			 st->name, origin, st->choices);
		return R_INVALID;
	}
	if (r != R_OK) {
		snprintf(why_buf, sizeof(why_buf), "invalid value for '%s' from %s (bounds %lld..%lld)",
			 st->name, origin, st->min, st->max);
		return r;
	}
	copy = strdup(value);
	if (copy == NULL)
		return R_NO_MEMORY;
	free(st->str);
	st->str = copy;
	st->num = v;
	return R_OK;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* secret_exposed: a file that sets a secret (a non-empty value for a key
 * marked secret) must be readable by its owner only: whoever else can read
 * it can mint a JWT for any org or decrypt secrets at rest. */
static enum result secret_exposed(const char *path, FILE *f, const struct setting *st)
{
	struct stat sb;

	if (fstat(fileno(f), &sb) != 0) {
		snprintf(why_buf, sizeof(why_buf), "cannot stat config file '%s': %s", path,
			 strerror(errno));
		return R_INVALID;
	}
	if ((sb.st_mode & (S_IRGRP | S_IROTH)) == 0)
		return R_OK;
	snprintf(why_buf, sizeof(why_buf),
		 "config file '%s' sets secret '%s' but is readable by group or others (mode "
		 "%04o): chmod 600 it, owned by the user the services run as",
		 path, st->name, (unsigned)(sb.st_mode & 07777));
	return R_INVALID;
}

/* load_file: KEY=VALUE lines; '#' starts a comment line; unknown keys fail so
 * a typo never silently falls back to a default. */
static enum result load_file(const char *path)
{
	char line[4096];
	enum result r = R_OK;
	unsigned lineno = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		snprintf(why_buf, sizeof(why_buf), "cannot open config file '%s': %s", path,
			 strerror(errno));
		return R_INVALID;
	}
	while (r == R_OK && fgets(line, sizeof(line), f) != NULL) {
		char *eq, *key, *val = NULL;
		struct setting *st;

		lineno++;
		key = trim(line);
		if (*key == '#' || *key == '\0')
			continue;
		eq = strchr(key, '=');
		if (eq != NULL) {
			*eq = '\0';
			val = trim(eq + 1);
			key = trim(key);
		}
		st = eq ? find(key) : NULL;
		if (st == NULL) {
			snprintf(why_buf, sizeof(why_buf), "'%s' line %u: unknown or malformed setting",
				 path, lineno);
			r = R_INVALID;
			break;
		}
		if (st->secret && *val != '\0')
			r = secret_exposed(path, f, st);
		if (r == R_OK)
			r = set(st, val, path);
	}
	fclose(f);
	return r;
}

enum result config_load(const char **why)
{
	const char *file = getenv("SANDPIT_CONFIG");
	enum result r;

	*why = why_buf;
	for (size_t i = 0; i < NSETTINGS; i++) {
		r = set(&table[i], table[i].def, "defaults");
		if (r != R_OK)
			return r;
	}
	if (file != NULL && *file != '\0') {
		r = load_file(file);
		if (r != R_OK)
			return r;
	}
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = getenv(table[i].name);

		if (v == NULL)
			continue;
		r = set(&table[i], v, "environment");
		if (r != R_OK)
			return r;
	}
	return R_OK;
}

static struct setting *must_find(const char *name)
{
	struct setting *st = find(name);

	if (st == NULL || st->str == NULL) {
		fprintf(stderr, "config: unknown or unloaded key '%s'\n", name);
		abort();
	}
	return st;
}

const char *config_str(const char *name)
{
	return must_find(name)->str;
}

long long config_int(const char *name)
{
	return must_find(name)->num;
}

bool config_bool(const char *name)
{
	return must_find(name)->num != 0;
}

void config_print(FILE *out)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *st = &table[i];
		const char *v = st->str ? st->str : "";

		if (st->secret && *v != '\0')
			v = "<redacted>";
		fprintf(out, "%s=%s\t# %s\n", st->name, v, st->help);
	}
}
