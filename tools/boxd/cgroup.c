/* cgroup.c: per-sandbox cgroups, v2 or v1 (see cgroup.h). */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

/* v1 hierarchies by role; on v2 all point to the one unified directory. */
enum { H_MEM, H_CPU, H_ACCT, H_PIDS, H_FREEZE, H_COUNT };
static const char *const v1_names[H_COUNT] = {"memory", "cpu", "cpuacct", "pids", "freezer"};

struct cgroup_root {
	bool v2;
	char parent[H_COUNT][PATH_MAX]; /* <mount>/<ctrl>/<parent> */
	int uniq[H_COUNT];		/* indexes of distinct hierarchies */
	int nuniq;
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* join: "a/b/c"; b or c may be NULL and are then left out. */
static bool join(char *out, size_t size, const char *a, const char *b, const char *c)
{
	int n = snprintf(out, size, "%s%s%s%s%s", a, b ? "/" : "", b ? b : "", c ? "/" : "",
			 c ? c : "");

	return n > 0 && (size_t)n < size;
}

static enum result write_file(const char *dir, const char *id, const char *file, const char *val)
{
	char path[PATH_MAX];
	size_t len = strlen(val);
	ssize_t w;
	int fd;

	if (!join(path, sizeof(path), dir, id, file))
		return R_INVALID;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? R_NOT_FOUND : R_INTERNAL;
	w = write(fd, val, len);
	if (w != (ssize_t)len) {
		int e = errno;

		close(fd);
		errno = e;
		return R_INTERNAL;
	}
	close(fd);
	return R_SUCCESS;
}

/* read_file: small control files only; NUL-terminated. */
static enum result read_file(const char *dir, const char *id, const char *file, char *out,
			     size_t size)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (!join(path, sizeof(path), dir, id, file))
		return R_INVALID;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? R_NOT_FOUND : R_INTERNAL;
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return R_INTERNAL;
	out[n] = '\0';
	return R_SUCCESS;
}

static uint64_t parse_u64(const char *s)
{
	uint64_t v = 0;

	while (*s >= '0' && *s <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return UINT64_MAX;
		v = v * 10 + (uint64_t)(*s++ - '0');
	}
	return v;
}

/* keyed: value of "key N" in a flat-keyed file. */
static bool keyed(const char *text, const char *key, uint64_t *v)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			*v = parse_u64(p + kl + 1);
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

static bool is_fs(const char *path, long magic)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

static bool make_dir(const char *path)
{
	return mkdir(path, 0755) == 0 || errno == EEXIST;
}

/* memcg_charges_kernel: false when the kernel was booted with
 * cgroup.memory=nokmem or nosocket: kernel and socket memory would then
 * escape every sandbox's limit (v1 and v2), so boxd does not start. */
static bool memcg_charges_kernel(void)
{
	char line[4096], *p;
	bool ok = true;
	size_t n;
	FILE *f = fopen("/proc/cmdline", "re");

	if (!f)
		return true; /* no procfs: nothing to learn, the limits still apply */
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	for (p = line + strspn(line, " \n"); *p; p += n, p += strspn(p, " \n")) {
		n = strcspn(p, " \n");
		if (n > 14 && strncmp(p, "cgroup.memory=", 14) == 0 &&
		    (memmem(p, n, "nokmem", 6) || memmem(p, n, "nosocket", 8))) {
			log_errx("cgroup",
				 "the kernel was booted with '%.*s': kernel or socket memory would "
				 "not count against sandbox limits; remove it",
				 (int)n, p);
			ok = false;
		}
	}
	return ok;
}

enum result cgroup_detect(const char *mount, const char *parent, struct cgroup_root **out)
{
	struct cgroup_root *root;
	char path[PATH_MAX];
	struct stat st[H_COUNT];
	int i, j;

