/* command.c: the commands the agent runs: their start (fork, the exec
 * report awaited in the poll loop), stdin, OUTPUT under the caps, timers,
 * exit, and a detached command outliving its connection until an ATTACH
 * binds it to another one. */
#include "command.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "child.h"
#include "conn.h"
#include "core/clock.h"
#include "net/outq.h"
#include "env.h"

#define FD_OOM 5 /* the cgroup's OOM counter file, inherited from boxd */

#define OUT_HIGH      (256u * 1024u)  /* stop reading a command past this backlog */
#define STDIN_HIGH    (1024u * 1024u) /* stop reading the host past this stdin backlog */
#define STDIN_LIMIT   (4u * 1024u * 1024u)
#define EXEC_START_MS 5000 /* fork to exec; normally well under a millisecond */
/* what is read of an ended command's pipe: more than the biggest pipe
 * (pipe-max-size, 1 MiB) or pty buffer a command can fill before it ends */
#define DRAIN_BYTES (2u * 1024u * 1024u)
#define CHUNK	    65536
#define DEFAULT_CAP (10ull * 1024 * 1024)

struct command {
	bool used;
	pid_t pid;
	int in_fd, out_fd, err_fd; /* -1 when closed; tty: out_fd is the master */
	bool tty;
	struct outq stdin_q; /* bytes for in_fd (net/outq.h) */
	bool stdin_eof;	     /* close in_fd once stdin_q is drained */
	uint64_t cap[2], got[2];
	bool trunc[2];
	int start_fd;			/* the child's exec report while it starts, else -1 */
	uint64_t start_ms, deadline_ms; /* deadline 0: none */
	uint64_t start_deadline_ms;
	bool timed_out;
	uint64_t oom_before;
	bool exited;
	int status;
	bool detached;	   /* survives its connection; ATTACH can bind it again */
	struct conn *conn; /* NULL once the host went away */
};

static struct command commands[MAX_COMMANDS];

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

static struct command *alloc_command(void)
{
	int i;

	for (i = 0; i < MAX_COMMANDS; i++)
		if (!commands[i].used)
			return &commands[i];
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

/* stdin_add: queue n bytes (n > 0) for the command's stdin, whole or not
 * at all (the queue is unchanged on failure). */
static enum result stdin_add(struct outq *q, const void *p, size_t n)
{
	unsigned char *at;
	enum result r = outq_reserve(q, n, &at);

