/* page.c: paginated list responses. */
#include "page.h"

#include "db/db.h"

enum result page_respond(struct req *rq, struct db_res *res, int limit, const char *name,
			 struct json *(*row)(const struct db_res *res, int i))
{
	int rows = db_res_rows(res);
	struct json *root = json_new_object(), *arr = json_new_array();

	if (root == NULL || json_add(root, name, arr) != R_OK)
		goto oom;
	for (int i = 0; i < rows && i < limit; i++)
		if (json_push(arr, row(res, i)) != R_OK)
			goto oom;
	if (json_add_str_or_null(root, "next_cursor",
				 rows > limit ? db_res_get(res, limit - 1, 0) : NULL) != R_OK)
		goto oom;
	db_res_free(res);
	http_respond_json(rq, 200, root, NULL);
	return R_OK;
oom:
	db_res_free(res);
	json_free(root);
	return R_NO_MEMORY;
}
