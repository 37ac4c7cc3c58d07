/* images.c: builds image layers from recipes into the shared cache (see
 * images.h). A base layer is mmdebstrap's; every other layer is the upper
 * directory of an overlay on its parents, filled by apt and npm run in a
 * chroot of that overlay inside a private mount namespace, so nothing is
 * left mounted whatever happens to the build. */
#include "images.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "sandbox/recipe.h"

#define MAX_CMD 16384 /* a build step's shell text */

struct build {
	const char *cache;
	const char *mirror;
	const char *suite;
	const struct recipe *r;
	char dir[PATH_MAX]; /* NAME/.build-KEY-PID */
	int log;	    /* build.log in dir */
	unsigned step, steps;
	struct timespec t0;
};

/* progress: one line per step on stderr, for whoever watches the build. */
static void progress(struct build *b, const char *what)
{
	b->step++;
	fprintf(stderr, "images: %s [%u/%u] %s (%.0fs)\n", b->r->name, b->step, b->steps, what,
		clock_ms_since(&b->t0) / 1e3);
	dprintf(b->log, "\n=== step %u/%u: %s\n", b->step, b->steps, what);
}

static bool pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	return n > 0 && n < PATH_MAX;
}

/* wait_status: 0 for a clean exit 0, else the exit code or 128+signal. */
static int wait_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 127;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* run: argv with stdout and stderr into the log, stdin from /dev/null, in
 * dir (or the current one). Returns wait_status. */
