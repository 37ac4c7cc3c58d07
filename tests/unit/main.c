/* main.c: runs every registered CUnit suite (optionally only those named on
 * the command line) and prints "N passed, N failed". */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define MAX_SUITES 128

static struct {
	const char *name;
	const struct unit_test *tests;
	unsigned n;
	bool db;
} suites[MAX_SUITES];
static unsigned nsuites;

void unit_register(const char *suite, const struct unit_test *tests, unsigned n, bool db)
{
	if (nsuites == MAX_SUITES) {
		fprintf(stderr, "too many unit suites\n");
		exit(2);
	}
	suites[nsuites].name = suite;
	suites[nsuites].tests = tests;
	suites[nsuites].n = n;
	suites[nsuites].db = db;
	nsuites++;
}

const char *unit_conninfo(void)
{
	return getenv("SANDPIT_TEST_CONNINFO");
}

static bool named(const char *name, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

/* known: a suite of that name is registered (a typo must not pass as an
 * empty run). */
static bool known(const char *name)
{
	for (unsigned i = 0; i < nsuites; i++)
		if (strcmp(suites[i].name, name) == 0)
			return true;
	return false;
}

/* wanted: every suite when none is named, but database suites only with a
 * database. A named database suite without one is an error (main). */
static bool wanted(unsigned i, int argc, char **argv)
{
	bool have_db = unit_conninfo() != NULL && *unit_conninfo() != '\0';

	if (argc >= 2)
		return named(suites[i].name, argc, argv);
	return !suites[i].db || have_db;
}

int main(int argc, char **argv)
{
	unsigned passed, failed;

	for (int a = 1; a < argc; a++)
		if (!known(argv[a])) {
			fprintf(stderr, "no unit suite named '%s'\n", argv[a]);
			return 2;
		}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (unsigned i = 0; i < nsuites; i++) {
		CU_pSuite s;

		if (!wanted(i, argc, argv))
			continue;
		if (suites[i].db && (unit_conninfo() == NULL || *unit_conninfo() == '\0')) {
			fprintf(stderr, "suite '%s' needs SANDPIT_TEST_CONNINFO\n", suites[i].name);
			return 2;
		}
		s = CU_add_suite(suites[i].name, NULL, NULL);
		if (s == NULL)
			return 2;
		for (unsigned t = 0; t < suites[i].n; t++)
			if (CU_add_test(s, suites[i].tests[t].name, suites[i].tests[t].fn) == NULL)
				return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_tests_failed();
	passed = CU_get_number_of_tests_run() - failed;
	printf("unit: %u passed, %u failed\n", passed, failed);
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
