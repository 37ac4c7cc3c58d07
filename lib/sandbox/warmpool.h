/* warmpool.h: ready, unowned sandboxes (rows with org_id NULL, status
 * "running", the instance's default limits) that a create can take instead
 * of starting one. The reaper refills the pool; the API claims from it.
 * A pooled sandbox has never been reachable by anyone (no org owns it, so no
 * request can name it), so a claimed one carries nothing from before. */
#ifndef SANDPIT_WARMPOOL_H
#define SANDPIT_WARMPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "core/result.h"

struct backend;
struct db;

/* What a create asks for; strings are borrowed. */
struct warmpool_want {
	const char *org_id;
	uint32_t cpu_millis;
	uint64_t memory_bytes;
	const char *cpus;	   /* as the client wrote it ("2", "500m") */
	const char *memory;	   /* as the client wrote it ("2Gi") */
	long long timeout;	   /* seconds from the claim */
	const char *env_text;	   /* JSON object text or NULL */
	const char *metadata_text; /* JSON object text or NULL */
	long long max_sandboxes;   /* instance default when the org has none */
	long long startup_ms;	   /* for the sandbox.ready event */
};

/* warmpool_claim: when WARM_POOL_ENABLED and a pooled sandbox has exactly the
 * wanted limits, give it to w->org_id in one transaction (org row locked and
 * its live count checked like a cold create; row taken with SKIP LOCKED so
 * two claims never get the same one), with env, metadata and expiry set and
 * sandbox.created + sandbox.ready emitted. Writes the sandbox id into id on
 * R_SUCCESS. R_NOT_FOUND when the pool is off, empty, has no fit, or the org is at
 * its limit (the caller falls back to a cold create, which reports that);
 * R_DB or R_INTERNAL otherwise. */
SP_MUST_CHECK enum result warmpool_claim(struct db *db, const struct warmpool_want *w, char *id,
					 size_t id_size);

/* warmpool_refill: bring the pool to size (creating sandboxes with the
 * default limits) or down to it (stopping the oldest extras; size 0 empties
 * it). Only one caller at a time does work (a session advisory lock); the
 * others return R_SUCCESS at once. *created and *removed count what this call did.
 * R_DB, or R_UPSTREAM when a create failed (the rest of the pool is kept). */
SP_MUST_CHECK enum result warmpool_refill(struct db *db, struct backend *b, long long size,
					  long long *created, long long *removed);

#endif
