/* main.c: sandpit-boxd, the privileged helper of the local backend. The only
 * Sandpit process that needs root: it creates and destroys sandboxes on
 * request over a unix socket that only root and the sandpit group can reach
 * (lib/backend/boxproto.h), and it is the parent and reaper of every
 * sandbox's agent. API workers and the stream proxy run unprivileged and talk
 * to it through lib/backend/local.c, and to agents through their sockets.
 *
 *   sandpit-boxd --state-dir DIR [--socket PATH] [--agent PATH] [--group NAME]
 *                [--uid-base N] [--max-sandboxes N] [--cgroup-mount PATH]
 *                [--default-cpus Q] [--default-memory Q] [--default-pids N]
 *                [--default-disk Q] [--tmp-size Q] [--nofile N]
 *                [--max-cpus Q] [--max-memory Q] [--max-pids N] [--max-disk Q]
 *                [--total-cpus Q] [--total-memory Q] [--total-pids N]
 *                [--images DIR] [--kill-on-exit] [--agent-log] [--check]
 *
 * --images: the image cache (tools/admin/images.h; default
 * /var/cache/sandpit/images, SANDPIT_IMAGE_CACHE's default); a create's
 * image=NAME@KEY is looked up there and nowhere else (image.h).
 * Everything it creates is derived from the state directory: sockets and
 * state files in DIR/run/<id>.{sock,state}, the cgroup parent
 * "sandpit-<hash of DIR>", and the host uid range (unless --uid-base), so two
 * instances on one machine never see each other.
 * Single-threaded: one request at a time (create is a few ms; destroy waits
 * for the sandbox's processes to be gone). Two processes: a keeper
 * (keeper.c) that reaps orphans and restarts the daemon after a crash, and
 * the daemon, which adopts the sandboxes of the run before it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/boxproto.h"
#include "bounds.h"
#include "cgroup.h"
#include "etc.h"
#include "image.h"
#include "keeper.h"
#include "reslimit.h"
#include "log.h"
#include "spawn.h"

#define MOD "boxd"
#define MAX_SLOTS 32767u

struct config {
	const char *state_dir;
	const char *socket_path;
	const char *agent_path;
	const char *group;
	const char *cgroup_mount;
	const char *images;
	unsigned long uid_base;
	unsigned max_sandboxes;
	struct sandbox_limits defaults;
	struct bounds bounds;
	uint64_t tmp_bytes;
	uint32_t nofile;
	bool kill_on_exit;
	bool agent_log;
	bool check;
};

struct box {
	bool used;
	bool child; /* our child (else adopted from a previous run) */
	bool alive;
	char id[BACKEND_ID_MAX + 1];
	pid_t pid;
	unsigned slot;
	struct sandbox_limits lim;
};

struct daemon {
	struct config cfg;
	char run_dir[PATH_MAX];
	char root_mnt[PATH_MAX];
	char etc_dir[PATH_MAX];
	char sock[PATH_MAX];
	struct cgroup_root *cg;
	int agent_fd;
	gid_t gid; /* socket group, (gid_t)-1 for root only */
	struct box *boxes;
	unsigned nboxes;
};

static char *path_buf(char *out, size_t size, const char *dir, const char *id, const char *suffix)
{
	int n = snprintf(out, size, "%s/%s%s", dir, id, suffix);

	return (n > 0 && (size_t)n < size) ? out : NULL;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ull;
	}
	return h;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sandpit-boxd --state-dir DIR [--socket PATH] [--agent PATH] [--group NAME]\n"
		"       [--uid-base N] [--max-sandboxes N] [--cgroup-mount PATH]\n"
		"       [--default-cpus Q] [--default-memory Q] [--default-pids N]\n"
		"       [--default-disk Q] [--tmp-size Q] [--nofile N]\n"
		"       [--max-cpus Q] [--max-memory Q] [--max-pids N] [--max-disk Q]\n"
		"       [--total-cpus Q] [--total-memory Q] [--total-pids N]\n"
		"       [--images DIR] [--kill-on-exit] [--agent-log] [--check]\n");
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (max - (unsigned long)(*s - '0')) / 10)
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*out = v;
	return true;
}