	if (!mount)
		mount = "/sys/fs/cgroup";
	if (!memcg_charges_kernel())
		return R_INTERNAL;
	root = calloc(1, sizeof(*root));
	if (!root)
		return R_NO_MEMORY;
	if (is_fs(mount, CGROUP2_SUPER_MAGIC)) {
		static const char *const ctl[] = {"+memory", "+cpu", "+pids"};

		root->v2 = true;
		if (!join(root->parent[0], PATH_MAX, mount, parent, NULL))
			goto fail;
		for (i = 1; i < H_COUNT; i++)
			memcpy(root->parent[i], root->parent[0], PATH_MAX);
		root->uniq[0] = 0;
		root->nuniq = 1;
		for (i = 0; i < 3; i++) {
			if (write_file(mount, "cgroup.subtree_control", NULL, ctl[i]) !=
			    R_SUCCESS) {
				log_warn("cgroup",
					 "cannot enable '%s' in '%s/cgroup.subtree_control'",
					 ctl[i], mount);
				goto fail;
			}
		}
		if (!make_dir(root->parent[0])) {
			log_warn("cgroup", "cannot create '%s'", root->parent[0]);
			goto fail;
		}
		for (i = 0; i < 3; i++) {
			if (write_file(root->parent[0], "cgroup.subtree_control", NULL, ctl[i]) !=
			    R_SUCCESS) {
				log_warn("cgroup", "cannot enable '%s' in '%s'", ctl[i],
					 root->parent[0]);
				goto fail;
			}
		}
		log_info("cgroup", "using cgroup v2 parent=%s", root->parent[0]);
		*out = root;
		return R_SUCCESS;
	}
	for (i = 0; i < H_COUNT; i++) {
		if (!join(path, sizeof(path), mount, v1_names[i], NULL))
			goto fail;
		if (!is_fs(path, CGROUP_SUPER_MAGIC) || stat(path, &st[i]) != 0) {
			log_errx("cgroup",
				 "no cgroup v2 at '%s' and no cgroup v1 '%s' hierarchy at '%s': "
				 "mount cgroup2 or the v1 memory, cpu, cpuacct, pids and freezer "
				 "controllers",
				 mount, v1_names[i], path);
			goto fail;
		}
		if (!join(root->parent[i], PATH_MAX, path, parent, NULL))
			goto fail;
		/* co-mounted controllers (cpu,cpuacct) share one directory */
		for (j = 0; j < i; j++)
			if (st[j].st_dev == st[i].st_dev)
				break;
		if (j == i) {
			root->uniq[root->nuniq++] = i;
			if (!make_dir(root->parent[i])) {
				log_warn("cgroup", "cannot create '%s'", root->parent[i]);
				goto fail;
			}
		}
	}
	log_info("cgroup", "using cgroup v1 parent=%s", parent);
	*out = root;
	return R_SUCCESS;
fail:
	free(root);
	return R_INTERNAL;
}

void cgroup_root_free(struct cgroup_root *root)
{
	free(root);
}

bool cgroup_is_v2(const struct cgroup_root *root)
{
	return root->v2;
}

/* v1_tcp_limit: cgroup v1 keeps TCP socket buffers out of
 * memory.limit_in_bytes (other kernel memory, slab included, is charged to
 * it) and does not account them at all until memory.kmem.tcp.limit_in_bytes
 * is written: without it 80 loopback connections of a 64 MiB sandbox pinned
 * 300 MiB of host memory. Their own budget is a quarter of the memory limit,
 * so a sandbox pins at most 1.25 times its limit; past it the kernel makes
 * its sockets wait (senders block, windows shrink), it kills nothing. The
 * kernel refuses (EBUSY) to set it below what is in use: a shrinking resize
 * keeps the old budget then. */
static enum result v1_tcp_limit(const char *dir, const char *id, uint64_t memory_bytes)
{
	uint64_t budget = memory_bytes / 4 / 4096 * 4096;
	char v[32];
	enum result r;

	snprintf(v, sizeof(v), "%llu", (unsigned long long)budget);
	r = write_file(dir, id, "memory.kmem.tcp.limit_in_bytes", v);
	if (r == R_INTERNAL && errno == EBUSY) {
		log_warnx("cgroup", "'%s': socket buffers in use exceed %s bytes, budget kept",
			  id ? id : "(parent)", v);
		return R_SUCCESS;
	}
	if (r != R_SUCCESS)
		log_warn("cgroup", "cannot set memory.kmem.tcp.limit_in_bytes of '%s'",
			 id ? id : "(parent)");
	return r;
}

