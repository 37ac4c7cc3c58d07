/* test_json.c: strict parsing, typed getters and builders. */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "unit.h"
#include "core/utf8.h"

static void parses_strictly(void)
{
	static const char *const bad[] = {"", "{", "{\"a\":1} x", "[1,]", "nul", "{'a':1}"};
	char deep[200];
	struct json *j;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_PTR_NULL(json_parse(bad[i], strlen(bad[i])));
	CU_ASSERT_PTR_NULL(json_parse("{\"a\":1}\0x", 9)); /* embedded NUL */
	memset(deep, '[', sizeof(deep));
	CU_ASSERT_PTR_NULL(json_parse(deep, sizeof(deep))); /* nesting cap */
	j = json_parse(" {\"a\":1} \n", 10);
	CU_ASSERT_PTR_NOT_NULL(j);
	json_free(j);
}

static void typed_getters(void)
{
	const char *text = "{\"s\":\"x\",\"i\":42,\"f\":1.5,\"b\":true,\"n\":null,\"big\":1e300}";
	struct json *j = json_parse(text, strlen(text));
	const char *s = "unset";
	long long i = -1;
	bool b = false;

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_EQUAL(json_get_str(j, "s", &s), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(s, "x");
	CU_ASSERT_EQUAL(json_get_int(j, "i", &i), R_SUCCESS);
	CU_ASSERT_EQUAL(i, 42);
	CU_ASSERT_EQUAL(json_get_int(j, "f", &i), R_INVALID);
	CU_ASSERT_EQUAL(json_get_int(j, "big", &i), R_INVALID);
	CU_ASSERT_EQUAL(i, 42);
	CU_ASSERT_EQUAL(json_get_bool(j, "b", &b), R_SUCCESS);
	CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(json_get_str(j, "n", &s), R_NOT_FOUND);
	CU_ASSERT_EQUAL(json_get_str(j, "missing", &s), R_NOT_FOUND);
	CU_ASSERT_EQUAL(json_get_str(j, "i", &s), R_INVALID);
	CU_ASSERT_STRING_EQUAL(s, "x");
	json_free(j);
}

static void builds_and_prints(void)
{
	struct json *o = json_new_object(), *a = json_new_array();
	char *text;

	CU_ASSERT_EQUAL(json_add_str(o, "k", "v\"q"), R_SUCCESS);
	CU_ASSERT_EQUAL(json_push(a, json_new_int(1)), R_SUCCESS);
	CU_ASSERT_EQUAL(json_push(a, json_new_strn("ab", 1)), R_SUCCESS);
	CU_ASSERT_EQUAL(json_add(o, "a", a), R_SUCCESS);
	CU_ASSERT_EQUAL(json_add_str_or_null(o, "z", NULL), R_SUCCESS);
	CU_ASSERT_EQUAL(json_add(o, "fail", NULL), R_NO_MEMORY);
	text = json_print(o);
	CU_ASSERT_STRING_EQUAL(text, "{\"k\":\"v\\\"q\",\"a\":[1,\"a\"],\"z\":null}");
	free(text);
	json_free(o);
	json_free(NULL);
}

/* json_print never emits bytes that are not UTF-8, whatever a string holds
 * (a file name or an agent's message can hold anything). */
static void prints_only_utf8(void)
{
	static const char *const in[] = {"bad\xff\xfe", "\xc0\xaf", "\xed\xa0\x80", "ok \xe2\x82",
					 "h\xc3\xa9llo"};
	static const char *const out[] = {
	    "{\"p\":\"bad\xef\xbf\xbd\xef\xbf\xbd\"}",
	    "{\"p\":\"\xef\xbf\xbd\xef\xbf\xbd\"}",
	    NULL, /* a surrogate: replaced, however many U+FFFD it takes */
	    NULL,
	    "{\"p\":\"h\xc3\xa9llo\"}",
	};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct json *o = json_new_object(), *back;
		char *text;

		CU_ASSERT_EQUAL_FATAL(json_add_str(o, "p", in[i]), R_SUCCESS);
		text = json_print(o);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		CU_ASSERT_TRUE(utf8_is_valid(text, strlen(text)));
		if (out[i] != NULL)
			CU_ASSERT_STRING_EQUAL(text, out[i]);
		back = json_parse(text, strlen(text));
		CU_ASSERT_PTR_NOT_NULL(back);
		json_free(back);
		free(text);
		json_free(o);
	}
}

UNIT_SUITE(json, {"parses strictly", parses_strictly}, {"typed getters", typed_getters},
	   {"builds and prints", builds_and_prints}, {"prints only UTF-8", prints_only_utf8});
