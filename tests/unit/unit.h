/* unit.h: CUnit suites register themselves from each test file.
 *
 *   static void test_x(void) { CU_ASSERT(...); }
 *   UNIT_SUITE(buf, {"appends", test_x}, {"caps", test_y});
 *
 * A UNIT_SUITE_DB suite needs a PostgreSQL with Sandpit's schema: it runs
 * only when SANDPIT_TEST_CONNINFO names one (make test starts the stack and
 * runs them as a suite of their own), and naming it on the command line
 * without one is a failure, never a silent skip.
 */
#ifndef SANDPIT_UNIT_H
#define SANDPIT_UNIT_H

#include <CUnit/CUnit.h>
#include <stdbool.h>

struct unit_test {
	const char *name;
	CU_TestFunc fn;
};

void unit_register(const char *suite, const struct unit_test *tests, unsigned n, bool db);

/* unit_conninfo: SANDPIT_TEST_CONNINFO (for UNIT_SUITE_DB tests). */
const char *unit_conninfo(void);

#define UNIT_SUITE_AS(name, db, ...)                                                               \
	static const struct unit_test name##_tests[] = {__VA_ARGS__};                              \
	__attribute__((constructor)) static void name##_register(void)                             \
	{                                                                                          \
		unit_register(#name, name##_tests, sizeof(name##_tests) / sizeof(name##_tests[0]), \
			      db);                                                                 \
	}
#define UNIT_SUITE(name, ...)	 UNIT_SUITE_AS(name, false, __VA_ARGS__)
#define UNIT_SUITE_DB(name, ...) UNIT_SUITE_AS(name, true, __VA_ARGS__)

#endif
