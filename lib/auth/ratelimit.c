/* ratelimit.c: token buckets of record in PostgreSQL, leased in batches
 * into a per-host table in shared memory (see ratelimit.h). */
#include "auth/ratelimit.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "db/db.h"

#define RATELIMIT_SLOTS_MAX (1u << 20) /* 168 MiB: far beyond any need */
#define PROBE		    8	       /* slots looked at per name before one is evicted */
#define LEASE_FRACTION	    10
/* A batch lease still marked in flight after this long is presumed lost
 * (its worker died); the next caller may start another. */
#define LEASE_STUCK_NS (5LL * 1000 * 1000 * 1000)

struct slot {
	uint64_t hash; /* 0: free */
	uint64_t last_use;
	int64_t empty_until;   /* CLOCK_MONOTONIC ns: the row is known empty until then */
	int64_t leasing_since; /* CLOCK_MONOTONIC ns: a batch lease is in flight; 0: none */
	unsigned tokens;
	char name[RATELIMIT_NAME_MAX + 1];
};

struct ratelimit {
	pthread_mutex_t lock; /* process-shared, robust */
	size_t size;	      /* of the mapping */
	unsigned nslots;
	uint64_t clock; /* bumped on every use, for eviction */
	struct slot slots[];
};

/* The row's tokens now: refilled at $2 a minute since updated_at, up to $3. */
#define REFILL                                                                                     \
	"LEAST($3::float8, b.tokens + EXTRACT(EPOCH FROM now() - b.updated_at) * $2::float8 / "    \
	"60.0)"

/* LEASE_SQL: take up to $4 whole tokens from bucket $1 in one statement.
 * The upsert's WHERE leaves an empty row untouched, so "granted" is 0 only
 * when nothing was there; the seconds until the next token come from the
 * statement's snapshot, which is the row as it was (unchanged when empty).
 * PostgreSQL 15 has no OLD in RETURNING, so the grant is stored in the row. */
#define LEASE_SQL                                                                                  \
	"WITH take AS (INSERT INTO rate_buckets AS b (key_id, tokens, leased, updated_at) "        \
	"VALUES ($1, $3::float8 - LEAST($4::float8, floor($3::float8)), "                          \
	"LEAST($4::float8, floor($3::float8)), now()) ON CONFLICT (key_id) DO UPDATE SET "         \
	"tokens = " REFILL " - LEAST($4::float8, floor(" REFILL ")), leased = LEAST($4::float8, "  \
	"floor(" REFILL ")), updated_at = now() WHERE " REFILL " >= 1 RETURNING b.leased) "        \
	"SELECT COALESCE((SELECT leased FROM take), 0), COALESCE((SELECT (1 - " REFILL             \
	") * 60.0 / $2::float8 FROM rate_buckets b WHERE b.key_id = $1), 0)"

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* FNV-1a, never 0 (0 marks a free slot). */
static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h | 1;
}

struct ratelimit *ratelimit_new(unsigned slots)
{
	pthread_mutexattr_t attr;
	struct ratelimit *rl;
	size_t size;

	if (slots == 0 || slots > RATELIMIT_SLOTS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	size = sizeof(*rl) + slots * sizeof(struct slot);
	rl = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rl == MAP_FAILED)
		return NULL;
	/* A robust mutex: a worker killed inside the short critical section
	 * must not wedge every other worker of the host. */
	if (pthread_mutexattr_init(&attr) != 0)
		goto fail_unmap;
	if (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&rl->lock, &attr) != 0) {
		pthread_mutexattr_destroy(&attr);
		goto fail_unmap;
	}
	pthread_mutexattr_destroy(&attr);
	rl->size = size;
	rl->nslots = slots;
	return rl;

fail_unmap:
	munmap(rl, size);
	errno = ENOMEM;
	return NULL;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl != NULL)
		munmap(rl, rl->size);
}

/* lock: a dead owner leaves at most one slot half-written; a half-written
 * name never matches a lookup and is evicted in time, and a torn token
 * count is bounded by lease_size when it is used. */
static void lock(struct ratelimit *rl)
{
	if (pthread_mutex_lock(&rl->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&rl->lock);
}

static void unlock(struct ratelimit *rl)
{
	pthread_mutex_unlock(&rl->lock);
}

/* slot_find: the slot holding name, or NULL. Caller holds the lock. */
static struct slot *slot_find(struct ratelimit *rl, uint64_t h, const char *name)
{
	for (unsigned i = 0; i < PROBE && i < rl->nslots; i++) {
		struct slot *s = &rl->slots[(h + i) % rl->nslots];

		if (s->hash == h && strcmp(s->name, name) == 0) {
			s->last_use = ++rl->clock;
			return s;
		}
	}
	return NULL;
}

/* slot_claim: the slot for name, taking a free or the least recently used
 * one of its probe window (whose leased tokens are dropped, never moved). */
static struct slot *slot_claim(struct ratelimit *rl, uint64_t h, const char *name)
{
	struct slot *s = slot_find(rl, h, name), *victim = &rl->slots[h % rl->nslots];

	if (s != NULL)
		return s;
	/* the first free slot of the window, else its least recently used */
	for (unsigned i = 1; i < PROBE && i < rl->nslots && victim->hash != 0; i++) {
		s = &rl->slots[(h + i) % rl->nslots];
		if (s->hash == 0 || s->last_use < victim->last_use)
			victim = s;
	}
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->name, sizeof(victim->name), "%s", name);
	victim->hash = h;
	victim->last_use = ++rl->clock;
	return victim;
}

