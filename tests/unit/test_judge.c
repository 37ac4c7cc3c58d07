/* test_judge.c: the runner's output comparison and verdict precedence
 * (tools/runner/judge.c), and the language table. */
#include <signal.h>
#include <string.h>

#include "../../tools/runner/judge.h"
#include "sandbox/language.h"
#include "unit.h"

static const struct {
	const char *out, *expected;
	enum compare_mode mode;
	double tol;
	bool same;
} cmp[] = {
    {"3\n", "3\n", CMP_EXACT, 0, true},
    {"3\n", "3", CMP_EXACT, 0, false},
    {"3 \n\n\n", "3", CMP_TRAILING_WS, 0, true},
    {"3\r\n4\t\n", "3\n4", CMP_TRAILING_WS, 0, true},
    {" 3\n", "3\n", CMP_TRAILING_WS, 0, false},	       /* leading blanks count */
    {"3\n\n4\n", "3\n4\n", CMP_TRAILING_WS, 0, false}, /* inner blank lines count */
    {"1 2\n", "1\n2\n", CMP_TRAILING_WS, 0, false},
    {"", "", CMP_TRAILING_WS, 0, true},
    {"\n\n", "", CMP_TRAILING_WS, 0, true},
    {"x", "", CMP_TRAILING_WS, 0, false},
    {"3.14159", "3.1416", CMP_NUMERIC, 1e-4, true},
    {"3.14159", "3.1416", CMP_NUMERIC, 1e-7, false},
    {"1000001", "1000000", CMP_NUMERIC, 1e-6, true}, /* relative above 1 */
    {"1 2  3\n", "1\n2\n3", CMP_NUMERIC, 0, true},
    {"1 2", "1 2 3", CMP_NUMERIC, 0, false},
    {"yes 1.0", "yes 1", CMP_NUMERIC, 0, true},
    {"Yes 1", "yes 1", CMP_NUMERIC, 0, false},
    {"nan", "nan", CMP_NUMERIC, 1, true}, /* not finite: compared as text */
};

static void comparison_modes(void)
{
	for (size_t i = 0; i < sizeof(cmp) / sizeof(cmp[0]); i++) {
		bool same = judge_compare(cmp[i].out, strlen(cmp[i].out), cmp[i].expected,
					  cmp[i].mode, cmp[i].tol);

		if (same != cmp[i].same)
			CU_FAIL("comparison vector");
		CU_ASSERT_EQUAL(same, cmp[i].same);
	}
	CU_ASSERT_EQUAL(judge_mode("exact"), CMP_EXACT);
	CU_ASSERT_EQUAL(judge_mode("numeric"), CMP_NUMERIC);
	CU_ASSERT_EQUAL(judge_mode(NULL), CMP_TRAILING_WS);
}

static enum verdict v(struct run_facts f, const char *out, const char *expected)
{
	if (f.cpu_limit_usec == 0)
		f.cpu_limit_usec = 1000000;
	return judge_run(&f, out, strlen(out), expected, CMP_TRAILING_WS, 0);
}

static void verdict_precedence(void)
{
	struct run_facts ok = {.limit_bytes = 100 << 20, .peak_bytes = 10 << 20};
	struct run_facts f;

	CU_ASSERT_EQUAL(v(ok, "1\n", "1"), V_ACCEPTED);
	CU_ASSERT_EQUAL(v(ok, "2\n", "1"), V_WRONG_ANSWER);
	CU_ASSERT_EQUAL(v(ok, "2\n", NULL), V_ACCEPTED); /* a plain run */
	f = ok;
	f.exit_code = 1;
	CU_ASSERT_EQUAL(v(f, "1", "1"), V_RUNTIME_ERROR);
	f.peak_bytes = 99 << 20; /* failed at the limit: a refused allocation */
	CU_ASSERT_EQUAL(v(f, "", "1"), V_MEMORY_LIMIT);
	f = ok;
	f.exit_code = 137;
	f.oom_killed = true;
	CU_ASSERT_EQUAL(v(f, "", "1"), V_MEMORY_LIMIT);
	f = ok;
	f.cpu_usec = 1000001;
	CU_ASSERT_EQUAL(v(f, "1", "1"), V_TIME_LIMIT); /* over CPU even if it exited */
	f = ok;
	f.wall_timed_out = true;
	f.exit_code = 137;
	CU_ASSERT_EQUAL(v(f, "", "1"), V_TIME_LIMIT);
	f = ok;
	f.signal = SIGXCPU;
	f.exit_code = 128 + SIGXCPU;
	CU_ASSERT_EQUAL(v(f, "", "1"), V_TIME_LIMIT);
	f.output_cut = true; /* output limit wins over everything */
	CU_ASSERT_EQUAL(v(f, "", "1"), V_OUTPUT_LIMIT);
	CU_ASSERT_STRING_EQUAL(judge_name(V_COMPILE_ERROR), "compile_error");
	CU_ASSERT_STRING_EQUAL(judge_name(V_MEMORY_LIMIT), "memory_limit_exceeded");
}

static void language_table(void)
{
	char names[128];
	const struct language *c = language_find("c"), *py = language_find("python");

	CU_ASSERT_PTR_NULL(language_find("cobol"));
	CU_ASSERT_PTR_NULL(language_find(NULL));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(py);
	CU_ASSERT_PTR_NOT_NULL(c->compile);
	CU_ASSERT_STRING_EQUAL(c->artifact, "main");
	CU_ASSERT_STRING_EQUAL(py->artifact, py->file); /* a syntax check only */
	language_names(names, sizeof(names));
	CU_ASSERT_STRING_EQUAL(names, "bash, c, cpp, node, python, sh");
	language_names(names, 5); /* cut, still terminated */
	CU_ASSERT_EQUAL(strlen(names), 4);
}

UNIT_SUITE(judge, {"comparison modes", comparison_modes},
	   {"verdict precedence", verdict_precedence}, {"language table", language_table});
