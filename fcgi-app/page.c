/* page.c: paginated list responses. */
#include "page.h"

#include <stdio.h>

#include "db/db.h"

enum result page_respond(struct req *rq, struct db_res *res, int limit, const char *name,
			 struct json *(*row)(const struct db_res *res, int i))
{
	int rows = db_res_rows(res);
	struct json *root = json_new_object(), *arr = json_new_array();

	if (root == NULL || json_add(root, name, arr) != R_SUCCESS)
		goto oom;
	for (int i = 0; i < rows && i < limit; i++)
		if (json_push(arr, row(res, i)) != R_SUCCESS)
			goto oom;
	if (json_add_str_or_null(root, "next_cursor",
				 rows > limit ? db_res_get(res, limit - 1, 0) : NULL) != R_SUCCESS)
		goto oom;
	db_res_free(res);
	http_respond_json(rq, 200, root, NULL);
	return R_SUCCESS;
oom:
	db_res_free(res);
	json_free(root);
	return R_NO_MEMORY;
}

enum result page_list(struct req *rq, const char *sql, int n, const char *const *params, int limit,
		      const char *name, struct json *(*row)(const struct db_res *res, int i),
		      const char *fail_msg)
{
	const char *all[PAGE_PARAMS_MAX];
	char lim[16];
	struct db_res *res = NULL;
	enum result r;

	if (n < 1 || n > PAGE_PARAMS_MAX)
		return http_set_error(rq, R_INTERNAL, "%s", fail_msg);
	for (int i = 0; i < n - 1; i++)
		all[i] = params[i];
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	all[n - 1] = lim;
	r = db_exec(rq->db, sql, n, all, &res);
	if (r != R_SUCCESS)
		return http_set_error(rq, r, "%s", fail_msg);
	return page_respond(rq, res, limit, name, row);
}
