/* keeper.c: fork the daemon, reap orphans, restart the daemon after a crash
 * (keeper.h). Deliberately tiny: it runs as root for the instance's whole
 * life and must not be the part that crashes. */
#include "keeper.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define MOD "keeper"

/* spawn: the daemon's pid in the keeper, 0 in the daemon, -1 on failure. */
static pid_t spawn(const sigset_t *old)
{
	pid_t pid = fork();

	if (pid == 0)
		sigprocmask(SIG_SETMASK, old, NULL);
	else if (pid < 0)
		log_warn(MOD, "cannot fork the daemon");
	return pid;
}

/* pause_if_recent: a daemon that keeps crashing is restarted once a second,
 * not in a loop. */
static void pause_if_recent(struct timespec *last)
{
	struct timespec now, second = {1, 0};

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - last->tv_sec < 1)
		nanosleep(&second, NULL);
	clock_gettime(CLOCK_MONOTONIC, last);
}

static int exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void keeper_run(void)
{
	struct timespec started;
	bool stopping = false;
	sigset_t watched, old;
	pid_t daemon, pid;
	int sig, status;

	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	sigemptyset(&watched);
	sigaddset(&watched, SIGCHLD);
	sigaddset(&watched, SIGTERM);
	sigaddset(&watched, SIGINT);
	sigprocmask(SIG_BLOCK, &watched, &old);
	clock_gettime(CLOCK_MONOTONIC, &started);
	daemon = spawn(&old);
	if (daemon == 0)
		return;
	if (daemon < 0)
		exit(1);
	for (;;) {
		if (sigwait(&watched, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT) {
			stopping = true;
			kill(daemon, sig);
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid != daemon)
				continue; /* an orphan: reaped, nothing more */
			daemon = -1;
			if (stopping || !WIFSIGNALED(status))
				exit(exit_code(status));
			log_errx(MOD, "daemon died signal=%d; restarting", WTERMSIG(status));
			pause_if_recent(&started);
			daemon = spawn(&old);
			if (daemon == 0)
				return;
			if (daemon < 0)
				exit(1);
		}
	}
}
