/* test_clock.c: RFC 3339 text for known instants (negative ones included)
 * and monotonic readings that never go back. */
#include <string.h>

#include "core/clock.h"
#include "unit.h"

static void rfc3339_vectors(void)
{
	static const struct {
		long long ms;
		const char *text;
	} v[] = {
	    {0, "1970-01-01T00:00:00.000Z"},
	    {-1, "1969-12-31T23:59:59.999Z"},
	    {-1000, "1969-12-31T23:59:59.000Z"},
	    {951782400001LL, "2000-02-29T00:00:00.001Z"}, /* a leap day */
	    {1796290200123LL, "2026-12-03T09:30:00.123Z"},
	    {253402300799999LL, "9999-12-31T23:59:59.999Z"},
	};
	char out[CLOCK_RFC3339_SIZE];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		clock_rfc3339(v[i].ms, out);
		CU_ASSERT_STRING_EQUAL(out, v[i].text);
	}
}

static void monotonic_never_goes_back(void)
{
	struct timespec t0;
	uint64_t a = clock_now_ms(), b;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	b = clock_now_ms();
	CU_ASSERT(b >= a);
	CU_ASSERT(clock_ms_since(&t0) >= 0.0);
	CU_ASSERT(clock_wall_ms() > 1700000000000LL);
}

UNIT_SUITE(clock, {"rfc 3339 vectors", rfc3339_vectors},
	   {"monotonic never goes back", monotonic_never_goes_back});
