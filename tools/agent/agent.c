/* agent.c: sandpit-agent, PID 1 of every sandbox. Serves the agent protocol
 * (lib/agentproto.h) on a listening socket it inherits, runs commands as the
 * sandbox's unprivileged uid, reaps every zombie, and is the one place where
 * the in-sandbox security set-up happens (see "privileges" below).
 *
 * Inherited from sandpit-boxd (tools/boxd/spawn.c), which already built the
 * namespaces, mounts and cgroup:
 *   fd 3  listening unix socket; its path is on the host, outside our root
 *   fd 4  status pipe: we write "R" once ready (or "E<why>"), then close it
 *   fd 5  the cgroup's OOM counter file (memory.events / memory.oom_control)
 *   argv  --nofile N --nproc N --fsize N  (rlimits for commands)
 *
 * Privileges. We are uid 0 of a user namespace mapped to a per-sandbox host
 * uid; commands run as uid 1000 of the same namespace (another per-sandbox
 * host uid). At start we make ourselves non-dumpable (no ptrace, no
 * /proc/1/mem or environ for anyone), keep only the capabilities we need
 * (setuid/setgid/setpcap to start commands, kill, and file-ownership caps for
 * the coming file API) in every set including the bounding set, set
 * no_new_privs and install the seccomp deny-list (lib/sysfilter.c), which
 * every command then inherits: the filter is installed once, here, before any
 * untrusted code exists. A command's child additionally drops the bounding
 * set entirely and switches to uid 1000, losing every capability.
 * Signals: as a pid-namespace init the kernel drops any signal from inside the
 * namespace we have no handler for; we install no handler at all (SIGCHLD is
 * blocked and read from a signalfd, SIGPIPE ignored), and commands run as
 * another uid without CAP_KILL, so nothing inside can signal us.
 *
 * One poll loop, no threads: any number of connections (up to MAX_CONNS),
 * each running at most one command at a time. A detached command
 * (AP_EXEC_DETACH, or DETACH later) outlives its connection and waits, still
 * drained, for an ATTACH from another one.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agentproto.h"
#include "buf.h"
#include "files.h"
#include "sysfilter.h"

#define FD_LISTEN 3
#define FD_STATUS 4
#define FD_OOM 5

#define CODE_UID 1000
#define MAX_CONNS 64
#define MAX_SESSIONS 64
#define OUT_HIGH (256u * 1024u)       /* stop reading a command past this backlog */
#define OUT_LIMIT (8u * 1024u * 1024u) /* hard cap of a connection's send queue */
#define STDIN_HIGH (1024u * 1024u)    /* stop reading the host past this stdin backlog */
#define STDIN_LIMIT (4u * 1024u * 1024u)
#define EXEC_START_MS 5000 /* fork to exec; normally well under a millisecond */
/* what is read of an ended command's pipe: more than the biggest pipe
 * (pipe-max-size, 1 MiB) or pty buffer a command can fill before it ends */
#define DRAIN_BYTES (2u * 1024u * 1024u)
#define IN_LIMIT (AGENTPROTO_MAX_FRAME + 65536u)
#define CHUNK 65536
#define DEFAULT_CAP (10ull * 1024 * 1024)
#define MAX_ENV_BYTES (1024u * 1024u)

extern char **environ;

struct conn;

struct session {
	bool used;
	pid_t pid;
	int in_fd, out_fd, err_fd; /* -1 when closed; tty: out_fd is the master */
	bool tty;
	struct buf stdin_q;
	bool stdin_eof; /* close in_fd once stdin_q is drained */
	uint64_t cap[2], got[2];
	bool trunc[2];
	int start_fd; /* the child's exec report while it starts, else -1 */
	uint64_t start_ms, deadline_ms; /* deadline 0: none */
	uint64_t start_deadline_ms;
	bool timed_out;
	uint64_t oom_before;
	bool exited;
	int status;
	bool detached;     /* survives its connection; ATTACH can bind it again */
	struct conn *conn; /* NULL once the host went away */
};

struct conn {
	bool used;
	int fd;
	struct buf in, out;
	struct session *s;
	bool closing; /* close once out is flushed */
};

static struct conn conns[MAX_CONNS];
static struct session sessions[MAX_SESSIONS];
static char **sandbox_env;
static size_t sandbox_envc;
static struct rlimit rl_nofile = {4096, 4096}, rl_nproc = {512, 512}, rl_fsize = {RLIM_INFINITY,
									    RLIM_INFINITY};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *what)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "Eagent: %s: %s", what, strerror(errno));

	if (n > 0 && write(FD_STATUS, msg, (size_t)n) < 0) {
		/* no one to tell */
	}
	_exit(1);
}