static bool parse_args(int argc, char **argv, struct config *c)
{
	unsigned long v = 0;
	int i;

	c->max_sandboxes = 4096;
	c->defaults.cpu_millis = 2000;
	c->defaults.memory_bytes = 2ull << 30;
	c->defaults.pids_max = 512;
	c->defaults.disk_bytes = 1ull << 30;
	c->tmp_bytes = 256ull << 20;
	c->nofile = 4096;
	c->images = "/var/cache/sandpit/images";
	bounds_defaults(&c->bounds);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = true, takes = true;

		if (strcmp(a, "--state-dir") == 0)
			c->state_dir = val;
		else if (strcmp(a, "--socket") == 0)
			c->socket_path = val;
		else if (strcmp(a, "--agent") == 0)
			c->agent_path = val;
		else if (strcmp(a, "--group") == 0)
			c->group = val;
		else if (strcmp(a, "--cgroup-mount") == 0)
			c->cgroup_mount = val;
		else if (strcmp(a, "--images") == 0)
			ok = (c->images = val) != NULL && val[0] == '/';
		else if (strcmp(a, "--uid-base") == 0)
			ok = parse_uint(val, 0xf0000000ul, &c->uid_base) && c->uid_base >= 65536;
		else if (strcmp(a, "--max-sandboxes") == 0) {
			ok = parse_uint(val, MAX_SLOTS, &v) && v > 0;
			c->max_sandboxes = (unsigned)v;
		} else if (strcmp(a, "--default-cpus") == 0)
			ok = val && reslimit_parse_cpus(val, &c->defaults.cpu_millis) == R_OK;
		else if (strcmp(a, "--default-memory") == 0)
			ok = val && reslimit_parse_memory(val, &c->defaults.memory_bytes) == R_OK;
		else if (strcmp(a, "--default-disk") == 0)
			ok = val && reslimit_parse_memory(val, &c->defaults.disk_bytes) == R_OK;
		else if (strcmp(a, "--tmp-size") == 0)
			ok = val && reslimit_parse_memory(val, &c->tmp_bytes) == R_OK;
		else if (strcmp(a, "--default-pids") == 0) {
			ok = parse_uint(val, 1u << 22, &v) && v >= 8;
			c->defaults.pids_max = (uint32_t)v;
		} else if (strcmp(a, "--nofile") == 0) {
			ok = parse_uint(val, 1u << 20, &v) && v >= 16;
			c->nofile = (uint32_t)v;
		} else if (bounds_parse(&c->bounds, a, val, &ok)) {
			/* a per-sandbox ceiling or the instance's total */
		} else {
			takes = false;
			if (strcmp(a, "--kill-on-exit") == 0)
				c->kill_on_exit = true;
			else if (strcmp(a, "--agent-log") == 0)
				c->agent_log = true;
			else if (strcmp(a, "--check") == 0)
				c->check = true;
			else {
				fprintf(stderr, "sandpit-boxd: unknown option '%s'\n", a);
				return false;
			}
		}
		if (takes && (!val || !ok)) {
			fprintf(stderr, "sandpit-boxd: bad value for '%s'\n", a);
			return false;
		}
		if (takes)
			i++;
	}
	if (!bounds_admit(&c->bounds, &c->defaults)) {
		fprintf(stderr, "sandpit-boxd: default limits exceed a --max-* ceiling\n");
		return false;
	}
	if (!c->state_dir) {
		fprintf(stderr, "sandpit-boxd: --state-dir is required\n");
		return false;
	}
	return true;
}

/* ---- sandbox table ------------------------------------------------------ */

static unsigned box_count(const struct daemon *d)
{
	unsigned i, n = 0;

	for (i = 0; i < d->nboxes; i++)
		n += d->boxes[i].used;
	return n;
}

static struct box *find_box(struct daemon *d, const char *id)
{
	unsigned i;

	for (i = 0; i < d->nboxes; i++)
		if (d->boxes[i].used && strcmp(d->boxes[i].id, id) == 0)
			return &d->boxes[i];
	return NULL;
}

/* slots index the table and the uid range: uids base+2*slot (agent) and
 * base+2*slot+1 (commands) are unique per live sandbox. */
static struct box *alloc_box(struct daemon *d, const char *id)
{
	unsigned i;

	for (i = 0; i < d->nboxes; i++) {
		if (!d->boxes[i].used) {
			memset(&d->boxes[i], 0, sizeof(d->boxes[i]));
			d->boxes[i].used = true;
			d->boxes[i].slot = i;
			memcpy(d->boxes[i].id, id, strlen(id) + 1); /* validated: <= 63 */
			return &d->boxes[i];
		}
	}
	return NULL;
}

