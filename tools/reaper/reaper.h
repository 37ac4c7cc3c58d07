/* reaper.h: one sweep of sandpit-reaper, the steps that keep every promise
 * about time and cleanup whatever crashed: expiry, stuck rows, orphaned
 * runtimes, lost runtimes, usage samples, the warm pool, the outbox.
 *
 * Any number of sweeps may run at once (two cron hosts, a loop and a manual
 * run): a row is changed only after this sweep claimed it, in one statement,
 * with FOR UPDATE SKIP LOCKED or a guarded UPDATE, and lifecycle_stop emits
 * each event once. A sweep killed at any point leaves rows the next sweep
 * finishes (see SANDPIT_STOPPING_GRACE). */
#ifndef SANDPIT_REAPER_H
#define SANDPIT_REAPER_H

#include <signal.h>
#include <stdbool.h>

#include "core/result.h"

struct backend;
struct db;

struct reaper_opts {
	long long batch;	  /* rows per claim statement */
	long long creating_grace; /* seconds before a "creating" row is failed */
	long long stopping_grace; /* seconds before a "stopping" row is retaken */
	long long usage_interval; /* seconds between usage samples of a sandbox */
	bool warm_pool;		  /* WARM_POOL_ENABLED */
	long long warm_pool_size; /* WARM_POOL_SIZE */
	/* Set asynchronously (a signal handler) to end the sweep early between
	 * two items; NULL: never. */
	const volatile sig_atomic_t *stop;
};

/* What one sweep did; the names are the summary line's keys. */
enum reaper_count {
	REAPER_EXPIRED,	 /* running past expires_at -> timeout */
	REAPER_STUCK,	 /* creating/stopping past their grace -> error (or timeout) */
	REAPER_ORPHANS,	 /* runtime objects without a live row, destroyed */
	REAPER_LOST,	 /* running rows without a runtime -> error runtime_lost */
	REAPER_SAMPLES,	 /* usage_events rows written */
	REAPER_POOL_NEW, /* warm pool sandboxes created */
	REAPER_POOL_DEL, /* warm pool sandboxes removed */
	REAPER_OUTBOX,	 /* outbox items handled by the webhook step */
	REAPER_FAILED,	 /* items a step could not finish (retried next sweep) */
	REAPER_NCOUNTS
};

struct reaper_stats {
	long long n[REAPER_NCOUNTS];
	double ms; /* wall time of the sweep */
};

/* reaper_opts_from_config: opts from the loaded configuration (stop NULL). */
void reaper_opts_from_config(struct reaper_opts *o);

/* reaper_count_name: the summary key of a count ("expired"). */
const char *reaper_count_name(enum reaper_count c);

/* reaper_sweep: run every step once, in order. *stats is filled on every
 * return (what was done before a failure). Per-item failures are counted in
 * REAPER_FAILED and do not stop the sweep. Returns R_SUCCESS, R_DB when the
 * database went away (the sweep stops at once), or the first other step
 * error (e.g. R_UPSTREAM: the sandbox daemon is down; the other steps still
 * ran). Never stops or marks a sandbox on an inconclusive runtime answer. */
SP_MUST_CHECK enum result reaper_sweep(struct db *db, struct backend *b,
				       const struct reaper_opts *o, struct reaper_stats *stats);

/* reaper_log_summary: one "sweep done" line with every count and the
 * duration, plus the result. */
void reaper_log_summary(const struct reaper_stats *s, enum result r);

#endif
