/* config.c: a declarative table of settings (name, type, default, bounds),
 * like PgBouncer's; a second table binds keys to the typed members of struct
 * config, a third checks the format of string keys, and cross_checks holds
 * what keys must satisfy together. Over 700 lines on purpose: a key's row,
 * its typed member and its checks are kept side by side in one file. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/reslimit.h"

enum config_type { T_STR, T_INT, T_SIZE, T_BOOL };

struct setting {
	const char *name;
	enum config_type type;
	const char *def;
	long long min, max;
	bool secret;
	const char *help;
	const char *choices; /* T_STR: "a|b|c", the only values allowed; NULL: any */
	/* NULL or a format check beyond the type: NULL when value is fine, else
	 * why not (static text that never quotes the value: it may be a key) */
	const char *(*check)(const char *value);
	/* parsed value */
	char *str;
	long long num;
	const char *origin; /* "defaults", "environment" or the file's path */
};

#define GiB (1024LL * 1024 * 1024)
#define MiB (1024LL * 1024)

#define S(n, t, d, lo, hi, sec, h)                                                                 \
	{                                                                                          \
		.name = (n), .type = (t), .def = (d), .min = (lo), .max = (hi), .secret = (sec),   \
		.help = (h)                                                                        \
	}
/* SC: a string that must be one of the '|'-separated choices. */
#define SC(n, d, ch, h)                                                                            \
	{                                                                                          \
		.name = (n), .type = T_STR, .def = (d), .choices = (ch), .help = (h)               \
	}
/* SK: a string setting with a format check. */
#define SK(n, d, sec, chk, h)                                                                      \
	{                                                                                          \
		.name = (n), .type = T_STR, .def = (d), .secret = (sec), .check = (chk),           \
		.help = (h)                                                                        \
	}

#define AES_KEY_HEX 64 /* hex characters of an AES-256 key */
#define KEY_ID_MAX  32 /* bytes of a key id in SANDPIT_SECRET_KEYS */
#define KEYS_MAX    16 /* entries of SANDPIT_SECRET_KEYS */

