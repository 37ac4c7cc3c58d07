/* ratelimit.h: per-caller token buckets that hold across every worker and
 * every host. The bucket of record is a row in PostgreSQL; each host leases
 * tokens from it in batches into a table in shared memory that all of its
 * workers use, so most requests take a token without a database write.
 *
 * Guarantee: a bucket never admits more than its rate and burst allow in
 * total, whatever the number of hosts (leased tokens have left the row).
 * Cost of that: a host may hold up to one lease of a bucket's tokens that
 * other hosts cannot use; tokens of a table slot that is evicted are lost,
 * never duplicated. A lease is a tenth of the burst (at least one token),
 * so a small burst is counted exactly.
 */
#ifndef SANDPIT_RATELIMIT_H
#define SANDPIT_RATELIMIT_H

#include "core/result.h"

struct db;
struct ratelimit;

#define RATELIMIT_NAME_MAX 127 /* longest bucket name (bytes) */

struct ratelimit_policy {
	double rate_per_minute; /* refill rate, > 0 */
	double burst;		/* bucket size, >= 1 */
};

/* ratelimit_new: a table of `slots` (1..2^20) buckets in an anonymous shared mapping:
 * processes forked after this call share it. NULL on failure (errno set). */
struct ratelimit *ratelimit_new(unsigned slots);

/* ratelimit_free: unmap (in this process only); NULL is a no-op. */
void ratelimit_free(struct ratelimit *rl);

/* ratelimit_take: one token from bucket `name` (at most RATELIMIT_NAME_MAX
 * bytes). R_SUCCESS when granted; R_QUOTA when the bucket is empty, with
 * *retry_after set to the whole seconds (>= 1) until a token is due; R_DB
 * when a lease was needed and the database is away; R_INVALID for a bad
 * name or policy. Thread-safe and process-safe. */
SP_MUST_CHECK enum result ratelimit_take(struct ratelimit *rl, struct db *db, const char *name,
					 const struct ratelimit_policy *p, int *retry_after);

/* ratelimit_local_tokens: tokens this host holds for `name` (for tests). */
unsigned ratelimit_local_tokens(struct ratelimit *rl, const char *name);

#endif
