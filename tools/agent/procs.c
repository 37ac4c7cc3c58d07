/* procs.c: the sandbox's process list, read from /proc (we are PID 1 of the
 * sandbox's pid namespace, so /proc shows the sandbox and nothing else). */
#include "procs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agentproto.h"
#include "conn.h"

static bool read_small(const char *path, char *out, size_t size, size_t *len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return false;
	out[n] = '\0';
	*len = (size_t)n;
	return true;
}

void procs_list(struct conn *c)
{
	struct agentproto_proc *procs;
	struct agentproto_procs ps = {0};
	static char cmds[256][1024];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	procs = calloc(256, sizeof(*procs));
	d = opendir("/proc");
	if (!procs || !d) {
		free(procs);
		if (d)
			closedir(d);
		conn_error(c, R_INTERNAL, "cannot list processes");
		return;
	}
	while ((de = readdir(d)) != NULL && n < 256) {
		char path[64], text[1024], *p;
		unsigned long pid = strtoul(de->d_name, &p, 10);
		unsigned long long rss = 0;
		size_t len, i;
		int ppid = 0;
		char state = '?';
		unsigned uid = 0;

		if (*p != '\0' || pid <= 1)
			continue;
		snprintf(path, sizeof(path), "/proc/%lu/stat", pid);
		if (!read_small(path, text, sizeof(text), &len))
			continue;
		p = strrchr(text, ')');
		if (!p || sscanf(p + 1,
				 " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
				 "%*d %*d %*d %*d %*u %*u %llu",
				 &state, &ppid, &rss) < 2)
			continue;
		snprintf(path, sizeof(path), "/proc/%lu/status", pid);
		if (read_small(path, text, sizeof(text), &len) && (p = strstr(text, "\nUid:")))
			uid = (unsigned)strtoul(p + 5, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%lu/cmdline", pid);
		if (!read_small(path, cmds[n], sizeof(cmds[n]), &len)) {
			cmds[n][0] = '\0'; /* gone meanwhile: not the last call's text */
			len = 0;
		}
		for (i = 0; i < len; i++)
			if (cmds[n][i] == '\0')
				cmds[n][i] = ' ';
		while (len > 0 && cmds[n][len - 1] == ' ')
			cmds[n][--len] = '\0';
		procs[n].pid = (uint32_t)pid;
		procs[n].ppid = (uint32_t)ppid;
		procs[n].uid = uid;
		procs[n].state = state;
		procs[n].rss_kb = rss * 4;
		procs[n].cmd = cmds[n];
		n++;
	}
	closedir(d);
	ps.procs = procs;
	ps.n = n;
	conn_queued(c, agentproto_put_procs(conn_out(c), &ps));
	free(procs);
}
