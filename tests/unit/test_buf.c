/* test_buf.c: capped buffers. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "unit.h"

static void appends_and_terminates(void)
{
	struct buf b;

	buf_init(&b, 100);
	CU_ASSERT_EQUAL(buf_append_str(&b, "abc"), R_SUCCESS);
	CU_ASSERT_EQUAL(buf_printf(&b, "-%d-", 42), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(b.data, "abc-42-");
	CU_ASSERT_EQUAL(b.len, 7);
	buf_free(&b);
}

static void refuses_past_limit_and_frees(void)
{
	struct buf b;
	char big[11] = "0123456789";

	buf_init(&b, 10);
	CU_ASSERT_EQUAL(buf_append(&b, big, 10), R_SUCCESS);
	CU_ASSERT_EQUAL(buf_append(&b, "x", 1), R_TOO_BIG);
	CU_ASSERT_PTR_NULL(b.data);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(buf_printf(&b, "%s%s", big, big), R_TOO_BIG);
	buf_free(&b);
}

static void overflowing_size_is_refused(void)
{
	struct buf b;

	buf_init(&b, (size_t)-1);
	CU_ASSERT_EQUAL(buf_append_str(&b, "a"), R_SUCCESS);
	CU_ASSERT_EQUAL(buf_append(&b, "", (size_t)-1), R_TOO_BIG);
	buf_free(&b);
}

static void steal_hands_over(void)
{
	struct buf b;
	char *s;

	buf_init(&b, 16);
	CU_ASSERT_EQUAL(buf_append_str(&b, "hi"), R_SUCCESS);
	s = buf_steal(&b);
	CU_ASSERT_STRING_EQUAL(s, "hi");
	CU_ASSERT_PTR_NULL(b.data);
	free(s);
}

UNIT_SUITE(buf, {"appends and terminates", appends_and_terminates},
	   {"refuses past limit and frees", refuses_past_limit_and_frees},
	   {"overflowing size is refused", overflowing_size_is_refused},
	   {"steal hands over", steal_hands_over});
