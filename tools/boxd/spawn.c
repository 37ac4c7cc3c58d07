/* spawn.c: the sandbox child, in the fixed order of DESIGN.md §4:
 *   fds closed -> cgroup joined from outside (parent, before the child goes on)
 *   -> namespaces (user, pid, mnt, net, uts, ipc at clone; cgroup once inside
 *   its group) -> mounts (private /, tmpfs root, read-only binds, the
 *   sandbox's own /etc (etc.h), private /proc, minimal /dev, sized /tmp and
 *   /workspace, pivot_root, old root detached) -> hostname, loopback -> exec
 *   sandpit-agent.
 * With an image (image.h) the root is an overlay instead of host binds: the
 * parent hands the child its layers as idmapped detached mounts with the
 * go-ahead, the child attaches them under its scaffold tmpfs and mounts the
 * overlay with its upper layer on a tmpfs of the sandbox's disk size that
 * also holds /workspace (one limit for both), then pivots into the overlay.
 * The agent then does rlimits, credentials, no_new_privs, capability drop and
 * seccomp for itself and every command (tools/agent). Nothing here runs after
 * the exec, and no host process ever enters the sandbox afterwards.
 * Over 700 lines on purpose: the setup order is one sequence, read top to
 * bottom (as isolate and nsjail keep theirs). */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

/* fds the agent receives (documented in tools/agent/agent.c) */
enum { FD_LISTEN = 3, FD_STATUS = 4, FD_OOM = 5, FD_EXE = 6, FD_SYNC = 7, FD_FIRST_FREE = 8 };

/* Without an image the whole generated /etc (etc.h) is bound, the
 * per-sandbox hosts and hostname over it. With one the image's own /etc
 * stays (its loader cache, alternatives and CA bundle match its /usr) and
 * only the identity files are bound over it, read-only. */
#define ETC_MAX 6
static const char *const etc_host_rel[] = {"/etc", "/etc/hosts", "/etc/hostname"};
static const char *const etc_image_rel[] = {"/etc/passwd",	"/etc/group", "/etc/nsswitch.conf",
					    "/etc/resolv.conf", "/etc/hosts", "/etc/hostname"};

struct child {
	const struct spawn_params *p;
	int status_fd;
	int oom_fd;
	int etc_fd[ETC_MAX];		/* O_PATH on the host sources of /etc */
	int layer_fd[IMAGE_MAX_LAYERS]; /* idmapped detached layer mounts */
	int workspace_fd;		/* O_PATH on the image root's workspace */
	char root[PATH_MAX];
};

static void fail(struct child *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* fail: report to the parent over the status pipe and die. */
static void fail(struct child *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n, e = errno;

	msg[0] = 'E';
	va_start(ap, fmt);
	n = vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	n += 1;
	n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(e));
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	if (write(c->status_fd, msg, (size_t)n) < 0) {
		/* nothing left to tell anyone */
	}
	_exit(1);
}

static void path_in(struct child *c, char *out, const char *rel)
{
	int n = snprintf(out, PATH_MAX, "%s%s", c->root, rel);

	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		fail(c, "path '%s'", rel);
	}
}

static void mount_or_fail(struct child *c, const char *src, const char *rel, const char *type,
			  unsigned long flags, const char *data)
{
	char dst[PATH_MAX];

	path_in(c, dst, rel);
	if (mount(src, dst, type, flags, data) != 0)
		fail(c, "cannot mount '%s' on '%s'", src ? src : type, rel);
}

static void mkdir_in(struct child *c, const char *rel, mode_t mode)
{
	char dst[PATH_MAX];

	path_in(c, dst, rel);
	if (mkdir(dst, mode) != 0 && errno != EEXIST)
		fail(c, "cannot mkdir '%s'", rel);
}

static void touch_in(struct child *c, const char *rel)
{
	char dst[PATH_MAX];
	int fd;

	path_in(c, dst, rel);
	fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		fail(c, "cannot create '%s'", rel);
	close(fd);
}

static void symlink_in(struct child *c, const char *target, const char *rel)
{
	char dst[PATH_MAX];

	path_in(c, dst, rel);
	if (symlink(target, dst) != 0)
		fail(c, "cannot symlink '%s'", rel);
}

/* ro_remount: make a bind read-only, nosuid, nodev while keeping the flags
 * the kernel locks for a user namespace (atime, noexec...) as they were. */
