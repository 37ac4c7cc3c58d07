/* test_ratelimit.c: the host's leased token table. "ratelimit" checks the
 * arguments; "ratelimit_pg" runs against a real database (the bucket rows)
 * with real forked processes sharing one table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db.h"
#include "auth/ratelimit.h"
#include "unit.h"

/* A refill so slow that none happens during a test: counts are exact. */
static const struct ratelimit_policy still = {.rate_per_minute = 0.001, .burst = 40};

static void new_bounds(void)
{
	struct ratelimit *rl = ratelimit_new(16);

	CU_ASSERT_PTR_NULL(ratelimit_new(0));
	CU_ASSERT_PTR_NULL(ratelimit_new((1u << 20) + 1));
	CU_ASSERT_PTR_NOT_NULL(rl);
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

static void bad_arguments(void)
{
	struct ratelimit *rl = ratelimit_new(16);
	struct ratelimit_policy no_rate = {.rate_per_minute = 0, .burst = 10};
	struct ratelimit_policy no_burst = {.rate_per_minute = 60, .burst = 0.5};
	char longname[RATELIMIT_NAME_MAX + 2];
	int retry = 0;

	memset(longname, 'k', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	/* refused before any database is needed */
	CU_ASSERT_EQUAL(ratelimit_take(rl, NULL, "", &still, &retry), R_INVALID);
	CU_ASSERT_EQUAL(ratelimit_take(rl, NULL, longname, &still, &retry), R_INVALID);
	CU_ASSERT_EQUAL(ratelimit_take(rl, NULL, "k", &no_rate, &retry), R_INVALID);
	CU_ASSERT_EQUAL(ratelimit_take(rl, NULL, "k", &no_burst, &retry), R_INVALID);
	ratelimit_free(rl);
}

UNIT_SUITE(ratelimit, {"table size bounds", new_bounds}, {"bad arguments", bad_arguments});

static struct db *open_db(void)
{
	struct db *db = NULL;

	if (db_open(unit_conninfo(), &db) != R_SUCCESS) {
		db_close(db);
		return NULL;
	}
	return db;
}

/* dead_db: a handle whose every statement fails with R_DB. */
static struct db *dead_db(void)
{
	struct db *db = NULL;

	/* db_open hands back a handle that reconnects on use, even now */
	if (db_open("host=/nonexistent/sandpit dbname=none connect_timeout=1", &db) == R_SUCCESS) {
		db_close(db);
		return NULL;
	}
	return db;
}

static void bucket_name(char *out, size_t size, const char *what)
{
	static unsigned seq;

	snprintf(out, size, "unit:%d:%u:%s", (int)getpid(), seq++, what);
}

static void drop_bucket(struct db *db, const char *name)
{
	struct db_res *res = NULL;

	CU_ASSERT_EQUAL(db_exec(db, "DELETE FROM rate_buckets WHERE key_id = $1", 1,
				(const char *[]){name}, &res),
			R_SUCCESS);
	db_res_free(res);
}

/* drain: tokens granted until the bucket says no. */
static int drain(struct ratelimit *rl, struct db *db, const char *name)
{
	int n = 0, retry = 0;
	enum result r;

	while ((r = ratelimit_take(rl, db, name, &still, &retry)) == R_SUCCESS)
		n++;
	return r == R_QUOTA ? n : -1;
}

static void exact_across_processes(void)
{
	struct ratelimit *rl = ratelimit_new(64);
	struct db *db = open_db();
	int fds[2], total = 0, n;
	char name[64];

	CU_ASSERT_FATAL(rl != NULL && db != NULL && pipe(fds) == 0);
	bucket_name(name, sizeof(name), "procs");
	for (int i = 0; i < 4; i++) {
		if (fork() == 0) {
			struct db *mine = open_db();

			n = mine ? drain(rl, mine, name) : -1;
			_exit(write(fds[1], &n, sizeof(n)) == sizeof(n) ? 0 : 1);
		}
	}
	close(fds[1]);
	while (read(fds[0], &n, sizeof(n)) == sizeof(n)) {
		CU_ASSERT(n >= 0);
		total += n;
	}
	close(fds[0]);
	while (wait(NULL) > 0)
		;
	/* four workers, one table, one row: exactly the burst */
	CU_ASSERT_EQUAL(total, 40);
	CU_ASSERT_EQUAL(ratelimit_local_tokens(rl, name), 0);
	drop_bucket(db, name);
	db_close(db);
	ratelimit_free(rl);
}

static void exact_across_hosts(void)
{
	struct ratelimit *host1 = ratelimit_new(64), *host2 = ratelimit_new(64);
	struct db *db = open_db();
	int total = 0, retry = 0;
	bool open1 = true, open2 = true;
	char name[64];

	CU_ASSERT_FATAL(host1 != NULL && host2 != NULL && db != NULL);
	bucket_name(name, sizeof(name), "hosts");
	while (open1 || open2) {
		if (open1 && ratelimit_take(host1, db, name, &still, &retry) == R_SUCCESS)
			total++;
		else
			open1 = false;
		if (open2 && ratelimit_take(host2, db, name, &still, &retry) == R_SUCCESS)
			total++;
		else
			open2 = false;
	}
	CU_ASSERT_EQUAL(total, 40);
	drop_bucket(db, name);
	db_close(db);
	ratelimit_free(host1);
	ratelimit_free(host2);
}

static void leased_tokens_need_no_database(void)
{
	struct ratelimit *rl = ratelimit_new(64);
	struct db *db = open_db(), *dead = dead_db();
	int retry = 0, status = -1;
	char name[64];
	pid_t pid;

	CU_ASSERT_FATAL(rl != NULL && db != NULL && dead != NULL);
	bucket_name(name, sizeof(name), "pool");
	/* a lease is a tenth of the burst: one token used, three kept */
	CU_ASSERT_EQUAL(ratelimit_take(rl, db, name, &still, &retry), R_SUCCESS);
	CU_ASSERT_EQUAL(ratelimit_local_tokens(rl, name), 3);
	pid = fork();
	if (pid == 0)
		_exit(ratelimit_take(rl, dead, name, &still, &retry) == R_SUCCESS ? 0 : 1);
	CU_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(ratelimit_local_tokens(rl, name), 2);
	CU_ASSERT_EQUAL(ratelimit_take(rl, dead, name, &still, &retry), R_SUCCESS);
	CU_ASSERT_EQUAL(ratelimit_take(rl, dead, name, &still, &retry), R_SUCCESS);
	/* the pool is empty: now the database is needed, and it is away */
	CU_ASSERT_EQUAL(ratelimit_take(rl, dead, name, &still, &retry), R_DB);
	drop_bucket(db, name);
	db_close(dead);
	db_close(db);
	ratelimit_free(rl);
}

static void empty_bucket_is_remembered(void)
{
	struct ratelimit_policy slow = {.rate_per_minute = 6, .burst = 1};
	struct ratelimit *rl = ratelimit_new(64);
	struct db *db = open_db(), *dead = dead_db();
	int retry = 0;
	char name[64];

	CU_ASSERT_FATAL(rl != NULL && db != NULL && dead != NULL);
	bucket_name(name, sizeof(name), "empty");
	CU_ASSERT_EQUAL(ratelimit_take(rl, db, name, &slow, &retry), R_SUCCESS);
	CU_ASSERT_EQUAL(ratelimit_take(rl, db, name, &slow, &retry), R_QUOTA);
	/* one token every 10 s */
	CU_ASSERT(retry >= 9 && retry <= 10);
	retry = 0;
	/* answered from the table: the dead handle is never used */
	CU_ASSERT_EQUAL(ratelimit_take(rl, dead, name, &slow, &retry), R_QUOTA);
	CU_ASSERT(retry >= 9 && retry <= 10);
	drop_bucket(db, name);
	db_close(dead);
	db_close(db);
	ratelimit_free(rl);
}

static void eviction_drops_tokens(void)
{
	struct ratelimit *rl = ratelimit_new(1);
	struct db *db = open_db();
	int retry = 0;
	char a[64], b[64];

	CU_ASSERT_FATAL(rl != NULL && db != NULL);
	bucket_name(a, sizeof(a), "a");
	bucket_name(b, sizeof(b), "b");
	CU_ASSERT_EQUAL(ratelimit_take(rl, db, a, &still, &retry), R_SUCCESS);
	CU_ASSERT_EQUAL(ratelimit_local_tokens(rl, a), 3);
	CU_ASSERT_EQUAL(ratelimit_take(rl, db, b, &still, &retry), R_SUCCESS);
	/* a's leased tokens are gone, not handed to b or back to the row */
	CU_ASSERT_EQUAL(ratelimit_local_tokens(rl, a), 0);
	CU_ASSERT_EQUAL(ratelimit_local_tokens(rl, b), 3);
	CU_ASSERT_EQUAL(drain(rl, db, a), 40 - 4);
	drop_bucket(db, a);
	drop_bucket(db, b);
	db_close(db);
	ratelimit_free(rl);
}

UNIT_SUITE_DB(ratelimit_pg, {"exact across processes", exact_across_processes},
	      {"exact across hosts", exact_across_hosts},
	      {"leased tokens need no database", leased_tokens_need_no_database},
	      {"empty bucket is remembered", empty_bucket_is_remembered},
	      {"eviction drops tokens", eviction_drops_tokens});