static unsigned lease_size(const struct ratelimit_policy *p)
{
	double n = floor(p->burst / LEASE_FRACTION);

	return n < 1 ? 1 : n > 1e6 ? 1000000 : (unsigned)n;
}

static int whole_seconds(double s)
{
	return s < 1 ? 1 : s > 86400 ? 86400 : (int)ceil(s);
}

/* lease: up to want tokens from the row; *granted may be 0, then *wait is
 * the seconds until the next token. */
static enum result lease(struct db *db, const char *name, const struct ratelimit_policy *p,
			 unsigned want, unsigned *granted, double *wait)
{
	char rate[32], burst[32], n[16];
	struct db_res *res = NULL;
	enum result r;

	snprintf(rate, sizeof(rate), "%.6f", p->rate_per_minute);
	snprintf(burst, sizeof(burst), "%.6f", p->burst);
	snprintf(n, sizeof(n), "%u", want);
	r = db_exec(db, LEASE_SQL, 4, (const char *[]){name, rate, burst, n}, &res);
	if (r != R_SUCCESS)
		return r == R_DB ? R_DB : R_INTERNAL;
	if (db_res_rows(res) != 1) {
		db_res_free(res);
		return R_INTERNAL;
	}
	*granted = (unsigned)strtoul(db_res_get(res, 0, 0), NULL, 10);
	*wait = strtod(db_res_get(res, 0, 1), NULL);
	db_res_free(res);
	return R_SUCCESS;
}

/* settle: record a lease's outcome (r) in the table. One of the tokens
 * granted is this request's; the rest are the host's. */
static enum result settle(struct ratelimit *rl, uint64_t h, const char *name, unsigned want,
			  enum result r, unsigned granted, double wait, int *retry_after)
{
	struct slot *s;

	lock(rl);
	s = slot_claim(rl, h, name);
	if (want > 1)
		s->leasing_since = 0;
	if (r != R_SUCCESS) {
		/* the database is away: nothing learned */
	} else if (granted > 0) {
		s->tokens += granted - 1;
		s->empty_until = 0;
	} else {
		s->empty_until = now_ns() + (int64_t)(wait * 1e9);
		*retry_after = whole_seconds(wait);
		r = R_QUOTA;
	}
	unlock(rl);
	return r;
}

enum result ratelimit_take(struct ratelimit *rl, struct db *db, const char *name,
			   const struct ratelimit_policy *p, int *retry_after)
{
	size_t len = strlen(name);
	uint64_t h = name_hash(name);
	int64_t now = now_ns();
	unsigned want = 1, granted = 0, cap = lease_size(p);
	struct slot *s;
	double wait = 0;
	enum result r;

	if (len == 0 || len > RATELIMIT_NAME_MAX || !(p->rate_per_minute > 0) || !(p->burst >= 1))
		return R_INVALID;
	lock(rl);
	s = slot_claim(rl, h, name);
	if (s->tokens > cap) /* torn by a dead owner */
		s->tokens = cap;
	if (s->tokens > 0) {
		s->tokens--;
		unlock(rl);
		return R_SUCCESS;
	}
	if (now < s->empty_until) {
		/* Only time refills a row, so it is still empty: no query. */
		*retry_after = whole_seconds((double)(s->empty_until - now) / 1e9);
		unlock(rl);
		return R_QUOTA;
	}
	/* One batch lease per bucket at a time; callers meanwhile lease a
	 * single token each, so concurrent misses never over-draw the row. */
	if (cap > 1 && (s->leasing_since == 0 || now - s->leasing_since > LEASE_STUCK_NS)) {
		s->leasing_since = now;
		want = cap;
	}
	unlock(rl);
	r = lease(db, name, p, want, &granted, &wait);
	return settle(rl, h, name, want, r, granted, wait, retry_after);
}

unsigned ratelimit_local_tokens(struct ratelimit *rl, const char *name)
{
	unsigned n = 0;
	struct slot *s;

	lock(rl);
	s = slot_find(rl, name_hash(name), name);
	if (s != NULL)
		n = s->tokens;
	unlock(rl);
	return n;
}
