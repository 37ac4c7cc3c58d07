/* migrate.c: sandpit-migrate applies db/NNN_*.sql in order, each in its own
 * transaction, and records what it applied (by file name); safe to run
 * concurrently (an advisory lock serialises runs) and idempotent. Numbers are
 * unique: a directory with two files of one number is refused before anything
 * runs. Files renamed since a database recorded them are recognised by the
 * table of renames below, so they never run twice. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "db/db.h"
#include "core/instance.h"
#include "core/log.h"

#define MAX_MIGRATIONS 512
#define MAX_SQL	       (4 * 1024 * 1024)

/* Migrations renamed after release (two shared the number 003): a database
 * that recorded the old name has applied the new one. Old names are never
 * reused. */
static const struct {
	const char *old, *new;
} renamed[] = {
    {"003_webhooks.sql", "004_webhooks.sql"},
    {"004_resource_level.sql", "005_resource_level.sql"},
    {"005_rate_lease.sql", "006_rate_lease.sql"},
    {"006_api_keys_page.sql", "007_api_keys_page.sql"},
    {"007_claim_functions.sql", "008_claim_functions.sql"},
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

/* unique_numbers: no two sorted names share their NNN. */
static enum result unique_numbers(char *const *names, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (strncmp(names[i - 1], names[i], 3) == 0) {
			log_errx("migrate", "two migrations share the number %.3s: '%s' and '%s'",
				 names[i], names[i - 1], names[i]);
			return R_CONFLICT;
		}
	}
	return R_SUCCESS;
}

/* list: sorted NNN_*.sql names under dir, all of them or a failure: a
 * partial list would report "up to date" with migrations left out. */
static enum result list(const char *dir, char **names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	enum result r = R_SUCCESS;

	if (d == NULL) {
		log_warn("migrate", "cannot open '%s'", dir);
		return R_NOT_FOUND;
	}
	*n = 0;
	while (r == R_SUCCESS && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < 8 || strcmp(e->d_name + len - 4, ".sql") != 0 || e->d_name[3] != '_' ||
		    strspn(e->d_name, "0123456789") != 3)
			continue;
		if (*n == MAX_MIGRATIONS) {
			log_errx("migrate", "more than %d migrations in '%s'", MAX_MIGRATIONS, dir);
			r = R_TOO_BIG;
			break;
		}
		names[*n] = strdup(e->d_name);
		if (names[*n] == NULL) {
			log_errx("migrate", "out of memory listing '%s'", dir);
			r = R_NO_MEMORY;
			break;
		}
		(*n)++;
	}
	closedir(d);
	if (r == R_SUCCESS) {
		qsort(names, *n, sizeof(*names), by_name);
		r = unique_numbers(names, *n);
	}
	if (r != R_SUCCESS) {
		free_names(names, *n);
		*n = 0;
	}
	return r;
}

/* adopt_renames: rows recorded under a renamed file's old name take its new
 * name, once and for all, under the run's advisory lock. */
static enum result adopt_renames(struct db *db)
{
	struct db_res *res = NULL;
	enum result r;

	for (size_t i = 0; i < sizeof(renamed) / sizeof(renamed[0]); i++) {
		r = db_exec(db,
			    "UPDATE schema_migrations SET name = $2 WHERE name = $1 AND NOT EXISTS "
			    "(SELECT 1 FROM schema_migrations WHERE name = $2) RETURNING name",
			    2, (const char *[]){renamed[i].old, renamed[i].new}, &res);
		if (r != R_SUCCESS) {
			log_errx("migrate", "cannot record the rename of '%s' err=\"%s\"",
				 renamed[i].old, db_last_error(db));
			return r;
		}
		if (db_res_rows(res) == 1)
			log_info("migrate", "'%s' is now '%s'", renamed[i].old, renamed[i].new);
		db_res_free(res);
		res = NULL;
	}
	return R_SUCCESS;
}

static enum result read_file(const char *path, struct buf *out)
{
	char chunk[8192];
	size_t got;
	enum result r = R_SUCCESS;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		log_warn("migrate", "cannot open '%s'", path);
		return R_NOT_FOUND;
	}
	while (r == R_SUCCESS && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		r = buf_append(out, chunk, got);
	fclose(f);
	return r;
}

/* applied: is name recorded? A failed lookup is a failure, never "no":
 * that would apply a migration twice. */
static enum result applied(struct db *db, const char *name, bool *yes)
{
	struct db_res *res;
	enum result r;

	r = db_exec(db, "SELECT 1 FROM schema_migrations WHERE name = $1", 1,
		    (const char *[]){name}, &res);
	if (r != R_SUCCESS) {
		log_errx("migrate", "cannot read schema_migrations err=\"%s\"", db_last_error(db));
		return r;
	}
	*yes = db_res_rows(res) > 0;
	db_res_free(res);
	return R_SUCCESS;
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
	if (r != R_SUCCESS)
		goto out;
	r = db_begin(db);
	if (r != R_SUCCESS)
		goto out;
	r = db_exec_script(db, sql.data);
	if (r == R_SUCCESS)
		r = db_exec(db, "INSERT INTO schema_migrations (name) VALUES ($1)", 1,
			    (const char *[]){name}, NULL);
	if (r == R_SUCCESS)
		r = db_commit(db);
	if (r != R_SUCCESS) {
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

	/* The directory first: a bad one is refused before the database is
	 * touched. */
	r = list(dir, names, &n);
	if (r != R_SUCCESS)
		return r;
	r = db_exec_script(db,
			   "CREATE TABLE IF NOT EXISTS schema_migrations ("
			   "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
			   "SELECT pg_advisory_lock(727274)");
	if (r == R_SUCCESS)
		r = adopt_renames(db);
	for (size_t i = 0; r == R_SUCCESS && i < n; i++) {
		bool yes = false;

		r = applied(db, names[i], &yes);
		if (r != R_SUCCESS || yes)
			continue;
		r = apply(db, dir, names[i]);
		done += r == R_SUCCESS;
	}
	free_names(names, n);
	if (r == R_SUCCESS)
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
	if (config_load(&why) != R_SUCCESS) {
		log_errx("migrate", "%s", why);
		return 1;
	}
	r = instance_conninfo(conninfo, sizeof(conninfo));
	if (r == R_SUCCESS)
		r = db_open(conninfo, &db);
	if (r != R_SUCCESS) {
		log_errx("migrate", "cannot connect to the database err=\"%s\"",
			 db ? db_last_error(db) : result_str(r));
		db_close(db);
		return 1;
	}
	r = migrate(db, dir);
	db_close(db);
	return r == R_SUCCESS ? 0 : 1;
}