static int run(struct build *b, const char *dir, char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		return 127;
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || dup2(b->log, 1) < 0 || dup2(b->log, 2) < 0)
			_exit(127);
		if (dir && chdir(dir) != 0) {
			dprintf(b->log, "cannot enter '%s': %s\n", dir, strerror(errno));
			_exit(127);
		}
		execvp(argv[0], argv);
		dprintf(b->log, "cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return wait_status(pid);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

/* rm_tree: remove a build directory; nftw with FTW_PHYS never follows a link
 * out of it, FTW_MOUNT never crosses into a mount (there should be none). */
static int rm_tree(const char *path)
{
	return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static off_t tree_bytes;

static int add_size(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	/* a file with n links is met n times (npm links a package's binary):
	 * each meeting counts 1/n, so it counts once in all */
	if (flag == FTW_F || flag == FTW_SL)
		tree_bytes += st->st_blocks * 512 / (st->st_nlink ? (off_t)st->st_nlink : 1);
	return 0;
}

static long long tree_size(const char *path)
{
	tree_bytes = 0;
	if (nftw(path, add_size, 32, FTW_PHYS | FTW_MOUNT) != 0)
		return -1;
	return (long long)tree_bytes;
}

/* lowerdirs: the parents' roots, nearest first, as overlay wants them. */
static bool lowerdirs(const struct build *b, char *out, size_t size)
{
	size_t used = 0;
	const struct recipe *p;

	out[0] = '\0';
	for (p = b->r->up; p; p = p->up) {
		int n = snprintf(out + used, size - used, "%s%s/%s/%s/root", used ? ":" : "",
				 b->cache, p->name, p->key);

		if (n < 0 || (size_t)n >= size - used)
			return false;
		used += (size_t)n;
	}
	return true;
}

/* host_file: the host's file bound read-only over the same path of the
 * chroot for the build's downloads only (the resolver; the host's CA bundle,
 * which may hold a proxy's CA): neither is written into the layer, and
 * nothing in the chroot can write through to the host's. */
static bool host_file(const char *merged, const char *path)
{
	char p[PATH_MAX];
	int fd;

	/* O_RDONLY: creating the mount point must not copy a lower file up */
	if (!pathf(p, "%s%s", merged, path) ||
	    (fd = open(p, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
		return false;
	close(fd);
	return mount(path, p, NULL, MS_BIND, NULL) == 0 &&
	       mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0;
}

/* session_child: in a private mount namespace, mount the overlay with proc,
 * /dev and the host's resolver for the downloads, then run the script in a
 * chroot of it. With scratch, the layer being built is read-only below a
 * throwaway upper (dir/scratch), so what the script writes (a smoke test's
 * venv, caches, /tmp) never lands in the image. Never returns. */
static void session_child(struct build *b, const char *lower, const char *script, bool scratch)
{
	char merged[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], opts[PATH_MAX * 3], p[PATH_MAX];
	char lowers[PATH_MAX * 3];
	char *const argv[] = {"/bin/sh", "-ec", (char *)script, NULL};
	char *const envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			      "HOME=/root",
			      "LANG=C.UTF-8",
			      "DEBIAN_FRONTEND=noninteractive",
			      "npm_config_update_notifier=false",
			      "npm_config_cafile=/etc/ssl/certs/ca-certificates.crt",
			      "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
			      NULL};
	int fd;

	if (scratch) {
		if (snprintf(lowers, sizeof(lowers), "%s/root%s%s", b->dir, lower[0] ? ":" : "",
			     lower) >= (int)sizeof(lowers) ||
		    !pathf(upper, "%s/scratch/root", b->dir) ||
		    !pathf(work, "%s/scratch/work", b->dir))
			_exit(126);
		lower = lowers;
	} else if (!pathf(upper, "%s/root", b->dir) || !pathf(work, "%s/work", b->dir)) {
		_exit(126);
	}
	if (!pathf(merged, "%s/merged", b->dir) ||
	    snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper,
		     work) >= (int)sizeof(opts))
		_exit(126);
	/* the base layer has no parents: it is its own root */
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    (lower[0] ? mount("overlay", merged, "overlay", 0, opts)
		      : mount(upper, merged, NULL, MS_BIND, NULL)) != 0) {
		dprintf(b->log, "cannot mount the overlay: %s\n", strerror(errno));
		_exit(126);
	}
	if (!pathf(p, "%s/proc", merged) || mount("proc", p, "proc", 0, NULL) != 0 ||
	    !pathf(p, "%s/dev", merged) || mount("/dev", p, NULL, MS_BIND | MS_REC, NULL) != 0 ||
	    !host_file(merged, "/etc/resolv.conf") ||
	    !host_file(merged, "/etc/ssl/certs/ca-certificates.crt")) {
		dprintf(b->log, "cannot prepare the chroot: %s\n", strerror(errno));
		_exit(126);
	}
	if (chroot(merged) != 0 || chdir("/") != 0)
		_exit(126);
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(b->log, 1) < 0 || dup2(b->log, 2) < 0)
		_exit(126);
	execve(argv[0], argv, envp);
	_exit(127);
}

/* in_chroot: run a shell script in the layer being built, on its parents
 * (scratch: see session_child). */
static int in_chroot(struct build *b, const char *script, bool scratch)
{
	char lower[PATH_MAX * 2];
	pid_t pid;

	if (!lowerdirs(b, lower, sizeof(lower)))
		return 126;
	pid = fork();
	if (pid < 0)
		return 127;
	if (pid == 0)
		session_child(b, lower, script, scratch);
	return wait_status(pid);
}

/* words: the '\n'-separated list as one space-separated string, or with
 * sep between words ("," for mmdebstrap). */
static bool words(const struct buf *list, char sep, char *out, size_t size)
{
	size_t n = list->len;

	if (n >= size)
		return false;
	memcpy(out, list->data ? list->data : "", n);
	out[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\n')
			out[i] = (i + 1 == n) ? '\0' : sep;
	return true;
}

static int step_debootstrap(struct build *b)
{
	char inc[MAX_CMD], arg[MAX_CMD + 16], root[PATH_MAX];
	char *const argv[] = {"mmdebstrap",
			      "--variant=minbase",
			      "--mode=root",
			      arg,
			      "--aptopt=Acquire::Retries \"3\"",
			      (char *)b->suite,
			      root,
			      (char *)b->mirror,
			      NULL};

	progress(b, "mmdebstrap (Debian packages of the base layer)");
	if (!words(&b->r->debian, ',', inc, sizeof(inc)) || !pathf(root, "%s/root", b->dir))
		return 126;
	snprintf(arg, sizeof(arg), "--include=%s", inc);
	if (run(b, NULL, argv) != 0)
		return 1;
	/* the host's resolver and name do not belong in an image */
	if (!pathf(root, "%s/root/etc/resolv.conf", b->dir) || truncate(root, 0) != 0 ||
	    !pathf(root, "%s/root/etc/hostname", b->dir))
		return 1;
	return run(b, NULL, (char *const[]){"sh", "-c", "echo sandbox > \"$0\"", root, NULL});
}

static int step_apt(struct build *b)
{
	char pkgs[MAX_CMD], script[MAX_CMD * 2];

	if (b->r->debian.len == 0)
		return 0;
	progress(b, "apt-get install (Debian packages of the layer)");
	if (!words(&b->r->debian, ' ', pkgs, sizeof(pkgs)))
		return 126;
	snprintf(script, sizeof(script),
		 "apt-get -o Acquire::Retries=3 update\n"
		 "apt-get install -y --no-install-recommends %s\n"
		 "apt-get clean\nrm -rf /var/lib/apt/lists/*\n",
		 pkgs);
	return in_chroot(b, script, false);
}

/* npm_unpack: `npm pack SPEC` on the host, its tarball unpacked into the
 * layer at dest (relative to root), the package's top folder stripped. */
static int npm_unpack(struct build *b, const char *spec, const char *dest)
{
	char dl[PATH_MAX], to[PATH_MAX];
	char *const pack[] = {"npm", "pack", "--silent", (char *)spec, "--pack-destination",
			      dl,    NULL};

	if (!pathf(dl, "%s/dl", b->dir) || !pathf(to, "%s/root/%s", b->dir, dest) ||
	    mkdir(dl, 0700) != 0 || run(b, NULL, (char *const[]){"mkdir", "-p", to, NULL}) != 0 ||
	    run(b, dl, pack) != 0)
		return 1;
	return run(b, dl,
		   (char *const[]){"sh", "-c", "tar -xzf ./*.tgz --strip-components=1 -C \"$0\"",
				   to, NULL}) != 0 ||
	       rm_tree(dl) != 0;
}

/* step_node: Node.js from npm's binary package, then npm itself, both in
 * /usr/local like an upstream install. */
static int step_node(struct build *b)
{
	char bin[PATH_MAX];

	if (b->r->node[0] == '\0')
		return 0;
	progress(b, "node (Node.js and npm from the npm registry)");
	if (npm_unpack(b, b->r->node, "usr/local/lib/nodejs") != 0 ||
	    npm_unpack(b, "npm@10", "usr/local/lib/node_modules/npm") != 0 ||
	    !pathf(bin, "%s/root/usr/local/bin", b->dir) ||
	    run(b, NULL, (char *const[]){"mkdir", "-p", bin, NULL}) != 0)
		return 1;
	return run(b, bin,
		   (char *const[]){"sh", "-ec",
				   /* a real file: npm's global prefix follows node's path */
				   "mv ../lib/nodejs/bin/node node\nrm -rf ../lib/nodejs\n"
				   "ln -sf ../lib/node_modules/npm/bin/npm-cli.js npm\n"
				   "ln -sf ../lib/node_modules/npm/bin/npx-cli.js npx\n",
				   NULL});
}

static int step_npm(struct build *b)
{
	char pkgs[MAX_CMD], script[MAX_CMD * 2];

	if (b->r->npm.len == 0)
		return 0;
	progress(b, "npm install -g (npm packages of the layer)");
	if (!words(&b->r->npm, ' ', pkgs, sizeof(pkgs)))
		return 126;
	snprintf(script, sizeof(script),
		 "npm install -g --no-audit --no-fund %s\nnpm cache clean --force\n"
		 "rm -rf /root/.npm /tmp/* /tmp/.[!.]*\n", /* npm's and node's caches */
		 pkgs);
	return in_chroot(b, script, false);
}

/* env_exports: the chain's env lines as shell exports, parents first. */
static void env_exports(const struct recipe *r, char *out, size_t size)
{
	size_t used = strlen(out);

	if (r == NULL)
		return;
	env_exports(r->up, out, size);
	for (const char *p = r->env.data; p && *p && used < size;) {
		size_t n = strcspn(p, "\n"), k = strcspn(p, "=");
		int w = snprintf(out + used, size - used, "export %.*s='%.*s'\n", (int)k, p,
				 (int)(n - k - 1), p + k + 1);

		used += w > 0 ? (size_t)w : 0;
		p += n + (p[n] == '\n');
	}
}

/* step_smoke: the recipe's promise, checked in a chroot of the finished
 * layer below a scratch upper: the test's own files are not the image's.
 * (A real sandbox will run it once sandboxes boot from images.) */
static int step_smoke(struct build *b)
{
	char script[MAX_CMD * 2] = "", dir[PATH_MAX], sub[PATH_MAX];
	size_t used;
	int rc;

	if (b->r->smoke[0] == '\0')
		return 0;
	progress(b, "smoke test");
	env_exports(b->r, script, sizeof(script));
	used = strlen(script);
	if (used + strlen(b->r->smoke) + 1 >= sizeof(script))
		return 126;
	memcpy(script + used, b->r->smoke, strlen(b->r->smoke) + 1);
	if (!pathf(dir, "%s/scratch", b->dir) || mkdir(dir, 0700) != 0 ||
	    !pathf(sub, "%s/scratch/root", b->dir) || mkdir(sub, 0755) != 0 ||
	    !pathf(sub, "%s/scratch/work", b->dir) || mkdir(sub, 0700) != 0)
		return 126;
	rc = in_chroot(b, script, true);
	if (rm_tree(dir) != 0 && rc == 0)
		rc = 126;
	return rc;
}

static enum result add_words_json(struct json *o, const char *key, const struct buf *list)
{
	struct json *a = json_new_array();
	const char *p = list->data;

	if (!a)
		return R_NO_MEMORY;
	while (p && *p) {
		size_t n = strcspn(p, "\n");
		struct json *s = json_new_strn(p, n);

		if (!s || json_push(a, s) != R_SUCCESS) {
			json_free(a);
			return R_NO_MEMORY;
		}
		p += n + (p[n] == '\n');
	}
	return json_add(o, key, a);
}

/* write_meta: image.json, the summary the API's template list reads. */
static int write_meta(struct build *b, long long size)
{
	const struct recipe *r = b->r;
	struct json *o = json_new_object();
	char path[PATH_MAX], *text = NULL;
	enum result res = o ? R_SUCCESS : R_NO_MEMORY;
	int fd, rc = 1;

	if (res == R_SUCCESS)
		res = json_add(o, "name", json_new_str(r->name));
	if (res == R_SUCCESS)
		res = json_add(o, "key", json_new_str(r->key));
	if (res == R_SUCCESS)
		res = json_add(o, "parent", r->up ? json_new_str(r->up->name) : json_new_null());
	if (res == R_SUCCESS)
		res = json_add(o, "parent_key", r->up ? json_new_str(r->up->key) : json_new_null());
	if (res == R_SUCCESS)
		res = json_add(o, "description", json_new_str(r->description));
	if (res == R_SUCCESS)
		res = add_words_json(o, "preinstalled", &r->preinstalled);
	if (res == R_SUCCESS)
		res = add_words_json(o, "env", &r->env);
	if (res == R_SUCCESS)
		res = json_add(o, "size_bytes", json_new_int(size));
	if (res == R_SUCCESS)
		res = json_add(o, "built_at", json_new_int((long long)time(NULL)));
	if (res == R_SUCCESS)
		text = json_print(o);
	if (text && pathf(path, "%s/image.json", b->dir) &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) >= 0) {
		rc = write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0 ? 0
											      : 1;
		close(fd);
	}
	free(text);
	json_free(o);
	return rc;
}

/* publish: the finished build becomes NAME/KEY and NAME/current points at
 * it; both renames are atomic, so a reader sees the old image or the new. */
static int publish(struct build *b)
{
	char final[PATH_MAX], link[PATH_MAX], tmp[PATH_MAX];

	if (!pathf(final, "%s/%s/%s", b->cache, b->r->name, b->r->key) ||
	    !pathf(link, "%s/%s/current", b->cache, b->r->name) ||
	    !pathf(tmp, "%s/%s/.current-%d", b->cache, b->r->name, (int)getpid()))
		return 1;
	if (rename(b->dir, final) != 0 && !(errno == ENOTEMPTY || errno == EEXIST))
		return 1;
	unlink(tmp);
	if (symlink(b->r->key, tmp) != 0 || rename(tmp, link) != 0)
		return 1;
	return 0;
}

static bool is_built(const char *cache, const struct recipe *r)
{
	char path[PATH_MAX];

	return pathf(path, "%s/%s/%s/image.json", cache, r->name, r->key) &&
	       access(path, F_OK) == 0;
}

/* point_current: an image already built under its key becomes current (a
 * recipe changed back to an earlier text). */
static int point_current(const char *cache, const struct recipe *r)
{
	char link[PATH_MAX], tmp[PATH_MAX];

	if (!pathf(link, "%s/%s/current", cache, r->name) ||
	    !pathf(tmp, "%s/%s/.current-%d", cache, r->name, (int)getpid()))
		return 1;
	unlink(tmp);
	return symlink(r->key, tmp) == 0 && rename(tmp, link) == 0 ? 0 : 1;
}

static int build_steps(struct build *b)
{
	char sub[PATH_MAX];
	int rc;

	if (!pathf(sub, "%s/root", b->dir) || mkdir(sub, 0755) != 0 ||
	    !pathf(sub, "%s/work", b->dir) || mkdir(sub, 0700) != 0 ||
	    !pathf(sub, "%s/merged", b->dir) || mkdir(sub, 0700) != 0)
		return 1;
	if (b->r->up == NULL)
		rc = step_debootstrap(b);
	else
		rc = step_apt(b);
	if (rc == 0)
		rc = step_node(b);
	if (rc == 0)
		rc = step_npm(b);
	if (rc == 0)
		rc = step_smoke(b);
	if (rc == 0) {
		long long size;

		progress(b, "record");
		size = tree_size(b->dir);
		/* the overlay's scratch directories are not part of the image */
		if (!pathf(sub, "%s/work", b->dir) || rm_tree(sub) != 0 ||
		    !pathf(sub, "%s/merged", b->dir) || rmdir(sub) != 0 || size < 0)
			rc = 1;
		else
			rc = write_meta(b, size);
	}
	return rc;
}

/* drop_stale_builds: under the image's lock no build of it is running, so
 * any NAME/.build-* is what a killed build (make run stopped mid-build)
 * left behind: up to a whole layer each, removed here. */
static void drop_stale_builds(const char *cache, const char *name)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	if (!pathf(dir, "%s/%s", cache, name) || (d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, ".build-", 7) == 0 && pathf(path, "%s/%s", dir, e->d_name) &&
		    rm_tree(path) != 0)
			fprintf(stderr, "images: cannot remove '%s': %s\n", path, strerror(errno));
	closedir(d);
}

