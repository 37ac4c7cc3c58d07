/* table.c: the sandbox table and its state files (table.h). */
#include "table.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/boxproto.h"
#include "cgroup.h"
#include "daemon.h"
#include "core/log.h"

#define MOD "boxd"

char *path_buf(char *out, size_t size, const char *dir, const char *id, const char *suffix)
{
	int n = snprintf(out, size, "%s/%s%s", dir, id, suffix);

	return (n > 0 && (size_t)n < size) ? out : NULL;
}

unsigned box_count(const struct daemon *d)
{
	unsigned i, n = 0;

	for (i = 0; i < d->nboxes; i++)
		n += d->boxes[i].used;
	return n;
}

struct box *find_box(struct daemon *d, const char *id)
{
	unsigned i;

	for (i = 0; i < d->nboxes; i++)
		if (d->boxes[i].used && strcmp(d->boxes[i].id, id) == 0)
			return &d->boxes[i];
	return NULL;
}

/* slots index the table and the uid range: uids base+2*slot (agent) and
 * base+2*slot+1 (commands) are unique per live sandbox. */
struct box *alloc_box(struct daemon *d, const char *id)
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

void write_state(struct daemon *d, const struct box *b)
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
void adopt_existing(struct daemon *d)
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
		if (!id_is_name(id) || !path_buf(path, sizeof(path), d->run_dir, id, ".state"))
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
