/* request.c: parsing and serving the boxproto requests (request.h): one
 * handler per verb, the replies, and what a create or a destroy does to the
 * agent socket and the sandbox's files in the run directory. */
#include "request.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/boxproto.h"
#include "bounds.h"
#include "cgroup.h"
#include "daemon.h"
#include "etc.h"
#include "image.h"
#include "core/log.h"
#include "core/reslimit.h"
#include "spawn.h"
#include "table.h"

#define MOD "boxd"

static void reply_printf(struct reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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
	return R_SUCCESS;
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
enum result teardown(struct daemon *d, const char *id)
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
	if (r == R_SUCCESS)
		found = true;
	else if (r != R_NOT_FOUND)
		return r;
	remove_files(d, id, &found);
	if (b)
		b->used = false;
	return found ? R_SUCCESS : R_NOT_FOUND;
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
		return R_SUCCESS;
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
	if (r != R_SUCCESS) {
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
	if (r != R_SUCCESS) {
		image_layers_close(&img);
		b->used = false;
		reply_err(rep, r, "cannot create the cgroup");
		return;
	}
	r = open_agent_socket(d, id, &lfd);
	if (r != R_SUCCESS) {
		snprintf(err, sizeof(err), "cannot create the agent socket");
		goto undo;
	}
	r = etc_write_sandbox(d->run_dir, id, hosts, hostname, sizeof(hosts));
	if (r != R_SUCCESS) {
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
	if (r != R_SUCCESS)
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
	if (cgroup_kill(d->cg, id, 2000) != R_SUCCESS || cgroup_remove(d->cg, id) != R_SUCCESS)
		log_warnx(MOD, "leftover cgroup of '%s'", id);
	remove_files(d, id, &dummy);
	b->used = false;
	reply_err(rep, r == R_SUCCESS ? R_UPSTREAM : r, err);
}

static void do_inspect(struct daemon *d, const char *id, struct reply *rep)
{
	struct box *b = find_box(d, id);
	struct cgroup_stats st;
	enum result r;

	r = cgroup_stats(d->cg, id, &st);
	if (r != R_SUCCESS && !b) {
		reply_err(rep, r, "no such sandbox");
		return;
	}
	if (r != R_SUCCESS)
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
	if (r != R_SUCCESS) {
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
	if (cgroup_list(d->cg, list_one, &lc) != R_SUCCESS)
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
				if (id_is_name(id) && strcmp(id, "boxd") != 0)
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
	if (!boxproto_word(req, 1, id, sizeof(id)) || !id_is_name(id) || strcmp(id, "boxd") == 0) {
		reply_err(rep, R_INVALID, "bad sandbox id");
		return;
	}
	if (strcmp(verb, "create") == 0) {
		do_create(d, id, req, rep);
	} else if (strcmp(verb, "destroy") == 0) {
		r = teardown(d, id);
		if (r == R_SUCCESS)
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

void serve_client(struct daemon *d, int fd, struct reply *rep)
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