static void ro_remount(struct child *c, const char *rel, unsigned long extra)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {{ST_NOEXEC, MS_NOEXEC},
		   {ST_NOATIME, MS_NOATIME},
		   {ST_NODIRATIME, MS_NODIRATIME},
		   {ST_RELATIME, MS_RELATIME}};
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | extra;
	char dst[PATH_MAX];
	struct statvfs sv;
	size_t i;

	path_in(c, dst, rel);
	if (statvfs(dst, &sv) != 0)
		fail(c, "cannot statvfs '%s'", rel);
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (sv.f_flag & map[i].st)
			flags |= map[i].ms;
	if (mount(NULL, dst, NULL, flags, NULL) != 0)
		fail(c, "cannot remount '%s' read-only", rel);
}

static void bind_ro(struct child *c, const char *src, const char *rel)
{
	mount_or_fail(c, src, rel, NULL, MS_BIND | MS_REC, NULL);
	ro_remount(c, rel, 0);
}

/* host_dirs: each is bound read-only if a directory, recreated if a symlink
 * (merged-/usr hosts: /bin -> usr/bin), skipped if absent. Not /etc: the
 * host's holds its users, its services' configuration and secrets. */
static void build_host_dirs(struct child *c)
{
	static const char *const dirs[] = {"/usr",   "/bin",   "/sbin",	 "/lib",
					   "/lib32", "/lib64", "/libx32"};
	char target[PATH_MAX];
	struct stat st;
	size_t i;
	ssize_t n;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (lstat(dirs[i], &st) != 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			n = readlink(dirs[i], target, sizeof(target) - 1);
			if (n <= 0)
				fail(c, "cannot readlink '%s'", dirs[i]);
			target[n] = '\0';
			symlink_in(c, target, dirs[i]);
		} else if (S_ISDIR(st.st_mode)) {
			mkdir_in(c, dirs[i], 0755);
			bind_ro(c, dirs[i], dirs[i]);
		}
	}
}

/* open_etc_sources: O_PATH fds on the template (or its identity files)
 * and the per-sandbox files, opened while our fsuid is still the host's
 * root (they live in the 0750 run directory, which the namespace's root
 * may not walk); mounted from /proc/self/fd once the mount points exist. */
