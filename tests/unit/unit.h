/* unit.h: CUnit suites register themselves from each test file.
 *
 *   static void test_x(void) { CU_ASSERT(...); }
 *   UNIT_SUITE(buf, {"appends", test_x}, {"caps", test_y});
 */
#ifndef SANDPIT_UNIT_H
#define SANDPIT_UNIT_H

#include <CUnit/CUnit.h>

struct unit_test {
	const char *name;
	CU_TestFunc fn;
};

void unit_register(const char *suite, const struct unit_test *tests, unsigned n);

#define UNIT_SUITE(name, ...)                                                                      \
	static const struct unit_test name##_tests[] = {__VA_ARGS__};                              \
	__attribute__((constructor)) static void name##_register(void)                             \
	{                                                                                          \
		unit_register(#name, name##_tests, sizeof(name##_tests) / sizeof(name##_tests[0])); \
	}

#endif