/* apply: limits on group id, or on the instance's parent when id is NULL. */
static enum result apply(struct cgroup_root *root, const char *id, const struct cgroup_limits *lim)
{
	char v[64];
	enum result r = R_SUCCESS;

	if (root->v2) {
		const char *d = root->parent[0];

		if (lim->memory_bytes) {
			snprintf(v, sizeof(v), "%llu", (unsigned long long)lim->memory_bytes);
			r = write_file(d, id, "memory.max", v);
			if (r == R_SUCCESS)
				r = write_file(d, id, "memory.swap.max", "0");
			if (r == R_NOT_FOUND) /* no swap accounting: no swap to turn off */
				r = R_SUCCESS;
			if (r == R_SUCCESS) /* OOM kills one process, never the agent with it */
				(void)write_file(d, id, "memory.oom.group", "0");
		}
		if (r == R_SUCCESS && lim->cpu_millis) {
			snprintf(v, sizeof(v), "%llu 100000",
				 (unsigned long long)lim->cpu_millis * 100u);
			r = write_file(d, id, "cpu.max", v);
		}
		if (r == R_SUCCESS && lim->pids_max) {
			snprintf(v, sizeof(v), "%u", lim->pids_max);
			r = write_file(d, id, "pids.max", v);
		}
		return r;
	}
	if (lim->memory_bytes) {
		const char *d = root->parent[H_MEM];

		snprintf(v, sizeof(v), "%llu", (unsigned long long)lim->memory_bytes);
		/* memsw >= limit at every step: raise memsw first when growing,
		 * lower the limit first when shrinking; the failed write of the
		 * first attempt is retried after the other. */
		(void)write_file(d, id, "memory.memsw.limit_in_bytes", v);
		r = write_file(d, id, "memory.limit_in_bytes", v);
		if (r == R_SUCCESS) {
			enum result s = write_file(d, id, "memory.memsw.limit_in_bytes", v);

			if (s != R_SUCCESS && s != R_NOT_FOUND)
				r = s;
		}
		if (r == R_SUCCESS)
			(void)write_file(d, id, "memory.swappiness", "0");
		if (r == R_SUCCESS)
			r = v1_tcp_limit(d, id, lim->memory_bytes);
	}
	if (r == R_SUCCESS && lim->cpu_millis) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)lim->cpu_millis * 100u);
		r = write_file(root->parent[H_CPU], id, "cpu.cfs_period_us", "100000");
		if (r == R_SUCCESS)
			r = write_file(root->parent[H_CPU], id, "cpu.cfs_quota_us", v);
	}
	if (r == R_SUCCESS && lim->pids_max) {
		snprintf(v, sizeof(v), "%u", lim->pids_max);
		r = write_file(root->parent[H_PIDS], id, "pids.max", v);
	}
	return r;
}

enum result cgroup_set_limits(struct cgroup_root *root, const char *id,
			      const struct cgroup_limits *lim)
{
	if (!id_is_name(id))
		return R_INVALID;
	return apply(root, id, lim);
}

enum result cgroup_set_parent_limits(struct cgroup_root *root, const struct cgroup_limits *lim)
{
	return apply(root, NULL, lim);
}

/* remove_dirs: rmdir group id, or the instance's parent when id is NULL,
 * in every hierarchy. */
static enum result remove_dirs(struct cgroup_root *root, const char *id)
{
	char path[PATH_MAX];
	bool found = false;
	int i, tries;

	for (i = 0; i < root->nuniq; i++) {
		if (!join(path, sizeof(path), root->parent[root->uniq[i]], id, NULL))
			return R_INVALID;
		for (tries = 0; tries < 200; tries++) {
			if (rmdir(path) == 0) {
				found = true;
				break;
			}
			if (errno == ENOENT)
				break;
			if (errno != EBUSY) {
				log_warn("cgroup", "cannot remove '%s'", path);
				return R_INTERNAL;
			}
			/* tasks that are exiting still count for a moment */
			sleep_ms(5);
		}
		if (tries == 200) {
			log_warnx("cgroup", "cannot remove '%s': still busy", path);
			return R_INTERNAL;
		}
	}
	return found ? R_SUCCESS : R_NOT_FOUND;
}

