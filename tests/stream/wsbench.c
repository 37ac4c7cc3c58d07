/* wsbench.c: a small C WebSocket client for the stream benchmarks (python
 * would measure itself, not the proxy). One JSON line of results on stdout.
 *
 *   wsbench stream HOST:PORT SANDBOX_ID 'COMMAND' [--json] [--rate BYTES_PER_S]
 *           [--seconds N] [--rcvbuf BYTES]
 *       run COMMAND over sandpit.channel.v1 (or the JSON protocol), count the
 *       stdout bytes, report MB/s and time to the first output byte
 *       (Authorization from SANDPIT_API_KEY); --rate reads slowly, --seconds
 *       stops reading (and disconnects) after N seconds
 *   wsbench latency HOST:PORT SANDBOX_ID N
 *       N times: connect, upgrade, exec `echo hi`, time to "hi"; p50/p90/p99
 *   wsbench pipe-latency N
 *       baseline: fork+exec of `sh -c 'echo hi'` with a pipe, time to "hi"
 *   wsbench stdin
 *       baseline: read stdin to EOF, report MB/s */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "net/ws.h"

#define RBUF (4u << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *msg)
{
	fprintf(stderr, "wsbench: %s: %s\n", msg, strerror(errno));
	exit(1);
}

static int dial(const char *hostport, int rcvbuf)
{
	struct sockaddr_in sa;
	char host[64];
	const char *colon = strrchr(hostport, ':');
	int fd, one = 1;

	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
		die("bad HOST:PORT");
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die("bad host");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w <= 0)
			die("write");
		c += w;
		n -= (size_t)w;
	}
}

/* send_msg: one masked client frame (mask 0: the payload goes as is). */
static void send_msg(int fd, enum ws_opcode op, const void *p, size_t n)
{
	static const unsigned char mask[4] = {0, 0, 0, 0};
	unsigned char hdr[WS_HEADER_MAX];
	size_t hl = ws_frame_header(hdr, op, true, n, mask);

	send_all(fd, hdr, hl);
	send_all(fd, p, n);
}

/* upgrade: returns bytes already read past the 101 head, left in buf. */
static size_t upgrade(int fd, const char *sbx, bool channel, unsigned char *buf)
{
	char req[1024];
	const char *key = getenv("SANDPIT_API_KEY");
	size_t have = 0;
	char *end;
	int n = snprintf(req, sizeof(req),
			 "GET /api/v1/sandbox/%s/stream HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n%s\r\n",
			 sbx, key ? key : "",
			 channel ? "Sec-WebSocket-Protocol: sandpit.channel.v1\r\n" : "");

	send_all(fd, req, (size_t)n);
	for (;;) {
		ssize_t r = read(fd, buf + have, 65536);

		if (r <= 0)
			die("upgrade read");
		have += (size_t)r;
		end = memmem(buf, have, "\r\n\r\n", 4);
		if (end != NULL)
			break;
	}
	if (strncmp((char *)buf, "HTTP/1.1 101", 12) != 0) {
		fprintf(stderr, "wsbench: upgrade refused: %.*s\n", (int)have, buf);
		exit(1);
	}
	n = (int)(end + 4 - (char *)buf);
	memmove(buf, buf + n, have - (size_t)n);
	return have - (size_t)n;
}

struct bench_result {
	unsigned long long bytes;
	double first_byte, total;
	int exit_code;
	bool exited;
};

