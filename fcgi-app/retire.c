/* retire.c: delete or revoke one resource of the caller's org, audited
 * (retire.h). */
#include "retire.h"

#include "db/db.h"
#include "sandbox/audit.h"

enum result retire(struct req *rq, const struct retire *rt)
{
	struct db_res *res = NULL;
	enum result r = db_begin(rq->db);

	if (r == R_SUCCESS)
		r = db_exec(rq->db, rt->sql, 2, (const char *[]){rt->subject, rq->auth.org_id},
			    &res);
	if (r == R_SUCCESS && db_res_rows(res) != 1)
		r = http_set_error(rq, R_NOT_FOUND, "%s", rt->not_found);
	if (r == R_SUCCESS)
		r = audit_record(rq->db, rq->auth.org_id, rq->auth.actor, rt->audit_action,
				 rt->subject, rq->id, NULL);
	if (r == R_SUCCESS)
		r = db_commit(rq->db);
	db_res_free(res);
	if (r != R_SUCCESS) {
		db_rollback(rq->db);
		return r;
	}
	return http_respond_done(rq, rt->id_key, rt->subject, rt->flag);
}
