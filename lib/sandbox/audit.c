/* audit.c: audit log rows. */
#include "sandbox/audit.h"

#include "db/db.h"

enum result audit_record(struct db *db, const char *org_id, const char *actor, const char *action,
			 const char *target, const char *request_id, const char *details_json)
{
	return db_exec(
	    db,
	    "INSERT INTO audit_logs (org_id, actor, action, target, request_id, details) "
	    "VALUES ($1, $2, $3, $4, $5, COALESCE($6::jsonb, '{}'))",
	    6, (const char *[]){org_id, actor, action, target, request_id, details_json}, NULL);
}
