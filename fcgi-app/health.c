/* health.c: liveness (the process answers) and readiness (the database
 * answers too). */
#include "db/db.h"
#include "handlers.h"

enum result health_get(struct req *rq)
{
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, "status", "ok") != R_SUCCESS) {
		json_free(o);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 200, o, NULL);
	return R_SUCCESS;
}

enum result ready_get(struct req *rq)
{
	struct json *o;

	if (db_ping(rq->db) != R_SUCCESS)
		return http_set_error(rq, R_DB, "database unavailable");
	o = json_new_object();
	if (o == NULL || json_add_str(o, "status", "ready") != R_SUCCESS ||
	    json_add_str(o, "database", "ok") != R_SUCCESS) {
		json_free(o);
		return R_NO_MEMORY;
	}
	http_respond_json(rq, 200, o, NULL);
	return R_SUCCESS;
}
