/* test_config.c: size/int parsing vectors and loading from file + env. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "unit.h"

static void sizes(void)
{
	static const struct {
		const char *in;
		long long out;
		enum result r;
	} v[] = {
	    {"0", 0, R_SUCCESS},
	    {"1024", 1024, R_SUCCESS},
	    {"64k", 65536, R_SUCCESS},
	    {"10MiB", 10485760, R_SUCCESS},
	    {"2Gi", 2147483648LL, R_SUCCESS},
	    {"1g", 1073741824LL, R_SUCCESS},
	    {"", 0, R_INVALID},
	    {"-1", 0, R_INVALID},
	    {" 1", 0, R_INVALID},
	    {"1 k", 0, R_INVALID},
	    {"1x", 0, R_INVALID},
	    {"99999999999999999999", 0, R_INVALID},
	    {"9999999999Ti", 0, R_INVALID},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		long long out = -7;
		enum result r = config_parse_size(v[i].in, &out);

		CU_ASSERT_EQUAL(r, v[i].r);
		CU_ASSERT_EQUAL(out, r == R_SUCCESS ? v[i].out : -7);
	}
}

static void ints(void)
{
	long long v = -7;

	CU_ASSERT_EQUAL(config_parse_int("42", &v), R_SUCCESS);
	CU_ASSERT_EQUAL(v, 42);
	CU_ASSERT_EQUAL(config_parse_int("-3", &v), R_SUCCESS);
	CU_ASSERT_EQUAL(v, -3);
	v = -7;
	CU_ASSERT_EQUAL(config_parse_int("4x", &v), R_INVALID);
	CU_ASSERT_EQUAL(config_parse_int("", &v), R_INVALID);
	CU_ASSERT_EQUAL(config_parse_int(" 4", &v), R_INVALID);
	CU_ASSERT_EQUAL(config_parse_int("99999999999999999999", &v), R_INVALID);
	CU_ASSERT_EQUAL(v, -7);
}

/* with_file: write text to a temporary config file and point SANDPIT_CONFIG
 * at it. */
static void with_file(const char *text, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "/tmp/sandpit-config-test.%d", (int)getpid());
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	setenv("SANDPIT_CONFIG", path, 1);
}

static void load_order_and_validation(void)
{
	char path[128];
	const char *why;

	unsetenv("SANDPIT_WORKERS");
	with_file("# comment\nSANDPIT_WORKERS = 7\nDEFAULT_MEMORY=512Mi\n", path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(config_load(&why), R_SUCCESS);
	CU_ASSERT_EQUAL(config_int("SANDPIT_WORKERS"), 7);
	CU_ASSERT_STRING_EQUAL(config_str("DEFAULT_MEMORY"), "512Mi");
	CU_ASSERT_EQUAL(config_int("SANDPIT_MAX_BODY"), 1048576);
	/* the environment wins over the file */
	setenv("SANDPIT_WORKERS", "3", 1);
	CU_ASSERT_EQUAL_FATAL(config_load(&why), R_SUCCESS);
	CU_ASSERT_EQUAL(config_int("SANDPIT_WORKERS"), 3);
	/* out of bounds, malformed, unknown key, missing file */
	setenv("SANDPIT_WORKERS", "0", 1);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "SANDPIT_WORKERS"));
	setenv("SANDPIT_WORKERS", "many", 1);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	unsetenv("SANDPIT_WORKERS");
	with_file("SANDPIT_WORKRES=2\n", path, sizeof(path));
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	with_file("WARM_POOL_ENABLED=maybe\n", path, sizeof(path));
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	with_file("WARM_POOL_ENABLED=yes\n", path, sizeof(path));
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
	CU_ASSERT_TRUE(config_bool("WARM_POOL_ENABLED"));
	/* a string of fixed choices takes those only */
	with_file("SANDPIT_REGISTRATION=closed\n", path, sizeof(path));
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(config_str("SANDPIT_REGISTRATION"), "closed");
	with_file("SANDPIT_REGISTRATION=clos\n", path, sizeof(path));
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "open|closed"));
	with_file("SANDPIT_REGISTRATION=\n", path, sizeof(path));
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	unlink(path);
	setenv("SANDPIT_CONFIG", "/nonexistent/sandpit.conf", 1);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	unsetenv("SANDPIT_CONFIG");
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
}

