/* worker.h: one pre-forked API worker process: a pool of request threads,
 * each with its own database connection. */
#ifndef SANDPIT_WORKER_H
#define SANDPIT_WORKER_H

struct longreq;
struct ratelimit;

/* worker_run: serve requests on listen_fd until SIGTERM, then finish the
 * requests in flight (bounded grace) and exit. limits is the host's
 * rate-limit table and gate its long-request counts, both shared by all
 * workers. Never returns. */
__attribute__((noreturn)) void worker_run(int listen_fd, int nthreads, struct ratelimit *limits,
					  struct longreq *gate);

#endif
