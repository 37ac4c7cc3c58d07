/* main.c: sandpit-runner, the job queue's worker process. Any number run on
 * any number of hosts against one database; each claims jobs with
 * sp_job_claim (db/015_jobs.sql: FOR UPDATE SKIP LOCKED, fair between orgs,
 * bounded per org and per host) and runs them (run.c).
 *
 *   sandpit-runner [--threads N] [--host NAME]   run until SIGTERM/SIGINT
 *   sandpit-runner --check-config                 validate, print, exit
 *
 * Threads: N workers (SANDPIT_JOB_RUNNER_THREADS), each with its own
 * database connection, claim and run one job at a time; the main thread
 * renews this runner's leases and recovers jobs whose runner died (lease
 * expired): retried once, then failed with the reason. On SIGTERM the
 * runner hands its running jobs back to the queue (not counted as an
 * attempt) and stops their sandboxes, so a restart loses nothing. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "db/db.h"
#include "sandbox/events.h"
#include "core/instance.h"
#include "core/json.h"
#include "sandbox/language.h"
#include "sandbox/lifecycle.h"
#include "core/log.h"
#include "run.h"

#define MOD	      "runner"
#define MAX_THREADS   256
#define IDLE_MS	      100
#define RECOVER_BATCH "50"
#define MAX_ATTEMPTS  2

/* The one mutable global: written by the signal handler. */
static volatile sig_atomic_t stop_requested;

