/* clock.c: monotonic and wall time, RFC 3339 text (clock.h). */
#include "core/clock.h"

#include <stdio.h>
#include <string.h>

uint64_t clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

double clock_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int64_t clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_rfc3339(int64_t unix_ms, char out[CLOCK_RFC3339_SIZE])
{
	time_t s = (time_t)(unix_ms / 1000);
	int frac = (int)(unix_ms % 1000);
	struct tm tm;
	size_t n;

	if (frac < 0) {
		frac += 1000;
		s--;
	}
	if (gmtime_r(&s, &tm) == NULL ||
	    (n = strftime(out, CLOCK_RFC3339_SIZE - 6, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		memcpy(out, "1970-01-01T00:00:00.000Z", sizeof("1970-01-01T00:00:00.000Z"));
		return;
	}
	snprintf(out + n, CLOCK_RFC3339_SIZE - n, ".%03uZ", (unsigned)frac % 1000u);
}