static void open_etc_sources(struct child *c)
{
	const struct spawn_params *p = c->p;
	int i, n = p->image ? ETC_MAX : 3, dir = -1;

	if (p->image) {
		dir = open(p->etc_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dir < 0)
			fail(c, "cannot open '%s'", p->etc_dir);
	}
	for (i = 0; i < n - 2; i++) {
		if (p->image)
			c->etc_fd[i] =
			    openat(dir, etc_image_rel[i] + 5, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		else
			c->etc_fd[i] = open(p->etc_dir, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (c->etc_fd[i] < 0)
			fail(c, "cannot open the /etc template's '%s'",
			     p->image ? etc_image_rel[i] : "/etc");
	}
	if (dir >= 0)
		close(dir);
	c->etc_fd[n - 2] = open(p->etc_hosts, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	c->etc_fd[n - 1] = open(p->etc_hostname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (c->etc_fd[n - 2] < 0 || c->etc_fd[n - 1] < 0)
		fail(c, "cannot open the sandbox's hosts or hostname");
}

/* etc_target: in an image's /etc the file to bind over must exist as a
 * regular file: a link there is replaced (in the upper layer). */
static void etc_target(struct child *c, const char *rel)
{
	char dst[PATH_MAX];
	struct stat st;

	path_in(c, dst, rel);
	if (lstat(dst, &st) == 0 && S_ISREG(st.st_mode))
		return;
	if (lstat(dst, &st) == 0 && unlink(dst) != 0)
		fail(c, "cannot replace '%s'", rel);
	touch_in(c, rel);
}

/* build_etc: the sandbox's own /etc (tools/boxd/etc.h) read-only, the
 * per-sandbox hosts and hostname over the template's; with an image, the
 * identity files over the image's /etc. */
static void build_etc(struct child *c)
{
	const char *const *rel = c->p->image ? etc_image_rel : etc_host_rel;
	int i, n = c->p->image ? ETC_MAX : 3;
	char src[64];

	mkdir_in(c, "/etc", 0755);
	for (i = 0; i < n; i++) {
		if (c->p->image)
			etc_target(c, rel[i]);
		snprintf(src, sizeof(src), "/proc/self/fd/%d", c->etc_fd[i]);
		mount_or_fail(c, src, rel[i], NULL, MS_BIND, NULL);
		ro_remount(c, rel[i], 0);
		close(c->etc_fd[i]);
		c->etc_fd[i] = -1;
	}
}

/* build_image_root: under the scaffold (cwd): .l/N the layers, .rw the
 * writable tmpfs (disk_bytes) with upper/, work/ and workspace/, .root the
 * overlay; ends with cwd in .root. Layer paths are relative and short, so
 * no directory name reaches the overlay's option string. */
static void build_image_root(struct child *c)
{
	const struct spawn_params *p = c->p;
	char opts[128 + IMAGE_MAX_LAYERS * 16], rel[32], dst[PATH_MAX];
	size_t n;
	int i;

	mkdir_in(c, "/.l", 0700);
	n = (size_t)snprintf(opts, sizeof(opts), "lowerdir=");
	for (i = 0; i < p->image->n; i++) {
		snprintf(rel, sizeof(rel), "/.l/%d", i);
		mkdir_in(c, rel, 0755);
		path_in(c, dst, rel);
		if (syscall(SYS_move_mount, c->layer_fd[i], "", AT_FDCWD, dst,
			    MOVE_MOUNT_F_EMPTY_PATH) != 0)
			fail(c, "cannot attach image layer %d", i);
		close(c->layer_fd[i]);
		c->layer_fd[i] = -1;
		n += (size_t)snprintf(opts + n, sizeof(opts) - n, "%s.l/%d", i ? ":" : "", i);
	}
	mkdir_in(c, "/.rw", 0700);
	snprintf(dst, sizeof(dst), "size=%llu,nr_inodes=262144,mode=0755,uid=0,gid=0",
		 (unsigned long long)p->disk_bytes);
	mount_or_fail(c, "tmpfs", "/.rw", "tmpfs", MS_NOSUID | MS_NODEV, dst);
	mkdir_in(c, "/.rw/upper", 0755);
	mkdir_in(c, "/.rw/work", 0700);
	mkdir_in(c, "/.rw/workspace", 0755);
	if (chown(".rw/workspace", SANDBOX_CODE_UID, SANDBOX_CODE_UID) != 0)
		fail(c, "cannot chown the workspace");
	snprintf(opts + n, sizeof(opts) - n, ",upperdir=.rw/upper,workdir=.rw/work");
	mkdir_in(c, "/.root", 0755);
	mount_or_fail(c, "overlay", "/.root", "overlay", MS_NOSUID | MS_NODEV, opts);
	c->workspace_fd = open(".rw/workspace", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c->workspace_fd < 0 || chdir(".root") != 0)
		fail(c, "cannot enter the overlay root");
}

/* build_workspace: a tmpfs of disk_bytes, or with an image the directory
 * on the writable tmpfs the root's upper layer shares. */
static void build_workspace(struct child *c)
{
	char opts[128], src[64];

	mkdir_in(c, "/workspace", 0755);
	if (c->p->image) {
		snprintf(src, sizeof(src), "/proc/self/fd/%d", c->workspace_fd);
		mount_or_fail(c, src, "/workspace", NULL, MS_BIND, NULL);
		close(c->workspace_fd);
		c->workspace_fd = -1;
		return;
	}
	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=262144,mode=0755,uid=%d,gid=%d",
		 (unsigned long long)c->p->disk_bytes, SANDBOX_CODE_UID, SANDBOX_CODE_UID);
	mount_or_fail(c, "tmpfs", "/workspace", "tmpfs", MS_NOSUID | MS_NODEV, opts);
}

/* wait_go: the parent's go-ahead, with the image layers if any. */
static void wait_go(struct child *c)
{
	int n = c->p->image ? c->p->image->n : 0;
	union {
		char buf[CMSG_SPACE(sizeof(int) * IMAGE_MAX_LAYERS)];
		struct cmsghdr align;
	} u;
	char go;
	struct iovec iov = {&go, 1};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = u.buf,
			   .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm;

	if (recvmsg(FD_SYNC, &m, MSG_CMSG_CLOEXEC) != 1)
		_exit(1);
	close(FD_SYNC);
	if (n == 0)
		return;
	cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int) * (size_t)n) || (m.msg_flags & MSG_CTRUNC))
		fail(c, "image layers not received");
	memcpy(c->layer_fd, CMSG_DATA(cm), sizeof(int) * (size_t)n);
}

/* mask: hide a file or directory of /proc. */
static void mask(struct child *c, const char *rel)
{
	char dst[PATH_MAX];
	struct stat st;

	path_in(c, dst, rel);
	if (lstat(dst, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode))
		mount_or_fail(c, "tmpfs", rel, "tmpfs",
			      MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			      "size=4k,nr_inodes=1,mode=0555");
	else if (S_ISREG(st.st_mode))
		mount_or_fail(c, "/dev/null", rel, NULL, MS_BIND, NULL);
}

