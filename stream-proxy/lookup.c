/* lookup.c: the upgrade's database work on worker threads (lookup.h).
 *
 * Why threads and not libpq's asynchronous API on the loop: the caller is
 * checked by auth_check, the API's own code (keys, JWTs, the shared rate
 * limit that leases tokens from PostgreSQL), which is blocking. Running it
 * as is keeps one implementation of "who is calling" for both front doors;
 * an asynchronous copy of it would drift. The loop only ever touches the
 * queues under a mutex held for a few pointer moves. */
#include "lookup.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/crypto.h"
#include "core/log.h"
#include "auth/ratelimit.h"

#define MOD "stream"
/* The proxy is one process: its rate-limit table is its own, shared by
 * its workers. */
#define RATE_SLOTS 4096

struct lookup {
	pthread_mutex_t lock;
	pthread_cond_t more; /* a job was queued, or stop */
	struct lookup_job *todo, *todo_tail, *done;
	unsigned queued, max_queued;
	bool stop;
	int efd;
	struct ratelimit *limits;
	unsigned nthreads, started;
	pthread_t threads[64];
};

void lookup_job_free(struct lookup_job *job)
{
	if (job == NULL)
		return;
	crypto_wipe(job, sizeof(*job));
	free(job);
}

/* run: one job, on a worker. */
static void run(struct session *s, struct lookup_job *job)
{
	log_set_request(job->req_id);
	job->retry_after = 0;
	job->auth_r = session_authenticate(s, job->authorization, job->token, job->sandbox_id,
					   &job->grant, &job->retry_after);
	crypto_wipe(job->authorization, sizeof(job->authorization));
	crypto_wipe(job->token, sizeof(job->token));
	job->find_r = R_FORBIDDEN;
	if (job->auth_r == R_SUCCESS && (job->grant.scopes & AUTH_SCOPE_WRITE))
		job->find_r =
		    session_find_sandbox(s, job->grant.org_id, job->sandbox_id, &job->target);
	log_set_request(NULL);
}

/* hand_back: a finished job onto the done list, and wake the loop. */
static void hand_back(struct lookup *lk, struct lookup_job *job)
{
	uint64_t one = 1;

	pthread_mutex_lock(&lk->lock);
	job->next_ = lk->done;
	lk->done = job;
	pthread_mutex_unlock(&lk->lock);
	/* An eventfd write fails only when the counter would overflow, and
	 * then it is readable anyway. */
	(void)!write(lk->efd, &one, sizeof(one));
}

static void *worker(void *arg)
{
	struct lookup *lk = arg;
	struct session *s = NULL;

	if (session_open(lk->limits, &s) != R_SUCCESS)
		log_warnx(MOD, "lookup worker has no database session");
	pthread_mutex_lock(&lk->lock);
	for (;;) {
		struct lookup_job *job;

		while (lk->todo == NULL && !lk->stop)
			pthread_cond_wait(&lk->more, &lk->lock);
		if (lk->stop)
			break;
		job = lk->todo;
		lk->todo = job->next_;
		if (lk->todo == NULL)
			lk->todo_tail = NULL;
		lk->queued--;
		pthread_mutex_unlock(&lk->lock);
		if (s == NULL && session_open(lk->limits, &s) != R_SUCCESS)
			s = NULL;
		if (s != NULL)
			run(s, job);
		else {
			job->auth_r = R_NO_MEMORY;
			crypto_wipe(job->authorization, sizeof(job->authorization));
			crypto_wipe(job->token, sizeof(job->token));
		}
		hand_back(lk, job);
		pthread_mutex_lock(&lk->lock);
	}
	pthread_mutex_unlock(&lk->lock);
	session_free(s);
	return NULL;
}

static void free_list(struct lookup_job *j)
{
	while (j != NULL) {
		struct lookup_job *next = j->next_;

		lookup_job_free(j);
		j = next;
	}
}

void lookup_free(struct lookup *lk)
{
	if (lk == NULL)
		return;
	pthread_mutex_lock(&lk->lock);
	lk->stop = true;
	pthread_cond_broadcast(&lk->more);
	pthread_mutex_unlock(&lk->lock);
	for (unsigned i = 0; i < lk->started; i++)
		pthread_join(lk->threads[i], NULL);
	free_list(lk->todo);
	free_list(lk->done);
	pthread_cond_destroy(&lk->more);
	pthread_mutex_destroy(&lk->lock);
	ratelimit_free(lk->limits);
	close(lk->efd);
	free(lk);
}

enum result lookup_new(unsigned nthreads, unsigned max_queued, struct lookup **out)
{
	sigset_t all, old;
	struct lookup *lk;

	if (nthreads == 0 || nthreads > sizeof(lk->threads) / sizeof(lk->threads[0]) ||
	    max_queued == 0)
		return R_INVALID;
	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return R_NO_MEMORY;
	lk->max_queued = max_queued;
	lk->nthreads = nthreads;
	lk->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lk->efd < 0) {
		free(lk);
		return R_INTERNAL;
	}
	lk->limits = ratelimit_new(RATE_SLOTS);
	if (lk->limits == NULL || pthread_mutex_init(&lk->lock, NULL) != 0) {
		ratelimit_free(lk->limits);
		close(lk->efd);
		free(lk);
		return R_NO_MEMORY;
	}
	if (pthread_cond_init(&lk->more, NULL) != 0) {
		pthread_mutex_destroy(&lk->lock);
		ratelimit_free(lk->limits);
		close(lk->efd);
		free(lk);
		return R_NO_MEMORY;
	}
	/* Workers take no signals (they inherit the mask): SIGTERM and SIGINT
	 * are the loop's, through its signalfd, and must never end the
	 * process in a worker by their default action. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; lk->started < nthreads; lk->started++)
		if (pthread_create(&lk->threads[lk->started], NULL, worker, lk) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (lk->started < nthreads) {
		lookup_free(lk);
		return R_INTERNAL;
	}
	*out = lk;
	return R_SUCCESS;
}

int lookup_fd(const struct lookup *lk)
{
	return lk->efd;
}

enum result lookup_submit(struct lookup *lk, struct lookup_job *job)
{
	enum result r = R_QUOTA;

	job->next_ = NULL;
	pthread_mutex_lock(&lk->lock);
	if (lk->queued < lk->max_queued) {
		if (lk->todo_tail != NULL)
			lk->todo_tail->next_ = job;
		else
			lk->todo = job;
		lk->todo_tail = job;
		lk->queued++;
		pthread_cond_signal(&lk->more);
		r = R_SUCCESS;
	}
	pthread_mutex_unlock(&lk->lock);
	return r;
}

struct lookup_job *lookup_next(struct lookup *lk)
{
	struct lookup_job *job;
	uint64_t n;

	/* Drain the counter first: a job handed back after this read wakes
	 * the loop again, so none is left unseen. */
	while (read(lk->efd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&lk->lock);
	job = lk->done;
	if (job != NULL)
		lk->done = job->next_;
	pthread_mutex_unlock(&lk->lock);
	return job;
}
