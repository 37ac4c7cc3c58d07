/* child.c: a command's process from its fork to its exec. Order: session,
 * stdio, fds, signals, rlimits, bounding set, ids (dropping every
 * capability), cwd as the user, exec. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

static struct rlimit rl_nofile = {4096, 4096}, rl_nproc = {512, 512},
		     rl_fsize = {RLIM_INFINITY, RLIM_INFINITY};

void child_limits_parse(int argc, char **argv)
{
	int i;

	for (i = 1; i + 1 < argc; i += 2) {
		unsigned long long v = strtoull(argv[i + 1], NULL, 10);

		if (v == 0)
			continue;
		if (strcmp(argv[i], "--nofile") == 0)
			rl_nofile.rlim_cur = rl_nofile.rlim_max = v;
		else if (strcmp(argv[i], "--nproc") == 0)
			rl_nproc.rlim_cur = rl_nproc.rlim_max = v;
		else if (strcmp(argv[i], "--fsize") == 0)
			rl_fsize.rlim_cur = rl_fsize.rlim_max = v;
	}
}

static void child_fail(int errfd, const char *what) __attribute__((noreturn));

static void child_fail(int errfd, const char *what)
{
	char msg[300];
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));

	if (n > 0 && write(errfd, msg, (size_t)n) < 0) {
		/* parent will see EOF without a message */
	}
	_exit(127);
}

void child_run(const struct agentproto_exec *e, char **envp, int fds[3], int slave, int errfd)
{
	static char *shell_argv[4] = {"/bin/sh", "-c", NULL, NULL};
	const char *cwd = e->cwd ? e->cwd : "/workspace";
	struct rlimit core = {0, 0};
	sigset_t none;
	int i, oom;

	if (setsid() < 0)
		child_fail(errfd, "setsid");
	if (slave >= 0) {
		struct winsize ws = {e->rows ? e->rows : 24, e->cols ? e->cols : 80, 0, 0};

		if (ioctl(slave, TIOCSCTTY, 0) != 0)
			child_fail(errfd, "cannot acquire the tty");
		(void)ioctl(slave, TIOCSWINSZ, &ws);
		if (fchown(slave, CODE_UID, CODE_UID) != 0)
			child_fail(errfd, "cannot chown the tty");
		fds[0] = fds[1] = fds[2] = slave;
	}
	for (i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			child_fail(errfd, "dup2");
	/* errfd must survive close_range: move it to 3 (close-on-exec) */
	if (dup3(errfd, 3, O_CLOEXEC) < 0)
		child_fail(errfd, "dup3");
	errfd = 3;
	if (syscall(SYS_close_range, 4, ~0U, 0) != 0)
		child_fail(errfd, "close_range");
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Every disposition back to default: an ignored SIGINT inherited from
	 * the agent's launcher would make Ctrl-C on a tty do nothing. */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	/* make the command, not the agent, the OOM killer's choice */
	oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (oom >= 0) {
		if (write(oom, "500", 3) < 0) {
			/* best effort */
		}
		close(oom);
	}
	if (setrlimit(RLIMIT_NOFILE, &rl_nofile) != 0 || setrlimit(RLIMIT_NPROC, &rl_nproc) != 0 ||
	    setrlimit(RLIMIT_FSIZE, &rl_fsize) != 0 || setrlimit(RLIMIT_CORE, &core) != 0)
		child_fail(errfd, "setrlimit");
	for (i = 0; i <= 63; i++)
		if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) != 0 && errno != EINVAL)
			child_fail(errfd, "cannot drop the bounding set");
	if (setgroups(0, NULL) != 0 || setresgid(CODE_UID, CODE_UID, CODE_UID) != 0 ||
	    setresuid(CODE_UID, CODE_UID, CODE_UID) != 0)
		child_fail(errfd, "cannot switch to the sandbox user");
	if (chdir(cwd) != 0)
		child_fail(errfd, "cannot enter the working directory");
	environ = envp; /* execvp searches the command's PATH, not ours */
	if (e->flags & AP_EXEC_SHELL) {
		shell_argv[2] = (char *)e->argv[0];
		execve("/bin/sh", shell_argv, envp);
		child_fail(errfd, "cannot run /bin/sh");
	}
	execvp(e->argv[0], (char *const *)e->argv);
	child_fail(errfd, "cannot run the command");
}