static void build_dev(struct child *c, uint64_t shm_bytes)
{
	static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
	char rel[64], src[64], opts[128];
	size_t i;

	mkdir_in(c, "/dev", 0755);
	mount_or_fail(c, "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
		      "size=64k,nr_inodes=64,mode=0755");
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(rel, sizeof(rel), "/dev/%s", nodes[i]);
		snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
		touch_in(c, rel);
		/* a user namespace cannot mknod: bind the host's nodes */
		mount_or_fail(c, src, rel, NULL, MS_BIND, NULL);
	}
	mkdir_in(c, "/dev/pts", 0755);
	mount_or_fail(c, "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		      "newinstance,ptmxmode=0666,mode=0620");
	symlink_in(c, "pts/ptmx", "/dev/ptmx");
	mkdir_in(c, "/dev/shm", 01777);
	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=4096,mode=1777",
		 (unsigned long long)shm_bytes);
	mount_or_fail(c, "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts);
	symlink_in(c, "/proc/self/fd", "/dev/fd");
	symlink_in(c, "/proc/self/fd/0", "/dev/stdin");
	symlink_in(c, "/proc/self/fd/1", "/dev/stdout");
	symlink_in(c, "/proc/self/fd/2", "/dev/stderr");
}

static void build_proc(struct child *c)
{
	static const char *const masked[] = {
	    "/proc/kcore",	   "/proc/keys",	"/proc/timer_list", "/proc/sched_debug",
	    "/proc/latency_stats", "/proc/acpi",	"/proc/scsi",	    "/proc/kallsyms",
	    "/proc/kmsg",	   "/proc/kpagecgroup", "/proc/kpagecount", "/proc/kpageflags",
	    "/proc/config.gz"};
	static const char *const readonly[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq",
					       "/proc/bus", "/proc/fs"};
	char dst[PATH_MAX];
	struct stat st;
	size_t i;

	mkdir_in(c, "/proc", 0555);
	/* hidepid: commands see only their own uid's processes, never the
	 * agent (gid 0 inside, which may see everything for ps) */
	mount_or_fail(c, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		      "hidepid=2,gid=0");
	for (i = 0; i < sizeof(masked) / sizeof(masked[0]); i++)
		mask(c, masked[i]);
	for (i = 0; i < sizeof(readonly) / sizeof(readonly[0]); i++) {
		path_in(c, dst, readonly[i]);
		if (lstat(dst, &st) != 0)
			continue;
		mount_or_fail(c, dst, readonly[i], NULL, MS_BIND | MS_REC, NULL);
		ro_remount(c, readonly[i], MS_NOEXEC);
	}
}

static void loopback_up(struct child *c)
{
	struct ifreq ifr;
	int s;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail(c, "cannot open a socket for 'lo'");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		fail(c, "cannot read flags of 'lo'");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
		fail(c, "cannot bring 'lo' up");
	close(s);
}

/* place: move the fds the agent keeps to their fixed numbers, everything
 * else is closed (close_range) so no host fd reaches the sandbox. */
static void place_fds(struct child *c, int sync_fd, int null_fd)
{
	const struct spawn_params *p = c->p;
	int src[5] = {p->listen_fd, c->status_fd, c->oom_fd, p->agent_exe_fd, sync_fd};
	int tmp[5], i;

	for (i = 0; i < 5; i++) {
		tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 64);
		if (tmp[i] < 0)
			fail(c, "cannot dup fd %d", src[i]);
	}
	if (dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 ||
	    dup2(p->log_fd >= 0 ? p->log_fd : null_fd, 2) < 0)
		fail(c, "cannot set up stdio");
	for (i = 0; i < 5; i++) {
		int flags = (FD_LISTEN + i >= FD_EXE) ? O_CLOEXEC : 0;

		if (dup3(tmp[i], FD_LISTEN + i, flags) < 0)
			fail(c, "cannot place fd %d", FD_LISTEN + i);
	}
	c->status_fd = FD_STATUS;
	if (syscall(SYS_close_range, FD_FIRST_FREE, ~0U, 0) != 0)
		fail(c, "cannot close inherited fds");
}

static void child_main(struct child *c, int sync_fd) __attribute__((noreturn));

