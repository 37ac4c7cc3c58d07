/* test_lifecycle_pg.c: the lifecycle's races, forced in the racy order
 * against a real database with Sandpit's schema: a stop that wins over a
 * create's "ready", a failed create after the row finished, and two
 * stoppers of one row (an API stop and the reaper). The runtime is a
 * recording stand-in (the daemon is not what is tested here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_impl.h"
#include "db/db.h"
#include "sandbox/events.h"
#include "core/id.h"
#include "sandbox/lifecycle.h"
#include "unit.h"

/* The stand-in runtime: counts destroys; on_destroy (once) runs in the
 * middle of a stop, between its claim and its final write. */
static int destroys;
static void (*on_destroy)(const char *id);

static enum result fake_create(struct backend *b, const char *id, const struct sandbox_limits *l,
			       const char *image, char *addr, size_t size)
{
	(void)b, (void)id, (void)l, (void)image, (void)addr, (void)size;
	return R_INVALID;
}

static enum result fake_destroy(struct backend *b, const char *id)
{
	void (*hook)(const char *) = on_destroy;

	(void)b;
	destroys++;
	on_destroy = NULL;
	if (hook != NULL)
		hook(id);
	return R_SUCCESS;
}

static enum result fake_inspect(struct backend *b, const char *id, struct sandbox_usage *u)
{
	(void)b, (void)id;
	memset(u, 0, sizeof(*u));
	u->cpu_usec = 1500000;
	u->alive = true;
	return R_SUCCESS;
}

static enum result fake_list(struct backend *b, char ***ids, size_t *n)
{
	(void)b;
	*ids = NULL;
	*n = 0;
	return R_SUCCESS;
}

static enum result fake_address(struct backend *b, const char *id, char *addr, size_t size)
{
	(void)b, (void)id, (void)addr, (void)size;
	return R_NOT_FOUND;
}

static enum result fake_resize(struct backend *b, const char *id, const struct sandbox_limits *l)
{
	(void)b, (void)id, (void)l;
	return R_INVALID;
}

static const struct backend_ops fake_ops = {
    .kind = "test",
    .create = fake_create,
    .destroy = fake_destroy,
    .inspect = fake_inspect,
    .list = fake_list,
    .agent_address = fake_address,
    .resize = fake_resize,
};
static struct backend fake = {.ops = &fake_ops};

/* One organization per test, made by setup and removed by teardown with
 * what its sandboxes left (a failed test leaves it for a look). */
static struct db *db;
static char org[ID_SIZE("org_")];

static bool setup(void)
{
	if (db == NULL && db_open(unit_conninfo(), &db) != R_SUCCESS)
		return false;
	if (id_new("org_", org, sizeof(org)) != R_SUCCESS)
		return false;
	return db_exec(db, "INSERT INTO organizations (id, name, slug) VALUES ($1, $1, $1)", 1,
		       (const char *[]){org}, NULL) == R_SUCCESS;
}

static void teardown(void)
{
	CU_ASSERT_EQUAL(
	    db_exec(db,
		    "WITH s AS (SELECT id FROM sandboxes WHERE org_id = $1), "
		    "e AS (DELETE FROM events WHERE sandbox_id IN (SELECT id FROM s)), "
		    "u AS (DELETE FROM usage_events WHERE sandbox_id IN (SELECT id FROM s)) "
		    "DELETE FROM organizations WHERE id = $1",
		    1, (const char *[]){org}, NULL),
	    R_SUCCESS);
	db_close(db);
	db = NULL;
}

/* new_sandbox: a "creating" row with its sandbox.created, as a create's
 * reservation leaves it. */
static bool new_sandbox(char *id, size_t size)
{
	if (id_new("sbx_", id, size) != R_SUCCESS)
		return false;
	return db_exec(db,
		       "INSERT INTO sandboxes (id, org_id, status, backend, cpus_millis, "
		       "memory_bytes, cpus, memory, timeout_seconds, expires_at) VALUES ($1, $2, "
		       "'creating', 'local', 1000, 268435456, '1', '256Mi', 60, now() + "
		       "interval '1 minute')",
		       2, (const char *[]){id, org}, NULL) == R_SUCCESS &&
	       events_emit(db, org, id, "sandbox.created", NULL) == R_SUCCESS;
}

/* query: the first column of the first row of a one-parameter query. */
static void query(const char *sql, const char *id, char *out, size_t size)
{
	struct db_res *res = NULL;

	out[0] = '\0';
	if (db_exec(db, sql, 1, (const char *[]){id}, &res) == R_SUCCESS && db_res_rows(res) == 1 &&
	    db_res_get(res, 0, 0) != NULL)
		snprintf(out, size, "%s", db_res_get(res, 0, 0));
	db_res_free(res);
}

static void events_of(const char *id, char *out, size_t size)
{
	query("SELECT string_agg(type, ',' ORDER BY seq) FROM events WHERE sandbox_id = $1", id,
	      out, size);
}

static void status_of(const char *id, char *out, size_t size)
{
	query("SELECT status FROM sandboxes WHERE id = $1", id, out, size);
}

/* A stop that lands while the runtime is being made: the create's ready
 * must not follow the stop's events, and its runtime must go. */
