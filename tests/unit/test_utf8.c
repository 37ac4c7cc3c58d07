/* test_utf8.c: validation and repair vectors. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "core/utf8.h"

static const struct {
	const char *bytes;
	size_t len;
	bool valid;
	const char *repaired;
} vectors[] = {
    {"hello", 5, true, "hello"},
    {"\xc3\xa9", 2, true, "\xc3\xa9"},
    {"\xe2\x82\xac", 3, true, "\xe2\x82\xac"},
    {"\xf0\x9f\x98\x80", 4, true, "\xf0\x9f\x98\x80"},
    {"\xc0\xaf", 2, false, "\xef\xbf\xbd\xef\xbf\xbd"},			/* overlong '/' */
    {"\xed\xa0\x80", 3, false, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
    {"\xf4\x90\x80\x80", 4, false,
     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
    {"a\xff"
     "b",
     3, false,
     "a\xef\xbf\xbd"
     "b"},
    {"a\0b", 3, false,
     "a\xef\xbf\xbd"
     "b"},
    {"\xe2\x82", 2, false, "\xef\xbf\xbd\xef\xbf\xbd"}, /* truncated */
};

static void vectors_hold(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		size_t n;
		char *s = utf8_sanitize(vectors[i].bytes, vectors[i].len, &n);

		CU_ASSERT_EQUAL(utf8_is_valid(vectors[i].bytes, vectors[i].len), vectors[i].valid);
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		CU_ASSERT_STRING_EQUAL(s, vectors[i].repaired);
		CU_ASSERT_EQUAL(n, strlen(vectors[i].repaired));
		CU_ASSERT_TRUE(utf8_is_valid(s, n));
		free(s);
	}
}

static void every_byte_repairs_to_valid(void)
{
	unsigned char all[256];
	size_t n;
	char *s;

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	s = utf8_sanitize(all, sizeof(all), &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_TRUE(utf8_is_valid(s, n));
	free(s);
}

UNIT_SUITE(utf8, {"vectors hold", vectors_hold},
	   {"every byte repairs to valid", every_byte_repairs_to_valid});
