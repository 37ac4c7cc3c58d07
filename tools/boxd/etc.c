/* etc.c: the /etc a sandbox sees (etc.h). Everything here runs in boxd as
 * root, in directories only root can write, through directory fds and
 * O_NOFOLLOW: no path is followed through a symlink anyone else planted. */
#include "etc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define MOD	     "etc"
#define TEMPLATE     ".etc"
#define TEMPLATE_NEW ".etc.new"
#define MAX_DEPTH    8
#define MAX_FILE     (16ull << 20)
#define MAX_TOTAL    (64ull << 20)
#define MAX_ENTRIES  20000u

/* Host entries snapshotted (fnmatch patterns on names directly in /etc):
 * what runtimes look up there (/usr links into alternatives, java-*, ssl,
 * python3.*...), nothing that names the host, its users or its services.
 * Within them only what any local user could read anyway is copied (files
 * o+r, directories o+rx): /etc/ssl/private stays out. */
static const char *const copied[] = {
    "alternatives",
    "ssl",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "os-release",
    "debian_version",
    "lsb-release",
    "protocols",
    "services",
    "rpc",
    "networks",
    "ethertypes",
    "gai.conf",
    "host.conf",
    "mime.types",
    "magic",
    "magic.mime",
    "locale.alias",
    "inputrc",
    "terminfo",
    "python3",
    "python3.*",
    "perl",
    "java-*",
    "maven",
    "fonts",
    "groff",
    "ImageMagick-*",
    "R",
    "vim",
    "X11",
    "xml",
    "sgml",
};

/* Generated, the same in every sandbox: its ids are fixed (0 is the agent,
 * 1000 runs commands, 65534 is how unmapped host ids show). hosts and
 * hostname are mount points for the per-sandbox files. */