	if (r == R_SUCCESS)
		memcpy(at, p, n);
	return r;
}

static void pump_stdin(struct command *s)
{
	if (s->in_fd >= 0 && outq_flush(&s->stdin_q, s->in_fd) != R_SUCCESS) {
		/* EPIPE: the command closed stdin */
		close_fd(&s->in_fd);
		outq_free(&s->stdin_q);
		return;
	}
	if (s->stdin_eof && outq_is_empty(&s->stdin_q) && !s->tty)
		close_fd(&s->in_fd);
}

void command_start(struct conn *c, const struct agentproto_exec *e)
{
	int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, errp[2] = {-1, -1};
	int master = -1, slave = -1, child_fds[3];
	struct command *s;
	struct outq stdin_q;
	char **env, msg[300], pts[64];
	size_t envc = 0;
	pid_t pid;

	if (c->s) {
		conn_error(c, R_CONFLICT, "a command is already running on this connection");
		return;
	}
	if (e->stdin_len > STDIN_LIMIT) {
		conn_error(c, R_TOO_BIG, "stdin over its cap");
		return;
	}
	s = alloc_command();
	if (!s) {
		conn_error(c, R_QUOTA, "too many running commands");
		return;
	}
	env = env_build(e, &envc);
	if (!env) {
		conn_error(c, R_INVALID, "bad environment");
		return;
	}
	outq_init(&stdin_q, STDIN_LIMIT);
	if (e->stdin_len > 0 && stdin_add(&stdin_q, e->stdin_data, e->stdin_len) != R_SUCCESS) {
		env_free(env, envc);
		conn_error(c, R_NO_MEMORY, "cannot queue stdin");
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
		child_run(e, env, child_fds, slave, errp[1]);
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
	s->stdin_q = stdin_q; /* moved: the command owns it now */
	outq_init(&stdin_q, STDIN_LIMIT);
	s->stdin_eof = !(e->flags & AP_EXEC_STREAM);
	s->cap[0] = e->stdout_cap ? e->stdout_cap : DEFAULT_CAP;
	s->cap[1] = e->stderr_cap ? e->stderr_cap : DEFAULT_CAP;
	s->start_ms = clock_now_ms();
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
	conn_error(c, R_INTERNAL, msg);
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
	outq_free(&stdin_q);
	env_free(env, envc);
}

/* release_command: forget a command (ended, or never started): its fds,
 * its stdin backlog, its connection's hold on it. */
static void release_command(struct command *s)
{
	close_fd(&s->in_fd);
	close_fd(&s->out_fd);
	close_fd(&s->err_fd);
	close_fd(&s->start_fd);
	outq_free(&s->stdin_q);
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
static void pump_output(struct command *s, int which, bool drain)
{
	int *fd = which == 0 ? &s->out_fd : &s->err_fd;
	char chunk[CHUNK];
	ssize_t n;
	size_t taken = 0;
	int rounds = 0;

	while (*fd >= 0 && (!drain || taken < DRAIN_BYTES)) {
		if (s->conn && !drain && outq_len(&s->conn->out) >= OUT_HIGH)
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
			conn_queued(s->conn,
				    agentproto_put_output(conn_out(s->conn), (uint8_t)(which + 1),
							  chunk, keep));
		} else {
			s->trunc[which] = true;
		}
		if (!drain && ++rounds >= 4)
			return; /* let other connections have a turn */
	}
}

static void finish_command(struct command *s)
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
	x.duration_ms = clock_now_ms() - s->start_ms;
	if (s->conn)
		conn_queued(s->conn, agentproto_put_exit(conn_out(s->conn), &x));
	release_command(s);
}

static void kill_command(struct command *s)
{
	/* the group, and the leader in case it left its group (or, still
	 * starting, has none yet) */
	kill(-s->pid, SIGKILL);
	kill(s->pid, SIGKILL);
}

/* abort_start: a command that never ran. Its host gets the error; the child,
 * killed to be sure, is reaped by the main loop like any orphan. */
static void abort_start(struct command *s, enum result code, const char *msg)
{
	kill(s->pid, SIGKILL);
	if (s->conn)
		conn_error(s->conn, code, msg);
	release_command(s);
}

/* exec_report: the starting command's report pipe is readable: EOF means
 * the exec happened (the pipe is close-on-exec; a child killed before it
 * reads the same, and its EXIT follows), a message means it failed. */
static void exec_report(struct command *s)
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
		conn_queued(s->conn, agentproto_put_started(conn_out(s->conn), (uint32_t)s->pid));
}

/* command_attach: bind a detached command that no connection holds to c, which
 * then sees it as if it had started it (STARTED, OUTPUT from now, EXIT). A
 * pid that is not a detached command's is "not found" whatever it is, so
 * ATTACH cannot take over another connection's command. */
void command_attach(struct conn *c, const uint8_t *p, size_t n)
{
	uint32_t pid;
	int i;

	if (agentproto_get_u32(p, n, &pid) != R_SUCCESS || pid == 0) {
		conn_error(c, R_INVALID, "bad attach");
		return;
	}
	if (c->s) {
		conn_error(c, R_CONFLICT, "a command is already running on this connection");
		return;
	}
	for (i = 0; i < MAX_COMMANDS; i++) {
		struct command *s = &commands[i];

		/* one still starting has sent no STARTED: nobody knows its pid */
		if (!s->used || !s->detached || s->start_fd >= 0 || s->pid != (pid_t)pid)
			continue;
		if (s->conn && !s->conn->closing) {
			conn_error(c, R_CONFLICT, "another connection is attached to that command");
			return;
		}
		/* a closing holder is on its way out (its host hung up in this
		 * same poll round): let go of it now rather than refuse */
		if (s->conn)
			s->conn->s = NULL;
		s->conn = c;
		c->s = s;
		conn_queued(c, agentproto_put_started(conn_out(c), pid));
		return;
	}
	conn_error(c, R_NOT_FOUND, "no detached command with that pid");
}

