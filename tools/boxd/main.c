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
 * It reads the same configuration as every other binary (SANDPIT_CONFIG and
 * the environment, lib/core/config.h) and stops if it is invalid: the defaults of
 * a sandbox (DEFAULT_CPUS, DEFAULT_MEMORY, SANDPIT_PIDS_LIMIT,
 * SANDPIT_WORKSPACE_SIZE, SANDPIT_TMP_SIZE) and the ceilings --max-cpus and
 * --max-memory (SANDPIT_MAX_CPUS, SANDPIT_MAX_MEMORY) come from there; the
 * flags of the same values override them for this daemon only.
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
 *
 * This file: the flags, start-up and the accept loop. Below it, each
 * calling only further down: request.c (the boxproto requests) calls
 * table.c (the sandbox table and its state files), spawn.c (a sandbox's
 * child), etc.c (its /etc), bounds.c (what a request may ask for) and
 * cgroup.h; table.c calls cgroup.h. daemon.h holds the state they share
 * (types only); keeper.c is the process above the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
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
#include <unistd.h>

#include "backend/backend.h"
#include "backend/boxproto.h"
#include "bounds.h"
#include "cgroup.h"
#include "core/config.h"
#include "daemon.h"
#include "etc.h"
#include "image.h"
#include "keeper.h"
#include "core/reslimit.h"
#include "core/log.h"
#include "request.h"
#include "table.h"

#define MOD	  "boxd"
#define MAX_SLOTS 32767u

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
	fprintf(
	    stderr,
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

static bool parse_args(int argc, char **argv, struct options *c)
{
	unsigned long v = 0;
	int i;

	c->max_sandboxes = 4096;
	/* What the API and boxd share comes from the one configuration table
	 * (config_load has checked it); a flag overrides it for this daemon. */
	c->defaults.cpu_millis = config()->default_cpu_millis;
	c->defaults.memory_bytes = config()->default_memory_bytes;
	c->defaults.pids_max = (uint32_t)config()->pids_limit;
	c->defaults.disk_bytes = (uint64_t)config()->workspace_size;
	c->tmp_bytes = (uint64_t)config()->tmp_size;
	c->nofile = 4096;
	c->images = config()->image_cache; /* --images overrides the table */
	bounds_defaults(&c->bounds);
	c->bounds.ceiling.cpu_millis = (uint32_t)config()->max_cpus;
	c->bounds.ceiling.memory_bytes = (uint64_t)config()->max_memory;
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
			ok = val && reslimit_parse_cpus(val, &c->defaults.cpu_millis) == R_SUCCESS;
		else if (strcmp(a, "--default-memory") == 0)
			ok = val &&
			     reslimit_parse_memory(val, &c->defaults.memory_bytes) == R_SUCCESS;
		else if (strcmp(a, "--default-disk") == 0)
			ok =
			    val && reslimit_parse_memory(val, &c->defaults.disk_bytes) == R_SUCCESS;
		else if (strcmp(a, "--tmp-size") == 0)
			ok = val && reslimit_parse_memory(val, &c->tmp_bytes) == R_SUCCESS;
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

static void reap(struct daemon *d)
{
	unsigned i;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < d->nboxes; i++) {
			if (d->boxes[i].used && d->boxes[i].pid == pid) {
				d->boxes[i].alive = false;
				log_info(MOD, "agent of '%s' exited status=%d", d->boxes[i].id,
					 status);
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

	return cgroup_list(d->cg, count_one, &n) != R_SUCCESS || n > 0;
}

static bool setup(struct daemon *d)
{
	char real[PATH_MAX], exe[PATH_MAX], parent[64];
	static char agent_default[PATH_MAX];
	struct options *c = &d->cfg;
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
		       real, d->run_dir, d->sock, c->agent_path,
		       c->group ? c->group : "(root only)", c->uid_base, c->max_sandboxes, parent,
		       c->defaults.cpu_millis, (unsigned long long)c->defaults.memory_bytes,
		       c->defaults.pids_max, (unsigned long long)c->defaults.disk_bytes,
		       (unsigned long long)c->tmp_bytes, c->nofile, c->kill_on_exit, c->images);
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
	if (cgroup_detect(c->cgroup_mount, parent, &d->cg) != R_SUCCESS)
		return false;
	/* Fail closed: without the total, sandboxes together could take the host. */
	if (cgroup_set_parent_limits(d->cg, &c->bounds.total) != R_SUCCESS) {
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
	return etc_prepare(d->run_dir, box_count(d) == 0 && !any_group(d)) == R_SUCCESS;
}

int main(int argc, char **argv)
{
	struct daemon d = {.agent_fd = -1};
	struct reply rep = {0};
	const char *why;
	struct signalfd_siginfo si;
	struct pollfd pfd[2];
	sigset_t mask;
	int lfd, sfd, rc = 1;
	bool running = true;

	log_init("boxd", getenv("SANDPIT_BOXD_DEBUG") ? LOG_DEBUG : LOG_INFO);
	if (config_load(&why) != R_SUCCESS) {
		log_errx(MOD, "invalid configuration: %s", why);
		return 2;
	}
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
			if (d.boxes[i].used && teardown(&d, d.boxes[i].id) != R_SUCCESS)
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