/* run: exec cmd, consume frames until close or the time limit. */
static struct bench_result run(const char *hostport, const char *sbx, const char *cmd, bool channel,
			 double rate, double seconds, int rcvbuf)
{
	unsigned char *buf = malloc(RBUF);
	struct ws_parser p;
	struct bench_result res = {0, -1, 0, -1, false};
	struct buf msg;
	size_t have;
	double t0, next_ok;
	int fd;

	if (buf == NULL)
		die("malloc");
	fd = dial(hostport, rcvbuf);
	have = upgrade(fd, sbx, channel, buf);
	buf_init(&msg, 1 << 20);
	if (buf_printf(&msg, "%s{\"type\":\"exec\",\"command\":\"%s\"}", channel ? "\x03" : "", cmd) != R_SUCCESS)
		die("command too long");
	t0 = now_s();
	next_ok = t0;
	send_msg(fd, channel ? WS_OP_BINARY : WS_OP_TEXT, msg.data, msg.len);
	buf_free(&msg);
	ws_parser_init(&p, RBUF - WS_HEADER_MAX, false);
	for (;;) {
		struct ws_frame f;
		size_t used, off = 0;
		ssize_t r;

		for (;;) {
			if (ws_parse(&p, buf + off, have - off, &used, &f) != R_SUCCESS) {
				fprintf(stderr, "wsbench: bad frame: %s\n", p.error_reason);
				exit(1);
			}
			if (used == 0)
				break;
			off += used;
			if (f.opcode == WS_OP_CLOSE)
				goto done;
			if (f.opcode == WS_OP_PING) {
				send_msg(fd, WS_OP_PONG, f.payload, f.len);
				continue;
			}
			if (channel && f.len > 0 && f.payload[0] == 1) {
				if (res.first_byte < 0)
					res.first_byte = now_s() - t0;
				res.bytes += f.len - 1;
			} else if ((channel && f.len > 0 && f.payload[0] == 3) || !channel) {
				const char *s = (const char *)f.payload + (channel ? 1 : 0);
				size_t n = f.len - (channel ? 1 : 0);

				if (!channel && memmem(s, n, "\"type\":\"std", 11) != NULL) {
					if (res.first_byte < 0)
						res.first_byte = now_s() - t0;
					res.bytes += n; /* JSON mode counts message bytes */
				}
				if (memmem(s, n, "\"type\":\"exit\"", 13) != NULL) {
					const char *e = memmem(s, n, "\"exit_code\":", 12);

					res.exited = true;
					res.exit_code = e ? (int)strtol(e + 12, NULL, 10) : -1;
				}
			}
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		if (seconds > 0 && now_s() - t0 > seconds)
			break;
		if (rate > 0) {
			/* Read at most `rate` bytes per second: sleep off any lead. */
			double lead = next_ok - now_s();

			if (lead > 0) {
				struct timespec ts = {(time_t)lead, (long)((lead - (double)(time_t)lead) * 1e9)};

				nanosleep(&ts, NULL);
			}
		}
		{
			size_t want = RBUF - have;

			if (rate > 0 && want > 65536)
				want = 65536;
			r = read(fd, buf + have, want);
			if (r <= 0)
				break;
			have += (size_t)r;
			if (rate > 0)
				next_ok += (double)r / rate;
		}
	}
done:
	res.total = now_s() - t0;
	close(fd);
	free(buf);
	return res;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void percentiles(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("{\"what\":\"%s\",\"n\":%d,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f}\n", what, n,
	       v[n / 2] * 1e3, v[n * 9 / 10] * 1e3, v[n * 99 / 100] * 1e3);
}

static double pipe_first_byte(void)
{
	int pfd[2];
	char c;
	double t0 = now_s(), t;
	pid_t pid;

	if (pipe(pfd) != 0)
		die("pipe");
	pid = fork();
	if (pid == 0) {
		char *const argv[] = {"sh", "-c", "echo hi", NULL};

		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv("/bin/sh", argv);
		_exit(127);
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1)
		die("pipe read");
	t = now_s() - t0;
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	return t;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "stream") == 0) {
		bool channel = true;
		double rate = 0, seconds = 0;
		int rcvbuf = 0;
		struct bench_result r;

		for (int i = 5; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0)
				channel = false;
			else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
				rate = strtod(argv[++i], NULL);
			else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
				seconds = strtod(argv[++i], NULL);
			else if (strcmp(argv[i], "--rcvbuf") == 0 && i + 1 < argc)
				rcvbuf = (int)strtol(argv[++i], NULL, 10);
		}
		r = run(argv[2], argv[3], argv[4], channel, rate, seconds, rcvbuf);
		printf("{\"what\":\"stream\",\"protocol\":\"%s\",\"bytes\":%llu,\"seconds\":%.3f,"
		       "\"MBps\":%.1f,\"first_byte_ms\":%.3f,\"exited\":%s,\"exit_code\":%d}\n",
		       channel ? "channel" : "json", r.bytes, r.total, (double)r.bytes / r.total / 1e6,
		       r.first_byte * 1e3, r.exited ? "true" : "false", r.exit_code);
		return 0;
	}
	if ((argc == 5 && strcmp(argv[1], "latency") == 0) ||
	    (argc == 3 && strcmp(argv[1], "pipe-latency") == 0)) {
		bool pipe_mode = argc == 3;
		long n = strtol(argv[argc - 1], NULL, 10);
		double *v;

		if (n < 1 || n > 100000)
			die("bad N");
		v = calloc((size_t)n, sizeof(*v));
		if (v == NULL)
			die("calloc");
		for (long i = 0; i < n; i++) {
			if (pipe_mode)
				v[i] = pipe_first_byte();
			else {
				struct bench_result r = run(argv[2], argv[3], "echo hi", true, 0, 0, 0);

				if (r.bytes != 3 || !r.exited)
					die("echo hi did not come back");
				v[i] = r.first_byte;
			}
		}
		percentiles(pipe_mode ? "pipe first byte (fork+exec sh -c 'echo hi')"
				      : "stream first byte (exec sent -> 'hi' received)",
			    v, (int)n);
		free(v);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "stdin") == 0) {
		unsigned char *b = malloc(RBUF);
		unsigned long long total = 0;
		double t0 = now_s(), t;
		ssize_t r;

		if (b == NULL)
			die("malloc");
		while ((r = read(0, b, 256 * 1024)) > 0)
			total += (unsigned long long)r;
		t = now_s() - t0;
		printf("{\"what\":\"pipe\",\"bytes\":%llu,\"seconds\":%.3f,\"MBps\":%.1f}\n", total, t,
		       (double)total / t / 1e6);
		free(b);
		return 0;
	}
	fprintf(stderr, "usage: see the head of tests/stream/wsbench.c\n");
	return 2;
}
