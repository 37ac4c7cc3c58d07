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
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "core/log.h"
#include "lookup.h"
#include "core/result.h"

#define MOD "stream"
#define MAX_EVENTS 256
#define TICK_MS 1000

int64_t proxy_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum result proxy_watch(struct proxy *px, int fd, struct watch *w, uint32_t events, bool mod)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(px->epfd, mod ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0)
		return R_INTERNAL;
	return R_OK;
}

void proxy_unwatch(struct proxy *px, int fd)
{
	if (fd >= 0)
		(void)epoll_ctl(px->epfd, EPOLL_CTL_DEL, fd, NULL);
}

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
	return R_OK;
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
	return R_OK;
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

static void accept_all(struct proxy *px)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(px->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The connection stays queued and the socket readable:
				 * level-triggered, it would wake us at once, again and
				 * again. Stop watching it until the next tick. */
				log_warn(MOD, "accept failed, retrying in a second");
				proxy_unwatch(px, px->listen_fd);
				px->accept_paused = true;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn(MOD, "accept failed");
			return;
		}
		if (px->nconns >= (size_t)px->cfg->stream_max_conns) {
			refuse_busy(fd);
			close(fd);
			continue;
		}
		/* Small control messages (started, exit, pongs) must not wait for
		 * Nagle; big output goes out in big writes anyway. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (conn_accept(px, fd) != R_OK)
			log_warnx(MOD, "cannot set up a connection");
	}
}

/* resume_accept: watch the listening socket again after accept ran out of
 * descriptors (or memory); if that fails, the next tick tries again. */
static void resume_accept(struct proxy *px)
{
	if (!px->accept_paused || px->listen_fd < 0)
		return;
	if (proxy_watch(px, px->listen_fd, &px->listen_w, EPOLLIN, false) != R_OK) {
		log_warn(MOD, "cannot watch the listening socket");
		return;
	}
	px->accept_paused = false;
}

static void start_drain(struct proxy *px, int signo)
{
	if (px->draining)
		return;
	log_info(MOD, "draining signal=%d streams=%zu timeout_s=%lld", signo, px->nconns,
		 px->cfg->stream_drain_timeout);
	px->draining = true;
	px->drain_deadline_ms = px->now_ms + px->cfg->stream_drain_timeout * 1000;
	/* Stop accepting: new clients reach another instance (or retry). */
	proxy_unwatch(px, px->listen_fd);
	close(px->listen_fd);
	px->listen_fd = -1;
	conn_drain_all(px);
}

enum result proxy_run(struct proxy *px)
{
	struct epoll_event evs[MAX_EVENTS];
	sigset_t mask;
	int64_t next_tick;
	enum result r;

	px->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (px->epfd < 0)
		return R_INTERNAL;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
		return R_INTERNAL;
	px->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (px->sig_fd < 0)
		return R_INTERNAL;
	px->listen_w.kind = W_LISTEN;
	px->sig_w.kind = W_SIGNAL;
	px->lookup_w.kind = W_LOOKUP;
	r = proxy_watch(px, px->listen_fd, &px->listen_w, EPOLLIN, false);
	if (r == R_OK)
		r = proxy_watch(px, px->sig_fd, &px->sig_w, EPOLLIN, false);
	if (r == R_OK)
		r = proxy_watch(px, lookup_fd(px->lookup), &px->lookup_w, EPOLLIN, false);
	if (r != R_OK)
		return r;
	px->now_ms = proxy_now_ms();
	next_tick = px->now_ms + TICK_MS;
	for (;;) {
		int n, timeout = (int)(next_tick - px->now_ms);

		if (timeout < 0 || px->more_work)
			timeout = 0;
		n = epoll_wait(px->epfd, evs, MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			log_warn(MOD, "epoll_wait failed");
			r = R_INTERNAL;
			break;
		}
		px->now_ms = proxy_now_ms();
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			if (w->kind == W_LISTEN) {
				if (px->listen_fd >= 0)
					accept_all(px);
			} else if (w->kind == W_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(px->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					start_drain(px, (int)si.ssi_signo);
			} else if (w->kind == W_LOOKUP)
				conn_lookups_done(px);
			else
				conn_event(w->conn, w, evs[i].events);
		}
		if (px->more_work)
			conn_continue_all(px);
		if (px->now_ms >= next_tick) {
			resume_accept(px);
			conn_tick_all(px);
			next_tick = px->now_ms + TICK_MS;
		}
		conn_reap(px);
		if (px->draining && (px->nconns == 0 || px->now_ms >= px->drain_deadline_ms)) {
			if (px->nconns > 0)
				log_warnx(MOD, "drain timeout, dropping streams=%zu", px->nconns);
			r = R_OK;
			break;
		}
	}
	conn_kill_all(px);
	close(px->sig_fd);
	close(px->epfd);
	if (px->listen_fd >= 0)
		close(px->listen_fd);
	return r;
}