enum result cgroup_remove(struct cgroup_root *root, const char *id)
{
	if (!id_is_name(id))
		return R_INVALID;
	return remove_dirs(root, id);
}

enum result cgroup_remove_parent(struct cgroup_root *root)
{
	return remove_dirs(root, NULL);
}

enum result cgroup_create(struct cgroup_root *root, const char *id, const struct cgroup_limits *lim)
{
	char path[PATH_MAX];
	enum result r;
	int i;

	if (!id_is_name(id))
		return R_INVALID;
	for (i = 0; i < root->nuniq; i++) {
		if (!join(path, sizeof(path), root->parent[root->uniq[i]], id, NULL)) {
			r = R_INVALID;
			goto undo;
		}
		if (mkdir(path, 0755) != 0) {
			r = errno == EEXIST ? R_CONFLICT : R_INTERNAL;
			if (r == R_INTERNAL)
				log_warn("cgroup", "cannot create '%s'", path);
			if (i == 0)
				return r; /* an existing group is not ours to undo */
			goto undo;
		}
	}
	r = cgroup_set_limits(root, id, lim);
	if (r != R_SUCCESS) {
		log_warn("cgroup", "cannot set limits of '%s'", id);
		goto undo;
	}
	return R_SUCCESS;
undo:
	if (cgroup_remove(root, id) != R_SUCCESS)
		log_warnx("cgroup", "cannot undo a half-created '%s'", id);
	return r;
}

enum result cgroup_attach(struct cgroup_root *root, const char *id, pid_t pid)
{
	char v[32];
	enum result r;
	int i;

	if (!id_is_name(id))
		return R_INVALID;
	snprintf(v, sizeof(v), "%d", (int)pid);
	for (i = 0; i < root->nuniq; i++) {
		r = write_file(root->parent[root->uniq[i]], id, "cgroup.procs", v);
		if (r != R_SUCCESS) {
			log_warn("cgroup", "cannot attach pid=%d to '%s/%s'", (int)pid,
				 root->parent[root->uniq[i]], id);
			return r;
		}
	}
	return R_SUCCESS;
}

enum result cgroup_open_oom_counter(struct cgroup_root *root, const char *id, int *fd)
{
	char path[PATH_MAX];
	int f;

	if (!id_is_name(id) || !join(path, sizeof(path), root->parent[H_MEM], id,
				     root->v2 ? "memory.events" : "memory.oom_control"))
		return R_INVALID;
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return errno == ENOENT ? R_NOT_FOUND : R_INTERNAL;
	*fd = f;
	return R_SUCCESS;
}

/* procs_empty: true when the group has no process (or is gone). */
static bool procs_empty(struct cgroup_root *root, const char *id, int h)
{
	char buf[64];
	enum result r;

	if (root->v2) {
		char ev[256];
		uint64_t pop = 1;

		r = read_file(root->parent[0], id, "cgroup.events", ev, sizeof(ev));
		return r == R_NOT_FOUND ||
		       (r == R_SUCCESS && keyed(ev, "populated", &pop) && pop == 0);
	}
	r = read_file(root->parent[h], id, "cgroup.procs", buf, sizeof(buf));
	return r == R_NOT_FOUND || (r == R_SUCCESS && buf[0] == '\0');
}

/* kill_listed: SIGKILL every pid in a v1 group's cgroup.procs. */
static void kill_listed(const char *dir, const char *id)
{
	char path[PATH_MAX];
	FILE *f;
	int pid;

	if (!join(path, sizeof(path), dir, id, "cgroup.procs"))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	while (fscanf(f, "%d", &pid) == 1)
		if (pid > 1)
			kill(pid, SIGKILL);
	fclose(f);
}

enum result cgroup_kill(struct cgroup_root *root, const char *id, unsigned timeout_ms)
{
	uint64_t deadline = clock_now_ms() + timeout_ms;
	char st[64];
	int i, h;

