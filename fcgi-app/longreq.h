/* longreq.h: how many long requests (execute, file transfers, webhook
 * tests: requests that hold a request thread for as long as a tenant's
 * sandbox or endpoint makes them) each org has in flight on this host, in
 * a table every worker process shares.
 *
 * Two bounds: per org, so one org cannot take every thread; and per host,
 * below the number of request threads, so cheap requests (status reads,
 * auth, lists) always find a thread however many orgs are busy. The table
 * counts per (worker pid, org): when a worker dies its counts are dropped
 * by the master (longreq_forget), so a crash never leaks a slot.
 *
 * The bound is per API host on purpose: what it protects is this host's
 * thread pool; more hosts bring more threads.
 */
#ifndef SANDPIT_LONGREQ_H
#define SANDPIT_LONGREQ_H

#include <sys/types.h>

#include "core/result.h"

struct longreq;

/* longreq_new: a table of `slots` (1..65536) (pid, org) counters in an
 * anonymous shared mapping: processes forked after this call share it.
 * NULL on failure (errno set). */
struct longreq *longreq_new(unsigned slots);

/* longreq_free: unmap (in this process only); NULL is a no-op. */
void longreq_free(struct longreq *lr);

/* longreq_enter: take a slot for org (its id, at most 47 bytes) in this
 * process. R_SUCCESS when taken (the caller must longreq_leave it on every
 * path); R_QUOTA when org already has per_org long requests in flight on
 * this host; R_CONFLICT when the host has `total` in flight (every org
 * counted) or the table is full. Thread- and process-safe. */
SP_MUST_CHECK enum result longreq_enter(struct longreq *lr, const char *org, unsigned per_org,
					unsigned total);

/* longreq_leave: give back a slot longreq_enter granted to this process. */
void longreq_leave(struct longreq *lr, const char *org);

/* longreq_forget: drop every slot held by process pid (it has exited). */
void longreq_forget(struct longreq *lr, pid_t pid);

/* longreq_count: slots org holds on this host (for logs and tests). */
unsigned longreq_count(struct longreq *lr, const char *org);

#endif
