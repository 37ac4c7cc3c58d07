/* main.c: sandpit-stream, the WebSocket exec-streaming proxy: flags, config,
 * then the epoll loop (proxy.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/config.h"
#include "core/instance.h"
#include "core/log.h"
#include "lookup.h"
#include "proxy.h"

/* Threads doing the upgrades' database work (each holds one PostgreSQL
 * connection), and the upgrades that may wait for one: past that, 503. */
#define LOOKUP_THREADS 4
#define LOOKUP_QUEUE   1024

/* raise_nofile: each stream holds two descriptors. The soft limit (often
 * 1024) is a default for programs that never ask; the hard one is the
 * operator's, and ours to use. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("stream", "cannot raise the open files limit");
}

static void usage(FILE *out)
{
	fprintf(out, "usage: sandpit-stream [-t] [-h]\n"
		     "  -t  validate the configuration, print it (secrets redacted) and exit\n"
		     "  -h  this help\n"
		     "Configuration comes from the environment and SANDPIT_CONFIG; see\n"
		     "docs/stream-protocol.md for the SANDPIT_STREAM_* keys.\n");
}

int main(int argc, char **argv)
{
	char listen[256];
	struct proxy px;
	const char *why = NULL;
	bool check = false;
	enum result r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--check-config") == 0)
			check = true;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	log_init("stream", LOG_INFO);
	if (config_load(&why) != R_SUCCESS) {
		log_errx("stream", "invalid configuration: %s", why ? why : "?");
		return 1;
	}
	log_init("stream", config()->log_level);
	if (instance_stream_listen(listen, sizeof(listen)) != R_SUCCESS) {
		log_errx("stream", "SANDPIT_STREAM_LISTEN (or the state directory) is too long");
		return 1;
	}
	if (check) {
		config_print(stdout);
		printf("configuration ok\n");
		return 0;
	}
	if (config()->secret_key[0] == '\0')
		log_warnx("stream", "SANDPIT_SECRET_KEY is empty: stream tokens are refused");
	/* A client that vanishes mid-write must not kill the proxy. */
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	memset(&px, 0, sizeof(px));
	px.cfg = config();
	px.listen_fd = -1;
	r = lookup_new(LOOKUP_THREADS, LOOKUP_QUEUE, &px.lookup);
	if (r != R_SUCCESS) {
		log_errx("stream", "cannot start the lookup threads: %s", result_str(r));
		return 1;
	}
	r = proxy_listen(listen, &px.listen_fd);
	if (r != R_SUCCESS) {
		log_errx("stream", "cannot listen on '%s'", listen);
		lookup_free(px.lookup);
		return 1;
	}
	log_info("stream", "listening on '%s' send_buffer=%lld max_message=%lld", listen,
		 px.cfg->stream_send_buffer, px.cfg->stream_max_message);
	r = proxy_run(&px);
	lookup_free(px.lookup);
	log_info("stream", "stopped peak_queue=%zu", px.conns.peak_queued);
	return r == R_SUCCESS ? 0 : 1;
}