static void write_state(struct daemon *d, const struct box *b)
{
	char path[PATH_MAX], tmp[PATH_MAX], text[256];
	int fd, n;

	if (!path_buf(path, sizeof(path), d->run_dir, b->id, ".state") ||
	    !path_buf(tmp, sizeof(tmp), d->run_dir, b->id, ".state.tmp"))
		return;
	n = snprintf(text, sizeof(text), "pid=%d slot=%u cpu=%u mem=%llu pids=%u disk=%llu\n",
		     (int)b->pid, b->slot, b->lim.cpu_millis,
		     (unsigned long long)b->lim.memory_bytes, b->lim.pids_max,
		     (unsigned long long)b->lim.disk_bytes);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	if (write(fd, text, (size_t)n) != n || rename(tmp, path) != 0)
		log_warn(MOD, "cannot write state of '%s'", b->id);
	close(fd);
}

/* adopt: sandboxes of a previous run of this instance keep their slots. */
static void adopt_existing(struct daemon *d)
{
	char path[PATH_MAX], text[256], id[BACKEND_ID_MAX + 1];
	struct dirent *de;
	uint64_t v;
	DIR *dir;

	dir = opendir(d->run_dir);
	if (!dir)
		return;
	while ((de = readdir(dir)) != NULL) {
		size_t n = strlen(de->d_name);
		struct box *b;
		ssize_t got;
		int fd;

		if (n <= 6 || n - 6 > BACKEND_ID_MAX || strcmp(de->d_name + n - 6, ".state") != 0)
			continue;
		memcpy(id, de->d_name, n - 6);
		id[n - 6] = '\0';
		if (!backend_id_is_valid(id) || !path_buf(path, sizeof(path), d->run_dir, id, ".state"))
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		got = read(fd, text, sizeof(text) - 1);
		close(fd);
		if (got <= 0 || !boxproto_get_u64((text[got] = '\0', text), "slot", &v) ||
		    v >= d->nboxes || d->boxes[v].used)
			continue;
		b = &d->boxes[v];
		memset(b, 0, sizeof(*b));
		b->used = true;
		b->slot = (unsigned)v;
		snprintf(b->id, sizeof(b->id), "%s", id);
		if (boxproto_get_u64(text, "pid", &v) && v > 1 && v < INT_MAX)
			b->pid = (pid_t)v;
		if (boxproto_get_u64(text, "cpu", &v))
			b->lim.cpu_millis = (uint32_t)v;
		if (boxproto_get_u64(text, "mem", &v))
			b->lim.memory_bytes = v;
		if (boxproto_get_u64(text, "pids", &v))
			b->lim.pids_max = (uint32_t)v;
		if (boxproto_get_u64(text, "disk", &v))
			b->lim.disk_bytes = v;
		b->alive = cgroup_exists(d->cg, id);
		log_info(MOD, "adopted sandbox '%s' pid=%d alive=%d", id, (int)b->pid, b->alive);
	}
	closedir(dir);
}

/* ---- requests ----------------------------------------------------------- */

struct reply {
	char *text;
	size_t len, size;
};

static void reply_printf(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply_printf(struct reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->len >= r->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->text + r->len, r->size - r->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len = (size_t)n < r->size - r->len ? r->len + (size_t)n : r->size - 1;
}

static void reply_err(struct reply *r, enum result code, const char *msg)
{
	r->len = 0;
	reply_printf(r, "err %s %s", result_str(code), msg);
}

static enum result open_agent_socket(struct daemon *d, const char *id, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[PATH_MAX];
	int fd;

	if (!path_buf(path, sizeof(path), d->run_dir, id, ".sock") ||
	    strlen(path) >= sizeof(sa.sun_path))
		return R_INVALID;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return R_INTERNAL;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		enum result r = errno == EADDRINUSE ? R_CONFLICT : R_INTERNAL;

		close(fd);
		return r;
	}
	if ((d->gid != (gid_t)-1 && chown(path, 0, d->gid) != 0) ||
	    chmod(path, d->gid != (gid_t)-1 ? 0660 : 0600) != 0 || listen(fd, 128) != 0) {
		close(fd);
		unlink(path);
		return R_INTERNAL;
	}
	*out = fd;
	return R_OK;
}

static void remove_files(struct daemon *d, const char *id, bool *found)
{
	static const char *const suffixes[] = {".sock", ".state", ".state.tmp", ".hosts",
					       ".hostname"};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (path_buf(path, sizeof(path), d->run_dir, id, suffixes[i]) && unlink(path) == 0)
			*found = true;
}

