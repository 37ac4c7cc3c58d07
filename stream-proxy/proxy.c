/* proxy.c: listening socket, signals and the epoll loop of sandpit-stream. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "core/log.h"
#include "core/result.h"

#define MOD	  "stream"
#define RESUME_MS 1000 /* accept again after running out of descriptors */

static enum result listen_unix(const char *path, int *fd_out)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_errx(MOD, "socket path too long '%s'", path);
		return R_INVALID;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return R_INTERNAL;
	/* A socket left by a previous run of this instance is ours to replace. */
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0660) != 0 ||
	    listen(fd, 1024) != 0) {
		log_warn(MOD, "cannot listen on '%s'", path);
		close(fd);
		return R_INTERNAL;
	}
	*fd_out = fd;
	return R_SUCCESS;
}

static enum result listen_tcp(const char *spec, int *fd_out)
{
	struct sockaddr_in sa;
	char host[64] = "127.0.0.1";
	const char *colon = strrchr(spec, ':');
	long port;
	char *end;
	int fd, one = 1;

	if (colon == NULL)
		return R_INVALID;
	if (colon > spec) {
		if ((size_t)(colon - spec) >= sizeof(host))
			return R_INVALID;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
	}
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return R_INVALID;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return R_INVALID;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return R_INTERNAL;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0) {
		log_warn(MOD, "cannot listen on '%s'", spec);
		close(fd);
		return R_INTERNAL;
	}
	*fd_out = fd;
	return R_SUCCESS;
}

enum result proxy_listen(const char *spec, int *fd_out)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return listen_unix(spec + 5, fd_out);
	if (spec[0] == '/' || spec[0] == '.')
		return listen_unix(spec, fd_out);
	return listen_tcp(spec, fd_out);
}

/* refuse_busy: the 503 for a connection over SANDPIT_STREAM_MAX_CONNS. Best
 * effort: the socket buffer of a fresh connection takes it; a failure
 * changes nothing. */
static void refuse_busy(int fd)
{
	char body[128], resp[320];
	int b = snprintf(body, sizeof(body),
			 "{\"error\":{\"code\":\"%s\",\"message\":\"too many open streams\"}}",
			 result_str(R_UNAVAILABLE));
	int n;

	if (b <= 0 || (size_t)b >= sizeof(body))
		return;
	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 %d Service Unavailable\r\nContent-Type: application/json\r\n"
		     "Content-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s",
		     result_http_status(R_UNAVAILABLE), b, body);
	if (n > 0 && (size_t)n < sizeof(resp))
		(void)!write(fd, resp, (size_t)n);
}

static void accept_all(void *arg, uint32_t events)
{
	struct proxy *px = arg;

	(void)events;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(px->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The connection stays queued and the socket readable:
				 * level-triggered, it would wake us at once, again and
				 * again. Stop watching it for a while. */
				log_warn(MOD, "accept failed, retrying in a second");
				ev_io_stop(px->ev, &px->listen_w);
				if (ev_timer_start(px->ev, &px->resume, RESUME_MS) != R_SUCCESS)
					log_warnx(MOD, "cannot arm the accept timer");
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn(MOD, "accept failed");
			return;
		}
		if (px->conns.n >= (size_t)px->cfg->stream_max_conns) {
			refuse_busy(fd);
			close(fd);
			continue;
		}
		/* Small control messages (started, exit, pongs) must not wait for
		 * Nagle; big output goes out in big writes anyway. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (conn_accept(&px->conns, fd) != R_SUCCESS)
			log_warnx(MOD, "cannot set up a connection");
	}
}

/* resume_accept: watch the listening socket again after accept ran out of
 * descriptors (or memory); if that fails, try again later. */
static void resume_accept(void *arg)
{
	struct proxy *px = arg;

	if (px->listen_fd < 0)
		return;
	if (ev_io_set(px->ev, &px->listen_w, EPOLLIN) == R_SUCCESS)
		return;
	log_warn(MOD, "cannot watch the listening socket");
	if (ev_timer_start(px->ev, &px->resume, RESUME_MS) != R_SUCCESS)
		log_warnx(MOD, "cannot arm the accept timer");
}

static void start_drain(struct proxy *px, int signo)
{
	if (px->conns.draining)
		return;
	log_info(MOD, "draining signal=%d streams=%zu timeout_s=%lld", signo, px->conns.n,
		 px->cfg->stream_drain_timeout);
	px->drain_deadline_ms = ev_now(px->ev) + px->cfg->stream_drain_timeout * 1000;
	/* Stop accepting: new clients reach another instance (or retry). */
	ev_io_stop(px->ev, &px->listen_w);
	ev_timer_stop(px->ev, &px->resume);
	close(px->listen_fd);
	px->listen_fd = -1;
	conns_drain(&px->conns);
}

static void on_signal(void *arg, uint32_t events)
{
	struct proxy *px = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(px->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		start_drain(px, (int)si.ssi_signo);
}

/* serve: the loop, until drained. */
static enum result serve(struct proxy *px)
{
	for (;;) {
		enum result r = ev_run_once(px->ev, -1);

		if (r != R_SUCCESS) {
			log_warn(MOD, "epoll_wait failed");
			return r;
		}
		conns_reap(&px->conns);
		if (px->conns.draining &&
		    (px->conns.n == 0 || ev_now(px->ev) >= px->drain_deadline_ms)) {
			if (px->conns.n > 0)
				log_warnx(MOD, "drain timeout, dropping streams=%zu", px->conns.n);
			return R_SUCCESS;
		}
	}
}

enum result proxy_run(struct proxy *px)
{
	sigset_t mask;
	enum result r = R_INTERNAL;

	px->ev = ev_new();
	if (px->ev == NULL)
		return R_INTERNAL;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	px->sig_fd = -1;
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
		goto fail_ev;
	px->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (px->sig_fd < 0)
		goto fail_ev;
	ev_io_init(&px->listen_w, px->listen_fd, accept_all, px);
	ev_io_init(&px->sig_w, px->sig_fd, on_signal, px);
	ev_timer_init(&px->resume, resume_accept, px);
	r = ev_io_set(px->ev, &px->listen_w, EPOLLIN);
	if (r == R_SUCCESS)
		r = ev_io_set(px->ev, &px->sig_w, EPOLLIN);
	if (r != R_SUCCESS)
		goto fail_sig;
	r = conns_init(&px->conns, px->cfg, px->ev, px->lookup);
	if (r != R_SUCCESS)
		goto fail_sig;
	r = serve(px);
	conns_kill_all(&px->conns);
fail_sig:
	close(px->sig_fd);
fail_ev:
	ev_free(px->ev);
	px->ev = NULL;
	if (px->listen_fd >= 0)
		close(px->listen_fd);
	px->listen_fd = -1;
	return r;
}