/* is_key_hex: exactly AES_KEY_HEX hex characters at s, up to n. */
static bool is_key_hex(const char *s, size_t n)
{
	if (n != AES_KEY_HEX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static const char *check_aes_key(const char *v)
{
	return *v == '\0' || is_key_hex(v, strlen(v)) ? NULL : "must be empty or 64 hex characters";
}

/* check_key_ring: "ID:HEX64[,ID:HEX64...]", ids [A-Za-z0-9_-], distinct. */
static const char *check_key_ring(const char *v)
{
	const char *ids[KEYS_MAX];
	size_t idlen[KEYS_MAX], n = 0;

	while (*v != '\0') {
		size_t il = strcspn(v, ":,"), kl;

		if (il == 0 || il > KEY_ID_MAX || v[il] != ':' ||
		    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") <
			il)
			return "each entry must be ID:HEX64 with an ID of 1 to 32 of [A-Za-z0-9_-]";
		kl = strcspn(v + il + 1, ",");
		if (!is_key_hex(v + il + 1, kl))
			return "each key must be 64 hex characters (32 bytes)";
		if (n == KEYS_MAX)
			return "at most 16 keys";
		for (size_t i = 0; i < n; i++)
			if (idlen[i] == il && memcmp(ids[i], v, il) == 0)
				return "a key id appears twice";
		ids[n] = v;
		idlen[n++] = il;
		v += il + 1 + kl;
		if (*v == ',' && *++v == '\0')
			return "a trailing comma";
	}
	return NULL;
}

static struct setting table[] = {
    S("SANDPIT_STATE_DIR", T_STR, "./var", 0, 0, false, "state directory of this instance"),
    S("SANDPIT_DATABASE_URL", T_STR, "", 0, 0, true,
      "libpq conninfo; empty means the private cluster under the state directory"),
    S("SANDPIT_FCGI_LISTEN", T_STR, "", 0, 0, false,
      "FastCGI socket path or :port; empty means <state>/run/api.sock"),
    S("SANDPIT_WORKERS", T_INT, "4", 1, 256, false, "API worker processes"),
    S("SANDPIT_THREADS", T_INT, "8", 1, 256, false, "request threads per worker process"),
    S("SANDPIT_MAX_BODY", T_SIZE, "1MiB", 1024, 64 * MiB, false, "largest JSON request body"),
    S("SANDPIT_JWT_SECRET", T_STR, "", 0, 0, true,
      "HS256 secret for bearer JWTs; empty disables JWT"),
    SK("SANDPIT_SECRET_KEY", "", true, check_aes_key,
       "64 hex chars: AES-256-GCM key for webhook secrets and signed tokens; key id 0 of secrets"),
    SK("SANDPIT_SECRET_KEYS", "", true, check_key_ring,
       "secrets' key ring ID:HEX64,...; the first is current (empty: SANDPIT_SECRET_KEY)"),
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
    S("SANDPIT_EXEC_MAX_TIMEOUT", T_INT, "3600", 1, 86400, false,
      "largest per-execute timeout (s)"),
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
    S("SANDBOX_EXEC_BACKEND", T_STR, "local", 0, 0, false,
      "local (sandpit-boxd on this host; the only backend built in)"),
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
    S("SANDPIT_JOB_RUNNER_THREADS", T_INT, "2", 1, 256, false,
      "jobs one sandpit-runner process runs at once"),
    S("SANDPIT_JOB_MAX_PER_ORG", T_INT, "2", 1, 100000, false,
      "jobs of one org running at once, all runners on all hosts"),
    S("SANDPIT_JOB_MAX_PER_HOST", T_INT, "4", 1, 100000, false,
      "jobs running at once on one runner host (all runners of that host)"),
    S("SANDPIT_JOB_LEASE", T_INT, "15", 2, 3600, false,
      "seconds a runner's claim on a job lasts without a heartbeat; a job whose "
      "lease expired is retried once, then failed"),
    S("SANDPIT_JOB_MAX_CODE", T_SIZE, "256KiB", 1, 16 * MiB, false,
      "largest 'code' of a job (413 past it)"),
    S("SANDPIT_JOB_MAX_TESTS", T_INT, "100", 1, 10000, false, "test cases per job"),
    S("SANDPIT_JOB_MAX_TIMEOUT_MS", T_INT, "60000", 100, 3600000, false,
      "largest CPU-time limit of one run or test case (ms)"),
    S("SANDPIT_JOB_COMPILE_TIMEOUT_MS", T_INT, "30000", 100, 3600000, false,
      "wall-clock limit of a job's compile step (ms); past it: compile_error"),
    S("SANDPIT_JOB_OUTPUT_LIMIT", T_SIZE, "1MiB", 1024, 64 * MiB, false,
      "stdout a run may write before its verdict is output_limit_exceeded"),
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
	return R_SUCCESS;
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
		return R_SUCCESS;
	}
	return R_INVALID;
}

static enum result parse_bool(const char *s, long long *out)
{
	if (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
	    strcasecmp(s, "on") == 0) {
		*out = 1;
		return R_SUCCESS;
	}
	if (strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 ||
	    strcasecmp(s, "off") == 0) {
		*out = 0;
		return R_SUCCESS;
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
	enum result r = R_SUCCESS;
	const char *bad;
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
	if (r == R_SUCCESS && st->type != T_STR && (v < st->min || v > st->max))
		r = R_INVALID;
	if (st->choices != NULL && !one_of(value, st->choices)) {
		snprintf(why_buf, sizeof(why_buf), "invalid value for '%s' from %s (one of %s)",
			 st->name, origin, st->choices);
		return R_INVALID;
	}
	if (r != R_SUCCESS) {
		snprintf(why_buf, sizeof(why_buf),
			 "invalid value for '%s' from %s (bounds %lld..%lld)", st->name, origin,
			 st->min, st->max);
		return r;
	}
	if (st->check != NULL && (bad = st->check(value)) != NULL) {
		snprintf(why_buf, sizeof(why_buf), "invalid value for '%s' from %s: %s", st->name,
			 origin, bad);
		return R_INVALID;
	}
	copy = strdup(value);
	if (copy == NULL)
		return R_NO_MEMORY;
	free(st->str);
	st->str = copy;
	st->num = v;
	st->origin = origin;
	return R_SUCCESS;
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
		return R_SUCCESS;
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
	enum result r = R_SUCCESS;
	unsigned lineno = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		snprintf(why_buf, sizeof(why_buf), "cannot open config file '%s': %s", path,
			 strerror(errno));
		return R_INVALID;
	}
	while (r == R_SUCCESS && fgets(line, sizeof(line), f) != NULL) {
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
			snprintf(why_buf, sizeof(why_buf),
				 "'%s' line %u: unknown or malformed setting", path, lineno);
			r = R_INVALID;
			break;
		}
		if (st->secret && *val != '\0')
			r = secret_exposed(path, f, st);
		if (r == R_SUCCESS)
			r = set(st, val, path);
	}
	fclose(f);
	return r;
}