/* A file that sets a secret is refused unless only its owner can read it;
 * without a secret (or with an empty one) any mode is fine. */
static void secrets_need_a_private_file(void)
{
	char path[128];
	const char *why;

	unsetenv("SANDPIT_JWT_SECRET");
	unsetenv("SANDPIT_SECRET_KEY");
	with_file("SANDPIT_JWT_SECRET=hunter2\n", path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0644), 0);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "SANDPIT_JWT_SECRET"));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "0644"));
	CU_ASSERT_PTR_NULL(strstr(why, "hunter2"));
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0640), 0);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0604), 0);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0600), 0);
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(config_str("SANDPIT_JWT_SECRET"), "hunter2");
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0400), 0);
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
	/* every key marked secret, not only the JWT one */
	with_file("SANDPIT_SECRET_KEY=00112233\n", path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0644), 0);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "SANDPIT_SECRET_KEY"));
	with_file("SANDPIT_DATABASE_URL=host=db password=x\n", path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0644), 0);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	/* no secret in it: readable is fine */
	with_file("SANDPIT_WORKERS=2\nSANDPIT_JWT_SECRET=\n", path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0644), 0);
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
	unlink(path);
	unsetenv("SANDPIT_CONFIG");
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
}

static void print_redacts_secrets(void)
{
	char buf[16384] = "";
	const char *why;
	FILE *f;

	setenv("SANDPIT_JWT_SECRET", "topsecretvalue", 1);
	CU_ASSERT_EQUAL_FATAL(config_load(&why), R_SUCCESS);
	f = fmemopen(buf, sizeof(buf) - 1, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	config_print(f);
	fclose(f);
	CU_ASSERT_PTR_NULL(strstr(buf, "topsecretvalue"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "SANDPIT_JWT_SECRET=<redacted>"));
	unsetenv("SANDPIT_JWT_SECRET");
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
}

/* The shipped example, every key uncommented, must load as it is. */
static void example_file_is_valid(void)
{
	char line[1024], path[128];
	const char *why;
	FILE *in = fopen("etc/sandpit.conf.example", "r"), *out;

	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	snprintf(path, sizeof(path), "/tmp/sandpit-config-example.%d", (int)getpid());
	out = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	while (fgets(line, sizeof(line), in) != NULL)
		fputs(line[0] == '#' && line[1] >= 'A' && line[1] <= 'Z' ? line + 1 : line, out);
	fclose(in);
	fclose(out);
	setenv("SANDPIT_CONFIG", path, 1);
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
	unsetenv("SANDPIT_CONFIG");
	unlink(path);
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
}

/* Every checked key refuses each bad value at load, naming the key (and,
 * for a cross-key rule, the other key): nothing reaches a request. */
static void bad_values_are_refused_with_the_key(void)
{
	static const struct {
		const char *key, *value, *also; /* also: a second name the reason gives */
	} bad[] = {
	    {"DEFAULT_MEMORY", "lots", NULL},
	    {"DEFAULT_MEMORY", "0", NULL},
	    {"DEFAULT_MEMORY", "-1Gi", NULL},
	    {"DEFAULT_MEMORY", "2GiB", NULL},
	    {"DEFAULT_MEMORY", "", NULL},
	    {"DEFAULT_CPUS", "two", NULL},
	    {"DEFAULT_CPUS", "0", NULL},
	    {"DEFAULT_CPUS", "0.0001", NULL},
	    {"DEFAULT_CPUS", "2000", NULL},
	    {"DEFAULT_CPUS", "", NULL},
	    {"SANDBOX_EXEC_BACKEND", "kubernetes", NULL},
	    {"SANDBOX_EXEC_BACKEND", "", NULL},
	    {"SANDPIT_LOG_LEVEL", "verbose", NULL},
	    {"SANDPIT_LOG_LEVEL", "INFO", NULL},
	    {"SANDPIT_LOG_LEVEL", "", NULL},
	    {"SANDPIT_SECRET_KEY", "00112233", NULL},
	    {"SANDPIT_SECRET_KEY", "0011223344556677889900112233445566778899001122334455667788990g",
	     NULL},
	    {"SANDPIT_SECRET_KEY",
	     "00112233445566778899001122334455667788990011223344556677889900112", NULL},
	    {"SANDPIT_STATE_DIR", "", NULL},
	    {"SANDPIT_FCGI_LISTEN", "localhost", NULL},
	    {"SANDPIT_FCGI_LISTEN", ":0", NULL},
	    {"SANDPIT_FCGI_LISTEN", ":70000", NULL},
	    {"SANDPIT_STREAM_LISTEN", "127.0.0.1:http", NULL},
	    {"SANDPIT_STREAM_LISTEN",
	     "/0123456789012345678901234567890123456789012345678901234567890123456789"
	     "0123456789012345678901234567890123456789.sock",
	     NULL},
	    {"SANDPIT_BOXD_SOCKET",
	     "/0123456789012345678901234567890123456789012345678901234567890123456789"
	     "0123456789012345678901234567890123456789.sock",
	     NULL},
	    {"SANDPIT_IMAGE_MIRROR", "deb.debian.org/debian", NULL},
	    {"SANDPIT_IMAGE_SUITE", "../etc", NULL},
	    {"SANDPIT_IMAGE_SUITE", "", NULL},
	    {"SANDPIT_IMAGE_CACHE", "", NULL},
	    {"SANDPIT_IMAGE_RECIPES", "", NULL},
	    {"SANDPIT_REGISTRATION", "maybe", NULL},
	    {"WARM_POOL_ENABLED", "sometimes", NULL},
	    {"SANDPIT_WORKERS", "0", NULL},
	    {"SANDPIT_MAX_BODY", "1", NULL},
	    /* keys against each other (defaults of the other key) */
	    {"DEFAULT_TIMEOUT", "86401", "SANDPIT_MAX_TIMEOUT"},
	    {"DEFAULT_MEMORY", "9Gi", "SANDPIT_MAX_MEMORY"},
	    {"DEFAULT_CPUS", "5", "SANDPIT_MAX_CPUS"},
	    {"SANDPIT_LONG_REQUESTS", "32", "SANDPIT_WORKERS"},
	    {"SANDPIT_WEBHOOK_BACKOFF_BASE", "3601", "SANDPIT_WEBHOOK_BACKOFF_MAX"},
	    {"SANDPIT_WEBHOOK_CONNECT_TIMEOUT_MS", "10001", "SANDPIT_WEBHOOK_TIMEOUT_MS"},
	};
	const char *why;

	unsetenv("SANDPIT_CONFIG");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum result r;

		setenv(bad[i].key, bad[i].value, 1);
		r = config_load(&why);
		unsetenv(bad[i].key);
		if (r != R_INVALID || strstr(why, bad[i].key) == NULL ||
		    (bad[i].also != NULL && strstr(why, bad[i].also) == NULL))
			fprintf(stderr, "\n  %s=%s: r=%d why=%s\n", bad[i].key, bad[i].value,
				(int)r, r == R_SUCCESS ? "" : why);
		CU_ASSERT_EQUAL(r, R_INVALID);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, bad[i].key));
		if (bad[i].also != NULL)
			CU_ASSERT_PTR_NOT_NULL(strstr(why, bad[i].also));
	}
	/* a secret's value is never quoted back */
	setenv("SANDPIT_SECRET_KEY", "not-hex-and-secret", 1);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	CU_ASSERT_PTR_NULL(strstr(why, "not-hex-and-secret"));
	unsetenv("SANDPIT_SECRET_KEY");
	/* the other side of a cross-key rule moves the limit */
	setenv("SANDPIT_MAX_TIMEOUT", "100", 1);
	setenv("SANDPIT_EXEC_MAX_TIMEOUT", "100", 1);
	setenv("DEFAULT_TIMEOUT", "101", 1);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "DEFAULT_TIMEOUT"));
	setenv("SANDPIT_EXEC_MAX_TIMEOUT", "101", 1);
	setenv("DEFAULT_TIMEOUT", "100", 1);
	CU_ASSERT_EQUAL(config_load(&why), R_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "SANDPIT_EXEC_MAX_TIMEOUT"));
	setenv("SANDPIT_EXEC_MAX_TIMEOUT", "100", 1); /* equal is fine */
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
	CU_ASSERT_EQUAL(config()->max_timeout, 100);
	unsetenv("SANDPIT_MAX_TIMEOUT");
	unsetenv("SANDPIT_EXEC_MAX_TIMEOUT");
	unsetenv("DEFAULT_TIMEOUT");
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
}

