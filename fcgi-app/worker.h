/* worker.h: one pre-forked API worker process: a pool of request threads,
 * each with its own database connection. */
#ifndef SANDPIT_WORKER_H
#define SANDPIT_WORKER_H

/* worker_run: serve requests on listen_fd until SIGTERM, then finish the
 * requests in flight (bounded grace) and exit. Never returns. */
__attribute__((noreturn)) void worker_run(int listen_fd, int nthreads);

#endif