/* ---- typed binding ------------------------------------------------------ */

enum bind_kind { B_STR, B_NUM, B_BOOL };

struct binding {
	const char *name;
	size_t off;
	enum bind_kind kind;
};

/* MEMBER: the offset of m, which must have type ctype: binding a member of
 * another type is a compile error (a negative array size), not a bad read.
 * ctype is a type name, which parentheses would break. */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define MEMBER(m, ctype)                                                                           \
	(offsetof(struct config, m) +                                                              \
	 0 * sizeof(char[_Generic(((struct config *)0)->m, ctype : 1, default                      \
				  : -1)]))
/* NOLINTEND(bugprone-macro-parentheses) */
#define BSTR(n, m)                                                                                 \
	{                                                                                          \
		.name = (n), .off = MEMBER(m, const char *), .kind = B_STR                         \
	}
#define BNUM(n, m)                                                                                 \
	{                                                                                          \
		.name = (n), .off = MEMBER(m, long long), .kind = B_NUM                            \
	}
#define BBOOL(n, m)                                                                                \
	{                                                                                          \
		.name = (n), .off = MEMBER(m, bool), .kind = B_BOOL                                \
	}

static const struct binding bindings[] = {
    BSTR("SANDPIT_STATE_DIR", state_dir),
    BSTR("SANDPIT_DATABASE_URL", database_url),
    BSTR("SANDPIT_FCGI_LISTEN", fcgi_listen),
    BSTR("SANDPIT_BOXD_SOCKET", boxd_socket),
    BSTR("SANDPIT_LOG_LEVEL", log_level_name),
    BNUM("SANDPIT_WORKERS", workers),
    BNUM("SANDPIT_THREADS", threads),
    BNUM("SANDPIT_MAX_BODY", max_body),
    BNUM("SANDPIT_EXEC_OUTPUT_CAP", exec_output_cap),
    BNUM("SANDPIT_EXEC_MAX_TIMEOUT", exec_max_timeout),
    BNUM("SANDPIT_LONG_REQUESTS", long_requests),
    BNUM("SANDPIT_LONG_REQUESTS_PER_ORG", long_requests_per_org),
    BNUM("SANDPIT_FILES_MAX_UPLOAD", files_max_upload),
    BNUM("SANDPIT_FILES_MAX_JSON", files_max_json),
    BSTR("SANDPIT_JWT_SECRET", jwt_secret),
    BSTR("SANDPIT_SECRET_KEY", secret_key),
    BNUM("SANDPIT_RATE_LIMIT", rate_limit),
    BNUM("SANDPIT_RATE_BURST", rate_burst),
    BNUM("SANDPIT_ORG_RATE_LIMIT", org_rate_limit),
    BNUM("SANDPIT_ORG_RATE_BURST", org_rate_burst),
    BNUM("SANDPIT_MAX_KEYS_PER_ORG", max_keys_per_org),
    BNUM("SANDPIT_REGISTRATION_RATE", registration_rate),
    BNUM("SANDPIT_REGISTRATION_BURST", registration_burst),
    BSTR("DEFAULT_CPUS", default_cpus),
    BSTR("DEFAULT_MEMORY", default_memory),
    BNUM("DEFAULT_TIMEOUT", default_timeout),
    BNUM("SANDPIT_MAX_TIMEOUT", max_timeout),
    BNUM("SANDPIT_MAX_MEMORY", max_memory),
    BNUM("SANDPIT_MAX_CPUS", max_cpus),
    BNUM("MAX_SANDBOXES_PER_ORG", max_sandboxes_per_org),
    BNUM("SANDPIT_WORKSPACE_SIZE", workspace_size),
    BNUM("SANDPIT_TMP_SIZE", tmp_size),
    BNUM("SANDPIT_PIDS_LIMIT", pids_limit),
    BSTR("SANDBOX_EXEC_BACKEND", exec_backend),
    BSTR("SANDPIT_IMAGE_CACHE", image_cache),
    BSTR("SANDPIT_IMAGE_RECIPES", image_recipes),
    BSTR("SANDPIT_IMAGE_MIRROR", image_mirror),
    BSTR("SANDPIT_IMAGE_SUITE", image_suite),
    BBOOL("SANDPIT_IMAGES", images),
    BSTR("SANDPIT_SECRET_KEYS", secret_keys),
    BNUM("SANDPIT_JOB_RUNNER_THREADS", job_runner_threads),
    BNUM("SANDPIT_JOB_MAX_PER_ORG", job_max_per_org),
    BNUM("SANDPIT_JOB_MAX_PER_HOST", job_max_per_host),
    BNUM("SANDPIT_JOB_LEASE", job_lease),
    BNUM("SANDPIT_JOB_MAX_CODE", job_max_code),
    BNUM("SANDPIT_JOB_MAX_TESTS", job_max_tests),
    BNUM("SANDPIT_JOB_MAX_TIMEOUT_MS", job_max_timeout_ms),
    BNUM("SANDPIT_JOB_COMPILE_TIMEOUT_MS", job_compile_timeout_ms),
    BNUM("SANDPIT_JOB_OUTPUT_LIMIT", job_output_limit),
    BBOOL("WARM_POOL_ENABLED", warm_pool_enabled),
    BNUM("WARM_POOL_SIZE", warm_pool_size),
    BNUM("SANDPIT_REAPER_INTERVAL", reaper_interval),
    BNUM("SANDPIT_REAPER_BATCH", reaper_batch),
    BNUM("SANDPIT_CREATING_GRACE", creating_grace),
    BNUM("SANDPIT_STOPPING_GRACE", stopping_grace),
    BNUM("SANDPIT_USAGE_INTERVAL", usage_interval),
    BSTR("SANDPIT_STREAM_LISTEN", stream_listen),
    BNUM("SANDPIT_STREAM_MAX_CONNS", stream_max_conns),
    BNUM("SANDPIT_STREAM_SEND_BUFFER", stream_send_buffer),
    BNUM("SANDPIT_STREAM_MAX_MESSAGE", stream_max_message),
    BNUM("SANDPIT_STREAM_PING_INTERVAL", stream_ping_interval),
    BNUM("SANDPIT_STREAM_IDLE_TIMEOUT", stream_idle_timeout),
    BNUM("SANDPIT_STREAM_HANDSHAKE_TIMEOUT", stream_handshake_timeout),
    BNUM("SANDPIT_STREAM_DRAIN_TIMEOUT", stream_drain_timeout),
    BNUM("SANDPIT_STREAM_KILL_GRACE", stream_kill_grace),
    BNUM("SANDPIT_STREAM_AGENT_CONNECT_TIMEOUT", stream_agent_connect_timeout_ms),
    BBOOL("SANDPIT_ALLOW_PRIVATE_WEBHOOKS", allow_private_webhooks),
    BNUM("SANDPIT_WEBHOOK_TIMEOUT_MS", webhook_timeout_ms),
    BNUM("SANDPIT_WEBHOOK_CONNECT_TIMEOUT_MS", webhook_connect_timeout_ms),
    BNUM("SANDPIT_WEBHOOK_MAX_ATTEMPTS", webhook_max_attempts),
    BNUM("SANDPIT_WEBHOOK_BACKOFF_BASE", webhook_backoff_base),
    BNUM("SANDPIT_WEBHOOK_BACKOFF_MAX", webhook_backoff_max),
    BNUM("SANDPIT_WEBHOOK_BATCH", webhook_batch),
    BNUM("SANDPIT_WEBHOOK_ROUNDS", webhook_rounds),
};