static void ready_after_stop_is_not_emitted(void)
{
	char id[ID_SIZE("sbx_")], ev[512], st[32];

	CU_ASSERT_FATAL(setup());
	CU_ASSERT_FATAL(new_sandbox(id, sizeof(id)));
	destroys = 0;
	CU_ASSERT_EQUAL(lifecycle_stop(db, &fake, org, id, LIFECYCLE_STOPPED, "requested", false),
			R_SUCCESS);
	CU_ASSERT_EQUAL(lifecycle_mark_running(db, &fake, org, id, "127.0.0.1:9", 42), R_CONFLICT);
	events_of(id, ev, sizeof(ev));
	CU_ASSERT_STRING_EQUAL(ev, "sandbox.created,sandbox.stopped");
	status_of(id, st, sizeof(st));
	CU_ASSERT_STRING_EQUAL(st, "stopped");
	CU_ASSERT_EQUAL(destroys, 2); /* the stop's, then the late runtime's */
	teardown();
}

/* The same race lost the other way round is the ordinary life. */
static void ready_then_stop_in_order(void)
{
	char id[ID_SIZE("sbx_")], ev[512];

	CU_ASSERT_FATAL(setup());
	CU_ASSERT_FATAL(new_sandbox(id, sizeof(id)));
	CU_ASSERT_EQUAL(lifecycle_mark_running(db, &fake, org, id, "127.0.0.1:9", 42), R_SUCCESS);
	CU_ASSERT_EQUAL(lifecycle_stop(db, &fake, org, id, LIFECYCLE_STOPPED, "requested", false),
			R_SUCCESS);
	events_of(id, ev, sizeof(ev));
	CU_ASSERT_STRING_EQUAL(ev, "sandbox.created,sandbox.ready,sandbox.stopped");
	teardown();
}

/* A failed create reports once, and never over a stop that finished the
 * row first. */
static void error_once_and_never_after_a_stop(void)
{
	char id[ID_SIZE("sbx_")], ev[512], st[32];

	CU_ASSERT_FATAL(setup());
	CU_ASSERT_FATAL(new_sandbox(id, sizeof(id)));
	lifecycle_mark_error(db, &fake, org, id, "runtime_create_failed");
	lifecycle_mark_error(db, &fake, org, id, "database_unavailable");
	events_of(id, ev, sizeof(ev));
	CU_ASSERT_STRING_EQUAL(ev, "sandbox.created,sandbox.error");
	query("SELECT status || ' ' || error FROM sandboxes WHERE id = $1", id, st, sizeof(st));
	CU_ASSERT_STRING_EQUAL(st, "error runtime_create_failed");

	CU_ASSERT_FATAL(new_sandbox(id, sizeof(id)));
	CU_ASSERT_EQUAL(lifecycle_stop(db, &fake, org, id, LIFECYCLE_STOPPED, "requested", false),
			R_SUCCESS);
	lifecycle_mark_error(db, &fake, org, id, "runtime_create_failed");
	events_of(id, ev, sizeof(ev));
	CU_ASSERT_STRING_EQUAL(ev, "sandbox.created,sandbox.stopped");
	status_of(id, st, sizeof(st));
	CU_ASSERT_STRING_EQUAL(st, "stopped");
	teardown();
}

/* The reaper retakes the row while the API's stop is destroying the
 * runtime (the row is "stopping" for both): a second connection, as a
 * second process would. */
static struct db *other;

static void reaper_retakes(const char *id)
{
	CU_ASSERT_EQUAL(
	    lifecycle_stop(other, &fake, "", id, LIFECYCLE_ERROR, "stuck_stopping", false),
	    R_SUCCESS);
}

static void two_stoppers_one_final_usage(void)
{
	char id[ID_SIZE("sbx_")], n[32], ev[512];

	CU_ASSERT_FATAL(setup());
	CU_ASSERT_FATAL(new_sandbox(id, sizeof(id)));
	CU_ASSERT_FATAL(db_open(unit_conninfo(), &other) == R_SUCCESS);
	CU_ASSERT_EQUAL(lifecycle_mark_running(db, &fake, org, id, "127.0.0.1:9", 42), R_SUCCESS);
	on_destroy = reaper_retakes;
	CU_ASSERT_EQUAL(lifecycle_stop(db, &fake, org, id, LIFECYCLE_STOPPED, "requested", false),
			R_SUCCESS);
	CU_ASSERT_PTR_NULL(on_destroy); /* the race did happen */
	query("SELECT count(*) FROM usage_events WHERE sandbox_id = $1 AND final", id, n,
	      sizeof(n));
	CU_ASSERT_STRING_EQUAL(n, "1");
	/* and one stopper's events, not both */
	events_of(id, ev, sizeof(ev));
	CU_ASSERT_STRING_EQUAL(ev, "sandbox.created,sandbox.ready,sandbox.error,sandbox.stopped");
	db_close(other);
	other = NULL;
	teardown();
}

UNIT_SUITE_DB(lifecycle_pg, {"ready after a stop is not emitted", ready_after_stop_is_not_emitted},
	      {"ready then stop, in order", ready_then_stop_in_order},
	      {"error once, never after a stop", error_once_and_never_after_a_stop},
	      {"two stoppers, one final usage row", two_stoppers_one_final_usage});