/* build_one: r (its parents built already) into the cache, under the
 * image's lock. Returns 0 when r is current afterwards. */
static int build_one(const char *cache, const struct recipe *r)
{
	struct build b = {.cache = cache, .r = r, .log = -1};
	char path[PATH_MAX], failed[PATH_MAX];
	int lock = -1, rc = 1;

	b.mirror = config()->image_mirror;
	b.suite = config()->image_suite;
	b.steps = (r->up ? (r->debian.len > 0) : 1) + (r->node[0] != '\0') + (r->npm.len > 0) +
		  (r->smoke[0] != '\0') + 1;
	clock_gettime(CLOCK_MONOTONIC, &b.t0);
	if (!pathf(path, "%s/%s", cache, r->name) || (mkdir(path, 0755) != 0 && errno != EEXIST) ||
	    !pathf(path, "%s/%s/.lock", cache, r->name) ||
	    (lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
	    flock(lock, LOCK_EX) != 0) {
		fprintf(stderr, "images: cannot lock '%s': %s\n", path, strerror(errno));
		goto out;
	}
	drop_stale_builds(cache, r->name);
	if (is_built(cache, r)) { /* built by someone else while we waited */
		rc = point_current(cache, r);
		fprintf(stderr, "images: %s is up to date (%.12s)\n", r->name, r->key);
		goto out;
	}
	if (!pathf(b.dir, "%s/%s/.build-%.12s-%d", cache, r->name, r->key, (int)getpid()) ||
	    !pathf(failed, "%s/%s/failed.log", cache, r->name) || mkdir(b.dir, 0755) != 0 ||
	    !pathf(path, "%s/build.log", b.dir) ||
	    (b.log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		fprintf(stderr, "images: cannot create '%s': %s\n", b.dir, strerror(errno));
		goto out;
	}
	rc = build_steps(&b);
	if (rc == 0)
		rc = publish(&b);
	if (rc == 0) {
		unlink(failed); /* an earlier failure's log no longer applies */
		fprintf(stderr, "images: %s built (%.12s) in %.0fs\n", r->name, r->key,
			clock_ms_since(&b.t0) / 1e3);
	} else {
		/* keep the log, drop the half-built layer; current is untouched */
		rename(path, failed);
		fprintf(stderr, "images: %s FAILED at step %u/%u; log: %s\n", r->name, b.step,
			b.steps, failed);
	}
out:
	if (b.log >= 0)
		close(b.log);
	if (b.dir[0] != '\0' && access(b.dir, F_OK) == 0)
		rm_tree(b.dir);
	if (lock >= 0)
		close(lock);
	return rc;
}

/* build_chain: parents first; each one skipped when current. */
static int build_chain(const char *cache, const struct recipe *r)
{
	if (r->up && build_chain(cache, r->up) != 0)
		return 1;
	if (is_built(cache, r))
		return point_current(cache, r);
	return build_one(cache, r);
}

#define MAX_IMAGES 64

/* mkdir_parents: path and every missing directory above it (0755). */
static int mkdir_parents(const char *path)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(p))
		return -1;
	memcpy(p, path, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int build(const char *dir, const char *cache, int argc, char **argv)
{
	char names[MAX_IMAGES][RECIPE_MAX_NAME], why[512];
	int n = argc, failed = 0;

	if (argc == 0 && (n = recipe_names(dir, names, MAX_IMAGES)) < 0) {
		fprintf(stderr, "images: cannot read '%s': %s\n", dir, strerror(errno));
		return 1;
	}
	if (mkdir_parents(cache) != 0) {
		fprintf(stderr, "images: cannot create '%s': %s\n", cache, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		const char *name = argc ? argv[i] : names[i];
		struct recipe *r = NULL;

		if (recipe_load(dir, name, &r, why, sizeof(why)) != R_SUCCESS) {
			fprintf(stderr, "images: %s\n", why);
			failed++;
			continue;
		}
		if (is_built(cache, r) && point_current(cache, r) == 0)
			fprintf(stderr, "images: %s is up to date (%.12s)\n", r->name, r->key);
		else if (build_chain(cache, r) != 0)
			failed++;
		recipe_free(r);
	}
	return failed ? 1 : 0;
}

/* mib: bytes as "12.3M" for list, "-" when unknown. */
static const char *mib(long long bytes, char *out, size_t size)
{
	if (bytes < 0 || snprintf(out, size, "%.1fM", (double)bytes / 1048576.0) >= (int)size)
		return "-";
	return out;
}

/* list: NAME STATE KEY LAYER TOTAL per recipe: the state is ready,
 * building, stale (an image built from another text of the recipe is
 * current) or not_built; LAYER is the image's own layer, TOTAL with its
 * parents (what a sandbox of it mounts), for ready images. */
static int list(const char *dir, const char *cache)
{
	char names[MAX_IMAGES][RECIPE_MAX_NAME], why[512], link[PATH_MAX];
	int n = recipe_names(dir, names, MAX_IMAGES), bad = 0;

	if (n < 0) {
		fprintf(stderr, "images: cannot read '%s': %s\n", dir, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct recipe *r = NULL;
		enum recipe_state st;
		long long size = -1, up = 0;
		char own[32], all[32];

		if (recipe_load(dir, names[i], &r, why, sizeof(why)) != R_SUCCESS) {
			fprintf(stderr, "images: %s\n", why);
			bad++;
			continue;
		}
		st = recipe_state(cache, r, &size);
		if (st != RECIPE_READY)
			size = -1;
		else if (r->up && recipe_state(cache, r->up, &up) != RECIPE_READY)
			up = size; /* a parent went away meanwhile: no layer figure */
		printf("%-22s %-9s %.12s %9s %9s\n", r->name,
		       st == RECIPE_READY      ? "ready"
		       : st == RECIPE_BUILDING ? "building"
		       : pathf(link, "%s/%s/current", cache, r->name) && access(link, F_OK) == 0
			   ? "stale"
			   : "not_built",
		       r->key, mib(size < 0 ? -1 : size - up, own, sizeof(own)),
		       mib(size, all, sizeof(all)));
		recipe_free(r);
	}
	return bad ? 1 : 0;
}

int images_main(int argc, char **argv)
{
	const char *dir = config()->image_recipes;
	const char *cache = config()->image_cache;

	if (argc >= 1 && strcmp(argv[0], "build") == 0) {
		if (geteuid() != 0) {
			fprintf(stderr, "images: building needs root (mmdebstrap, mounts)\n");
			return 1;
		}
		return build(dir, cache, argc - 1, argv + 1);
	}
	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return list(dir, cache);
	fprintf(stderr, "usage: sandpit-admin images build [NAME...] | images list\n");
	return 2;
}
