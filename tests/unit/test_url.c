/* test_url.c: percent-decoding (RFC 3986 section 2.1) and query lookup,
 * table-driven, including every refusal. */
#include <string.h>

#include "unit.h"
#include "core/url.h"

struct url_case {
	const char *in;
	bool plus;
	enum result r;
	const char *out;
};

static const struct url_case cases[] = {
    {"abc", false, R_SUCCESS, "abc"},
    {"a%20b", false, R_SUCCESS, "a b"},
    {"%41%42%43", false, R_SUCCESS, "ABC"},
    {"%e2%82%ac", false, R_SUCCESS, "\xe2\x82\xac"}, /* lower-case hex, a UTF-8 euro */
    {"%E2%82%AC", false, R_SUCCESS, "\xe2\x82\xac"},
    {"a+b", false, R_SUCCESS, "a+b"},
    {"a+b", true, R_SUCCESS, "a b"},
    {"%2B", true, R_SUCCESS, "+"}, /* an escaped plus stays a plus */
    {"%2f..%2F", false, R_SUCCESS, "/../"},
    {"", false, R_SUCCESS, ""},
    {"%ff%fe", false, R_SUCCESS, "\xff\xfe"}, /* bytes, not text: UTF-8 is checked later */
    {"%", false, R_INVALID, NULL},
    {"%4", false, R_INVALID, NULL},
    {"abc%", false, R_INVALID, NULL},
    {"%zz", false, R_INVALID, NULL},
    {"%4g", false, R_INVALID, NULL},
    {"%00", false, R_INVALID, NULL},
    {"a%00b", true, R_INVALID, NULL},
    {"% 1", false, R_INVALID, NULL},
};

static void decode_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[32] = "untouched";
		const struct url_case *c = &cases[i];

		CU_ASSERT_EQUAL(url_decode(c->in, strlen(c->in), c->plus, out, sizeof(out)), c->r);
		CU_ASSERT_STRING_EQUAL(out, c->r == R_SUCCESS ? c->out : "untouched");
	}
}

static void sizes_are_exact(void)
{
	char out[4] = "xyz";

	/* three decoded bytes and the NUL fit in four, four do not */
	CU_ASSERT_EQUAL(url_decode("%41bc", 5, false, out, 4), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(out, "Abc");
	CU_ASSERT_EQUAL(url_decode("abcd", 4, false, out, 4), R_TOO_BIG);
	CU_ASSERT_STRING_EQUAL(out, "Abc");
	CU_ASSERT_EQUAL(url_decode("", 0, false, out, 0), R_TOO_BIG);
	/* n bounds the input: an escape cut by n is malformed */
	CU_ASSERT_EQUAL(url_decode("%41", 2, false, out, 4), R_INVALID);
	CU_ASSERT_EQUAL(url_decode("ab%41", 2, false, out, 4), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(out, "ab");
}

static void query_lookup(void)
{
	char v[16];

	CU_ASSERT_EQUAL(url_query_get("a=1&path=%2Fx+y&b", "path", v, sizeof(v)), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(v, "/x y");
	CU_ASSERT_EQUAL(url_query_get("a=1&path=%2Fx+y&b", "b", v, sizeof(v)), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(v, "");
	CU_ASSERT_EQUAL(url_query_get("a=1&path=2", "pat", v, sizeof(v)), R_NOT_FOUND);
	CU_ASSERT_EQUAL(url_query_get("apath=1", "path", v, sizeof(v)), R_NOT_FOUND);
	CU_ASSERT_EQUAL(url_query_get("", "a", v, sizeof(v)), R_NOT_FOUND);
	/* the first pair wins; names are not decoded */
	CU_ASSERT_EQUAL(url_query_get("x=1&x=2", "x", v, sizeof(v)), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(v, "1");
	CU_ASSERT_EQUAL(url_query_get("%78=1", "x", v, sizeof(v)), R_NOT_FOUND);
	CU_ASSERT_EQUAL(url_query_get("x=%zz", "x", v, sizeof(v)), R_INVALID);
	CU_ASSERT_EQUAL(url_query_get("x=0123456789abcdef", "x", v, sizeof(v)), R_TOO_BIG);
	CU_ASSERT_EQUAL(url_query_get("&&x=3&", "x", v, sizeof(v)), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(v, "3");
}

UNIT_SUITE(url, {"decode table", decode_table}, {"sizes are exact", sizes_are_exact},
	   {"query lookup", query_lookup});
