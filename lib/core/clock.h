/* clock.h: time as the project uses it: monotonic milliseconds for
 * deadlines and durations, RFC 3339 UTC text with milliseconds for the
 * timestamps on the wire. */
#ifndef SANDPIT_CLOCK_H
#define SANDPIT_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CLOCK_RFC3339_SIZE 40 /* "YYYY-MM-DDTHH:MM:SS.mmmZ" and wide years */

/* clock_now_ms: CLOCK_MONOTONIC in milliseconds (for deadlines). */
uint64_t clock_now_ms(void);

/* clock_ms_since: milliseconds from t0 (a CLOCK_MONOTONIC reading) to now. */
double clock_ms_since(const struct timespec *t0);

/* clock_wall_ms: CLOCK_REALTIME in milliseconds since the epoch. */
int64_t clock_wall_ms(void);

/* clock_rfc3339: unix_ms as "2026-12-03T09:30:00.123Z" (UTC) into out;
 * negative times count back from the epoch. Never fails: an unrepresentable
 * time prints as the epoch. */
void clock_rfc3339(int64_t unix_ms, char out[CLOCK_RFC3339_SIZE]);

#endif