static void child_main(struct child *c, int sync_fd)
{
	const struct spawn_params *p = c->p;
	char opts[256], lim[3][24];
	unsigned long root_flags = MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;
	char *const argv[] = {"sandpit-agent", "--nofile", lim[0], "--nproc",
			      lim[1],	       "--fsize",  lim[2], NULL};
	char *const envp[] = {NULL};
	sigset_t none;
	int null_fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		fail(c, "cannot open '/dev/null'");
	place_fds(c, sync_fd, null_fd);
	/* the parent joins us to the cgroup and writes the id maps first */
	wait_go(c);
	/* The root tmpfs is mounted and entered while our fsuid is still the
	 * host's root, so the (possibly 0700) state directory can be walked;
	 * everything after works relative to it ("./usr"), as the namespace's
	 * root, which the host does not let into that directory. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		fail(c, "cannot make '/' private");
	if (mount("tmpfs", c->root, "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=1m,nr_inodes=4096,mode=0755,uid=0,gid=0") != 0)
		fail(c, "cannot mount the root tmpfs on '%s'", c->root);
	if (chdir(c->root) != 0)
		fail(c, "cannot enter the new root");
	memcpy(c->root, ".", 2);
	open_etc_sources(c);
	if (setresgid(0, 0, 0) != 0 || setgroups(0, NULL) != 0 || setresuid(0, 0, 0) != 0)
		fail(c, "cannot become root of the user namespace");
	if (unshare(CLONE_NEWCGROUP) != 0)
		fail(c, "cannot unshare the cgroup namespace");
	if (p->image)
		build_image_root(c);
	else
		build_host_dirs(c);
	build_etc(c);
	build_dev(c, p->tmp_bytes);
	mkdir_in(c, "/tmp", 01777);
	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=65536,mode=1777",
		 (unsigned long long)p->tmp_bytes);
	mount_or_fail(c, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts);
	build_workspace(c);
	build_proc(c);
	mkdir_in(c, "/sys", 0555);
	mount_or_fail(c, "sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		      NULL);

	if (syscall(SYS_pivot_root, ".", ".") != 0)
		fail(c, "cannot pivot_root");
	if (umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
		fail(c, "cannot detach the old root");
	/* an image's root stays writable: its upper layer is the sandbox's */
	if (!p->image && mount(NULL, "/", NULL, root_flags, NULL) != 0)
		fail(c, "cannot make the root read-only");

	if (sethostname(p->id, strlen(p->id)) != 0)
		fail(c, "cannot set the hostname");
	loopback_up(c);

	snprintf(lim[0], sizeof(lim[0]), "%u", p->nofile);
	snprintf(lim[1], sizeof(lim[1]), "%u", p->pids_max);
	snprintf(lim[2], sizeof(lim[2]), "%llu", (unsigned long long)p->disk_bytes);
	syscall(SYS_execveat, FD_EXE, "", argv, envp, AT_EMPTY_PATH);
	fail(c, "cannot exec the agent");
}

static enum result write_map(pid_t pid, const char *file, unsigned inside_code, unsigned host_agent,
			     unsigned host_code)
{
	char path[64], map[128];
	int fd, n;
	ssize_t w;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	n = snprintf(map, sizeof(map), "0 %u 1\n%u %u 1\n", host_agent, inside_code, host_code);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return R_INTERNAL;
	w = write(fd, map, (size_t)n);
	close(fd);
	return w == n ? R_SUCCESS : R_INTERNAL;
}

/* wait_ready: "R" from the agent, "E<msg>" from the child, EOF or timeout. */
static enum result wait_ready(int fd, unsigned timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = clock_now_ms() + timeout_ms;
	struct pollfd pfd = {fd, POLLIN, 0};
	char msg[512];
	size_t len = 0;
	ssize_t n;

	for (;;) {
		uint64_t now = clock_now_ms();
		int rc;

		if (now >= deadline) {
			snprintf(err, errlen, "agent not ready within %u ms", timeout_ms);
			return R_TIMEOUT;
		}
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			continue;
		n = read(fd, msg + len, sizeof(msg) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (msg[0] == 'R')
			return R_SUCCESS;
		if (len == sizeof(msg) - 1)
			break;
	}
	msg[len] = '\0';
	if (len > 1 && msg[0] == 'E')
		snprintf(err, errlen, "%s", msg + 1);
	else
		snprintf(err, errlen, "sandbox child exited before the agent was ready");
	return R_UPSTREAM;
}

/* send_go: the go-ahead byte; with an image, the child's layers idmapped
 * through its user namespace (maps written, so root on disk is its root). */
static enum result send_go(int sock, pid_t pid, const struct image_layers *img, char *err,
			   size_t errlen)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * IMAGE_MAX_LAYERS)];
		struct cmsghdr align;
	} u;
	int mnt[IMAGE_MAX_LAYERS], ns, i, n = img ? img->n : 0;
	char go = 'g', path[64];
	struct iovec iov = {&go, 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	ssize_t w;

	if (n > 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		ns = open(path, O_RDONLY | O_CLOEXEC);
		if (ns < 0 || image_idmap(img, ns, mnt) != R_SUCCESS) {
			snprintf(err, errlen, "cannot idmap the image layers: %s", strerror(errno));
			if (ns >= 0)
				close(ns);
			return R_INTERNAL;
		}
		close(ns);
		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(cm), mnt, sizeof(int) * (size_t)n);
	}
	w = sendmsg(sock, &m, MSG_NOSIGNAL);
	for (i = 0; i < n; i++)
		close(mnt[i]);
	if (w != 1) {
		snprintf(err, errlen, "sandbox child died during set-up");
		return R_UPSTREAM;
	}
	return R_SUCCESS;
}

