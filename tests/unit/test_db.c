/* test_db.c: the libpq wrapper against a real database: the session options
 * it adds (generic plans) and that a connection string's own options keep
 * their say. */
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "unit.h"

/* show: the value of a setting on a connection opened with conninfo + extra. */
static void show(const char *extra, const char *setting, char *out, size_t size)
{
	char conninfo[1024], sql[128];
	struct db *db = NULL;
	struct db_res *res = NULL;

	out[0] = '\0';
	snprintf(conninfo, sizeof(conninfo), "%s %s", unit_conninfo(), extra);
	snprintf(sql, sizeof(sql), "SHOW %s", setting);
	if (db_open(conninfo, &db) == R_SUCCESS && db_exec(db, sql, 0, NULL, &res) == R_SUCCESS &&
	    db_res_rows(res) == 1)
		snprintf(out, size, "%s", db_res_get(res, 0, 0));
	db_res_free(res);
	db_close(db);
}

static void generic_plans_by_default(void)
{
	char v[64];

	show("", "plan_cache_mode", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "force_generic_plan");
}

static void connection_string_options_kept(void)
{
	char v[64];

	show("options='-c work_mem=1234kB'", "work_mem", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "1234kB");
	show("options='-c work_mem=1234kB'", "plan_cache_mode", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "force_generic_plan");
	/* the operator's word wins over ours */
	show("options='-c plan_cache_mode=auto'", "plan_cache_mode", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "auto");
}

UNIT_SUITE_DB(db_pg, {"generic plans by default", generic_plans_by_default},
	      {"connection string options kept", connection_string_options_kept});
