/* db.c: libpq connection with an auto-prepared statement cache and
 * reconnect-on-loss. */
#include "db/db.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define STMT_CACHE 128

struct stmt {
	const char *sql; /* borrowed: statements are string literals */
	char name[16];
};

struct db {
	PGconn *conn;
	char *conninfo;
	char *options; /* ours, then the connection string's own (theirs win) */
	bool in_tx;
	unsigned nstmts;
	struct stmt stmts[STMT_CACHE];
	char err[256];
};

struct db_res {
	PGresult *res;
};

static void set_err(struct db *db, const char *msg)
{
	size_t n;

	snprintf(db->err, sizeof(db->err), "%s", msg ? msg : "");
	n = strlen(db->err);
	while (n > 0 && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
		db->err[--n] = '\0';
}

/* Every statement here is a short keyed OLTP statement. PostgreSQL's
 * default plan cache replans a prepared statement whenever a custom plan
 * looks cheaper than the generic one, which it always does for optional
 * filters written "$2 = '' OR ...": that re-parsed and re-planned the API's
 * list queries on every request (half of PostgreSQL's CPU under load).
 * Generic plans are planned once per connection. */
#define OUR_OPTIONS "-c plan_cache_mode=force_generic_plan"
static const char *const connect_keys[] = {"dbname", "options", NULL};

/* merged_options: OUR_OPTIONS, then the options the connection string (or
 * PGOPTIONS) gives, which a keyword would otherwise replace; a later -c wins,
 * so the operator's settings do. NULL on OOM. */
static char *merged_options(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *theirs = getenv("PGOPTIONS");
	char *out = NULL;
	size_t n;

	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val != NULL)
			theirs = o->val;
	n = sizeof(OUR_OPTIONS) + 1 + (theirs ? strlen(theirs) : 0);
	out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "%s %s", OUR_OPTIONS, theirs ? theirs : "");
	PQconninfoFree(opts);
	return out;
}

static enum result connect_now(struct db *db)
{
	const char *values[] = {db->conninfo, db->options, NULL};

	if (db->conn != NULL)
		PQfinish(db->conn);
	db->nstmts = 0;
	db->in_tx = false;
	db->conn = PQconnectdbParams(connect_keys, values, 1);
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		set_err(db, db->conn ? PQerrorMessage(db->conn) : "out of memory");
		return R_DB;
	}
	return R_SUCCESS;
}

enum result db_open(const char *conninfo, struct db **out)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db == NULL)
		return R_NO_MEMORY;
	db->conninfo = strdup(conninfo);
	db->options = merged_options(conninfo);
	if (db->conninfo == NULL || db->options == NULL) {
		free(db->conninfo);
		free(db->options);
		free(db);
		return R_NO_MEMORY;
	}
	*out = db;
	return connect_now(db);
}

void db_close(struct db *db)
{
	if (db == NULL)
		return;
	if (db->conn != NULL)
		PQfinish(db->conn);
	free(db->conninfo);
	free(db->options);
	free(db);
}

static enum result classify(struct db *db, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	set_err(db, res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
	if (PQstatus(db->conn) != CONNECTION_OK)
		return R_DB;
	if (state == NULL)
		return R_DB;
	if (strcmp(state, "23505") == 0)
		return R_CONFLICT;
	if (strncmp(state, "22", 2) == 0 || strcmp(state, "23514") == 0)
		return R_INVALID;
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0)
		return R_DB;
	return R_INTERNAL;
}

/* prepared: the statement's name on this connection, preparing it now if
 * needed. NULL when preparing failed (db->err says why). */
static const char *prepared(struct db *db, const char *sql, int n, enum result *r)
{
	struct stmt *st;
	PGresult *res;

	for (unsigned i = 0; i < db->nstmts; i++)
		if (db->stmts[i].sql == sql)
			return db->stmts[i].name;
	if (db->nstmts == STMT_CACHE) {
		*r = R_SUCCESS;
		return NULL; /* cache full: caller runs it unprepared */
	}
	st = &db->stmts[db->nstmts];
	snprintf(st->name, sizeof(st->name), "s%u", db->nstmts);
	res = PQprepare(db->conn, st->name, sql, n, NULL);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		*r = classify(db, res);
		PQclear(res);
		return NULL;
	}
	PQclear(res);
	st->sql = sql;
	db->nstmts++;
	return st->name;
}