/* Good values arrive in the typed members, parsed. */
static void typed_members(void)
{
	const char *why;
	const char *key = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

	unsetenv("SANDPIT_CONFIG");
	setenv("DEFAULT_CPUS", "500m", 1);
	setenv("DEFAULT_MEMORY", "1.5Gi", 1);
	setenv("SANDPIT_LOG_LEVEL", "warn", 1);
	setenv("SANDPIT_SECRET_KEY", key, 1);
	setenv("SANDPIT_REGISTRATION", "closed", 1);
	setenv("SANDPIT_STREAM_LISTEN", "127.0.0.1:8081", 1);
	setenv("SANDPIT_WORKERS", "3", 1);
	setenv("WARM_POOL_ENABLED", "on", 1);
	CU_ASSERT_EQUAL_FATAL(config_load(&why), R_SUCCESS);
	CU_ASSERT_EQUAL(config()->default_cpu_millis, 500);
	CU_ASSERT_STRING_EQUAL(config()->default_cpus, "500m");
	CU_ASSERT_EQUAL(config()->default_memory_bytes, 1536ull << 20);
	CU_ASSERT_EQUAL(config()->log_level, LOG_WARN);
	CU_ASSERT_STRING_EQUAL(config()->secret_key, key);
	CU_ASSERT_FALSE(config()->registration_open);
	CU_ASSERT_STRING_EQUAL(config()->stream_listen, "127.0.0.1:8081");
	CU_ASSERT_EQUAL(config()->workers, 3);
	CU_ASSERT_EQUAL(config()->workers, config_int("SANDPIT_WORKERS"));
	CU_ASSERT_TRUE(config()->warm_pool_enabled);
	CU_ASSERT_EQUAL(config()->max_body, 1048576);
	CU_ASSERT_STRING_EQUAL(config()->database_url, "");
	unsetenv("DEFAULT_CPUS");
	unsetenv("DEFAULT_MEMORY");
	unsetenv("SANDPIT_LOG_LEVEL");
	unsetenv("SANDPIT_SECRET_KEY");
	unsetenv("SANDPIT_REGISTRATION");
	unsetenv("SANDPIT_STREAM_LISTEN");
	unsetenv("SANDPIT_WORKERS");
	unsetenv("WARM_POOL_ENABLED");
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
	CU_ASSERT_TRUE(config()->registration_open);
	CU_ASSERT_EQUAL(config()->log_level, LOG_INFO);
	CU_ASSERT_EQUAL(config()->default_memory_bytes, 2ull << 30);
}

UNIT_SUITE(config, {"example file is valid", example_file_is_valid}, {"sizes", sizes},
	   {"ints", ints}, {"load order and validation", load_order_and_validation},
	   {"print redacts secrets", print_redacts_secrets},
	   {"secrets need a private file", secrets_need_a_private_file},
	   {"bad values are refused with the key", bad_values_are_refused_with_the_key},
	   {"typed members", typed_members});
