/* test_reslimit.c: cpu and memory quantities, table-driven: accepted
 * spellings with their values, refused spellings, canonical formatting. */
#include <string.h>

#include "core/reslimit.h"
#include "unit.h"

struct cpu_case {
	const char *in;
	uint32_t millis; /* 0: refused */
};

static const struct cpu_case cpu_cases[] = {
    {"2", 2000},
    {"0.5", 500},
    {"500m", 500},
    {"1.25", 1250},
    {"0.001", 1},
    {"1024", RESLIMIT_MAX_CPU_MILLIS},
    {"1m", 1},
    {"0", 0},
    {"0m", 0},
    {"1025", 0},
    {"0.0001", 0},
    {"1.5m", 0},
    {"-1", 0},
    {"+1", 0},
    {" 1", 0},
    {"1 ", 0},
    {"1.", 0},
    {".5", 0},
    {"1e3", 0},
    {"", 0},
    {"m", 0},
    {"2mm", 0},
    {"99999999999999999999999", 0},
};

static void cpus_table(void)
{
	for (size_t i = 0; i < sizeof(cpu_cases) / sizeof(cpu_cases[0]); i++) {
		uint32_t m = 7;
		enum result r = reslimit_parse_cpus(cpu_cases[i].in, &m);

		if (cpu_cases[i].millis) {
			CU_ASSERT_EQUAL(r, R_SUCCESS);
			CU_ASSERT_EQUAL(m, cpu_cases[i].millis);
		} else {
			CU_ASSERT_EQUAL(r, R_INVALID);
			CU_ASSERT_EQUAL(m, 7); /* untouched on failure */
		}
	}
	CU_ASSERT_EQUAL(reslimit_parse_cpus(NULL, &(uint32_t){0}), R_INVALID);
}

struct mem_case {
	const char *in;
	uint64_t bytes; /* 0: refused */
};

static const struct mem_case mem_cases[] = {
    {"1048576", 1048576},
    {"512Mi", 512ull << 20},
    {"2Gi", 2ull << 30},
    {"1G", 1000000000ull},
    {"1.5Gi", 3ull << 29},
    {"1k", 1000},
    {"1K", 1000},
    {"1Ki", 1024},
    {"1Pi", RESLIMIT_MAX_MEMORY},
    {"0.5Ki", 512},
    {"1.000000001G", 1000000001ull},
    {"0", 0},
    {"0Mi", 0},
    {"1.01Pi", 0},
    {"2Pi", 0},
    {"1Gib", 0},
    {"1gi", 0},
    {"-1Gi", 0},
    {"1 Gi", 0},
    {"Gi", 0},
    {"", 0},
    {"1.0000000001G", 0},
    {"0.1", 0},
};

static void memory_table(void)
{
	for (size_t i = 0; i < sizeof(mem_cases) / sizeof(mem_cases[0]); i++) {
		uint64_t b = 7;
		enum result r = reslimit_parse_memory(mem_cases[i].in, &b);

		if (mem_cases[i].bytes) {
			CU_ASSERT_EQUAL(r, R_SUCCESS);
			CU_ASSERT_EQUAL(b, mem_cases[i].bytes);
		} else {
			CU_ASSERT_EQUAL(r, R_INVALID);
			CU_ASSERT_EQUAL(b, 7);
		}
	}
}

static void formats_round_trip(void)
{
	static const char *const mem[] = {"2Gi", "1536Mi", "1000", "1Ki", "3Pi", "1025"};
	static const char *const cpu[] = {"2", "0.5", "1.25", "0.001", "1024"};
	char out[24];

	for (size_t i = 0; i < sizeof(mem) / sizeof(mem[0]); i++) {
		uint64_t b = 0;

		if (reslimit_parse_memory(mem[i], &b) != R_SUCCESS) {
			/* "3Pi" is over the cap: formatting still works on raw bytes */
			b = 3ull << 50;
		}
		reslimit_format_memory(b, out, sizeof(out));
		CU_ASSERT_STRING_EQUAL(out, mem[i]);
	}
	for (size_t i = 0; i < sizeof(cpu) / sizeof(cpu[0]); i++) {
		uint32_t m = 0;

		CU_ASSERT_EQUAL_FATAL(reslimit_parse_cpus(cpu[i], &m), R_SUCCESS);
		reslimit_format_cpus(m, out, 16);
		CU_ASSERT_STRING_EQUAL(out, cpu[i]);
	}
}

UNIT_SUITE(reslimit, {"cpus table", cpus_table}, {"memory table", memory_table},
	   {"formats round trip", formats_round_trip});
