/* test_boxproto.c: sandpit-boxd's request tokens: words, key=value lookup,
 * number parsing with overflow, error replies mapped to result codes. */
#include <string.h>

#include "backend/boxproto.h"
#include "unit.h"

static void words(void)
{
	char w[8];

	CU_ASSERT_TRUE(boxproto_word("create sbx_1 cpu=500", 0, w, sizeof(w)));
	CU_ASSERT_STRING_EQUAL(w, "create");
	CU_ASSERT_TRUE(boxproto_word("  create   sbx_1\n", 1, w, sizeof(w)));
	CU_ASSERT_STRING_EQUAL(w, "sbx_1");
	CU_ASSERT_FALSE(boxproto_word("create sbx_1", 2, w, sizeof(w)));
	CU_ASSERT_FALSE(boxproto_word("", 0, w, sizeof(w)));
	/* a word that does not fit is refused, never truncated */
	CU_ASSERT_FALSE(boxproto_word("abcdefgh", 0, w, sizeof(w)));
	CU_ASSERT_TRUE(boxproto_word("abcdefg", 0, w, sizeof(w)));
}

static void key_values(void)
{
	char v[16];

	CU_ASSERT_TRUE(boxproto_get("ok addr=unix:/x mem=5", "addr", v, sizeof(v)));
	CU_ASSERT_STRING_EQUAL(v, "unix:/x");
	/* a key is matched whole: "mem" is not "mempeak" or "xmem" */
	CU_ASSERT_TRUE(boxproto_get("ok mempeak=1 xmem=2 mem=3", "mem", v, sizeof(v)));
	CU_ASSERT_STRING_EQUAL(v, "3");
	CU_ASSERT_FALSE(boxproto_get("ok mem", "mem", v, sizeof(v)));
	CU_ASSERT_TRUE(boxproto_get("ok mem=", "mem", v, sizeof(v)));
	CU_ASSERT_STRING_EQUAL(v, "");
	CU_ASSERT_FALSE(boxproto_get("ok addr=0123456789abcdef", "addr", v, sizeof(v)));
}

struct u64_case {
	const char *msg;
	bool ok;
	uint64_t v;
};

static const struct u64_case u64_cases[] = {
    {"n=0", true, 0},
    {"n=18446744073709551609", true, 18446744073709551609ull},
    {"n=18446744073709551616", false, 0},
    {"n=99999999999999999999999", false, 0},
    {"n=", false, 0},
    {"n=-1", false, 0},
    {"n=1x", false, 0},
    {"m=1", false, 0},
};

static void numbers(void)
{
	for (size_t i = 0; i < sizeof(u64_cases) / sizeof(u64_cases[0]); i++) {
		uint64_t v = 42;

		CU_ASSERT_EQUAL(boxproto_get_u64(u64_cases[i].msg, "n", &v), u64_cases[i].ok);
		CU_ASSERT_EQUAL(v, u64_cases[i].ok ? u64_cases[i].v : 42);
	}
}

static void results(void)
{
	CU_ASSERT_EQUAL(boxproto_result("ok"), R_SUCCESS);
	CU_ASSERT_EQUAL(boxproto_result("ok addr=unix:/x"), R_SUCCESS);
	CU_ASSERT_EQUAL(boxproto_result("err not_found no such sandbox"),
			boxproto_result("err not_found"));
	CU_ASSERT_EQUAL(boxproto_result("err not_found"), R_NOT_FOUND);
	CU_ASSERT_EQUAL(boxproto_result("err invalid_request bad id"), R_INVALID);
	/* the daemon's database errors are not ours: an upstream failure */
	CU_ASSERT_EQUAL(boxproto_result("err db"), R_UPSTREAM);
	CU_ASSERT_EQUAL(boxproto_result("err invalid"), R_UPSTREAM); /* names are whole */
	CU_ASSERT_EQUAL(boxproto_result("err whatever"), R_UPSTREAM);
	CU_ASSERT_EQUAL(boxproto_result(""), R_UPSTREAM);
	CU_ASSERT_EQUAL(boxproto_result("okay"), R_UPSTREAM);
}

UNIT_SUITE(boxproto, {"words", words}, {"key values", key_values}, {"numbers", numbers},
	   {"results", results});