static enum result run(struct db *db, const char *sql, int n, const char *const *params,
		       PGresult **out)
{
	enum result r = R_SUCCESS;
	const char *name = prepared(db, sql, n, &r);
	PGresult *res;
	ExecStatusType st;

	if (name == NULL && r != R_SUCCESS)
		return r;
	if (name != NULL)
		res = PQexecPrepared(db->conn, name, n, params, NULL, NULL, 0);
	else
		res = PQexecParams(db->conn, sql, n, NULL, params, NULL, NULL, 0);
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		r = classify(db, res);
		PQclear(res);
		return r;
	}
	*out = res;
	return R_SUCCESS;
}

enum result db_exec(struct db *db, const char *sql, int n, const char *const *params,
		    struct db_res **out)
{
	PGresult *res = NULL;
	struct db_res *dr;
	enum result r;

	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		/* Inside a transaction the work so far is gone: report, never retry. */
		if (db->in_tx)
			return R_DB;
		r = connect_now(db);
		if (r != R_SUCCESS)
			return r;
	}
	r = run(db, sql, n, params, &res);
	if (r == R_DB && !db->in_tx && PQstatus(db->conn) != CONNECTION_OK) {
		/* The server restarted under us: one reconnect, one retry. */
		if (connect_now(db) == R_SUCCESS)
			r = run(db, sql, n, params, &res);
	}
	if (r != R_SUCCESS)
		return r;
	if (out == NULL) {
		PQclear(res);
		return R_SUCCESS;
	}
	dr = malloc(sizeof(*dr));
	if (dr == NULL) {
		PQclear(res);
		return R_NO_MEMORY;
	}
	dr->res = res;
	*out = dr;
	return R_SUCCESS;
}

enum result db_exec_script(struct db *db, const char *sql)
{
	PGresult *res;
	enum result r = R_SUCCESS;

	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		if (db->in_tx)
			return R_DB;
		r = connect_now(db);
		if (r != R_SUCCESS)
			return r;
	}
	res = PQexec(db->conn, sql);
	if (res == NULL ||
	    (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK))
		r = classify(db, res);
	PQclear(res);
	return r;
}

enum result db_begin(struct db *db)
{
	enum result r = db_exec(db, "BEGIN", 0, NULL, NULL);

	if (r == R_SUCCESS)
		db->in_tx = true;
	return r;
}

enum result db_commit(struct db *db)
{
	enum result r = db_exec(db, "COMMIT", 0, NULL, NULL);

	db->in_tx = false;
	return r;
}

void db_rollback(struct db *db)
{
	PGresult *res;

	if (!db->in_tx)
		return;
	db->in_tx = false;
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
		return;
	res = PQexec(db->conn, "ROLLBACK");
	PQclear(res);
}

enum result db_ping(struct db *db)
{
	return db_exec(db, "SELECT 1", 0, NULL, NULL);
}

int db_res_rows(const struct db_res *res)
{
	return PQntuples(res->res);
}

const char *db_res_get(const struct db_res *res, int row, int col)
{
	if (row >= PQntuples(res->res) || col >= PQnfields(res->res) ||
	    PQgetisnull(res->res, row, col))
		return NULL;
	return PQgetvalue(res->res, row, col);
}

long long db_res_affected(const struct db_res *res)
{
	const char *s = PQcmdTuples(res->res);

	return s && *s ? strtoll(s, NULL, 10) : 0;
}

void db_res_free(struct db_res *res)
{
	if (res == NULL)
		return;
	PQclear(res->res);
	free(res);
}

const char *db_last_error(const struct db *db)
{
	return db->err;
}
