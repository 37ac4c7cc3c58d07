/* page.h: the one shape of every list response: {<name>: [...], next_cursor}. */
#ifndef SANDPIT_PAGE_H
#define SANDPIT_PAGE_H

#include "http.h"

struct db_res;

/* page_respond: answer 200 {name: [row(res, i) for the first limit rows],
 * next_cursor}. The query ran with LIMIT limit + 1 and has the id in column
 * 0: a row past limit means there is more, and the cursor is the id of the
 * last row shown. res is consumed either way; R_NO_MEMORY when a row or the
 * body cannot be built. */
SP_MUST_CHECK enum result page_respond(struct req *rq, struct db_res *res, int limit,
				       const char *name,
				       struct json *(*row)(const struct db_res *res, int i));

/* PAGE_KEYSET(table, cursor, scope, limit): the tail of every list query:
 * newest first with the id breaking ties, starting after the cursor's row
 * (cursor is the placeholder of the cursor id, '' for the first page), at
 * most limit rows (its placeholder). The cursor's row is looked up in table
 * under scope ("org_id = $1"), so another org's id finds nothing and the
 * page is empty. It expands to string literals so that a query stays one
 * literal: db_exec caches prepared statements by the literal's address. */
#define PAGE_KEYSET(table, cursor, scope, limit)                                                   \
	"(" cursor " = '' OR (created_at, id) < (SELECT created_at, id FROM " table " c "          \
	"WHERE c.id = " cursor " AND c." scope ")) "                                               \
	"ORDER BY created_at DESC, id DESC LIMIT " limit "::int"

#define PAGE_PARAMS_MAX 8

/* page_list: run sql, a list query that ends in PAGE_KEYSET whose limit is
 * its last placeholder $n, with the n - 1 params before it (n at most
 * PAGE_PARAMS_MAX), then answer as page_respond. limit is the page size from
 * validate_page; the query asks for one row more to learn whether there is
 * a next page. A failed query is recorded with fail_msg. */
SP_MUST_CHECK enum result page_list(struct req *rq, const char *sql, int n,
				    const char *const *params, int limit, const char *name,
				    struct json *(*row)(const struct db_res *res, int i),
				    const char *fail_msg);

#endif
