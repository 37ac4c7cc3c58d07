/* config.h: the configuration table. Values come from the built-in defaults,
 * then an optional file (SANDPIT_CONFIG, KEY=VALUE lines), then the process
 * environment; each is checked against the table's type and bounds, string
 * keys against their format (cpus, memory, log level, hex key...), and keys
 * against each other. Most keys are then bound to the typed members of
 * struct config, read through config(): a typo is a compile error, not a
 * run-time abort. After config_load the values are read-only. */
#ifndef SANDPIT_CONFIG_H
#define SANDPIT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/log.h"
#include "core/result.h"

/* struct config: every bound key, parsed and validated once by config_load.
 * Strings are never NULL (empty when unset). Keys without a member here are
 * read with config_str/config_int/config_bool. */
struct config {
	/* the instance */
	const char *state_dir;	    /* SANDPIT_STATE_DIR */
	const char *database_url;   /* SANDPIT_DATABASE_URL (secret) */
	const char *fcgi_listen;    /* SANDPIT_FCGI_LISTEN */
	const char *boxd_socket;    /* SANDPIT_BOXD_SOCKET */
	const char *log_level_name; /* SANDPIT_LOG_LEVEL */
	enum log_level log_level;   /* SANDPIT_LOG_LEVEL, parsed */
	/* the API */
	long long workers;		 /* SANDPIT_WORKERS */
	long long threads;		 /* SANDPIT_THREADS */
	long long max_body;		 /* SANDPIT_MAX_BODY (bytes) */
	long long exec_output_cap;	 /* SANDPIT_EXEC_OUTPUT_CAP (bytes) */
	long long exec_max_timeout;	 /* SANDPIT_EXEC_MAX_TIMEOUT (s) */
	long long long_requests;	 /* SANDPIT_LONG_REQUESTS, 0 = derived */
	long long long_requests_per_org; /* SANDPIT_LONG_REQUESTS_PER_ORG */
	long long files_max_upload;	 /* SANDPIT_FILES_MAX_UPLOAD (bytes) */
	long long files_max_json;	 /* SANDPIT_FILES_MAX_JSON (bytes) */
	/* authentication and rates */
	const char *jwt_secret;	      /* SANDPIT_JWT_SECRET (secret), "" = no JWT */
	const char *secret_key;	      /* SANDPIT_SECRET_KEY (secret): "" or 64 hex chars */
	long long rate_limit;	      /* SANDPIT_RATE_LIMIT (per minute) */
	long long rate_burst;	      /* SANDPIT_RATE_BURST */
	long long org_rate_limit;     /* SANDPIT_ORG_RATE_LIMIT (per minute) */
	long long org_rate_burst;     /* SANDPIT_ORG_RATE_BURST */
	long long max_keys_per_org;   /* SANDPIT_MAX_KEYS_PER_ORG */
	bool registration_open;	      /* SANDPIT_REGISTRATION == "open" */
	long long registration_rate;  /* SANDPIT_REGISTRATION_RATE (per hour) */
	long long registration_burst; /* SANDPIT_REGISTRATION_BURST */
	/* sandboxes */
	const char *default_cpus;	 /* DEFAULT_CPUS, as written */
	uint32_t default_cpu_millis;	 /* DEFAULT_CPUS, parsed (reslimit) */
	const char *default_memory;	 /* DEFAULT_MEMORY, as written */
	uint64_t default_memory_bytes;	 /* DEFAULT_MEMORY, parsed (reslimit) */
	long long default_timeout;	 /* DEFAULT_TIMEOUT (s) */
	long long max_timeout;		 /* SANDPIT_MAX_TIMEOUT (s) */
	long long max_memory;		 /* SANDPIT_MAX_MEMORY (bytes) */
	long long max_cpus;		 /* SANDPIT_MAX_CPUS (millicores) */
	long long max_sandboxes_per_org; /* MAX_SANDBOXES_PER_ORG */
	long long workspace_size;	 /* SANDPIT_WORKSPACE_SIZE (bytes) */
	long long tmp_size;		 /* SANDPIT_TMP_SIZE (bytes) */
	long long pids_limit;		 /* SANDPIT_PIDS_LIMIT */
	const char *exec_backend;	 /* SANDBOX_EXEC_BACKEND: "local" */
	/* images */
	const char *image_cache;   /* SANDPIT_IMAGE_CACHE */
	const char *image_recipes; /* SANDPIT_IMAGE_RECIPES */
	const char *image_mirror;  /* SANDPIT_IMAGE_MIRROR: http(s) URL */
	const char *image_suite;   /* SANDPIT_IMAGE_SUITE */
	bool images;		   /* SANDPIT_IMAGES: template-less creates boot 'default' */
	/* secrets at rest */
	const char *secret_keys; /* SANDPIT_SECRET_KEYS: ID:HEX64,... (first current) */
	/* jobs (tools/runner) */
	long long job_runner_threads;	  /* SANDPIT_JOB_RUNNER_THREADS */
	long long job_max_per_org;	  /* SANDPIT_JOB_MAX_PER_ORG */
	long long job_max_per_host;	  /* SANDPIT_JOB_MAX_PER_HOST */
	long long job_lease;		  /* SANDPIT_JOB_LEASE (s) */
	long long job_max_code;		  /* SANDPIT_JOB_MAX_CODE (bytes) */
	long long job_max_tests;	  /* SANDPIT_JOB_MAX_TESTS */
	long long job_max_timeout_ms;	  /* SANDPIT_JOB_MAX_TIMEOUT_MS */
	long long job_compile_timeout_ms; /* SANDPIT_JOB_COMPILE_TIMEOUT_MS */
	long long job_output_limit;	  /* SANDPIT_JOB_OUTPUT_LIMIT (bytes) */
	/* the reaper and the warm pool */
	bool warm_pool_enabled;	   /* WARM_POOL_ENABLED */
	long long warm_pool_size;  /* WARM_POOL_SIZE */
	long long reaper_interval; /* SANDPIT_REAPER_INTERVAL (s) */
	long long reaper_batch;	   /* SANDPIT_REAPER_BATCH */
	long long creating_grace;  /* SANDPIT_CREATING_GRACE (s) */
	long long stopping_grace;  /* SANDPIT_STOPPING_GRACE (s) */
	long long usage_interval;  /* SANDPIT_USAGE_INTERVAL (s) */
	/* the stream proxy */
	const char *stream_listen;		   /* SANDPIT_STREAM_LISTEN */
	long long stream_max_conns;		   /* SANDPIT_STREAM_MAX_CONNS */
	long long stream_send_buffer;		   /* SANDPIT_STREAM_SEND_BUFFER (bytes) */
	long long stream_max_message;		   /* SANDPIT_STREAM_MAX_MESSAGE (bytes) */
	long long stream_ping_interval;		   /* SANDPIT_STREAM_PING_INTERVAL (s) */
	long long stream_idle_timeout;		   /* SANDPIT_STREAM_IDLE_TIMEOUT (s), 0 = never */
	long long stream_handshake_timeout;	   /* SANDPIT_STREAM_HANDSHAKE_TIMEOUT (s) */
	long long stream_drain_timeout;		   /* SANDPIT_STREAM_DRAIN_TIMEOUT (s) */
	long long stream_kill_grace;		   /* SANDPIT_STREAM_KILL_GRACE (s) */
	long long stream_agent_connect_timeout_ms; /* SANDPIT_STREAM_AGENT_CONNECT_TIMEOUT */
	/* webhooks */
	bool allow_private_webhooks;	      /* SANDPIT_ALLOW_PRIVATE_WEBHOOKS */
	long long webhook_timeout_ms;	      /* SANDPIT_WEBHOOK_TIMEOUT_MS */
	long long webhook_connect_timeout_ms; /* SANDPIT_WEBHOOK_CONNECT_TIMEOUT_MS */
	long long webhook_max_attempts;	      /* SANDPIT_WEBHOOK_MAX_ATTEMPTS */
	long long webhook_backoff_base;	      /* SANDPIT_WEBHOOK_BACKOFF_BASE (s) */
	long long webhook_backoff_max;	      /* SANDPIT_WEBHOOK_BACKOFF_MAX (s) */
	long long webhook_batch;	      /* SANDPIT_WEBHOOK_BATCH */
	long long webhook_rounds;	      /* SANDPIT_WEBHOOK_ROUNDS */
};

/* config: the loaded configuration. Aborts if config_load has not yet
 * succeeded: reading settings before loading them is a programming error. */
const struct config *config(void);

/* config_load: read file + environment into the table. On failure, *why (a
 * static-lifetime or internal buffer) says which key and why. Call once,
 * before any thread starts. */
SP_MUST_CHECK enum result config_load(const char **why);

/* config_str: the value of a string (or any) key; never NULL for a known
 * key. Aborts on an unknown name: that is a programming error. Prefer
 * config()->member; these three are for keys without a member (yet). */
const char *config_str(const char *name);

/* config_int: the value of an integer, size or bool key. */
long long config_int(const char *name);

/* config_bool: the value of a bool key. */
bool config_bool(const char *name);

/* config_print: every key and value, secrets redacted, one per line. */
void config_print(FILE *out);

/* config_parse_size: "1024", "64k", "10MiB", "2Gi" → bytes. R_INVALID on a
 * malformed or overflowing value. */
SP_MUST_CHECK enum result config_parse_size(const char *s, long long *out);

/* config_parse_int: a whole decimal integer, nothing else. */
SP_MUST_CHECK enum result config_parse_int(const char *s, long long *out);

#endif