/* ---- privileges ---------------------------------------------------------- */

static const int kept_caps[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL,
				CAP_SETGID, CAP_SETUID, CAP_SETPCAP};

static void narrow_self(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2] = {{0}};
	struct sysfilter *f = NULL;
	size_t i;
	int cap;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		die("cannot clear dumpable");
	for (cap = 0; cap <= 63; cap++) {
		bool keep = false;

		for (i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++)
			keep = keep || kept_caps[i] == cap;
		if (!keep && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
			die("cannot drop the bounding set");
	}
	for (i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++) {
		data[kept_caps[i] / 32].permitted |= 1u << (kept_caps[i] % 32);
		data[kept_caps[i] / 32].effective |= 1u << (kept_caps[i] % 32);
	}
	if (syscall(SYS_capset, &hdr, data) != 0)
		die("cannot set capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
		die("cannot clear ambient capabilities");
	if (sysfilter_build(&f) != R_OK)
		die("cannot build the seccomp filter");
	if (sysfilter_apply(f) != R_OK)
		die("cannot install the seccomp filter");
	sysfilter_free(f);
}

/* ---- environment ---------------------------------------------------------- */

static bool env_set(char ***envp, size_t *envc, const char *kv)
{
	size_t klen = strcspn(kv, "="), i;
	char *copy, **grown;

	if (klen == 0 || kv[klen] != '=')
		return false;
	copy = strdup(kv);
	if (!copy)
		return false;
	for (i = 0; i < *envc; i++) {
		if (strncmp((*envp)[i], kv, klen + 1) == 0) {
			free((*envp)[i]);
			(*envp)[i] = copy;
			return true;
		}
	}
	if (*envc >= AGENTPROTO_MAX_ENV * 2) {
		free(copy);
		return false;
	}
	grown = realloc(*envp, (*envc + 2) * sizeof(char *));
	if (!grown) {
		free(copy);
		return false;
	}
	grown[(*envc)++] = copy;
	grown[*envc] = NULL;
	*envp = grown;
	return true;
}

static void env_free(char **env, size_t envc)
{
	size_t i;

	for (i = 0; i < envc; i++)
		free(env[i]);
	free(env);
}

static size_t env_bytes(char **env, size_t envc)
{
	size_t i, n = 0;

	for (i = 0; i < envc; i++)
		n += strlen(env[i]) + 1;
	return n;
}

/* ---- sending -------------------------------------------------------------- */

static void conn_fail(struct conn *c)
{
	c->closing = true;
	buf_free(&c->in);
}

/* queue: every frame goes through here; a send queue past its hard cap
 * means the host stopped reading, and the connection is dropped. */
static void queue_result(struct conn *c, enum result r)
{
	if (r != R_OK) {
		buf_free(&c->out);
		buf_init(&c->out, OUT_LIMIT);
		conn_fail(c);
		c->out.len = 0;
	}
}

static void send_error(struct conn *c, enum result code, const char *msg)
{
	queue_result(c, agentproto_put_error(&c->out, code, msg));
}

/* ---- commands -------------------------------------------------------------- */

static uint64_t read_oom_kills(void)
{
	char text[512];
	ssize_t n = pread(FD_OOM, text, sizeof(text) - 1, 0);
	const char *p = text;

	if (n <= 0)
		return 0;
	text[n] = '\0';
	while (p) {
		if (strncmp(p, "oom_kill ", 9) == 0)
			return strtoull(p + 9, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
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

/* run_child: the forked command. Order: session, stdio, fds, signals,
 * rlimits, bounding set, ids (dropping every capability), cwd as the user,
 * exec. no_new_privs and seccomp are inherited from the agent. */
static void run_child(const struct agentproto_exec *e, char **envp, int fds[3], int slave,
		      int errfd) __attribute__((noreturn));

static void run_child(const struct agentproto_exec *e, char **envp, int fds[3], int slave,
		      int errfd)
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

static char **build_env(const struct agentproto_exec *e, size_t *n)
{
	char **env = NULL;
	size_t envc = 0, i;
	bool ok = true;

	ok = env_set(&env, &envc, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") &&
	     env_set(&env, &envc, "HOME=/workspace") && env_set(&env, &envc, "LANG=C.UTF-8") &&
	     env_set(&env, &envc, "USER=sandbox");
	if (ok && (e->flags & AP_EXEC_TTY))
		ok = env_set(&env, &envc, "TERM=xterm-256color");
	for (i = 0; ok && i < sandbox_envc; i++)
		ok = env_set(&env, &envc, sandbox_env[i]);
	for (i = 0; ok && i < e->envc; i++)
		ok = env_set(&env, &envc, e->env[i]);
	if (!ok) {
		env_free(env, envc);
		return NULL;
	}
	*n = envc;
	return env;
}

static struct session *alloc_session(void)
{
	int i;

	for (i = 0; i < MAX_SESSIONS; i++)
		if (!sessions[i].used)
			return &sessions[i];
	return NULL;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void pump_stdin(struct session *s)
{
	ssize_t n;

	while (s->in_fd >= 0 && s->stdin_q.len > 0) {
		n = write(s->in_fd, s->stdin_q.data, s->stdin_q.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) { /* EPIPE: the command closed stdin */
			close_fd(&s->in_fd);
			buf_reset(&s->stdin_q);
			return;
		}
		memmove(s->stdin_q.data, s->stdin_q.data + n, s->stdin_q.len - (size_t)n);
		s->stdin_q.len -= (size_t)n;
	}
	if (s->stdin_eof && s->stdin_q.len == 0 && !s->tty)
		close_fd(&s->in_fd);
}

static void start_exec(struct conn *c, const struct agentproto_exec *e)
{
	int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, errp[2] = {-1, -1};
	int master = -1, slave = -1, child_fds[3];
	struct session *s;
	struct buf stdin_q;
	char **env, msg[300], pts[64];
	size_t envc = 0;
	pid_t pid;

	if (c->s) {
		send_error(c, R_CONFLICT, "a command is already running on this connection");
		return;
	}
	if (e->stdin_len > STDIN_LIMIT) {
		send_error(c, R_TOO_BIG, "stdin over its cap");
		return;
	}
	s = alloc_session();
	if (!s) {
		send_error(c, R_QUOTA, "too many running commands");
		return;
	}
	env = build_env(e, &envc);
	if (!env) {
		send_error(c, R_INVALID, "bad environment");
		return;
	}
	buf_init(&stdin_q, STDIN_LIMIT);
	if (e->stdin_len > 0 && buf_append(&stdin_q, e->stdin_data, e->stdin_len) != R_OK) {
		env_free(env, envc);
		send_error(c, R_NO_MEMORY, "cannot queue stdin");
		return;
	}
	if (pipe2(errp, O_CLOEXEC) != 0)
		goto sys_fail;
	if (e->flags & AP_EXEC_TTY) {
		master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 ||
		    ptsname_r(master, pts, sizeof(pts)) != 0)
			goto sys_fail;
		slave = open(pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (slave < 0)
			goto sys_fail;
	} else if (pipe2(in_p, O_CLOEXEC) != 0 || pipe2(out_p, O_CLOEXEC) != 0 ||
		   pipe2(err_p, O_CLOEXEC) != 0) {
		goto sys_fail;
	}
	child_fds[0] = in_p[0];
	child_fds[1] = out_p[1];
	child_fds[2] = err_p[1];
	pid = fork();
	if (pid < 0)
		goto sys_fail;
	if (pid == 0)
		run_child(e, env, child_fds, slave, errp[1]);
	close(errp[1]);
	errp[1] = -1;
	/* The child reports on errp: EOF when its exec happened (close-on-exec),
	 * a message when it failed. It runs as the sandbox's uid before its
	 * exec, so sandboxed code can stop it there (kill -STOP -1): the report
	 * is awaited in the main loop, under a deadline, never here. STARTED
	 * goes out when it comes (exec_report). */
	memset(s, 0, sizeof(*s));
	s->used = true;
	s->pid = pid;
	s->conn = c;
	s->tty = (e->flags & AP_EXEC_TTY) != 0;
	s->detached = (e->flags & AP_EXEC_DETACH) != 0;
	s->start_fd = errp[0];
	errp[0] = -1;
	set_nonblock(s->start_fd);
	if (s->tty) {
		s->out_fd = master;
		s->in_fd = dup(master);
		s->err_fd = -1;
		close(slave);
		master = slave = -1;
		if (s->in_fd >= 0)
			fcntl(s->in_fd, F_SETFD, FD_CLOEXEC);
	} else {
		s->in_fd = in_p[1];
		s->out_fd = out_p[0];
		s->err_fd = err_p[0];
		close(in_p[0]);
		close(out_p[1]);
		close(err_p[1]);
		in_p[1] = out_p[0] = err_p[0] = -1;
		in_p[0] = out_p[1] = err_p[1] = -1;
	}
	if (s->in_fd >= 0)
		set_nonblock(s->in_fd);
	set_nonblock(s->out_fd);
	if (s->err_fd >= 0)
		set_nonblock(s->err_fd);
	s->stdin_q = stdin_q; /* moved: the session owns it now */
	buf_init(&stdin_q, STDIN_LIMIT);
	s->stdin_eof = !(e->flags & AP_EXEC_STREAM);
	s->cap[0] = e->stdout_cap ? e->stdout_cap : DEFAULT_CAP;
	s->cap[1] = e->stderr_cap ? e->stderr_cap : DEFAULT_CAP;
	s->start_ms = now_ms();
	s->start_deadline_ms = s->start_ms + EXEC_START_MS;
	s->deadline_ms = e->timeout_ms ? s->start_ms + e->timeout_ms : 0;
	s->oom_before = read_oom_kills();
	c->s = s;
	/* Without a stream, stdin is all here: write what fits (the pipe holds
	 * it until the exec) and close it once written, so a command reading
	 * stdin sees end-of-file. */
	pump_stdin(s);
	env_free(env, envc);
	return;
sys_fail:
	snprintf(msg, sizeof(msg), "cannot start the command: %s", strerror(errno));
	send_error(c, R_INTERNAL, msg);
	for (int i = 0; i < 2; i++) {
		if (in_p[i] >= 0)
			close(in_p[i]);
		if (out_p[i] >= 0)
			close(out_p[i]);
		if (err_p[i] >= 0)
			close(err_p[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	buf_free(&stdin_q);
	env_free(env, envc);
}


/* release_session: forget a command (ended, or never started): its fds,
 * its stdin backlog, its connection's hold on it. */
static void release_session(struct session *s)
{
	close_fd(&s->in_fd);
	close_fd(&s->out_fd);
	close_fd(&s->err_fd);
	close_fd(&s->start_fd);
	buf_free(&s->stdin_q);
	if (s->conn)
		s->conn->s = NULL;
	s->conn = NULL;
	s->used = false;
}

/* pump_output: move what a command wrote into OUTPUT frames, respecting the
 * caps (bytes past a cap are read and dropped, so the command never blocks
 * on a full pipe because of a cap). A detached command with no connection
 * is drained the same way and its bytes dropped: nobody would read a
 * backlog, and a command blocked in write would never reach its exit.
 * drain: the command ended; take what its pipe still holds, whatever the
 * host's backlog, but no more than DRAIN_BYTES: background children still
 * writing to it must not keep us here. */
static void pump_output(struct session *s, int which, bool drain)
{
	int *fd = which == 0 ? &s->out_fd : &s->err_fd;
	char chunk[CHUNK];
	ssize_t n;
	size_t taken = 0;
	int rounds = 0;

	while (*fd >= 0 && (!drain || taken < DRAIN_BYTES)) {
		if (s->conn && !drain && s->conn->out.len >= OUT_HIGH)
			return;
		n = read(*fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) { /* EOF, or EIO on a pty whose slave is gone */
			close_fd(fd);
			if (s->tty)
				s->in_fd >= 0 ? close_fd(&s->in_fd) : (void)0;
			return;
		}
		taken += (size_t)n;
		if (!s->conn) {
			/* unattached: dropped, and not counted against the cap,
			 * which bounds what a host is sent */
		} else if (s->got[which] < s->cap[which]) {
			uint64_t room = s->cap[which] - s->got[which];
			size_t keep = (uint64_t)n < room ? (size_t)n : (size_t)room;

			if (keep < (size_t)n)
				s->trunc[which] = true;
			s->got[which] += keep;
			queue_result(s->conn, agentproto_put_output(&s->conn->out,
								   (uint8_t)(which + 1), chunk,
								   keep));
		} else {
			s->trunc[which] = true;
		}
		if (!drain && ++rounds >= 4)
			return; /* let other connections have a turn */
	}
}

static void finish_session(struct session *s)
{
	struct agentproto_exit x = {0};
	uint64_t oom_after;

	/* whatever the command wrote before it ended is in the pipes now;
	 * a background child still holding them is not waited for */
	pump_output(s, 0, true);
	pump_output(s, 1, true);
	if (WIFEXITED(s->status)) {
		x.exit_code = WEXITSTATUS(s->status);
	} else if (WIFSIGNALED(s->status)) {
		x.signal = (uint32_t)WTERMSIG(s->status);
		x.exit_code = 128 + WTERMSIG(s->status);
	} else {
		x.exit_code = -1;
	}
	oom_after = read_oom_kills();
	/* The counter is the sandbox's: an OOM kill during this command that
	 * ended it (SIGKILL, or a shell reporting 137 for its child) is this
	 * command's. A concurrent command's OOM may be misattributed. */
	if ((x.signal == SIGKILL || x.exit_code == 137) && oom_after > s->oom_before &&
	    !s->timed_out) {
		x.flags |= AP_EXIT_OOM_KILLED;
		x.exit_code = 137;
	}
	if (s->timed_out)
		x.flags |= AP_EXIT_TIMED_OUT;
	if (s->trunc[0])
		x.flags |= AP_EXIT_STDOUT_TRUNCATED;
	if (s->trunc[1])
		x.flags |= AP_EXIT_STDERR_TRUNCATED;
	x.duration_ms = now_ms() - s->start_ms;
	if (s->conn)
		queue_result(s->conn, agentproto_put_exit(&s->conn->out, &x));
	release_session(s);
}

static void kill_session(struct session *s)
{
	/* the group, and the leader in case it left its group (or, still
	 * starting, has none yet) */
	kill(-s->pid, SIGKILL);
	kill(s->pid, SIGKILL);
}

/* abort_start: a command that never ran. Its host gets the error; the child,
 * killed to be sure, is reaped by the main loop like any orphan. */
static void abort_start(struct session *s, enum result code, const char *msg)
{
	kill(s->pid, SIGKILL);
	if (s->conn)
		send_error(s->conn, code, msg);
	release_session(s);
}

/* exec_report: the starting command's report pipe is readable: EOF means
 * the exec happened (the pipe is close-on-exec; a child killed before it
 * reads the same, and its EXIT follows), a message means it failed. */
static void exec_report(struct session *s)
{
	char msg[300];
	ssize_t n = read(s->start_fd, msg, sizeof(msg) - 1);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	close_fd(&s->start_fd);
	if (n < 0) {
		abort_start(s, R_INTERNAL, "cannot read the command's start report");
		return;
	}
	if (n > 0) {
		msg[n] = '\0';
		abort_start(s, R_INVALID, msg);
		return;
	}
	if (s->conn)
		queue_result(s->conn, agentproto_put_started(&s->conn->out, (uint32_t)s->pid));
}

/* ---- requests ------------------------------------------------------------- */

static void do_setenv(struct conn *c, const uint8_t *p, size_t n)
{
	struct agentproto_setenv se;
	char **env = NULL;
	size_t envc = 0, i;
	bool ok = true;

	if (agentproto_get_setenv(p, n, &se) != R_OK) {
		send_error(c, R_INVALID, "malformed setenv");
		return;
	}
	for (i = 0; ok && !se.replace && i < sandbox_envc; i++)
		ok = env_set(&env, &envc, sandbox_env[i]);
	for (i = 0; ok && i < se.envc; i++)
		ok = env_set(&env, &envc, se.env[i]);
	agentproto_setenv_free(&se);
	if (!ok || env_bytes(env, envc) > MAX_ENV_BYTES) {
		env_free(env, envc);
		send_error(c, R_INVALID, "bad or too large environment");
		return;
	}
	env_free(sandbox_env, sandbox_envc);
	sandbox_env = env;
	sandbox_envc = envc;
	queue_result(c, agentproto_put_empty(&c->out, AP_OK));
}

static bool read_small(const char *path, char *out, size_t size, size_t *len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return false;
	out[n] = '\0';
	*len = (size_t)n;
	return true;
}

static void do_ps(struct conn *c)
{
	struct agentproto_proc *procs;
	struct agentproto_procs ps = {0};
	static char cmds[256][1024];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	procs = calloc(256, sizeof(*procs));
	d = opendir("/proc");
	if (!procs || !d) {
		free(procs);
		if (d)
			closedir(d);
		send_error(c, R_INTERNAL, "cannot list processes");
		return;
	}
	while ((de = readdir(d)) != NULL && n < 256) {
		char path[64], text[1024], *p;
		unsigned long pid = strtoul(de->d_name, &p, 10);
		unsigned long long rss = 0;
		size_t len, i;
		int ppid = 0;
		char state = '?';
		unsigned uid = 0;

		if (*p != '\0' || pid <= 1)
			continue;
		snprintf(path, sizeof(path), "/proc/%lu/stat", pid);
		if (!read_small(path, text, sizeof(text), &len))
			continue;
		p = strrchr(text, ')');
		if (!p || sscanf(p + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
				 "%*d %*d %*d %*d %*u %*u %llu", &state, &ppid, &rss) < 2)
			continue;
		snprintf(path, sizeof(path), "/proc/%lu/status", pid);
		if (read_small(path, text, sizeof(text), &len) && (p = strstr(text, "\nUid:")))
			uid = (unsigned)strtoul(p + 5, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%lu/cmdline", pid);
		if (!read_small(path, cmds[n], sizeof(cmds[n]), &len)) {
			cmds[n][0] = '\0'; /* gone meanwhile: not the last call's text */
			len = 0;
		}
		for (i = 0; i < len; i++)
			if (cmds[n][i] == '\0')
				cmds[n][i] = ' ';
		while (len > 0 && cmds[n][len - 1] == ' ')
			cmds[n][--len] = '\0';
		procs[n].pid = (uint32_t)pid;
		procs[n].ppid = (uint32_t)ppid;
		procs[n].uid = uid;
		procs[n].state = state;
		procs[n].rss_kb = rss * 4;
		procs[n].cmd = cmds[n];
		n++;
	}
	closedir(d);
	ps.procs = procs;
	ps.n = n;
	queue_result(c, agentproto_put_procs(&c->out, &ps));
	free(procs);
}

/* do_attach: bind a detached command that no connection holds to c, which
 * then sees it as if it had started it (STARTED, OUTPUT from now, EXIT). A
 * pid that is not a detached command's is "not found" whatever it is, so
 * ATTACH cannot take over another connection's command. */
static void do_attach(struct conn *c, const uint8_t *p, size_t n)
{
	uint32_t pid;
	int i;

	if (agentproto_get_u32(p, n, &pid) != R_OK || pid == 0) {
		send_error(c, R_INVALID, "bad attach");
		return;
	}
	if (c->s) {
		send_error(c, R_CONFLICT, "a command is already running on this connection");
		return;
	}
	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &sessions[i];

		/* one still starting has sent no STARTED: nobody knows its pid */
		if (!s->used || !s->detached || s->start_fd >= 0 || s->pid != (pid_t)pid)
			continue;
		if (s->conn && !s->conn->closing) {
			send_error(c, R_CONFLICT, "another connection is attached to that command");
			return;
		}
		/* a closing holder is on its way out (its host hung up in this
		 * same poll round): let go of it now rather than refuse */
		if (s->conn)
			s->conn->s = NULL;
		s->conn = c;
		c->s = s;
		queue_result(c, agentproto_put_started(&c->out, pid));
		return;
	}
	send_error(c, R_NOT_FOUND, "no detached command with that pid");
}

static void dispatch(struct conn *c, uint8_t type, const uint8_t *p, size_t n)
{
	struct agentproto_exec e;
	uint32_t sig;
	uint16_t cols, rows;

	switch (type) {
	case AP_EXEC:
		if (agentproto_get_exec(p, n, &e) != R_OK) {
			send_error(c, R_INVALID, "malformed exec");
			return;
		}
		start_exec(c, &e);
		agentproto_exec_free(&e);
		return;
	case AP_STDIN:
		if (c->s && c->s->in_fd >= 0 && !c->s->stdin_eof) {
			if (buf_append(&c->s->stdin_q, p, n) != R_OK) {
				/* the backlog is gone with the failed append: end stdin */
				send_error(c, R_TOO_BIG, "stdin backlog over its cap");
				c->s->stdin_eof = true;
				pump_stdin(c->s);
				return;
			}
			pump_stdin(c->s);
		}
		return;
	case AP_STDIN_CLOSE:
		if (c->s) {
			c->s->stdin_eof = true;
			if (c->s->tty && c->s->in_fd >= 0 && /* ^D on a pty */
			    buf_append(&c->s->stdin_q, "\x04", 1) != R_OK)
				send_error(c, R_TOO_BIG, "stdin backlog over its cap");
			pump_stdin(c->s);
		}
		return;
	case AP_SIGNAL:
		if (agentproto_get_u32(p, n, &sig) != R_OK || sig == 0 || sig > 64) {
			send_error(c, R_INVALID, "bad signal");
			return;
		}
		if (c->s)
			kill(-c->s->pid, (int)sig);
		return;
	case AP_RESIZE:
		if (agentproto_get_resize(p, n, &cols, &rows) != R_OK) {
			send_error(c, R_INVALID, "bad resize");
			return;
		}
		if (c->s && c->s->tty && c->s->out_fd >= 0) {
			struct winsize ws = {rows, cols, 0, 0};

			(void)ioctl(c->s->out_fd, TIOCSWINSZ, &ws);
		}
		return;
	case AP_SETENV:
		do_setenv(c, p, n);
		return;
	case AP_PS:
		do_ps(c);
		return;
	case AP_PING:
		queue_result(c, agentproto_put_empty(&c->out, AP_PONG));
		return;
	case AP_ATTACH:
		do_attach(c, p, n);
		return;
	case AP_DETACH:
		if (c->s)
			c->s->detached = true;
		return;
	default:
		send_error(c, R_INVALID, "unexpected frame");
		c->closing = true;
		return;
	}
}

/* hand_off: a file request takes the connection to a helper that runs as
 * the sandbox user (tools/agent/files.c); the agent forgets the connection.
 * pre is the request frame and whatever followed it. */
static void hand_off(struct conn *c, const uint8_t *pre, size_t npre)
{
	pid_t pid;
	int i;

	if (c->s) {
		send_error(c, R_CONFLICT, "a command is running on this connection");
		c->closing = true;
		return;
	}
	pid = fork();
	if (pid < 0) {
		send_error(c, R_INTERNAL, "cannot start the file helper");
		c->closing = true;
		return;
	}
	if (pid == 0) {
		/* other connections' bytes are not the helper's business */
		for (i = 0; i < MAX_CONNS; i++) {
			if (&conns[i] != c) {
				buf_free(&conns[i].in);
				buf_free(&conns[i].out);
			}
		}
		for (i = 0; i < MAX_SESSIONS; i++)
			buf_free(&sessions[i].stdin_q);
		files_serve(c->fd, pre, npre, CODE_UID);
	}
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	c->used = false;
}

static void conn_read(struct conn *c)
{
	uint8_t chunk[CHUNK];
	struct agentproto_hdr h;
	size_t off = 0;
	ssize_t n;
	enum result r;

	n = read(c->fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->closing = true;
		buf_free(&c->out);
		return;
	}
	if (buf_append(&c->in, chunk, (size_t)n) != R_OK) {
		conn_fail(c);
		return;
	}
	while (!c->closing && c->in.len - off >= AGENTPROTO_HDR_LEN) {
		r = agentproto_parse_header((uint8_t *)c->in.data + off, &h);
		if (r != R_OK) {
			send_error(c, r, "bad frame header");
			conn_fail(c);
			return;
		}
		if (c->in.len - off - AGENTPROTO_HDR_LEN < h.len)
			break;
		if (agentproto_type_is_fileop(h.type)) {
			hand_off(c, (uint8_t *)c->in.data + off, c->in.len - off);
			return;
		}
		dispatch(c, h.type, (uint8_t *)c->in.data + off + AGENTPROTO_HDR_LEN, h.len);
		off += AGENTPROTO_HDR_LEN + h.len;
	}
	if (c->in.data && off > 0) {
		memmove(c->in.data, c->in.data + off, c->in.len - off);
		c->in.len -= off;
	}
	if (c->in.len == 0)
		buf_free(&c->in); /* idle connections hold no buffer */
}

static void conn_write(struct conn *c)
{
	ssize_t n;

	while (c->out.len > 0) {
		n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			buf_free(&c->out);
			c->closing = true;
			return;
		}
		memmove(c->out.data, c->out.data + n, c->out.len - (size_t)n);
		c->out.len -= (size_t)n;
	}
	buf_free(&c->out);
}

static void conn_close(struct conn *c)
{
	if (c->s) {
		/* the host is gone: nobody will read the result; a detached
		 * command keeps running (drained, its stdin still open) until
		 * it ends or another connection attaches */
		if (!c->s->detached)
			kill_session(c->s);
		c->s->conn = NULL;
		c->s = NULL;
	}
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	c->used = false;
}

/* refuse: one connection too many is told why (best effort: one small frame
 * into an empty socket buffer) rather than seeing a bare EOF. */
static void refuse(int fd)
{
	struct buf b;

	buf_init(&b, 1024);
	if (agentproto_put_error(&b, R_QUOTA, "too many connections to this sandbox's agent") ==
	    R_OK)
		(void)send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	buf_free(&b);
	close(fd);
}

static void accept_conns(void)
{
	int fd, i;

	while ((fd = accept4(FD_LISTEN, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		for (i = 0; i < MAX_CONNS && conns[i].used; i++)
			;
		if (i == MAX_CONNS) {
			refuse(fd);
			continue;
		}
		memset(&conns[i], 0, sizeof(conns[i]));
		conns[i].used = true;
		conns[i].fd = fd;
		buf_init(&conns[i].in, IN_LIMIT);
		buf_init(&conns[i].out, OUT_LIMIT);
	}
}

static void reap_all(void)
{
	int status, i;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < MAX_SESSIONS; i++) {
			if (sessions[i].used && sessions[i].pid == pid) {
				sessions[i].exited = true;
				sessions[i].status = status;
			}
		}
	}
}

/* wake: keep the earliest deadline in *next (0: none yet). */
static void wake(uint64_t *next, uint64_t at)
{
	if (!*next || at < *next)
		*next = at;
}

/* session_timers: a command's deadlines at now. A command that has not
 * started within EXEC_START_MS (its child stopped or stuck before its exec)
 * is killed, forgotten and its host told so; one past its timeout is killed
 * and ends as timed out. */
static void session_timers(struct session *s, uint64_t now, uint64_t *next)
{
	char msg[128];

	if (s->start_fd >= 0) {
		if (now >= s->start_deadline_ms) {
			snprintf(msg, sizeof(msg),
				 "the command did not start within %d ms (stopped or stuck "
				 "before its exec)", EXEC_START_MS);
			abort_start(s, R_TIMEOUT, msg);
			return;
		}
		wake(next, s->start_deadline_ms);
	}
	if (s->deadline_ms && !s->timed_out) {
		if (now >= s->deadline_ms) {
			s->timed_out = true;
			kill_session(s);
		} else {
			wake(next, s->deadline_ms);
		}
	}
}

static void parse_args(int argc, char **argv)
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

int main(int argc, char **argv)
{
	struct pollfd pfd[2 + MAX_CONNS + 3 * MAX_SESSIONS];
	struct { int kind, idx; } owner[2 + MAX_CONNS + 3 * MAX_SESSIONS];
	struct signalfd_siginfo si;
	sigset_t mask;
	int sfd, i;

	narrow_self();
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("cannot create a signalfd");
	set_nonblock(FD_LISTEN);
	fcntl(FD_LISTEN, F_SETFD, FD_CLOEXEC);
	fcntl(FD_OOM, F_SETFD, FD_CLOEXEC);
	sandbox_env = calloc(1, sizeof(char *));
	if (!sandbox_env)
		die("out of memory");
	if (write(FD_STATUS, "R", 1) != 1)
		_exit(1);
	close(FD_STATUS);

	for (;;) {
		uint64_t now = now_ms(), next = 0;
		int n = 0, timeout;

		/* timers first: what they queue for a host is in this round's
		 * poll set */
		for (i = 0; i < MAX_SESSIONS; i++)
			if (sessions[i].used)
				session_timers(&sessions[i], now, &next);
		pfd[n] = (struct pollfd){FD_LISTEN, POLLIN, 0};
		owner[n++].kind = 0;
		pfd[n] = (struct pollfd){sfd, POLLIN, 0};
		owner[n++].kind = 1;
		for (i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];
			short ev = 0;

			if (!c->used)
				continue;
			if (!c->closing && (!c->s || c->s->stdin_q.len < STDIN_HIGH))
				ev |= POLLIN;
			if (c->out.len > 0)
				ev |= POLLOUT;
			pfd[n] = (struct pollfd){c->fd, ev, 0};
			owner[n].kind = 2;
			owner[n++].idx = i;
		}
		for (i = 0; i < MAX_SESSIONS; i++) {
			struct session *s = &sessions[i];
			bool room = !s->conn || s->conn->out.len < OUT_HIGH;

			if (!s->used)
				continue;
			if (s->start_fd >= 0) {
				/* nothing but its exec report until it started:
				 * STARTED comes before any OUTPUT */
				pfd[n] = (struct pollfd){s->start_fd, POLLIN, 0};
				owner[n].kind = 6;
				owner[n++].idx = i;
				continue;
			}
			if (s->out_fd >= 0 && room) {
				pfd[n] = (struct pollfd){s->out_fd, POLLIN, 0};
				owner[n].kind = 3;
				owner[n++].idx = i;
			}
			if (s->err_fd >= 0 && room) {
				pfd[n] = (struct pollfd){s->err_fd, POLLIN, 0};
				owner[n].kind = 4;
				owner[n++].idx = i;
			}
			if (s->in_fd >= 0 && s->stdin_q.len > 0) {
				pfd[n] = (struct pollfd){s->in_fd, POLLOUT, 0};
				owner[n].kind = 5;
				owner[n++].idx = i;
			}
		}
		timeout = !next ? -1 : next - now >= INT_MAX ? INT_MAX : (int)(next - now) + 1;
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			die("poll");
		for (i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			switch (owner[i].kind) {
			case 0:
				accept_conns();
				break;
			case 1:
				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					;
				reap_all();
				break;
			case 2:
				if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
					conn_read(&conns[owner[i].idx]);
				if (conns[owner[i].idx].used && (pfd[i].revents & POLLOUT))
					conn_write(&conns[owner[i].idx]);
				break;
			case 3:
				if (sessions[owner[i].idx].used)
					pump_output(&sessions[owner[i].idx], 0, false);
				break;
			case 4:
				if (sessions[owner[i].idx].used)
					pump_output(&sessions[owner[i].idx], 1, false);
				break;
			case 5:
				if (sessions[owner[i].idx].used)
					pump_stdin(&sessions[owner[i].idx]);
				break;
			case 6:
				if (sessions[owner[i].idx].used &&
				    sessions[owner[i].idx].start_fd >= 0)
					exec_report(&sessions[owner[i].idx]);
				break;
			default:
				break;
			}
		}
		for (i = 0; i < MAX_SESSIONS; i++)
			if (sessions[i].used && sessions[i].exited && sessions[i].start_fd < 0)
				finish_session(&sessions[i]);
		for (i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];

			if (!c->used)
				continue;
			if (c->out.len > 0)
				conn_write(c);
			if (c->closing && c->out.len == 0)
				conn_close(c);
		}
	}
}