/* the one instance; written only by config_load, before threads start */
static struct config loaded;
static bool is_loaded;

/* ---- format of string keys ---------------------------------------------- */

/* Each returns NULL when v is acceptable, else why not (static text). */

static const char *not_empty(const char *v)
{
	return *v == '\0' ? "must not be empty" : NULL;
}

static const char *is_cpus(const char *v)
{
	uint32_t millis;

	return reslimit_parse_cpus(v, &millis) == R_SUCCESS
		   ? NULL
		   : "not a CPU quantity (\"2\", \"0.5\", \"500m\"; above zero, at most 1024)";
}

static const char *is_memory(const char *v)
{
	uint64_t bytes;

	return reslimit_parse_memory(v, &bytes) == R_SUCCESS
		   ? NULL
		   : "not a memory quantity (\"512Mi\", \"2Gi\", \"1G\", bytes; above zero)";
}

static const char *is_log_level(const char *v)
{
	return one_of(v, "debug|info|warn|error") ? NULL : "one of debug|info|warn|error";
}

static const char *is_backend(const char *v)
{
	return strcmp(v, "local") == 0 ? NULL : "must be 'local', the only backend built in";
}

/* is_socket_path: empty (the default under the state directory) or a path
 * that fits a sockaddr_un (108 bytes with its NUL). */