struct runner {
	struct backend *b;
	char conninfo[4096];
	char id[192]; /* host:pid:random, the lease holder's name */
	char host[128];
	char lease[16], per_org[16], per_host[16];
};

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void pause_ms(long long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* event: job.completed or job.failed for job id, in the caller's
 * transaction. */
static enum result event(struct db *db, const char *org, const char *id, const char *status,
			 const char *verdict, const char *error)
{
	struct json *data = json_new_object();
	enum result r = R_NO_MEMORY;

	if (data != NULL && json_add_str(data, "jobId", id) == R_SUCCESS &&
	    json_add_str(data, "status", status) == R_SUCCESS &&
	    json_add_str_or_null(data, "verdict", verdict) == R_SUCCESS &&
	    json_add_str_or_null(data, "error", error) == R_SUCCESS)
		r = events_emit(db, org, NULL,
				strcmp(status, "completed") == 0 ? "job.completed" : "job.failed",
				data);
	json_free(data);
	return r;
}

/* finish: the job's final row and its event, in one transaction, only if
 * the job is still this runner's (a cancel or a lost lease wins). */
static enum result finish(struct db *db, const struct job *j, const char *status,
			  const char *result, const char *verdict, const char *error)
{
	struct db_res *res = NULL;
	enum result r = db_begin(db);

	if (r == R_SUCCESS)
		r = db_exec(db,
			    "UPDATE jobs SET status = $3, result = $4::jsonb, error = $5, "
			    "finished_at = now(), lease_until = NULL, sandbox_id = NULL "
			    "WHERE id = $1 AND runner = $2 AND status = 'running' RETURNING id",
			    5, (const char *[]){j->id, j->runner, status, result, error}, &res);
	if (r == R_SUCCESS && db_res_rows(res) == 1)
		r = event(db, j->org_id, j->id, status, verdict, error);
	if (r == R_SUCCESS)
		r = db_commit(db);
	db_res_free(res);
	if (r != R_SUCCESS)
		db_rollback(db);
	return r;
}

/* give_up: a job that could not be run: back to the queue on its first
 * attempt (the host may have been at fault), failed on its second. */
static enum result give_up(struct db *db, const struct job *j, const char *why)
{
	struct db_res *res = NULL;
	enum result r;

	r = db_exec(db,
		    "UPDATE jobs SET status = 'queued', runner = NULL, host = NULL, "
		    "lease_until = NULL, sandbox_id = NULL, error = $3 WHERE id = $1 AND "
		    "runner = $2 AND status = 'running' AND attempts < 2 RETURNING id",
		    3, (const char *[]){j->id, j->runner, why}, &res);
	if (r == R_SUCCESS && db_res_rows(res) == 1) {
		log_warnx(MOD, "job requeued id=%s why=\"%s\"", j->id, why);
		db_res_free(res);
		return R_SUCCESS;
	}
	db_res_free(res);
	return finish(db, j, "failed", NULL, NULL, why);
}

/* work: run one claimed job (row res) to its end. */
static void work(struct runner *rn, struct db *db, const struct db_res *res)
{
	const char *spec_text = db_res_get(res, 0, 4);
	struct json *spec = json_parse(spec_text, strlen(spec_text)), *result = NULL;
	struct job j = {
	    .id = db_res_get(res, 0, 0),
	    .org_id = db_res_get(res, 0, 1),
	    .runner = rn->id,
	    .lang = language_find(db_res_get(res, 0, 2)),
	    .code = db_res_get(res, 0, 3),
	    .spec = spec,
	};
	char why[256], *text = NULL;
	long long t0 = (long long)clock_now_ms();
	enum result r;

	log_info(MOD, "job started id=%s org=%s language=%s attempt=%s", j.id, j.org_id,
		 db_res_get(res, 0, 2), db_res_get(res, 0, 5));
	if (spec == NULL || j.lang == NULL) {
		r = finish(db, &j, "failed", NULL, NULL,
			   spec ? "the job's language is no longer offered" : "unreadable job");
		goto out;
	}
	r = run_job(db, rn->b, &j, &result, why, sizeof(why));
	if (r == R_CONFLICT) {
		log_info(MOD, "job abandoned id=%s (cancelled or no longer ours)", j.id);
		r = R_SUCCESS;
		goto out;
	}
	if (r != R_SUCCESS) {
		r = give_up(db, &j, why[0] ? why : result_str(r));
		goto out;
	}
	text = json_print(result);
	r = text ? finish(db, &j, "completed", text, json_str(json_get(result, "verdict")), NULL)
		 : give_up(db, &j, "out of memory");
	log_info(MOD, "job finished id=%s verdict=%s ms=%lld", j.id,
		 json_str(json_get(result, "verdict")), (long long)clock_now_ms() - t0);
out:
	if (r != R_SUCCESS)
		log_warnx(MOD, "cannot record job id=%s err=%s (its lease will expire)", j.id,
			  result_str(r));
	free(text);
	json_free(result);
	json_free(spec);
}

static void *worker(void *arg)
{
	struct runner *rn = arg;
	struct db *db = NULL;

	if (db_open(rn->conninfo, &db) != R_SUCCESS && db == NULL) {
		log_errx(MOD, "worker: no database handle");
		return NULL;
	}
	while (!stop_requested) {
		struct db_res *res = NULL;
		enum result r;

		r = db_exec(
		    db,
		    "SELECT id, org_id, language, code, spec::text, attempts FROM "
		    "sp_job_claim($1, $2, $3::int, $4::int, $5::int)",
		    5, (const char *[]){rn->id, rn->host, rn->lease, rn->per_org, rn->per_host},
		    &res);
		if (r == R_SUCCESS && db_res_rows(res) == 1)
			work(rn, db, res);
		else
			pause_ms(r == R_SUCCESS ? IDLE_MS : 1000);
		db_res_free(res);
	}
	db_close(db);
	return NULL;
}

/* stop_sandboxes: stop the sandbox column 0 of res names, if any. */
static void stop_sandboxes(struct runner *rn, struct db *db, const struct db_res *res, int col)
{
	for (int i = 0; i < db_res_rows(res); i++) {
		const char *sbx = db_res_get(res, i, col);

		if (sbx != NULL && lifecycle_stop(db, rn->b, "", sbx, LIFECYCLE_STOPPED,
						  "job_runner_lost", true) != R_SUCCESS)
			log_warnx(MOD, "cannot stop sandbox id=%s (the reaper will)", sbx);
	}
}

/* recover: jobs whose lease expired (their runner died or hung): retried
 * once, then failed with the reason and job.failed. */
static enum result recover(struct runner *rn, struct db *db)
{
	struct db_res *res = NULL;
	enum result r = db_begin(db);

	if (r == R_SUCCESS)
		r = db_exec(
		    db,
		    "SELECT id, org_id, attempts, sandbox_id FROM jobs WHERE status = "
		    "'running' AND lease_until < now() ORDER BY lease_until LIMIT " RECOVER_BATCH
		    " FOR UPDATE SKIP LOCKED",
		    0, NULL, &res);
	for (int i = 0; r == R_SUCCESS && i < db_res_rows(res); i++) {
		const char *id = db_res_get(res, i, 0);
		bool retry = strtol(db_res_get(res, i, 2), NULL, 10) < MAX_ATTEMPTS;
		static const char lost[] = "its runner stopped answering (lease expired)";
		static const char lost2[] =
		    "its runner stopped answering (lease expired) on both attempts";

		r = db_exec(db,
			    retry
				? "UPDATE jobs SET status = 'queued', runner = NULL, host = NULL, "
				  "lease_until = NULL, sandbox_id = NULL, error = $2 WHERE id = $1"
				: "UPDATE jobs SET status = 'failed', finished_at = now(), "
				  "lease_until = NULL, sandbox_id = NULL, error = $2 WHERE id = $1",
			    2, (const char *[]){id, retry ? lost : lost2}, NULL);
		if (r == R_SUCCESS && !retry)
			r = event(db, db_res_get(res, i, 1), id, "failed", NULL, lost2);
		if (r == R_SUCCESS)
			log_warnx(MOD, "job lost its runner id=%s attempts=%s -> %s", id,
				  db_res_get(res, i, 2), retry ? "requeued" : "failed");
	}
	if (r == R_SUCCESS)
		r = db_commit(db);
	if (r != R_SUCCESS)
		db_rollback(db);
	else
		stop_sandboxes(rn, db, res, 3);
	db_res_free(res);
	return r;
}

/* hand_back: on shutdown, this runner's jobs go back to the queue as if
 * never claimed, and their sandboxes stop (which ends the runs). */
static void hand_back(struct runner *rn, struct db *db)
{
	struct db_res *res = NULL;

	if (db_exec(db,
		    "WITH h AS (SELECT id, sandbox_id FROM jobs WHERE runner = $1 AND "
		    "status = 'running' FOR UPDATE) "
		    "UPDATE jobs j SET status = 'queued', runner = NULL, host = NULL, "
		    "lease_until = NULL, sandbox_id = NULL, attempts = j.attempts - 1 FROM h "
		    "WHERE j.id = h.id RETURNING h.sandbox_id, j.id",
		    1, (const char *[]){rn->id}, &res) != R_SUCCESS) {
		log_warnx(MOD, "cannot hand jobs back (their leases will expire)");
		return;
	}
	for (int i = 0; i < db_res_rows(res); i++)
		log_info(MOD, "job handed back id=%s", db_res_get(res, i, 1));
	stop_sandboxes(rn, db, res, 0);
	db_res_free(res);
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

static enum result setup(struct runner *rn, const char *host)
{
	unsigned char raw[6];
	char hex[13];

	if (host == NULL) {
		if (gethostname(rn->host, sizeof(rn->host)) != 0)
			return R_INTERNAL;
		rn->host[sizeof(rn->host) - 1] = '\0';
	} else {
		snprintf(rn->host, sizeof(rn->host), "%s", host);
	}
	if (crypto_random(raw, sizeof(raw)) != R_SUCCESS ||
	    crypto_hex_encode(raw, sizeof(raw), hex, sizeof(hex)) != R_SUCCESS)
		return R_INTERNAL;
	snprintf(rn->id, sizeof(rn->id), "%s:%ld:%s", rn->host, (long)getpid(), hex);
	snprintf(rn->lease, sizeof(rn->lease), "%lld", config()->job_lease);
	snprintf(rn->per_org, sizeof(rn->per_org), "%lld", config()->job_max_per_org);
	snprintf(rn->per_host, sizeof(rn->per_host), "%lld", config()->job_max_per_host);
	if (instance_conninfo(rn->conninfo, sizeof(rn->conninfo)) != R_SUCCESS)
		return R_TOO_BIG;
	return open_backend(&rn->b);
}

/* supervise: the main thread's loop: heartbeat a third of a lease apart,
 * recovery every second. */
static void supervise(struct runner *rn, struct db *db)
{
	long long lease_ms = config()->job_lease * 1000, last_beat = 0;

	while (!stop_requested) {
		if ((long long)clock_now_ms() - last_beat >= lease_ms / 3) {
			if (db_exec(db,
				    "UPDATE jobs SET lease_until = now() + make_interval(secs => "
				    "$2::int) WHERE runner = $1 AND status = 'running'",
				    2, (const char *[]){rn->id, rn->lease}, NULL) == R_SUCCESS)
				last_beat = (long long)clock_now_ms();
			else
				log_warnx(MOD, "cannot renew leases err=\"%s\"", db_last_error(db));
		}
		if (recover(rn, db) != R_SUCCESS)
			log_warnx(MOD, "cannot recover lost jobs err=\"%s\"", db_last_error(db));
		pause_ms(lease_ms / 3 < 1000 ? lease_ms / 3 : 1000);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	static struct runner rn;
	pthread_t th[MAX_THREADS];
	long long threads = -1;
	const char *host = NULL, *why;
	struct db *db = NULL;
	int started = 0, rc = 1;

	log_init("runner", LOG_INFO);
	if (config_load(&why) != R_SUCCESS) {
		fprintf(stderr, "sandpit-runner: %s\n", why);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check-config") == 0 && argc == 2) {
			config_print(stdout);
			return 0;
		} else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			if (config_parse_int(argv[++i], &threads) != R_SUCCESS || threads < 1 ||
			    threads > MAX_THREADS) {
				fprintf(stderr, "sandpit-runner: --threads must be 1..%d\n",
					MAX_THREADS);
				return 2;
			}
		} else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
			host = argv[++i];
		} else {
			fprintf(
			    stderr,
			    "usage: sandpit-runner [--threads N] [--host NAME] | --check-config\n");
			return 2;
		}
	}
	if (threads < 0)
		threads = config()->job_runner_threads;
	log_init("runner", config()->log_level);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (setup(&rn, host) != R_SUCCESS) {
		log_errx(MOD, "cannot set up (backend, database conninfo or host name)");
		goto out;
	}
	if (db_open(rn.conninfo, &db) != R_SUCCESS && db == NULL) {
		log_errx(MOD, "cannot connect to the database");
		goto out;
	}
	for (; started < threads; started++)
		if (pthread_create(&th[started], NULL, worker, &rn) != 0) {
			log_errx(MOD, "cannot start worker thread %d", started);
			stop_requested = 1;
			break;
		}
	log_info(MOD, "running id=%s threads=%d", rn.id, started);
	supervise(&rn, db);
	log_info(MOD, "stopping on signal");
	hand_back(&rn, db);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	rc = 0;
out:
	db_close(db);
	backend_close(rn.b);
	return rc;
}
