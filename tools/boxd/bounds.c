/* bounds.c: per-sandbox ceilings and the instance's total (bounds.h). */
#include "bounds.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/reslimit.h"

/* Below these a sandbox cannot start its agent. */
#define MIN_CPU_MILLIS 10
#define MIN_MEMORY     (16ull << 20)
#define MIN_PIDS       8
#define MIN_DISK       (1ull << 20)
#define MAX_PIDS       (1u << 22)

static uint64_t host_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

static uint32_t host_pid_max(void)
{
	unsigned long v = 0;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");

	if (f != NULL) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 0 && v <= MAX_PIDS ? (uint32_t)v : 32768;
}

void bounds_defaults(struct bounds *b)
{
	b->ceiling.cpu_millis = RESLIMIT_MAX_CPU_MILLIS;
	b->ceiling.memory_bytes = RESLIMIT_MAX_MEMORY;
	b->ceiling.pids_max = MAX_PIDS;
	b->ceiling.disk_bytes = RESLIMIT_MAX_MEMORY;
	b->total.cpu_millis = 0;
	b->total.memory_bytes = host_memory() / 4 * 3;
	b->total.pids_max = host_pid_max() / 2;
}

static bool parse_count(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool bounds_parse(struct bounds *b, const char *flag, const char *val, bool *ok)
{
	static const struct {
		const char *flag;
		char kind; /* c: cpus, m: bytes, p: count */
		size_t off;
		bool total;
	} flags[] = {
	    {"--max-cpus", 'c', offsetof(struct sandbox_limits, cpu_millis), false},
	    {"--max-memory", 'm', offsetof(struct sandbox_limits, memory_bytes), false},
	    {"--max-pids", 'p', offsetof(struct sandbox_limits, pids_max), false},
	    {"--max-disk", 'm', offsetof(struct sandbox_limits, disk_bytes), false},
	    {"--total-cpus", 'c', offsetof(struct cgroup_limits, cpu_millis), true},
	    {"--total-memory", 'm', offsetof(struct cgroup_limits, memory_bytes), true},
	    {"--total-pids", 'p', offsetof(struct cgroup_limits, pids_max), true},
	};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		char *base = flags[i].total ? (char *)&b->total : (char *)&b->ceiling;
		void *field = base + flags[i].off;

		if (strcmp(flag, flags[i].flag) != 0)
			continue;
		if (val == NULL)
			*ok = false;
		else if (flags[i].kind == 'c')
			*ok = reslimit_parse_cpus(val, field) == R_SUCCESS;
		else if (flags[i].kind == 'm')
			*ok = reslimit_parse_memory(val, field) == R_SUCCESS;
		else
			*ok = parse_count(val, MIN_PIDS, MAX_PIDS, field);
		return true;
	}
	return false;
}

bool bounds_admit(const struct bounds *b, const struct sandbox_limits *l)
{
	const struct sandbox_limits *c = &b->ceiling;

	return l->cpu_millis >= MIN_CPU_MILLIS && l->cpu_millis <= c->cpu_millis &&
	       l->memory_bytes >= MIN_MEMORY && l->memory_bytes <= c->memory_bytes &&
	       l->pids_max >= MIN_PIDS && l->pids_max <= c->pids_max && l->disk_bytes >= MIN_DISK &&
	       l->disk_bytes <= c->disk_bytes;
}