static const char *is_socket_path(const char *v)
{
	return strlen(v) >= 108 ? "longer than a unix socket path may be (107 bytes)" : NULL;
}

/* is_listen: empty, a unix socket path, or [host]:port */
static const char *is_listen(const char *v)
{
	const char *colon = strrchr(v, ':');
	long long port;

	if (*v == '\0' || v[0] == '/' || v[0] == '.')
		return is_socket_path(v);
	if (strncmp(v, "unix:", 5) == 0)
		return is_socket_path(v + 5);
	if (colon == NULL || config_parse_int(colon + 1, &port) != R_SUCCESS || port < 1 ||
	    port > 65535)
		return "must be a socket path (starting with / or .) or [host]:port";
	return colon - v >= 64 ? "host name too long" : NULL;
}

static const char *is_http_url(const char *v)
{
	return strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0
		   ? NULL
		   : "must be an http:// or https:// URL";
}

/* is_suite: a Debian suite name goes into a URL path and a directory name */
static const char *is_suite(const char *v)
{
	if (*v == '\0' || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v))
		return "must be a Debian suite name (lower-case letters, digits, '-')";
	return NULL;
}

static const struct format {
	const char *name;
	const char *(*check)(const char *v);
} formats[] = {
    {"SANDPIT_STATE_DIR", not_empty},	     {"SANDPIT_FCGI_LISTEN", is_listen},
    {"SANDPIT_BOXD_SOCKET", is_socket_path}, {"SANDPIT_STREAM_LISTEN", is_listen},
    {"SANDPIT_LOG_LEVEL", is_log_level},     {"DEFAULT_CPUS", is_cpus},
    {"DEFAULT_MEMORY", is_memory},	     {"SANDBOX_EXEC_BACKEND", is_backend},
    {"SANDPIT_IMAGE_CACHE", not_empty},	     {"SANDPIT_IMAGE_RECIPES", not_empty},
    {"SANDPIT_IMAGE_MIRROR", is_http_url},   {"SANDPIT_IMAGE_SUITE", is_suite},
};

/* refuse: explain in why_buf why key's value is refused; the value itself
 * is quoted unless the key is secret. */
static enum result refuse(const struct setting *st, const char *reason)
{
	if (st->secret)
		snprintf(why_buf, sizeof(why_buf), "invalid value for '%s' from %s: %s", st->name,
			 st->origin, reason);
	else
		snprintf(why_buf, sizeof(why_buf), "invalid value '%.64s' for '%s' from %s: %s",
			 st->str, st->name, st->origin, reason);
	return R_INVALID;
}

/* internal: a table names a key the settings table does not have. */
static enum result internal(const char *table_name, const char *key)
{
	snprintf(why_buf, sizeof(why_buf), "internal: %s names unknown key '%s'", table_name, key);
	return R_INTERNAL;
}

static enum result check_formats(void)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		const struct setting *st = find(formats[i].name);
		const char *reason;

		if (st == NULL)
			return internal("the format table", formats[i].name);
		if ((reason = formats[i].check(st->str)) != NULL)
			return refuse(st, reason);
	}
	return R_SUCCESS;
}

/* bind_members: copy each bound key into its typed member of c. */
static enum result bind_members(struct config *c)
{
	const struct setting *st;