/* teardown: everything of id goes, whatever state it is in. */
static enum result teardown(struct daemon *d, const char *id)
{
	struct box *b = find_box(d, id);
	bool found = b != NULL;
	enum result r;

	if (b && b->child && b->alive && b->pid > 1)
		kill(b->pid, SIGKILL); /* init of the pid namespace: takes all with it */
	r = cgroup_kill(d->cg, id, 5000);
	if (r == R_TIMEOUT) {
		log_errx(MOD, "processes of '%s' survive SIGKILL", id);
		return R_INTERNAL;
	}
	if (b && b->child && b->alive) {
		while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
			;
		b->alive = false;
	}
	r = cgroup_remove(d->cg, id);
	if (r == R_OK)
		found = true;
	else if (r != R_NOT_FOUND)
		return r;
	remove_files(d, id, &found);
	if (b)
		b->used = false;
	return found ? R_OK : R_NOT_FOUND;
}

static void fill_limits(const struct daemon *d, const char *req, struct sandbox_limits *lim)
{
	uint64_t v;

	*lim = d->cfg.defaults;
	if (boxproto_get_u64(req, "cpu", &v) && v > 0)
		lim->cpu_millis = v > RESLIMIT_MAX_CPU_MILLIS ? 0 : (uint32_t)v;
	if (boxproto_get_u64(req, "mem", &v) && v > 0)
		lim->memory_bytes = v;
	if (boxproto_get_u64(req, "pids", &v) && v > 0)
		lim->pids_max = v > (1u << 22) ? 0 : (uint32_t)v;
	if (boxproto_get_u64(req, "disk", &v) && v > 0)
		lim->disk_bytes = v;
}

/* create_image: the layers of the request's image=NAME@KEY, if it has one
 * (a value too long to copy is refused, never taken as absent). */
static enum result create_image(struct daemon *d, const char *req, struct image_layers *img,
				bool *has, char *err, size_t errlen)
{
	char spec[IMAGE_SPEC_MAX + 1];

	*has = strstr(req, " image=") != NULL;
	if (!*has)
		return R_OK;
	if (!boxproto_get(req, "image", spec, sizeof(spec))) {
		snprintf(err, errlen, "image must be NAME@KEY");
		return R_INVALID;
	}
	return image_resolve(d->cfg.images, spec, img, err, errlen);
}

static void do_create(struct daemon *d, const char *id, const char *req, struct reply *rep)
{
	struct image_layers img = {0};
	bool has_image = false;
	struct sandbox_limits lim;
	struct cgroup_limits cl;
	struct spawn_params sp;
	char path[PATH_MAX], err[512], hosts[PATH_MAX], hostname[PATH_MAX];
	struct box *b;
	enum result r;
	int lfd = -1;
	bool dummy = false;
	pid_t pid;

	fill_limits(d, req, &lim);
	if (!bounds_admit(&d->cfg.bounds, &lim)) {
		reply_err(rep, R_INVALID, "limits out of range");
		return;
	}
	if (find_box(d, id) || cgroup_exists(d->cg, id) ||
	    (path_buf(path, sizeof(path), d->run_dir, id, ".sock") && access(path, F_OK) == 0)) {
		reply_err(rep, R_CONFLICT, "sandbox exists");
		return;
	}
	r = create_image(d, req, &img, &has_image, err, sizeof(err));
	if (r != R_OK) {
		log_warnx(MOD, "refused image of '%s': %s", id, err);
		reply_err(rep, r, err);
		return;
	}
	b = alloc_box(d, id);
	if (!b) {
		image_layers_close(&img);
		reply_err(rep, R_QUOTA, "no free sandbox slot");
		return;
	}
	cl.cpu_millis = lim.cpu_millis;
	cl.memory_bytes = lim.memory_bytes;
	cl.pids_max = lim.pids_max;
	r = cgroup_create(d->cg, id, &cl);
	if (r != R_OK) {
		image_layers_close(&img);
		b->used = false;
		reply_err(rep, r, "cannot create the cgroup");
		return;
	}
	r = open_agent_socket(d, id, &lfd);
	if (r != R_OK) {
		snprintf(err, sizeof(err), "cannot create the agent socket");
		goto undo;
	}
	r = etc_write_sandbox(d->run_dir, id, hosts, hostname, sizeof(hosts));
	if (r != R_OK) {
		close(lfd);
		snprintf(err, sizeof(err), "cannot write the sandbox's /etc files");
		goto undo;
	}
	sp = (struct spawn_params){
		.id = id,
		.listen_fd = lfd,
		.agent_exe_fd = d->agent_fd,
		.log_fd = d->cfg.agent_log ? 2 : -1,
		.root_mnt = d->root_mnt,
		.etc_dir = d->etc_dir,
		.etc_hosts = hosts,
		.etc_hostname = hostname,
		.image = has_image ? &img : NULL,
		.cg = d->cg,
		.agent_uid = (uid_t)(d->cfg.uid_base + 2u * b->slot),
		.code_uid = (uid_t)(d->cfg.uid_base + 2u * b->slot + 1u),
		.disk_bytes = lim.disk_bytes,
		.tmp_bytes = d->cfg.tmp_bytes,
		.nofile = d->cfg.nofile,
		.pids_max = lim.pids_max,
		.timeout_ms = 10000,
	};
	r = spawn_sandbox(&sp, &pid, err, sizeof(err));
	close(lfd);
	image_layers_close(&img);
	/* mounted (or never to be): the sandbox keeps what it has bound */
	(void)etc_remove_sandbox(d->run_dir, id);
	if (r != R_OK)
		goto undo;
	b->pid = pid;
	b->child = true;
	b->alive = true;
	b->lim = lim;
	write_state(d, b);
	reply_printf(rep, "ok addr=unix:%s", path);
	return;
undo:
	image_layers_close(&img);
	log_errx(MOD, "cannot create sandbox '%s': %s", id, err);
	if (cgroup_kill(d->cg, id, 2000) != R_OK || cgroup_remove(d->cg, id) != R_OK)
		log_warnx(MOD, "leftover cgroup of '%s'", id);
	remove_files(d, id, &dummy);
	b->used = false;
	reply_err(rep, r == R_OK ? R_UPSTREAM : r, err);
}

