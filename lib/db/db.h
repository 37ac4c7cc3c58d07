/* db.h: PostgreSQL access; the only module that calls libpq.
 *
 * A struct db is one connection, used by one thread at a time. Statements
 * are prepared on first use per connection (keyed by the address of their
 * SQL string literal, so the same text at two call sites is two statements;
 * past the cache's size a statement runs unprepared) and the
 * connection is re-established transparently when it was lost outside a
 * transaction. All values travel as text parameters: never build SQL from
 * input. */
#ifndef SANDPIT_DB_H
#define SANDPIT_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

struct db;
struct db_res;

/* db_open: connect with a libpq conninfo string. R_DB when unreachable (the
 * handle is still returned so a later call can reconnect). */
SP_MUST_CHECK enum result db_open(const char *conninfo, struct db **out);

/* db_close: disconnect and free; NULL is a no-op. */
void db_close(struct db *db);

/* db_exec: run sql (a string literal: prepared statements are cached by its
 * address) with n text parameters (NULL element = SQL NULL). On R_SUCCESS
 * *out (if out is non-NULL) receives a result the caller frees with
 * db_res_free. Errors: R_CONFLICT on a unique violation, R_INVALID on bad
 * data (22xxx), R_DB when the server is unreachable, R_INTERNAL otherwise. */
SP_MUST_CHECK enum result db_exec(struct db *db, const char *sql, int n, const char *const *params,
				  struct db_res **out);

/* db_exec_script: run trusted multi-statement SQL text (migrations) through
 * the simple query protocol. Never pass input-derived text. */
SP_MUST_CHECK enum result db_exec_script(struct db *db, const char *sql);

/* Transactions: begin/commit/rollback. db_rollback is safe to call in any
 * state and never fails loudly (it is the cleanup path). */
SP_MUST_CHECK enum result db_begin(struct db *db);
SP_MUST_CHECK enum result db_commit(struct db *db);
void db_rollback(struct db *db);

/* db_ping: R_SUCCESS when the server answers a trivial query. */
SP_MUST_CHECK enum result db_ping(struct db *db);

/* Results: rows, and the text of (row, col) or NULL for SQL NULL. */
int db_res_rows(const struct db_res *res);
const char *db_res_get(const struct db_res *res, int row, int col);
/* db_res_affected: rows touched by INSERT/UPDATE/DELETE. */
long long db_res_affected(const struct db_res *res);
void db_res_free(struct db_res *res);

/* db_last_error: text of the last server error on this connection (for logs;
 * never contains parameter values). */
const char *db_last_error(const struct db *db);

#endif
