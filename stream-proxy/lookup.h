/* lookup.h: an upgrade's database work (authentication, the sandbox row),
 * off the event loop. A few worker threads, each with its own session
 * (database connection), take jobs from a bounded queue and hand them back
 * through an eventfd the loop watches: a slow or absent PostgreSQL delays
 * upgrades, never the streams already open. */
#ifndef SANDPIT_STREAM_LOOKUP_H
#define SANDPIT_STREAM_LOOKUP_H

#include <stdbool.h>

#include "core/result.h"
#include "session.h"
#include "auth/streamtoken.h"
#include "net/ws.h"

struct lookup; /* opaque: the threads, the queues, the eventfd */

/* One upgrade's lookup. The loop fills the input, submits, and gets the job
 * back from lookup_next with the output filled. Between the two a worker
 * owns the input and output; owner stays the loop's throughout. */
struct lookup_job {
	/* input */
	char req_id[48];
	char authorization[WS_AUTH_MAX]; /* secret: wiped by the worker */
	char token[STREAMTOKEN_MAX];	 /* secret: wiped by the worker */
	char sandbox_id[64];
	/* output */
	enum result auth_r; /* session_authenticate */
	int retry_after;    /* with auth_r R_QUOTA */
	struct session_grant grant;
	enum result find_r; /* session_find_sandbox, run when auth_r is R_SUCCESS
			       and the grant has the write scope; else R_FORBIDDEN */
	struct session_target target;
	/* the loop's: who waits for it (NULL once nobody does) */
	void *owner;
	struct lookup_job *next_;
};

/* lookup_new: start nthreads workers (1..64) with a queue of at most
 * max_queued jobs waiting. Config must be loaded. */
SP_MUST_CHECK enum result lookup_new(unsigned nthreads, unsigned max_queued, struct lookup **out);

/* lookup_free: stop the workers (each finishes the job in hand), free every
 * job still held, whoever its owner was. NULL is a no-op. */
void lookup_free(struct lookup *lk);

/* lookup_fd: readable when lookup_next has jobs to hand back. */
int lookup_fd(const struct lookup *lk);

/* lookup_submit: queue job (heap-allocated, its input filled); the lookup
 * owns it until lookup_next returns it. R_QUOTA when the queue is full (the
 * job stays the caller's). */
SP_MUST_CHECK enum result lookup_submit(struct lookup *lk, struct lookup_job *job);

/* lookup_next: a finished job, now the caller's (free it), or NULL when
 * none is left; call until NULL whenever lookup_fd is readable. */
struct lookup_job *lookup_next(struct lookup *lk);

/* lookup_job_free: free a job, wiping its secrets; NULL is a no-op. */
void lookup_job_free(struct lookup_job *job);

#endif