enum result spawn_sandbox(const struct spawn_params *p, pid_t *pid_out, char *err, size_t errlen)
{
	struct child c = {.p = p, .oom_fd = -1, .workspace_fd = -1};
	int sync_p[2] = {-1, -1}, status_p[2] = {-1, -1}, n;
	enum result r = R_INTERNAL;
	pid_t pid;

	n = snprintf(c.root, sizeof(c.root), "%s", p->root_mnt);
	if (n < 0 || (size_t)n >= sizeof(c.root)) {
		snprintf(err, errlen, "root mount point path too long");
		return R_INVALID;
	}
	memset(c.etc_fd, -1, sizeof(c.etc_fd));
	memset(c.layer_fd, -1, sizeof(c.layer_fd));
	if (p->image && (p->image->n < 1 || p->image->n > IMAGE_MAX_LAYERS)) {
		snprintf(err, errlen, "bad image layer count");
		return R_INVALID;
	}
	/* a socket pair, not a pipe: the go-ahead carries the layer mounts */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync_p) != 0 ||
	    pipe2(status_p, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot create pipes: %s", strerror(errno));
		goto close_pipes;
	}
	c.status_fd = status_p[1];
	if (cgroup_open_oom_counter(p->cg, p->id, &c.oom_fd) != R_SUCCESS) {
		snprintf(err, errlen, "cannot open the cgroup's oom counter");
		goto close_pipes;
	}
	/* fork-like clone (no stack): the child continues below with copies */
	pid = (pid_t)syscall(SYS_clone,
			     (unsigned long)(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS |
					     CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD),
			     NULL, NULL, NULL, 0);
	if (pid < 0) {
		snprintf(err, errlen, "cannot clone: %s", strerror(errno));
		goto close_pipes;
	}
	if (pid == 0) {
		close(sync_p[1]);
		close(status_p[0]);
		child_main(&c, sync_p[0]);
	}
	close(sync_p[0]);
	sync_p[0] = -1;
	close(status_p[1]);
	status_p[1] = -1;
	close(c.oom_fd);
	c.oom_fd = -1;
	if (cgroup_attach(p->cg, p->id, pid) != R_SUCCESS) {
		snprintf(err, errlen, "cannot join the cgroup");
		goto kill_child;
	}
	if (write_map(pid, "uid_map", SANDBOX_CODE_UID, p->agent_uid, p->code_uid) != R_SUCCESS ||
	    write_map(pid, "gid_map", SANDBOX_CODE_UID, p->agent_uid, p->code_uid) != R_SUCCESS) {
		snprintf(err, errlen, "cannot write id maps: %s", strerror(errno));
		goto kill_child;
	}
	r = send_go(sync_p[1], pid, p->image, err, errlen);
	if (r != R_SUCCESS)
		goto kill_child;
	r = wait_ready(status_p[0], p->timeout_ms, err, errlen);
	if (r != R_SUCCESS)
		goto kill_child;
	*pid_out = pid;
	goto close_pipes;
kill_child:
	if (r == R_SUCCESS || r == R_INTERNAL)
		r = R_UPSTREAM;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
close_pipes:
	if (c.oom_fd >= 0)
		close(c.oom_fd);
	for (n = 0; n < 2; n++) {
		if (sync_p[n] >= 0)
			close(sync_p[n]);
		if (status_p[n] >= 0)
			close(status_p[n]);
	}
	return r;
}