static void do_inspect(struct daemon *d, const char *id, struct reply *rep)
{
	struct box *b = find_box(d, id);
	struct cgroup_stats st;
	enum result r;

	r = cgroup_stats(d->cg, id, &st);
	if (r != R_OK && !b) {
		reply_err(rep, r, "no such sandbox");
		return;
	}
	if (r != R_OK)
		memset(&st, 0, sizeof(st));
	reply_printf(rep,
		     "ok alive=%d cpu_usec=%llu mem=%llu peak=%llu pids=%u lim_cpu=%u lim_mem=%llu "
		     "lim_pids=%u lim_disk=%llu",
		     (b && b->alive && st.populated) ? 1 : 0, (unsigned long long)st.cpu_usec,
		     (unsigned long long)st.memory_current, (unsigned long long)st.memory_peak,
		     st.pids, b ? b->lim.cpu_millis : 0,
		     (unsigned long long)(b ? b->lim.memory_bytes : 0), b ? b->lim.pids_max : 0,
		     (unsigned long long)(b ? b->lim.disk_bytes : 0));
}

static void do_resize(struct daemon *d, const char *id, const char *req, struct reply *rep)
{
	struct box *b = find_box(d, id);
	struct cgroup_limits cl = {0};
	struct sandbox_limits want;
	uint64_t v;
	enum result r;

	if (!b) {
		reply_err(rep, R_NOT_FOUND, "no such sandbox");
		return;
	}
	/* Fields given are checked like a create's; absent or zero ones stay
	 * (backend_resize's contract). */
	want = b->lim;
	if (boxproto_get_u64(req, "cpu", &v) && v != 0)
		cl.cpu_millis = want.cpu_millis = v > UINT32_MAX ? 1 : (uint32_t)v;
	if (boxproto_get_u64(req, "mem", &v) && v != 0)
		cl.memory_bytes = want.memory_bytes = v;
	if (boxproto_get_u64(req, "pids", &v) && v != 0)
		cl.pids_max = want.pids_max = v > UINT32_MAX ? 1 : (uint32_t)v;
	if (!bounds_admit(&d->cfg.bounds, &want)) {
		reply_err(rep, R_INVALID, "limits out of range");
		return;
	}
	r = cgroup_set_limits(d->cg, id, &cl);
	if (r != R_OK) {
		reply_err(rep, r, "cannot apply limits");
		return;
	}
	if (cl.cpu_millis)
		b->lim.cpu_millis = cl.cpu_millis;
	if (cl.memory_bytes)
		b->lim.memory_bytes = cl.memory_bytes;
	if (cl.pids_max)
		b->lim.pids_max = cl.pids_max;
	write_state(d, b);
	reply_printf(rep, "ok");
}

