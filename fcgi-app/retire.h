/* retire.h: the one way a handler ends an org's resource (a delete or a
 * revoke): one statement scoped to the org that must touch exactly one row,
 * its audit row in the same transaction, and the {id_key: subject, flag:
 * true} answer. */
#ifndef SANDPIT_RETIRE_H
#define SANDPIT_RETIRE_H

#include "http.h"

struct retire {
	const char *sql;	  /* a string literal: $1 subject, $2 org id, RETURNING */
	const char *subject;	  /* the id or name the request named */
	const char *audit_action; /* "webhook.delete", ... */
	const char *not_found;	  /* the 404's message */
	const char *id_key;	  /* the answer's key for subject */
	const char *flag;	  /* the answer's true flag: "deleted", "revoked" */
};

/* retire: run it; R_NOT_FOUND (message set) when no row of the caller's org
 * matched, else the database's error (rolled back), or R_SUCCESS with the
 * answer sent. */
SP_MUST_CHECK enum result retire(struct req *rq, const struct retire *rt);

#endif
