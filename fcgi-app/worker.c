/* worker.c: request threads over the reentrant FCGX API. A long execute
 * occupies one thread; the router bounds how many threads long requests
 * may hold (per org and per host, longreq.h) so the others keep serving
 * cheap requests. */
#include "worker.h"

#include <fcgiapp.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/config.h"
#include "db/db.h"
#include "core/instance.h"
#include "core/log.h"
#include "router.h"

#define GRACE_SECONDS 10

static atomic_int in_flight;
static atomic_bool stopping;
static int listen_sock;
static struct backend *backend;
static struct ratelimit *limits;
static struct longreq *gate;

static void *serve(void *arg)
{
	char conninfo[4096];
	FCGX_Request fcgi;
	struct db *db = NULL;

	(void)arg;
	if (instance_conninfo(conninfo, sizeof(conninfo)) != R_SUCCESS ||
	    (db_open(conninfo, &db) != R_SUCCESS && db == NULL)) {
		log_errx("worker", "cannot set up a database handle");
		return NULL;
	}
	/* An unreachable database is not fatal: db_exec reconnects, /ready
	 * reports it, and requests answer 503 meanwhile. */
	if (FCGX_InitRequest(&fcgi, listen_sock, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		db_close(db);
		return NULL;
	}
	while (!atomic_load(&stopping)) {
		if (FCGX_Accept_r(&fcgi) < 0) {
			/* A failing listen socket must not become a busy loop. */
			struct timespec pause = {0, 10 * 1000 * 1000};

			nanosleep(&pause, NULL);
			continue;
		}
		atomic_fetch_add(&in_flight, 1);
		router_handle(&fcgi, db, backend, limits, gate);
		FCGX_Finish_r(&fcgi);
		atomic_fetch_sub(&in_flight, 1);
	}
	FCGX_Free(&fcgi, 0);
	db_close(db);
	return NULL;
}

/* open_backend: the configured sandbox backend, or NULL (logged) so the
 * rest of the API keeps serving. */
static struct backend *open_backend(void)
{
	struct backend_config cfg = {.kind = config()->exec_backend};
	struct backend *b = NULL;
	char sock[4096];

	if (instance_boxd_socket(sock, sizeof(sock)) != R_SUCCESS)
		return NULL;
	cfg.daemon_socket = sock;
	if (backend_open(&cfg, &b) != R_SUCCESS) {
		log_errx("worker", "cannot open sandbox backend '%s'", cfg.kind);
		return NULL;
	}
	return b;
}

/* drain: wait for requests in flight, at most GRACE_SECONDS. */
static void drain(void)
{
	struct timespec tick = {0, 20 * 1000 * 1000};

	for (int i = 0; i < GRACE_SECONDS * 50 && atomic_load(&in_flight) > 0; i++)
		nanosleep(&tick, NULL);
	if (atomic_load(&in_flight) > 0)
		log_warnx("worker", "exiting with requests in flight count=%d",
			  atomic_load(&in_flight));
}

void worker_run(int listen_fd, int nthreads, struct ratelimit *shared_limits,
		struct longreq *shared_gate)
{
	pthread_t tid;
	sigset_t set;
	int sig, started = 0;

	/* Die with the master, even if it is killed with SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(0);
	listen_sock = listen_fd;
	limits = shared_limits;
	gate = shared_gate;
	backend = open_backend();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < nthreads; i++)
		started += pthread_create(&tid, NULL, serve, NULL) == 0;
	if (started == 0) {
		log_errx("worker", "cannot start any request thread");
		_exit(1);
	}
	log_info("worker", "ready threads=%d", started);
	do {
		if (sigwait(&set, &sig) != 0)
			sig = SIGTERM;
	} while (sig == SIGHUP);
	atomic_store(&stopping, true);
	drain();
	/* Threads still parked in accept() end with the process. */
	_exit(0);
}
