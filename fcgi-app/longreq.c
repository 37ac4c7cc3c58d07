/* longreq.c: per-org and per-host counts of long requests in flight,
 * shared by every worker of the host (see longreq.h). */
#include "longreq.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ORG_MAX	  48
#define SLOTS_MAX 65536

struct slot {
	pid_t pid; /* 0: free */
	unsigned count;
	char org[ORG_MAX];
};

struct longreq {
	pthread_mutex_t lock; /* process-shared, robust */
	size_t size;
	unsigned nslots;
	struct slot slots[];
};

struct longreq *longreq_new(unsigned slots)
{
	pthread_mutexattr_t attr;
	struct longreq *lr;
	size_t size;

	if (slots == 0 || slots > SLOTS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	size = sizeof(*lr) + slots * sizeof(struct slot);
	lr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lr == MAP_FAILED)
		return NULL;
	/* Robust: a worker killed inside the critical section must not wedge
	 * the others; the section only ever stores whole counters. */
	if (pthread_mutexattr_init(&attr) != 0)
		goto fail_unmap;
	if (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&lr->lock, &attr) != 0) {
		pthread_mutexattr_destroy(&attr);
		goto fail_unmap;
	}
	pthread_mutexattr_destroy(&attr);
	lr->size = size;
	lr->nslots = slots;
	return lr;

fail_unmap:
	munmap(lr, size);
	errno = ENOMEM;
	return NULL;
}

void longreq_free(struct longreq *lr)
{
	if (lr != NULL)
		munmap(lr, lr->size);
}

static void lock(struct longreq *lr)
{
	if (pthread_mutex_lock(&lr->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&lr->lock);
}

static void unlock(struct longreq *lr)
{
	pthread_mutex_unlock(&lr->lock);
}

static bool is_org(const struct slot *s, const char *org)
{
	return s->pid != 0 && strcmp(s->org, org) == 0;
}

enum result longreq_enter(struct longreq *lr, const char *org, unsigned per_org, unsigned total)
{
	unsigned mine = 0, all = 0;
	struct slot *own = NULL, *free_slot = NULL;
	pid_t me = getpid();
	enum result r = R_SUCCESS;

	if (strlen(org) >= ORG_MAX)
		return R_INVALID;
	lock(lr);
	for (unsigned i = 0; i < lr->nslots; i++) {
		struct slot *s = &lr->slots[i];

		if (s->pid == 0) {
			if (free_slot == NULL)
				free_slot = s;
			continue;
		}
		all += s->count;
		if (strcmp(s->org, org) != 0)
			continue;
		mine += s->count;
		if (s->pid == me)
			own = s;
	}
	if (mine >= per_org)
		r = R_QUOTA;
	else if (all >= total || (own == NULL && free_slot == NULL))
		r = R_CONFLICT;
	if (r != R_SUCCESS)
		goto out;
	if (own == NULL) {
		own = free_slot;
		memcpy(own->org, org, strlen(org) + 1);
		own->count = 0;
		own->pid = me;
	}
	own->count++;
out:
	unlock(lr);
	return r;
}

void longreq_leave(struct longreq *lr, const char *org)
{
	pid_t me = getpid();

	lock(lr);
	for (unsigned i = 0; i < lr->nslots; i++) {
		struct slot *s = &lr->slots[i];

		if (s->pid != me || !is_org(s, org))
			continue;
		if (s->count > 0)
			s->count--;
		if (s->count == 0)
			s->pid = 0;
		break;
	}
	unlock(lr);
}

void longreq_forget(struct longreq *lr, pid_t pid)
{
	lock(lr);
	for (unsigned i = 0; i < lr->nslots; i++) {
		if (lr->slots[i].pid == pid) {
			lr->slots[i].pid = 0;
			lr->slots[i].count = 0;
		}
	}
	unlock(lr);
}

unsigned longreq_count(struct longreq *lr, const char *org)
{
	unsigned n = 0;

	lock(lr);
	for (unsigned i = 0; i < lr->nslots; i++)
		if (is_org(&lr->slots[i], org))
			n += lr->slots[i].count;
	unlock(lr);
	return n;
}