struct list_ctx {
	struct daemon *d;
	struct reply *rep;
};

/* listed: id is already a word of the reply ("ok id1 id2 ..."). A match at
 * the very start (ids "o", "ok") is the status word, and has no byte before
 * it to look at. */
static bool listed(const struct reply *rep, const char *id)
{
	size_t n = strlen(id);
	const char *p = rep->text;

	while ((p = strstr(p, id)) != NULL) {
		if (p > rep->text && p[-1] == ' ' && (p[n] == ' ' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

static void list_one(const char *id, void *arg)
{
	struct list_ctx *lc = arg;

	if (!listed(lc->rep, id))
		reply_printf(lc->rep, " %s", id);
}

static void do_list(struct daemon *d, struct reply *rep)
{
	struct list_ctx lc = {d, rep};
	struct dirent *de;
	unsigned i;
	DIR *dir;

	reply_printf(rep, "ok");
	for (i = 0; i < d->nboxes; i++)
		if (d->boxes[i].used)
			list_one(d->boxes[i].id, &lc);
	if (cgroup_list(d->cg, list_one, &lc) != R_OK)
		log_warnx(MOD, "cannot list cgroups");
	dir = opendir(d->run_dir);
	if (dir) {
		while ((de = readdir(dir)) != NULL) {
			size_t n = strlen(de->d_name);
			char id[BACKEND_ID_MAX + 1];

			if (n > 5 && n - 5 <= BACKEND_ID_MAX &&
			    strcmp(de->d_name + n - 5, ".sock") == 0) {
				memcpy(id, de->d_name, n - 5);
				id[n - 5] = '\0';
				if (backend_id_is_valid(id) && strcmp(id, "boxd") != 0)
					list_one(id, &lc);
			}
		}
		closedir(dir);
	}
}

static void handle(struct daemon *d, const char *req, struct reply *rep)
{
	char verb[16], id[BACKEND_ID_MAX + 2], path[PATH_MAX];
	enum result r;

	if (!boxproto_word(req, 0, verb, sizeof(verb))) {
		reply_err(rep, R_INVALID, "empty request");
		return;
	}
	if (strcmp(verb, "list") == 0) {
		do_list(d, rep);
		return;
	}
	/* "boxd" would name the daemon's own socket in the run directory */
	if (!boxproto_word(req, 1, id, sizeof(id)) || !backend_id_is_valid(id) ||
	    strcmp(id, "boxd") == 0) {
		reply_err(rep, R_INVALID, "bad sandbox id");
		return;
	}
	if (strcmp(verb, "create") == 0) {
		do_create(d, id, req, rep);
	} else if (strcmp(verb, "destroy") == 0) {
		r = teardown(d, id);
		if (r == R_OK)
			reply_printf(rep, "ok");
		else
			reply_err(rep, r, r == R_NOT_FOUND ? "no such sandbox" : "destroy failed");
	} else if (strcmp(verb, "inspect") == 0) {
		do_inspect(d, id, rep);
	} else if (strcmp(verb, "addr") == 0) {
		if (find_box(d, id) && path_buf(path, sizeof(path), d->run_dir, id, ".sock"))
			reply_printf(rep, "ok addr=unix:%s", path);
		else
			reply_err(rep, R_NOT_FOUND, "no such sandbox");
	} else if (strcmp(verb, "resize") == 0) {
		do_resize(d, id, req, rep);
	} else {
		reply_err(rep, R_INVALID, "unknown request");
	}
}

static void serve_client(struct daemon *d, int fd, struct reply *rep)
{
	struct timeval tv = {1, 0};
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	char req[1024];
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = recv(fd, req, sizeof(req) - 1, 0);
	if (n <= 0)
		return;
	req[n] = '\0';
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0)
		cred.uid = (uid_t)-1, cred.pid = 0;
	rep->len = 0;
	rep->text[0] = '\0';
	handle(d, req, rep);
	log_debug(MOD, "request peer_uid=%d peer_pid=%d req=\"%.64s\" reply=\"%.64s\"",
		  (int)cred.uid, (int)cred.pid, req, rep->text);
	if (send(fd, rep->text, rep->len, MSG_NOSIGNAL) < 0)
		log_warn(MOD, "cannot send reply");
}

static void reap(struct daemon *d)
{
	unsigned i;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < d->nboxes; i++) {
			if (d->boxes[i].used && d->boxes[i].pid == pid) {
				d->boxes[i].alive = false;
				log_info(MOD, "agent of '%s' exited status=%d", d->boxes[i].id, status);
			}
		}
	}
}

/* ---- start-up ------------------------------------------------------------ */

static int listen_daemon(struct daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(d->sock) >= sizeof(sa.sun_path)) {
		log_errx(MOD, "socket path too long '%s'", d->sock);
		return -1;
	}
	memcpy(sa.sun_path, d->sock, strlen(d->sock) + 1);
	unlink(d->sock);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    (d->gid != (gid_t)-1 && chown(d->sock, 0, d->gid) != 0) ||
	    chmod(d->sock, d->gid != (gid_t)-1 ? 0660 : 0600) != 0 || listen(fd, 128) != 0) {
		log_warn(MOD, "cannot listen on '%s'", d->sock);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void count_one(const char *id, void *arg)
{
	(void)id;
	(*(unsigned *)arg)++;
}

/* any_group: a sandbox cgroup exists (or cannot be ruled out). */
static bool any_group(struct daemon *d)
{
	unsigned n = 0;

	return cgroup_list(d->cg, count_one, &n) != R_OK || n > 0;
}

static bool setup(struct daemon *d)
{
	char real[PATH_MAX], exe[PATH_MAX], parent[64];
	static char agent_default[PATH_MAX];
	struct config *c = &d->cfg;
	ssize_t n;

	if (mkdir(c->state_dir, 0755) != 0 && errno != EEXIST) {
		log_warn(MOD, "cannot create '%s'", c->state_dir);
		return false;
	}
	if (!realpath(c->state_dir, real) || strpbrk(real, " \t\n")) {
		log_errx(MOD, "bad state dir '%s'", c->state_dir);
		return false;
	}
	if (!path_buf(d->run_dir, sizeof(d->run_dir), real, "run", "") ||
	    !path_buf(d->root_mnt, sizeof(d->root_mnt), d->run_dir, ".root", "") ||
	    !etc_template(d->run_dir, d->etc_dir, sizeof(d->etc_dir)))
		return false;
	if (!c->socket_path) {
		if (!path_buf(d->sock, sizeof(d->sock), d->run_dir, "boxd.sock", ""))
			return false;
	} else {
		snprintf(d->sock, sizeof(d->sock), "%s", c->socket_path);
	}
	if (!c->agent_path) {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			return false;
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		if (!path_buf(agent_default, sizeof(agent_default), exe, "sandpit-agent", ""))
			return false;
		c->agent_path = agent_default;
	}
	if (!c->uid_base)
		c->uid_base = 0x40000000ul + (fnv1a(real) % 0x3fffu) * 0x10000ul;
	snprintf(parent, sizeof(parent), "sandpit-%016llx", (unsigned long long)fnv1a(real));
	d->gid = (gid_t)-1;
	if (c->group) {
		struct group *g = getgrnam(c->group);

		if (!g) {
			log_errx(MOD, "no group '%s'", c->group);
			return false;
		}
		d->gid = g->gr_gid;
	}
	if (c->check) {
		printf("state_dir=%s\nrun_dir=%s\nsocket=%s\nagent=%s\ngroup=%s\nuid_base=%lu\n"
		       "max_sandboxes=%u\ncgroup_parent=%s\ndefault_cpu_millis=%u\n"
		       "default_memory=%llu\ndefault_pids=%u\ndefault_disk=%llu\ntmp_size=%llu\n"
		       "nofile=%u\nkill_on_exit=%d\nimages=%s\n",
		       real, d->run_dir, d->sock, c->agent_path, c->group ? c->group : "(root only)",
		       c->uid_base, c->max_sandboxes, parent, c->defaults.cpu_millis,
		       (unsigned long long)c->defaults.memory_bytes, c->defaults.pids_max,
		       (unsigned long long)c->defaults.disk_bytes, (unsigned long long)c->tmp_bytes,
		       c->nofile, c->kill_on_exit, c->images);
		printf("max_cpu_millis=%u\nmax_memory=%llu\nmax_pids=%u\nmax_disk=%llu\n"
		       "total_cpu_millis=%u\ntotal_memory=%llu\ntotal_pids=%u\n",
		       c->bounds.ceiling.cpu_millis,
		       (unsigned long long)c->bounds.ceiling.memory_bytes,
		       c->bounds.ceiling.pids_max, (unsigned long long)c->bounds.ceiling.disk_bytes,
		       c->bounds.total.cpu_millis, (unsigned long long)c->bounds.total.memory_bytes,
		       c->bounds.total.pids_max);
	}
	if (c->uid_base + 2ul * c->max_sandboxes > 0xfffffff0ul) {
		log_errx(MOD, "uid range past 2^32");
		return false;
	}
	d->agent_fd = open(c->agent_path, O_RDONLY | O_CLOEXEC);
	if (d->agent_fd < 0) {
		log_warn(MOD, "cannot open agent '%s'", c->agent_path);
		return false;
	}
	if (c->check)
		return true;
	if ((mkdir(d->run_dir, 0750) != 0 && errno != EEXIST) ||
	    (mkdir(d->root_mnt, 0700) != 0 && errno != EEXIST) ||
	    (d->gid != (gid_t)-1 && chown(d->run_dir, 0, d->gid) != 0)) {
		log_warn(MOD, "cannot create '%s'", d->run_dir);
		return false;
	}
	if (cgroup_detect(c->cgroup_mount, parent, &d->cg) != R_OK)
		return false;
	/* Fail closed: without the total, sandboxes together could take the host. */
	if (cgroup_set_parent_limits(d->cg, &c->bounds.total) != R_OK) {
		log_warn(MOD, "cannot limit the sandboxes' parent group '%s'", parent);
		return false;
	}
	d->nboxes = c->max_sandboxes;
	d->boxes = calloc(d->nboxes, sizeof(*d->boxes));
	if (!d->boxes)
		return false;
	adopt_existing(d);
	/* A fresh snapshot of what sandboxes see of /etc, unless sandboxes of
	 * a previous run (adopted, or cgroups without a record) have the
	 * previous one mounted. */
	return etc_prepare(d->run_dir, box_count(d) == 0 && !any_group(d)) == R_OK;
}

int main(int argc, char **argv)
{
	struct daemon d = {.agent_fd = -1};
	struct reply rep = {0};
	struct signalfd_siginfo si;
	struct pollfd pfd[2];
	sigset_t mask;
	int lfd, sfd, rc = 1;
	bool running = true;

	log_init("boxd", getenv("SANDPIT_BOXD_DEBUG") ? LOG_DEBUG : LOG_INFO);
	if (!parse_args(argc, argv, &d.cfg)) {
		usage();
		return 2;
	}
	/* From here on this is the daemon (restarted by its keeper after a
	 * crash; it adopts the sandboxes of the run before). */
	if (!d.cfg.check)
		keeper_run();
	if (!setup(&d))
		return 1;
	if (d.cfg.check)
		return 0;
	rep.size = BOXPROTO_MAX_MSG;
	rep.text = malloc(rep.size);
	if (!rep.text)
		return 1;
	/* agents are our children; anything reparented to us is reaped too
	 * (the keeper above us only catches what a dead daemon leaves) */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	lfd = listen_daemon(&d);
	if (sfd < 0 || lfd < 0)
		goto out;
	log_info(MOD,
		 "ready socket=%s agent=%s uid_base=%lu cgroup=%s total_memory=%llu total_pids=%u",
		 d.sock, d.cfg.agent_path, d.cfg.uid_base, cgroup_is_v2(d.cg) ? "v2" : "v1",
		 (unsigned long long)d.cfg.bounds.total.memory_bytes, d.cfg.bounds.total.pids_max);
	pfd[0] = (struct pollfd){lfd, POLLIN, 0};
	pfd[1] = (struct pollfd){sfd, POLLIN, 0};
	while (running) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents) {
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
					running = false;
			}
			reap(&d);
		}
		if (running && (pfd[0].revents & POLLIN)) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (cfd >= 0) {
				serve_client(&d, cfd, &rep);
				close(cfd);
			}
		}
	}
	rc = 0;
	if (d.cfg.kill_on_exit) {
		unsigned i;

		for (i = 0; i < d.nboxes; i++)
			if (d.boxes[i].used && teardown(&d, d.boxes[i].id) != R_OK)
				rc = 1;
	}
	/* Nothing of the instance left: its parent group goes too. */
	if (box_count(&d) == 0 && cgroup_remove_parent(d.cg) == R_INTERNAL)
		rc = 1;
	log_info(MOD, "stopped");
out:
	if (lfd >= 0) {
		close(lfd);
		unlink(d.sock);
	}
	if (sfd >= 0)
		close(sfd);
	free(rep.text);
	free(d.boxes);
	cgroup_root_free(d.cg);
	if (d.agent_fd >= 0)
		close(d.agent_fd);
	return rc;
}
