/* main.c: sandpit-reaper, the cron-style binary that enforces expiry and
 * cleans up after crashes (tools/reaper/reaper.c holds the sweep).
 *
 *   sandpit-reaper                          one sweep, then exit: 0 when it
 *                                           completed, 1 with a logged reason
 *   sandpit-reaper --loop [--interval S]    sweep every S seconds (default
 *                                           SANDPIT_REAPER_INTERVAL) until
 *                                           SIGTERM/SIGINT, which end it
 *                                           between two items
 *   sandpit-reaper --check-config           validate and print the config
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "core/clock.h"
#include "core/config.h"
#include "db/db.h"
#include "core/instance.h"
#include "core/log.h"
#include "reaper.h"

#define MOD "reaper"

/* The one mutable global: written by the signal handler, read between items. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: sandpit-reaper [--loop [--interval SECONDS]] | --check-config\n");
	return 2;
}

static enum result open_backend(struct backend **out)
{
	struct backend_config cfg = {.kind = config()->exec_backend};
	char sock[4096];

	if (instance_boxd_socket(sock, sizeof(sock)) != R_SUCCESS)
		return R_TOO_BIG;
	cfg.daemon_socket = sock;
	return backend_open(&cfg, out);
}

/* pause: sleep up to ms, cut short by a stop signal (no SA_RESTART). */
static void pause_ms(long long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct reaper_opts opts;
	struct reaper_stats st;
	struct backend *b = NULL;
	struct db *db = NULL;
	char conninfo[4096];
	long long interval = -1;
	bool loop = false;
	const char *why;
	enum result r;
	int rc = 1;

	log_init("reaper", LOG_INFO);
	if (config_load(&why) != R_SUCCESS) {
		fprintf(stderr, "sandpit-reaper: %s\n", why);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check-config") == 0 && argc == 2) {
			config_print(stdout);
			return 0;
		} else if (strcmp(argv[i], "--loop") == 0) {
			loop = true;
		} else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
			if (config_parse_int(argv[++i], &interval) != R_SUCCESS || interval < 1 ||
			    interval > 86400) {
				fprintf(stderr, "sandpit-reaper: --interval must be 1..86400\n");
				return 2;
			}
		} else {
			return usage();
		}
	}
	if (interval > 0 && !loop)
		return usage();
	if (interval < 0)
		interval = config()->reaper_interval;
	log_init("reaper", config()->log_level);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	reaper_opts_from_config(&opts);
	opts.stop = &stop_requested;

	if (open_backend(&b) != R_SUCCESS) {
		log_errx(MOD, "cannot set up the sandbox backend kind=%s", config()->exec_backend);
		goto out;
	}
	if (instance_conninfo(conninfo, sizeof(conninfo)) != R_SUCCESS) {
		log_errx(MOD, "cannot build the database conninfo");
		goto out;
	}
	/* In a loop an unreachable database is waited for (the handle
	 * reconnects on its own); a single run reports it and fails. */
	r = db_open(conninfo, &db);
	if (r != R_SUCCESS && (!loop || db == NULL)) {
		log_errx(MOD, "cannot connect to the database err=\"%s\"",
			 db ? db_last_error(db) : "no memory");
		goto out;
	}
	if (!loop) {
		r = reaper_sweep(db, b, &opts, &st);
		reaper_log_summary(&st, r);
		rc = r == R_SUCCESS ? 0 : 1;
		goto out;
	}
	log_info(MOD, "looping interval=%llds", interval);
	while (!stop_requested) {
		long long t0 = (long long)clock_now_ms(), left;

		r = reaper_sweep(db, b, &opts, &st);
		/* Idle sweeps at a one-second interval would flood the log. */
		if (r != R_SUCCESS || st.ms > 1000 ||
		    memcmp(&st.n, &(long long[REAPER_NCOUNTS]){0}, sizeof(st.n)) != 0)
			reaper_log_summary(&st, r);
		left = interval * 1000 - ((long long)clock_now_ms() - t0);
		pause_ms(left > 0 ? left : 0);
	}
	log_info(MOD, "stopping on signal");
	rc = 0;
out:
	db_close(db);
	backend_close(b);
	return rc;
}
