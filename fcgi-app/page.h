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

#endif
