/* main.c: sandpit-api, the FastCGI master. It opens the socket, pre-forks
 * workers, replaces the ones that die, and stops them gracefully on SIGTERM.
 *
 *   sandpit-api [--check-config]
 */
#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/instance.h"
#include "core/log.h"
#include "longreq.h"
#include "sandbox/secrets.h"
#include "auth/ratelimit.h"
#include "worker.h"

#define MAX_WORKERS  256
#define STOP_SECONDS 15
#define RATE_SLOTS   8192 /* callers whose leased tokens this host remembers */

static pid_t workers[MAX_WORKERS];
static struct ratelimit *limits; /* shared with every worker, set before the first fork */
static struct longreq *gate;	 /* likewise */

static int open_socket(void)
{
	char path[4096];
	int fd;

	if (instance_fcgi_listen(path, sizeof(path)) != R_SUCCESS) {
		log_errx("api", "FastCGI socket path too long");
		return -1;
	}
	if (path[0] == '/')
		unlink(path);
	fd = FCGX_OpenSocket(path, 1024);
	if (fd < 0) {
		log_warn("api", "cannot listen on '%s'", path);
		return -1;
	}
	/* The web server reaches us through the group, never through "other". */
	if (path[0] == '/' && chmod(path, 0660) != 0)
		log_warn("api", "cannot chmod '%s'", path);
	log_info("api", "listening socket=\"%s\"", path);
	return fd;
}

static pid_t spawn(int fd, int threads)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		worker_run(fd, threads, limits, gate);
	}
	if (pid < 0)
		log_warn("api", "cannot fork a worker");
	return pid;
}

/* throttle: a worker that keeps dying (bad config, broken library) must
 * not turn the master into a fork loop: at most ten respawns a second. */
static void throttle(void)
{
	static struct timespec last;
	struct timespec now, pause = {0, 100 * 1000 * 1000};

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec == last.tv_sec && now.tv_nsec - last.tv_nsec < pause.tv_nsec)
		nanosleep(&pause, NULL);
	clock_gettime(CLOCK_MONOTONIC, &last);
}

/* reap: collect dead children; respawn workers unless stopping. Returns how
 * many workers are alive. */
static int reap(int fd, int nworkers, int threads, bool stopping)
{
	int status, alive = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < nworkers; i++) {
			if (workers[i] != pid)
				continue;
			workers[i] = 0;
			/* Its long requests ended with it: give their slots back. */
			longreq_forget(gate, pid);
			if (stopping)
				break;
			log_warnx("api", "worker died pid=%d status=%d; respawning", (int)pid,
				  status);
			throttle();
			workers[i] = spawn(fd, threads);
		}
	}
	for (int i = 0; i < nworkers; i++)
		alive += workers[i] > 0;
	return alive;
}

static void signal_all(int nworkers, int sig)
{
	for (int i = 0; i < nworkers; i++)
		if (workers[i] > 0)
			kill(workers[i], sig);
}

static int supervise(int fd, int nworkers, int threads)
{
	struct timespec wait = {1, 0};
	time_t deadline = 0;
	bool stopping = false;
	sigset_t set;
	siginfo_t info;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		int sig = sigtimedwait(&set, &info, &wait);

		if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			log_info("api", "stopping workers=%d", nworkers);
			stopping = true;
			deadline = time(NULL) + STOP_SECONDS;
			signal_all(nworkers, SIGTERM);
		}
		if (reap(fd, nworkers, threads, stopping) == 0 && stopping)
			break;
		if (stopping && time(NULL) > deadline) {
			log_warnx("api", "workers did not stop in time; killing");
			signal_all(nworkers, SIGKILL);
		}
	}
	log_info("api", "stopped");
	return 0;
}

int main(int argc, char **argv)
{
	const char *why;
	sigset_t set;
	int fd, nworkers, threads;

	/* A key ring that cannot open stored secrets stops start-up, not the
	 * first create of an org that has some. */
	if (config_load(&why) != R_SUCCESS || secrets_check_config(&why) != R_SUCCESS) {
		fprintf(stderr, "sandpit-api: %s\n", why);
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "--check-config") == 0) {
		config_print(stdout);
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "usage: sandpit-api [--check-config]\n");
		return 2;
	}
	log_init("api", config()->log_level);
	nworkers = (int)config()->workers;
	threads = (int)config()->threads;
	if (nworkers > MAX_WORKERS)
		nworkers = MAX_WORKERS;
	/* Block the signals we wait for before any child exists. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (FCGX_Init() != 0)
		return 1;
	limits = ratelimit_new(RATE_SLOTS);
	if (limits == NULL) {
		log_warn("api", "cannot map the rate-limit table");
		return 1;
	}
	/* One slot per request thread is enough: each long request holds one. */
	gate = longreq_new((unsigned)(nworkers * threads));
	if (gate == NULL) {
		log_warn("api", "cannot map the long-request table");
		return 1;
	}
	fd = open_socket();
	if (fd < 0)
		return 1;
	for (int i = 0; i < nworkers; i++)
		workers[i] = spawn(fd, threads);
	log_info("api", "started workers=%d threads=%d", nworkers, threads);
	return supervise(fd, nworkers, threads);
}
