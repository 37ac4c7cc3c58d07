/* migrate.c: sandpit-migrate applies db/NNN_*.sql in order, each in its own
 * transaction, and records what it applied; safe to run concurrently (an
 * advisory lock serialises runs) and idempotent. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "instance.h"
#include "log.h"

#define MAX_MIGRATIONS 512
#define MAX_SQL (4 * 1024 * 1024)

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list: sorted NNN_*.sql names under dir. */
static enum result list(const char *dir, char **names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL) {
		log_warn("migrate", "cannot open '%s'", dir);
		return R_NOT_FOUND;
	}
	*n = 0;
	while ((e = readdir(d)) != NULL && *n < MAX_MIGRATIONS) {
		size_t len = strlen(e->d_name);

		if (len < 8 || strcmp(e->d_name + len - 4, ".sql") != 0 || e->d_name[3] != '_' ||
		    strspn(e->d_name, "0123456789") != 3)
			continue;
		names[*n] = strdup(e->d_name);
		if (names[*n] == NULL)
			break;
		(*n)++;
	}
	closedir(d);
	qsort(names, *n, sizeof(*names), by_name);
	return R_OK;
}

static enum result read_file(const char *path, struct buf *out)
{
	char chunk[8192];
	size_t got;
	enum result r = R_OK;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		log_warn("migrate", "cannot open '%s'", path);
		return R_NOT_FOUND;
	}
	while (r == R_OK && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		r = buf_append(out, chunk, got);
	fclose(f);
	return r;
}

static bool applied(struct db *db, const char *name)
{
	struct db_res *res;
	bool yes;

	if (db_exec(db, "SELECT 1 FROM schema_migrations WHERE name = $1", 1,
		    (const char *[]){name}, &res) != R_OK)
		return false;
	yes = db_res_rows(res) > 0;
	db_res_free(res);
	return yes;
}

/* apply: one migration (multi-statement SQL) in one transaction with its
 * bookkeeping row. */
static enum result apply(struct db *db, const char *dir, const char *name)
{
	char path[4096];
	struct buf sql;
	enum result r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf_init(&sql, MAX_SQL);
	r = read_file(path, &sql);
	if (r != R_OK)
		goto out;
	r = db_begin(db);
	if (r != R_OK)
		goto out;
	r = db_exec_script(db, sql.data);
	if (r == R_OK)
		r = db_exec(db, "INSERT INTO schema_migrations (name) VALUES ($1)", 1,
			    (const char *[]){name}, NULL);
	if (r == R_OK)
		r = db_commit(db);
	if (r != R_OK) {
		log_errx("migrate", "cannot apply '%s' err=\"%s\"", name, db_last_error(db));
		db_rollback(db);
		goto out;
	}
	log_info("migrate", "applied '%s'", name);
out:
	buf_free(&sql);
	return r;
}

static enum result migrate(struct db *db, const char *dir)
{
	char *names[MAX_MIGRATIONS];
	size_t n = 0;
	unsigned done = 0;
	enum result r;

	r = db_exec_script(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			       "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
			       "SELECT pg_advisory_lock(727274)");
	if (r != R_OK)
		return r;
	r = list(dir, names, &n);
	for (size_t i = 0; r == R_OK && i < n; i++) {
		if (applied(db, names[i]))
			continue;
		r = apply(db, dir, names[i]);
		done += r == R_OK;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	if (r == R_OK)
		log_info("migrate", "schema up to date applied=%u total=%zu", done, n);
	return r;
}

int main(int argc, char **argv)
{
	const char *why, *dir = argc > 1 ? argv[1] : "db";
	char conninfo[4096];
	struct db *db = NULL;
	enum result r;

	log_init("migrate", LOG_INFO);
	if (config_load(&why) != R_OK) {
		log_errx("migrate", "%s", why);
		return 1;
	}
	r = instance_conninfo(conninfo, sizeof(conninfo));
	if (r == R_OK)
		r = db_open(conninfo, &db);
	if (r != R_OK) {
		log_errx("migrate", "cannot connect to the database err=\"%s\"",
			 db ? db_last_error(db) : result_str(r));
		db_close(db);
		return 1;
	}
	r = migrate(db, dir);
	db_close(db);
	return r == R_OK ? 0 : 1;
}
