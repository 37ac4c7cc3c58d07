/* run.h: running one claimed job to its result: a compile step when the
 * language has one, then every test case (or the one plain run), each in a
 * fresh sandbox created through the backend and destroyed after it. */
#ifndef SANDPIT_RUNNER_RUN_H
#define SANDPIT_RUNNER_RUN_H

#include <stddef.h>

#include "core/result.h"

struct backend;
struct db;
struct json;
struct language;

struct job {
	const char *id;
	const char *org_id;
	const char *runner; /* this runner's id: the lease holder */
	const struct language *lang;
	const char *code;
	const struct json *spec; /* as jobs.c validated it */
};

/* run_job: run j. R_SUCCESS: *result (owned by the caller) holds the verdicts.
 * R_CONFLICT: the job is no longer this runner's (cancelled, or its lease
 * was lost): leave its row alone. Anything else: the job could not be run;
 * why says so (for the job's error). */
SP_MUST_CHECK enum result run_job(struct db *db, struct backend *b, const struct job *j,
				  struct json **result, char *why, size_t why_size);

#endif