void command_reap(void)
{
	int status, i;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < MAX_COMMANDS; i++) {
			if (commands[i].used && commands[i].pid == pid) {
				commands[i].exited = true;
				commands[i].status = status;
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

/* timers: a command's deadlines at now. A command that has not
 * started within EXEC_START_MS (its child stopped or stuck before its exec)
 * is killed, forgotten and its host told so; one past its timeout is killed
 * and ends as timed out. */
static void timers(struct command *s, uint64_t now, uint64_t *next)
{
	char msg[128];

	if (s->start_fd >= 0) {
		if (now >= s->start_deadline_ms) {
			snprintf(msg, sizeof(msg),
				 "the command did not start within %d ms (stopped or stuck "
				 "before its exec)",
				 EXEC_START_MS);
			abort_start(s, R_TIMEOUT, msg);
			return;
		}
		wake(next, s->start_deadline_ms);
	}
	if (s->deadline_ms && !s->timed_out) {
		if (now >= s->deadline_ms) {
			s->timed_out = true;
			kill_command(s);
		} else {
			wake(next, s->deadline_ms);
		}
	}
}

int command_timers(void)
{
	uint64_t now = clock_now_ms(), next = 0;
	int i;

	for (i = 0; i < MAX_COMMANDS; i++)
		if (commands[i].used)
			timers(&commands[i], now, &next);
	return !next ? -1 : next - now >= INT_MAX ? INT_MAX : (int)(next - now) + 1;
}

void command_watch(struct watches *w)
{
	int i;

	for (i = 0; i < MAX_COMMANDS; i++) {
		struct command *s = &commands[i];
		bool room = !s->conn || outq_len(&s->conn->out) < OUT_HIGH;

		if (!s->used)
			continue;
		if (s->start_fd >= 0) {
			/* nothing but its exec report until it started:
			 * STARTED comes before any OUTPUT */
			watch_add(w, s->start_fd, POLLIN, W_START, i);
			continue;
		}
		if (s->out_fd >= 0 && room)
			watch_add(w, s->out_fd, POLLIN, W_STDOUT, i);
		if (s->err_fd >= 0 && room)
			watch_add(w, s->err_fd, POLLIN, W_STDERR, i);
		if (s->in_fd >= 0 && !outq_is_empty(&s->stdin_q))
			watch_add(w, s->in_fd, POLLOUT, W_STDIN, i);
	}
}

void command_event(const struct watch *o)
{
	struct command *s = &commands[o->idx];

	if (!s->used)
		return;
	switch (o->kind) {
	case W_STDOUT:
		pump_output(s, 0, false);
		break;
	case W_STDERR:
		pump_output(s, 1, false);
		break;
	case W_STDIN:
		pump_stdin(s);
		break;
	case W_START:
		if (s->start_fd >= 0)
			exec_report(s);
		break;
	default:
		break;
	}
}

void command_finish_ended(void)
{
	int i;

	for (i = 0; i < MAX_COMMANDS; i++)
		if (commands[i].used && commands[i].exited && commands[i].start_fd < 0)
			finish_command(&commands[i]);
}

void command_stdin(struct conn *c, const uint8_t *p, size_t n)
{
	struct command *s = c->s;

	if (!s || s->in_fd < 0 || s->stdin_eof)
		return;
	if (n > 0 && stdin_add(&s->stdin_q, p, n) != R_SUCCESS) {
		/* over its cap: the backlog is dropped and stdin ends */
		outq_free(&s->stdin_q);
		conn_error(c, R_TOO_BIG, "stdin backlog over its cap");
		s->stdin_eof = true;
	}
	pump_stdin(s);
}

void command_stdin_close(struct conn *c)
{
	struct command *s = c->s;

	if (!s)
		return;
	s->stdin_eof = true;
	if (s->tty && s->in_fd >= 0 && /* ^D on a pty */
	    stdin_add(&s->stdin_q, "\x04", 1) != R_SUCCESS) {
		outq_free(&s->stdin_q);
		conn_error(c, R_TOO_BIG, "stdin backlog over its cap");
	}
	pump_stdin(s);
}

bool command_has_stdin_room(const struct command *s)
{
	return outq_len(&s->stdin_q) < STDIN_HIGH;
}

void command_signal(struct conn *c, int sig)
{
	if (c->s)
		kill(-c->s->pid, sig);
}

void command_resize(struct conn *c, uint16_t cols, uint16_t rows)
{
	if (c->s && c->s->tty && c->s->out_fd >= 0) {
		struct winsize ws = {rows, cols, 0, 0};

		(void)ioctl(c->s->out_fd, TIOCSWINSZ, &ws);
	}
}

void command_detach(struct conn *c)
{
	if (c->s)
		c->s->detached = true;
}

void command_hangup(struct conn *c)
{
	if (!c->s)
		return;
	/* the host is gone: nobody will read the result; a detached command
	 * keeps running (drained, its stdin still open) until it ends or
	 * another connection attaches */
	if (!c->s->detached)
		kill_command(c->s);
	c->s->conn = NULL;
	c->s = NULL;
}

void command_free_buffers(void)
{
	int i;

	for (i = 0; i < MAX_COMMANDS; i++)
		outq_free(&commands[i].stdin_q);
}
