/* agent.c: sandpit-agent, PID 1 of every sandbox: start-up and the poll loop.
 * Serves the agent protocol (lib/agent/agentproto.h) on a listening socket it
 * inherits, runs commands as the sandbox's unprivileged uid (command.c,
 * child.c), reaps every zombie, and is the one place where the in-sandbox
 * security set-up happens (privs.c, and "Privileges" below).
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
 * no_new_privs and install the seccomp deny-list (tools/agent/sysfilter.c), which
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
 * drained, for an ATTACH from another one. The loop owns the connections and
 * calls down into the modules that serve requests (command, env, procs,
 * files); none of them calls back up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agentproto.h"
#include "core/buf.h"
#include "child.h"
#include "command.h"
#include "conn.h"
#include "env.h"
#include "files.h"
#include "privs.h"
#include "procs.h"
#include "watch.h"

#define FD_LISTEN 3
#define FD_STATUS 4
#define FD_OOM	  5

#define IN_LIMIT    (AGENTPROTO_MAX_FRAME + 65536u)
#define CHUNK	    65536
#define MAX_WATCHES (2 + MAX_CONNS + 3 * MAX_COMMANDS)

static struct conn conns[MAX_CONNS];

static void die(const char *what)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "Eagent: %s: %s", what, strerror(errno));

	if (n > 0 && write(FD_STATUS, msg, (size_t)n) < 0) {
		/* no one to tell */
	}
	_exit(1);
}

static void dispatch(struct conn *c, uint8_t type, const uint8_t *p, size_t n)
{
	struct agentproto_exec e;
	uint32_t sig;
	uint16_t cols, rows;

	switch (type) {
	case AP_EXEC:
		if (agentproto_get_exec(p, n, &e) != R_SUCCESS) {
			conn_error(c, R_INVALID, "malformed exec");
			return;
		}
		command_start(c, &e);
		agentproto_exec_free(&e);
		return;
	case AP_STDIN:
		command_stdin(c, p, n);
		return;
	case AP_STDIN_CLOSE:
		command_stdin_close(c);
		return;
	case AP_SIGNAL:
		if (agentproto_get_u32(p, n, &sig) != R_SUCCESS || sig == 0 || sig > 64) {
			conn_error(c, R_INVALID, "bad signal");
			return;
		}
		command_signal(c, (int)sig);
		return;
	case AP_RESIZE:
		if (agentproto_get_resize(p, n, &cols, &rows) != R_SUCCESS) {
			conn_error(c, R_INVALID, "bad resize");
			return;
		}
		command_resize(c, cols, rows);
		return;
	case AP_SETENV:
		env_setenv(c, p, n);
		return;
	case AP_PS:
		procs_list(c);
		return;
	case AP_PING:
		conn_queued(c, agentproto_put_empty(conn_out(c), AP_PONG));
		return;
	case AP_ATTACH:
		command_attach(c, p, n);
		return;
	case AP_DETACH:
		command_detach(c);
		return;
	default:
		conn_error(c, R_INVALID, "unexpected frame");
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
		conn_error(c, R_CONFLICT, "a command is running on this connection");
		c->closing = true;
		return;
	}
	pid = fork();
	if (pid < 0) {
		conn_error(c, R_INTERNAL, "cannot start the file helper");
		c->closing = true;
		return;
	}
	if (pid == 0) {
		/* other connections' bytes are not the helper's business */
		for (i = 0; i < MAX_CONNS; i++) {
			if (&conns[i] != c) {
				buf_free(&conns[i].in);
				outq_free(&conns[i].out);
			}
		}
		command_free_buffers();
		files_serve(c->fd, pre, npre, CODE_UID);
	}
	close(c->fd);
	buf_free(&c->in);
	outq_free(&c->out);
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
		outq_free(&c->out);
		return;
	}
	if (buf_append(&c->in, chunk, (size_t)n) != R_SUCCESS) {
		conn_fail(c);
		return;
	}
	while (!c->closing && c->in.len - off >= AGENTPROTO_HDR_LEN) {
		r = agentproto_parse_header((uint8_t *)c->in.data + off, &h);
		if (r != R_SUCCESS) {
			conn_error(c, r, "bad frame header");
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

static void conn_close(struct conn *c)
{
	command_hangup(c);
	close(c->fd);
	buf_free(&c->in);
	outq_free(&c->out);
	c->used = false;
}

/* refuse: one connection too many is told why (best effort: one small frame
 * into an empty socket buffer) rather than seeing a bare EOF. */
static void refuse(int fd)
{
	struct buf b;

	buf_init(&b, 1024);
	if (agentproto_put_error(&b, R_QUOTA, "too many connections to this sandbox's agent") ==
	    R_SUCCESS)
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
		outq_init(&conns[i].out, OUT_LIMIT);
	}
}

/* serve_conn: a connection's fd is ready. */
static void serve_conn(struct conn *c, short revents)
{
	if (revents & (POLLIN | POLLHUP | POLLERR))
		conn_read(c);
	if (c->used && (revents & POLLOUT))
		conn_write(c);
}

static void watch_conns(struct watches *w)
{
	int i;

	for (i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &conns[i];
		short ev = 0;

		if (!c->used)
			continue;
		if (!c->closing && (!c->s || command_has_stdin_room(c->s)))
			ev |= POLLIN;
		if (!outq_is_empty(&c->out))
			ev |= POLLOUT;
		watch_add(w, c->fd, ev, W_CONN, i);
	}
}

int main(int argc, char **argv)
{
	struct pollfd pfd[MAX_WATCHES];
	struct watch owner[MAX_WATCHES] = {{0}};
	struct signalfd_siginfo si;
	const char *failed;
	sigset_t mask;
	int sfd, fl, i;

	failed = privs_narrow();
	if (failed)
		die(failed);
	child_limits_parse(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("cannot create a signalfd");
	fl = fcntl(FD_LISTEN, F_GETFL);
	if (fl >= 0)
		fcntl(FD_LISTEN, F_SETFL, fl | O_NONBLOCK);
	fcntl(FD_LISTEN, F_SETFD, FD_CLOEXEC);
	fcntl(FD_OOM, F_SETFD, FD_CLOEXEC);
	if (!env_init())
		die("out of memory");
	if (write(FD_STATUS, "R", 1) != 1)
		_exit(1);
	close(FD_STATUS);

	for (;;) {
		struct watches w = {pfd, owner, 0};
		/* timers first: what they queue for a host is in this round's
		 * poll set */
		int timeout = command_timers();

		watch_add(&w, FD_LISTEN, POLLIN, W_LISTEN, 0);
		watch_add(&w, sfd, POLLIN, W_SIGNALS, 0);
		watch_conns(&w);
		command_watch(&w);
		if (poll(pfd, (nfds_t)w.n, timeout) < 0 && errno != EINTR)
			die("poll");
		for (i = 0; i < w.n; i++) {
			if (!pfd[i].revents)
				continue;
			switch (owner[i].kind) {
			case W_LISTEN:
				accept_conns();
				break;
			case W_SIGNALS:
				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					;
				command_reap();
				break;
			case W_CONN:
				serve_conn(&conns[owner[i].idx], pfd[i].revents);
				break;
			default:
				command_event(&owner[i]);
				break;
			}
		}
		command_finish_ended();
		for (i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];

			if (!c->used)
				continue;
			if (!outq_is_empty(&c->out))
				conn_write(c);
			if (c->closing && outq_is_empty(&c->out))
				conn_close(c);
		}
	}
}