static const struct {
	const char *name, *text;
} generated[] = {
    {"passwd", "root:x:0:0:root:/root:/bin/sh\n"
	       "sandbox:x:1000:1000:sandbox:/workspace:/bin/sh\n"
	       "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
    {"group", "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n"},
    {"hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
    {"hostname", "sandbox\n"},
    {"resolv.conf", "# no network but loopback\nnameserver 127.0.0.1\n"},
    {"nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
		      "networks: files\nprotocols: files\nservices: files\nethers: files\n"
		      "rpc: files\n"},
    {"timezone", "Etc/UTC\n"},
    {"shells", "/bin/sh\n/bin/bash\n/usr/bin/sh\n/usr/bin/bash\n"},
};

static const struct {
	const char *name, *target;
} links[] = {
    {"localtime", "/usr/share/zoneinfo/Etc/UTC"},
    {"mtab", "../proc/self/mounts"},
};

struct budget {
	uint64_t bytes;
	unsigned entries;
};

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* create_at: a new file name in dfd (never an existing one, never through a
 * symlink), mode set explicitly whatever the umask. */
static int create_at(int dfd, const char *name, mode_t mode)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd >= 0 && fchmod(fd, mode) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool write_at(int dfd, const char *name, const char *text)
{
	int fd = create_at(dfd, name, 0644);
	bool ok;

	if (fd < 0)
		return false;
	ok = write_all(fd, text, strlen(text));
	return close(fd) == 0 && ok;
}

/* remove_tree: name in dfd and everything under it, never following a
 * symlink. Absent is fine. */
static bool remove_tree(int dfd, const char *name, int depth)
{
	struct dirent *de;
	struct stat st;
	bool ok = true;
	DIR *d;
	int fd;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) == 0;
	if (depth > MAX_DEPTH + 2)
		return false;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while (ok && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			ok = remove_tree(dirfd(d), de->d_name, depth + 1);
	closedir(d);
	return ok && unlinkat(dfd, name, AT_REMOVEDIR) == 0;
}

static enum result copy_tree(int sfd, int dfd, int depth, struct budget *b);

static enum result copy_file(int sfd, int dfd, const char *name, const struct stat *st,
			     struct budget *b)
{
	char buf[65536];
	uint64_t left = (uint64_t)st->st_size;
	enum result r = R_SUCCESS;
	int in, out;

	if ((uint64_t)st->st_size > MAX_FILE || b->bytes + (uint64_t)st->st_size > MAX_TOTAL)
		return R_QUOTA;
	b->bytes += (uint64_t)st->st_size;
	in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		return R_SUCCESS; /* gone meanwhile: not part of the snapshot */
	out = create_at(dfd, name, (st->st_mode & 0111) ? 0755 : 0644);
	if (out < 0)
		r = R_INTERNAL;
	while (r == R_SUCCESS && left > 0) {
		ssize_t n = read(in, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* shrank meanwhile: what was there */
		if (!write_all(out, buf, (size_t)n))
			r = R_INTERNAL;
		left -= (uint64_t)n;
	}
	if (out >= 0 && close(out) != 0)
		r = R_INTERNAL;
	close(in);
	return r;
}

static enum result copy_dir(int sfd, int dfd, const char *name, int depth, struct budget *b)
{
	enum result r = R_INTERNAL;
	int s, d = -1;

	if (depth >= MAX_DEPTH)
		return R_SUCCESS; /* deeper than anything a runtime looks up */
	s = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0)
		return R_SUCCESS;
	if (mkdirat(dfd, name, 0700) == 0 &&
	    (d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0 &&
	    fchmod(d, 0755) == 0)
		r = copy_tree(s, d, depth + 1, b);
	if (d >= 0)
		close(d);
	close(s);
	return r;
}

/* copy_entry: one host entry into the snapshot: symlinks as links (they
 * resolve inside the sandbox, /usr being there), world-readable files and
 * directories as copies, anything else left out. */
static enum result copy_entry(int sfd, int dfd, const char *name, int depth, struct budget *b)
{
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (++b->entries > MAX_ENTRIES)
		return R_QUOTA;
	if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return R_SUCCESS;
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(sfd, name, target, sizeof(target) - 1);
		if (n <= 0)
			return R_SUCCESS;
		target[n] = '\0';
		return symlinkat(target, dfd, name) == 0 ? R_SUCCESS : R_INTERNAL;
	}
	if (S_ISDIR(st.st_mode) && (st.st_mode & (S_IROTH | S_IXOTH)) == (S_IROTH | S_IXOTH))
		return copy_dir(sfd, dfd, name, depth, b);
	if (S_ISREG(st.st_mode) && (st.st_mode & S_IROTH))
		return copy_file(sfd, dfd, name, &st, b);
	return R_SUCCESS;
}

static bool is_copied(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
		if (fnmatch(copied[i], name, FNM_PERIOD) == 0)
			return true;
	return false;
}

/* copy_tree: every entry of directory sfd; at depth 0 (the host's /etc)
 * only the allowed names. */
static enum result copy_tree(int sfd, int dfd, int depth, struct budget *b)
{
	enum result r = R_SUCCESS;
	struct dirent *de;
	DIR *d;
	int fd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return R_INTERNAL;
	}
	while (r == R_SUCCESS && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    (depth == 0 && !is_copied(de->d_name)))
			continue;
		r = copy_entry(sfd, dfd, de->d_name, depth, b);
	}
	closedir(d);
	return r;
}

static enum result fill(int dfd)
{
	struct budget b = {0};
	enum result r;
	size_t i;
	int sfd = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (sfd < 0) {
		log_warn(MOD, "cannot open the host's /etc");
		return R_INTERNAL;
	}
	r = copy_tree(sfd, dfd, 0, &b);
	close(sfd);
	if (r == R_QUOTA)
		log_errx(MOD, "the host entries to snapshot exceed %llu bytes or %u entries",
			 (unsigned long long)MAX_TOTAL, MAX_ENTRIES);
	for (i = 0; r == R_SUCCESS && i < sizeof(generated) / sizeof(generated[0]); i++)
		if (!write_at(dfd, generated[i].name, generated[i].text))
			r = R_INTERNAL;
	for (i = 0; r == R_SUCCESS && i < sizeof(links) / sizeof(links[0]); i++)
		if (symlinkat(links[i].target, dfd, links[i].name) != 0)
			r = R_INTERNAL;
	return r;
}