	for (size_t i = 0; i < sizeof(bindings) / sizeof(bindings[0]); i++) {
		const struct binding *b = &bindings[i];
		char *at = (char *)c + b->off;

		if ((st = find(b->name)) == NULL)
			return internal("the binding table", b->name);
		if ((b->kind == B_BOOL) != (st->type == T_BOOL) ||
		    (b->kind == B_NUM) != (st->type == T_INT || st->type == T_SIZE))
			return internal("the binding table (wrong type)", b->name);
		if (b->kind == B_STR)
			memcpy(at, &st->str, sizeof(st->str));
		else if (b->kind == B_NUM)
			memcpy(at, &st->num, sizeof(st->num));
		else
			*(bool *)(void *)at = st->num != 0;
	}
	/* the parsed forms; check_formats already accepted the text */
	if (reslimit_parse_cpus(c->default_cpus, &c->default_cpu_millis) != R_SUCCESS ||
	    reslimit_parse_memory(c->default_memory, &c->default_memory_bytes) != R_SUCCESS)
		return internal("bind", "DEFAULT_CPUS/DEFAULT_MEMORY");
	c->log_level = log_level_from(c->log_level_name);
	if ((st = find("SANDPIT_REGISTRATION")) == NULL)
		return internal("bind", "SANDPIT_REGISTRATION");
	c->registration_open = strcmp(st->str, "open") == 0;
	return R_SUCCESS;
}

/* cross: refuse key's value when it breaks rule, which names the other key. */
static enum result cross(bool ok, const char *key, const char *rule)
{
	const struct setting *st = find(key);

	if (ok)
		return R_SUCCESS;
	if (st == NULL)
		return internal("cross_checks", key);
	return refuse(st, rule);
}

/* cross_checks: what no single row's bounds can say. */
static enum result cross_checks(const struct config *c)
{
	enum result r;

	if ((r = cross(c->default_timeout <= c->max_timeout, "DEFAULT_TIMEOUT",
		       "must not exceed SANDPIT_MAX_TIMEOUT")) != R_SUCCESS ||
	    (r = cross(c->exec_max_timeout <= c->max_timeout, "SANDPIT_EXEC_MAX_TIMEOUT",
		       "must not exceed SANDPIT_MAX_TIMEOUT (no command outlives its sandbox)")) !=
		R_SUCCESS ||
	    (r = cross(c->default_memory_bytes <= (uint64_t)c->max_memory, "DEFAULT_MEMORY",
		       "must not exceed SANDPIT_MAX_MEMORY")) != R_SUCCESS ||
	    (r = cross(c->default_cpu_millis <= (uint64_t)c->max_cpus, "DEFAULT_CPUS",
		       "must not exceed SANDPIT_MAX_CPUS (which is in millicores)")) != R_SUCCESS ||
	    (r = cross(c->long_requests < c->workers * c->threads, "SANDPIT_LONG_REQUESTS",
		       "must be below SANDPIT_WORKERS x SANDPIT_THREADS, so cheap requests keep "
		       "a thread")) != R_SUCCESS ||
	    (r = cross(c->webhook_backoff_base <= c->webhook_backoff_max,
		       "SANDPIT_WEBHOOK_BACKOFF_BASE",
		       "must not exceed SANDPIT_WEBHOOK_BACKOFF_MAX")) != R_SUCCESS ||
	    (r = cross(c->webhook_connect_timeout_ms <= c->webhook_timeout_ms,
		       "SANDPIT_WEBHOOK_CONNECT_TIMEOUT_MS",
		       "must not exceed SANDPIT_WEBHOOK_TIMEOUT_MS")) != R_SUCCESS)
		return r;
	return R_SUCCESS;
}

static enum result load_sources(void)
{
	const char *file = getenv("SANDPIT_CONFIG");
	enum result r;

	for (size_t i = 0; i < NSETTINGS; i++) {
		r = set(&table[i], table[i].def, "defaults");
		if (r != R_SUCCESS)
			return r;
	}
	if (file != NULL && *file != '\0') {
		r = load_file(file);
		if (r != R_SUCCESS)
			return r;
	}
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = getenv(table[i].name);

		if (v == NULL)
			continue;
		r = set(&table[i], v, "environment");
		if (r != R_SUCCESS)
			return r;
	}
	return R_SUCCESS;
}

enum result config_load(const char **why)
{
	struct config c;
	enum result r;

	*why = why_buf;
	is_loaded = false;
	memset(&c, 0, sizeof(c));
	if ((r = load_sources()) != R_SUCCESS || (r = check_formats()) != R_SUCCESS ||
	    (r = bind_members(&c)) != R_SUCCESS || (r = cross_checks(&c)) != R_SUCCESS)
		return r;
	loaded = c;
	is_loaded = true;
	return R_SUCCESS;
}

const struct config *config(void)
{
	if (!is_loaded) {
		fprintf(stderr, "config: read before config_load succeeded\n");
		abort();
	}
	return &loaded;
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