	if (!id_is_name(id))
		return R_INVALID;
	if (!cgroup_exists(root, id))
		return R_NOT_FOUND;
	if (root->v2) {
		if (write_file(root->parent[0], id, "cgroup.kill", "1") != R_SUCCESS) {
			/* pre-5.14 kernels: freeze, kill what is listed, thaw */
			(void)write_file(root->parent[0], id, "cgroup.freeze", "1");
			kill_listed(root->parent[0], id);
			(void)write_file(root->parent[0], id, "cgroup.freeze", "0");
		}
	} else {
		/* Frozen tasks cannot fork, so the listing is complete; SIGKILL
		 * is delivered as soon as they thaw. */
		(void)write_file(root->parent[H_FREEZE], id, "freezer.state", "FROZEN");
		for (i = 0; i < 100; i++) {
			if (read_file(root->parent[H_FREEZE], id, "freezer.state", st,
				      sizeof(st)) != R_SUCCESS ||
			    strncmp(st, "FROZEN", 6) == 0)
				break;
			sleep_ms(1);
		}
		for (i = 0; i < root->nuniq; i++)
			kill_listed(root->parent[root->uniq[i]], id);
		(void)write_file(root->parent[H_FREEZE], id, "freezer.state", "THAWED");
	}
	for (;;) {
		bool empty = true;

		for (i = 0; i < root->nuniq; i++) {
			h = root->uniq[i];
			if (!procs_empty(root, id, h)) {
				empty = false;
				if (!root->v2)
					kill_listed(root->parent[h], id);
			}
		}
		if (empty)
			return R_SUCCESS;
		if (clock_now_ms() >= deadline)
			return R_TIMEOUT;
		sleep_ms(1);
	}
}

enum result cgroup_stats(struct cgroup_root *root, const char *id, struct cgroup_stats *out)
{
	struct cgroup_stats s = {0};
	char text[1024];
	enum result r;

	if (!id_is_name(id))
		return R_INVALID;
	if (!cgroup_exists(root, id))
		return R_NOT_FOUND;
	if (root->v2) {
		const char *d = root->parent[0];

		if (read_file(d, id, "cpu.stat", text, sizeof(text)) == R_SUCCESS)
			(void)keyed(text, "usage_usec", &s.cpu_usec);
		if (read_file(d, id, "memory.current", text, sizeof(text)) == R_SUCCESS)
			s.memory_current = parse_u64(text);
		if (read_file(d, id, "memory.peak", text, sizeof(text)) == R_SUCCESS)
			s.memory_peak = parse_u64(text);
	} else {
		if (read_file(root->parent[H_ACCT], id, "cpuacct.usage", text, sizeof(text)) ==
		    R_SUCCESS)
			s.cpu_usec = parse_u64(text) / 1000u;
		if (read_file(root->parent[H_MEM], id, "memory.usage_in_bytes", text,
			      sizeof(text)) == R_SUCCESS)
			s.memory_current = parse_u64(text);
		/* socket buffers are a separate counter on v1 (v1_tcp_limit) */
		if (read_file(root->parent[H_MEM], id, "memory.kmem.tcp.usage_in_bytes", text,
			      sizeof(text)) == R_SUCCESS)
			s.memory_current += parse_u64(text);
		if (read_file(root->parent[H_MEM], id, "memory.max_usage_in_bytes", text,
			      sizeof(text)) == R_SUCCESS)
			s.memory_peak = parse_u64(text);
	}
	r = read_file(root->parent[H_PIDS], id, "pids.current", text, sizeof(text));
	if (r == R_SUCCESS)
		s.pids = (uint32_t)parse_u64(text);
	s.populated = !procs_empty(root, id, H_PIDS);
	*out = s;
	return R_SUCCESS;
}

bool cgroup_exists(struct cgroup_root *root, const char *id)
{
	char path[PATH_MAX];
	struct stat st;

	return id_is_name(id) && join(path, sizeof(path), root->parent[root->uniq[0]], id, NULL) &&
	       stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

enum result cgroup_list(struct cgroup_root *root, void (*fn)(const char *id, void *arg), void *arg)
{
	struct dirent *de;
	DIR *d;

	d = opendir(root->parent[root->uniq[0]]);
	if (!d)
		return R_INTERNAL;
	while ((de = readdir(d)) != NULL)
		if (de->d_type == DT_DIR && id_is_name(de->d_name))
			fn(de->d_name, arg);
	closedir(d);
	return R_SUCCESS;
}