enum result etc_prepare(const char *run_dir, bool rebuild)
{
	enum result r = R_INTERNAL;
	struct stat st;
	int rfd, dfd = -1;

	rfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rfd < 0) {
		log_warn(MOD, "cannot open '%s'", run_dir);
		return R_INTERNAL;
	}
	if (!rebuild && fstatat(rfd, TEMPLATE, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode)) {
		close(rfd);
		return R_SUCCESS; /* live sandboxes have this one mounted */
	}
	if (!remove_tree(rfd, TEMPLATE_NEW, 0) || mkdirat(rfd, TEMPLATE_NEW, 0700) != 0 ||
	    (dfd = openat(rfd, TEMPLATE_NEW, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
		0 ||
	    fchmod(dfd, 0755) != 0) {
		log_warn(MOD, "cannot create '%s/%s'", run_dir, TEMPLATE_NEW);
		goto out;
	}
	r = fill(dfd);
	if (r != R_SUCCESS) {
		log_warn(MOD, "cannot build the sandboxes' /etc in '%s/%s'", run_dir, TEMPLATE_NEW);
		goto out;
	}
	if (!remove_tree(rfd, TEMPLATE, 0) || renameat(rfd, TEMPLATE_NEW, rfd, TEMPLATE) != 0) {
		log_warn(MOD, "cannot replace '%s/%s'", run_dir, TEMPLATE);
		r = R_INTERNAL;
	}
out:
	if (dfd >= 0)
		close(dfd);
	if (r != R_SUCCESS && !remove_tree(rfd, TEMPLATE_NEW, 0))
		log_warnx(MOD, "leftover '%s/%s'", run_dir, TEMPLATE_NEW);
	close(rfd);
	return r == R_SUCCESS ? R_SUCCESS : R_INTERNAL;
}

bool etc_template(const char *run_dir, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", run_dir, TEMPLATE);

	return n > 0 && (size_t)n < size;
}

static bool name_for(char *out, size_t size, const char *id, const char *suffix)
{
	int n = snprintf(out, size, "%s%s", id, suffix);

	return n > 0 && (size_t)n < size;
}

enum result etc_write_sandbox(const char *run_dir, const char *id, char *hosts, char *hostname,
			      size_t size)
{
	char text[256], name[128];
	enum result r = R_INTERNAL;
	int rfd, n;

	n = snprintf(text, sizeof(text),
		     "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		     "127.0.1.1\t%s\n",
		     id);
	if (n <= 0 || (size_t)n >= sizeof(text) ||
	    snprintf(hosts, size, "%s/%s.hosts", run_dir, id) >= (int)size ||
	    snprintf(hostname, size, "%s/%s.hostname", run_dir, id) >= (int)size)
		return R_INVALID;
	rfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rfd < 0)
		return R_INTERNAL;
	(void)etc_remove_sandbox(run_dir, id); /* a crashed create's leftovers */
	if (name_for(name, sizeof(name), id, ".hosts") && write_at(rfd, name, text) &&
	    name_for(name, sizeof(name), id, ".hostname") &&
	    snprintf(text, sizeof(text), "%s\n", id) > 0 && write_at(rfd, name, text))
		r = R_SUCCESS;
	else
		log_warn(MOD, "cannot write the /etc files of '%s'", id);
	close(rfd);
	return r;
}

bool etc_remove_sandbox(const char *run_dir, const char *id)
{
	static const char *const suffixes[] = {".hosts", ".hostname"};
	char name[128];
	bool found = false;
	size_t i;
	int rfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (rfd < 0)
		return false;
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (name_for(name, sizeof(name), id, suffixes[i]) && unlinkat(rfd, name, 0) == 0)
			found = true;
	close(rfd);
	return found;
}
