/* local.c: the local (Linux namespaces) backend: a thin client of
 * sandpit-boxd, the privileged daemon (lib/backend/boxproto.h). Each call
 * opens one SOCK_SEQPACKET connection, sends one request, reads one reply,
 * so the handle is stateless and thread-safe. The reply is untrusted enough to
 * be parsed defensively (bounded, validated). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/backend_impl.h"
#include "backend/boxproto.h"
#include "core/clock.h"
#include "core/id.h"

/* call: one request -> one reply (malloc'd, NUL-terminated) in *out. */
static enum result call(struct backend *b, const char *req, char **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t deadline = clock_now_ms() + b->timeout_ms;
	struct pollfd pfd;
	enum result r = R_UPSTREAM;
	char *buf = NULL;
	ssize_t n;
	int fd;

	memcpy(sa.sun_path, b->daemon_socket, strlen(b->daemon_socket) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return R_INTERNAL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
		goto close_fd;
	buf = malloc(BOXPROTO_MAX_MSG + 1);
	if (!buf) {
		r = R_NO_MEMORY;
		goto close_fd;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		uint64_t now = clock_now_ms();
		int rc;

		if (now >= deadline) {
			r = R_TIMEOUT;
			goto close_fd;
		}
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc > 0)
			break;
		if (rc < 0 && errno != EINTR)
			goto close_fd;
	}
	n = recv(fd, buf, BOXPROTO_MAX_MSG, 0);
	if (n <= 0)
		goto close_fd;
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	r = R_SUCCESS;
close_fd:
	free(buf);
	close(fd);
	return r;
}

static enum result addr_from(const char *reply, char *addr, size_t size)
{
	char a[BACKEND_ADDR_MAX];

	if (!boxproto_get(reply, "addr", a, sizeof(a)) || strncmp(a, "unix:/", 6) != 0 ||
	    strlen(a) >= size)
		return R_UPSTREAM;
	memcpy(addr, a, strlen(a) + 1);
	return R_SUCCESS;
}

static enum result local_create(struct backend *b, const char *id, const struct sandbox_limits *lim,
				const char *image, char *addr, size_t size)
{
	char req[512], *rep = NULL;
	enum result r;

	snprintf(req, sizeof(req), "create %s cpu=%u mem=%llu pids=%u disk=%llu%s%s", id,
		 lim->cpu_millis, (unsigned long long)lim->memory_bytes, lim->pids_max,
		 (unsigned long long)lim->disk_bytes, image ? " image=" : "", image ? image : "");
	r = call(b, req, &rep);
	if (r == R_SUCCESS)
		r = boxproto_result(rep);
	if (r == R_SUCCESS)
		r = addr_from(rep, addr, size);
	free(rep);
	return r;
}

/* call_id: the request "verb id"; on R_SUCCESS *rep is the reply (malloc'd),
 * which said ok. A refusal is its result code, with *rep freed. */
static enum result call_id(struct backend *b, const char *verb, const char *id, char **rep)
{
	char req[128];
	enum result r;

	snprintf(req, sizeof(req), "%s %s", verb, id);
	r = call(b, req, rep);
	if (r == R_SUCCESS) {
		r = boxproto_result(*rep);
		if (r != R_SUCCESS) {
			free(*rep);
			*rep = NULL;
		}
	}
	return r;
}

static enum result local_destroy(struct backend *b, const char *id)
{
	char *rep = NULL;
	enum result r = call_id(b, "destroy", id, &rep);

	free(rep);
	return r;
}

static enum result local_inspect(struct backend *b, const char *id, struct sandbox_usage *out)
{
	struct sandbox_usage u = {0};
	char *rep = NULL;
	uint64_t v = 0;
	enum result r = call_id(b, "inspect", id, &rep);

	if (r != R_SUCCESS)
		return r;
	if (!boxproto_get_u64(rep, "alive", &v)) {
		free(rep);
		return R_UPSTREAM;
	}
	u.alive = v != 0;
	(void)boxproto_get_u64(rep, "cpu_usec", &u.cpu_usec);
	(void)boxproto_get_u64(rep, "mem", &u.memory_current);
	(void)boxproto_get_u64(rep, "peak", &u.memory_peak);
	if (boxproto_get_u64(rep, "pids", &v))
		u.pids = (uint32_t)v;
	if (boxproto_get_u64(rep, "lim_cpu", &v))
		u.limits.cpu_millis = (uint32_t)v;
	(void)boxproto_get_u64(rep, "lim_mem", &u.limits.memory_bytes);
	if (boxproto_get_u64(rep, "lim_pids", &v))
		u.limits.pids_max = (uint32_t)v;
	(void)boxproto_get_u64(rep, "lim_disk", &u.limits.disk_bytes);
	free(rep);
	*out = u;
	return R_SUCCESS;
}

static enum result local_list(struct backend *b, char ***ids_out, size_t *n_out)
{
	char *rep = NULL, w[BACKEND_ID_MAX + 2], **ids;
	size_t n = 0, i;
	enum result r;

	r = call(b, "list", &rep);
	if (r == R_SUCCESS)
		r = boxproto_result(rep);
	if (r != R_SUCCESS) {
		free(rep);
		return r;
	}
	while (boxproto_word(rep, (unsigned)n + 1, w, sizeof(w)))
		n++;
	ids = calloc(n + 1, sizeof(*ids));
	if (!ids) {
		free(rep);
		return R_NO_MEMORY;
	}
	for (i = 0; i < n; i++) {
		if (!boxproto_word(rep, (unsigned)i + 1, w, sizeof(w)) || !id_is_name(w) ||
		    !(ids[i] = strdup(w))) {
			backend_list_free(ids, i);
			free(rep);
			return R_UPSTREAM;
		}
	}
	free(rep);
	*ids_out = ids;
	*n_out = n;
	return R_SUCCESS;
}

static enum result local_agent_address(struct backend *b, const char *id, char *addr, size_t size)
{
	char *rep = NULL;
	enum result r = call_id(b, "addr", id, &rep);

	if (r == R_SUCCESS)
		r = addr_from(rep, addr, size);
	free(rep);
	return r;
}

static enum result local_resize(struct backend *b, const char *id, const struct sandbox_limits *lim)
{
	char req[256], *rep = NULL;
	enum result r;
	int n;

	/* zero fields are left out: unchanged */
	n = snprintf(req, sizeof(req), "resize %s", id);
	if (lim->cpu_millis)
		n += snprintf(req + n, sizeof(req) - (size_t)n, " cpu=%u", lim->cpu_millis);
	if (lim->memory_bytes)
		n += snprintf(req + n, sizeof(req) - (size_t)n, " mem=%llu",
			      (unsigned long long)lim->memory_bytes);
	if (lim->pids_max)
		snprintf(req + n, sizeof(req) - (size_t)n, " pids=%u", lim->pids_max);
	r = call(b, req, &rep);
	if (r == R_SUCCESS)
		r = boxproto_result(rep);
	free(rep);
	return r;
}

const struct backend_ops backend_local_ops = {
    .kind = "local",
    .create = local_create,
    .destroy = local_destroy,
    .inspect = local_inspect,
    .list = local_list,
    .agent_address = local_agent_address,
    .resize = local_resize,
};
