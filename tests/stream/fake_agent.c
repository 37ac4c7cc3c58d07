/* fake_agent.c: TEST DOUBLE of sandpit-agent for the stream proxy's tests.
 * It speaks lib/agent/agentproto.h on a unix socket and runs commands directly on
 * the host, unsandboxed, as the invoking user: never point it at untrusted
 * input. One forked process per connection; EXEC (argv or shell, env, cwd,
 * timeout, tty with cols/rows), STDIN, STDIN_CLOSE, SIGNAL (to the process
 * group), RESIZE; STARTED, OUTPUT, EXIT. Detach is not kept (the command
 * dies with its connection) and ATTACH always answers ERROR not found.
 *
 *   fake_agent SOCKET_PATH */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agentproto.h"

#define CHUNK (256 * 1024)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_buf(int fd, struct buf *b)
{
	int r = write_all(fd, b->data, b->len);

	buf_reset(b);
	return r;
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = read(fd, c, n);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* read_frame: blocking; payload into *pl (malloc'd). */
static int read_frame(int fd, struct agentproto_hdr *h, uint8_t **pl)
{
	uint8_t hdr[AGENTPROTO_HDR_LEN];

	if (read_all(fd, hdr, sizeof(hdr)) != 0 || agentproto_parse_header(hdr, h) != R_SUCCESS)
		return -1;
	*pl = malloc(h->len ? h->len : 1);
	if (*pl == NULL || read_all(fd, *pl, h->len) != 0)
		return -1;
	return 0;
}

static void serve(int fd)
{
	struct agentproto_hdr h;
	struct agentproto_exec e;
	struct buf b;
	uint8_t *pl = NULL;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, master = -1;
	pid_t pid;
	int status = 0;
	bool tty, exited = false;
	int64_t start, deadline = 0;
	uint32_t flags = 0;
	char *chunk = malloc(CHUNK + 1);

	buf_init(&b, AGENTPROTO_MAX_FRAME + 64);
	if (chunk == NULL || read_frame(fd, &h, &pl) != 0)
		_exit(1);
	if (h.type == AP_ATTACH) {
		/* one process per connection: nothing outlives its connection,
		 * so no pid is ever a detached command here */
		if (agentproto_put_error(&b, R_NOT_FOUND, "no detached command with that pid") ==
		    R_SUCCESS)
			(void)send_buf(fd, &b);
		_exit(0);
	}
	if (h.type != AP_EXEC ||
	    agentproto_get_exec(pl, h.len, &e) != R_SUCCESS)
		_exit(1);
	free(pl);
	tty = (e.flags & AP_EXEC_TTY) != 0;
	if (tty) {
		struct winsize ws = {.ws_row = e.rows, .ws_col = e.cols};

		pid = forkpty(&master, NULL, NULL, &ws);
	} else {
		if (pipe(in) != 0 || pipe(out) != 0 || pipe(err) != 0)
			_exit(1);
		pid = fork();
	}
	if (pid < 0)
		_exit(1);
	if (pid == 0) {
		const char **argv;

		if (!tty) {
			setpgid(0, 0);
			dup2(in[0], 0);
			dup2(out[1], 1);
			dup2(err[1], 2);
			/* the child must not hold its own stdin's write end */
			close(in[0]);
			close(in[1]);
			close(out[0]);
			close(out[1]);
			close(err[0]);
			close(err[1]);
		}
		for (size_t i = 0; i < e.envc; i++)
			putenv((char *)e.env[i]);
		if (e.cwd != NULL && chdir(e.cwd) != 0) {
			perror("chdir");
			_exit(126);
		}
		/* A background launch (sh "cmd &") leaves SIGINT/SIGQUIT ignored,
		 * and ignored signals survive exec: Ctrl-C would do nothing. */
		for (int sg = 1; sg < NSIG; sg++)
			signal(sg, SIG_DFL);
		argv = calloc(e.argc + 3, sizeof(*argv));
		if (e.flags & AP_EXEC_SHELL) {
			argv[0] = "sh";
			argv[1] = "-c";
			argv[2] = e.argv[0];
		} else
			for (size_t i = 0; i < e.argc; i++)
				argv[i] = e.argv[i];
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	/* The child makes its own group too: whichever runs first, the group
	 * exists before STARTED, so a SIGNAL right after it reaches it (the
	 * child may not have run yet; EACCES once it has exec'd is fine). */
	if (!tty)
		(void)setpgid(pid, pid);
	start = now_ms();
	if (e.timeout_ms)
		deadline = start + e.timeout_ms;
	if (!tty) {
		close(in[0]);
		close(out[1]);
		close(err[1]);
	}
	if (agentproto_put_started(&b, (uint32_t)pid) != R_SUCCESS || send_buf(fd, &b) != 0)
		goto kill;
	if (e.stdin_len > 0)
		(void)!write(tty ? master : in[1], e.stdin_data, e.stdin_len);
	{
		int ofd = tty ? master : out[0], efd = tty ? -1 : err[0], ifd = tty ? master : in[1];
		bool conn_open = true;

		while (ofd >= 0 || efd >= 0 || !exited) {
			struct pollfd p[3] = {{fd, conn_open ? POLLIN : 0, 0},
					      {ofd, POLLIN, 0},
					      {efd, POLLIN, 0}};

			if (!exited && waitpid(pid, &status, WNOHANG) == pid)
				exited = true;
			if (exited && ofd < 0 && efd < 0)
				break;
			if (deadline && now_ms() > deadline && !exited) {
				kill(-pid, SIGKILL);
				flags |= AP_EXIT_TIMED_OUT;
				deadline = 0;
			}
			if (poll(p, 3, 20) < 0 && errno != EINTR)
				break;
			if (p[0].revents & (POLLIN | POLLHUP)) {
				if (read_frame(fd, &h, &pl) != 0) {
					/* connection gone: the real agent keeps going or
					 * not per its own rules; the double kills */
					kill(-pid, SIGKILL);
					_exit(0);
				}
				if (h.type == AP_STDIN && ifd >= 0)
					(void)!write(ifd, pl, h.len);
				else if (h.type == AP_STDIN_CLOSE && !tty && ifd >= 0) {
					close(ifd);
					ifd = -1;
				} else if (h.type == AP_STDIN_CLOSE && tty)
					(void)!write(ifd, "\x04", 1);
				else if (h.type == AP_SIGNAL) {
					uint32_t s;

					if (agentproto_get_u32(pl, h.len, &s) == R_SUCCESS)
						kill(tty ? -tcgetpgrp(master) : -pid, (int)s);
				} else if (h.type == AP_RESIZE && tty) {
					uint16_t cols, rows;

					if (agentproto_get_resize(pl, h.len, &cols, &rows) == R_SUCCESS) {
						struct winsize ws = {.ws_row = rows, .ws_col = cols};

						ioctl(master, TIOCSWINSZ, &ws);
					}
				}
				free(pl);
				pl = NULL;
			}
			for (int k = 1; k <= 2; k++) {
				ssize_t n;

				if (p[k].fd < 0 || !(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				n = read(p[k].fd, chunk, CHUNK);
				if (n <= 0) {
					close(p[k].fd);
					if (k == 1)
						ofd = -1;
					else
						efd = -1;
					continue;
				}
				if (agentproto_put_output(&b, (uint8_t)k, chunk, (size_t)n) != R_SUCCESS ||
				    send_buf(fd, &b) != 0)
					goto kill;
			}
			/* EXIT when the main process ended, even if a background
			 * child holds the pipes: give them a moment to drain. */
			if (exited && now_ms() - start > 0 && ofd >= 0 && p[1].revents == 0 &&
			    (efd < 0 || p[2].revents == 0))
				break;
		}
	}
	{
		struct agentproto_exit x = {0};

		if (!exited)
			waitpid(pid, &status, 0);
		if (WIFSIGNALED(status)) {
			x.signal = (uint32_t)WTERMSIG(status);
			x.exit_code = 128 + WTERMSIG(status);
		} else
			x.exit_code = WEXITSTATUS(status);
		x.flags = flags;
		x.duration_ms = (uint64_t)(now_ms() - start);
		if (agentproto_put_exit(&b, &x) == R_SUCCESS)
			(void)send_buf(fd, &b);
	}
	_exit(0);
kill:
	kill(-pid, SIGKILL);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa;
	int lfd;

	if (argc != 2) {
		fprintf(stderr, "usage: fake_agent SOCKET_PATH\n");
		return 2;
	}
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	unlink(argv[1]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 512) != 0) {
		perror("fake_agent: listen");
		return 1;
	}
	chmod(argv[1], 0666);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (fork() == 0) {
			close(lfd);
			serve(fd);
		}
		close(fd);
	}
}
