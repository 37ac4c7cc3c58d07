/* test_log.c: level names. */
#include "core/log.h"
#include "unit.h"

static void level_names(void)
{
	CU_ASSERT_EQUAL(log_level_from("debug"), LOG_DEBUG);
	CU_ASSERT_EQUAL(log_level_from("info"), LOG_INFO);
	CU_ASSERT_EQUAL(log_level_from("warn"), LOG_WARN);
	CU_ASSERT_EQUAL(log_level_from("error"), LOG_ERROR);
	CU_ASSERT_EQUAL(log_level_from("loud"), LOG_INFO);
	CU_ASSERT_EQUAL(log_level_from(""), LOG_INFO);
}

UNIT_SUITE(log, {"level names", level_names});
