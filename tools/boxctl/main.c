/* main.c: sandpit-boxctl, a small operator/test CLI over the runtime library
 * (lib/backend, lib/agent_client): create, exec, destroy sandboxes by hand,
 * and measure them (bench). Used by tests/security and the benchmarks.
 *
 *   sandpit-boxctl -s SOCK create ID [cpus=Q] [memory=Q] [pids=N] [disk=Q]
 *                  [image=NAME@KEY]
 *   sandpit-boxctl -s SOCK destroy|inspect|addr|ps ID
 *   sandpit-boxctl -s SOCK list
 *   sandpit-boxctl -s SOCK setenv ID K=V...
 *   sandpit-boxctl -s SOCK exec ID [-t MS] [-i FILE] [-d DIR] [-e K=V]... [-c CAP]
 *                  (-- ARGV... | -x 'shell string')
 *   sandpit-boxctl -s SOCK bench N
 * exec copies the command's stdout/stderr, then prints one line
 * "#meta exit_code=.. signal=.. timed_out=.. oom_killed=.. truncated=.."
 * on stderr and exits with the command's exit code (125: client error).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "backend/backend.h"
#include "core/clock.h"
#include "core/reslimit.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: sandpit-boxctl -s SOCK (create|resize|destroy|inspect|addr|ps|list|"
		"setenv|exec|bench) ...\n"
		"       create ID [cpus=Q] [memory=Q] [pids=N] [disk=Q] [image=NAME@KEY]\n");
	return 125;
}

static int fail(const char *what, enum result r)
{
	fprintf(stderr, "sandpit-boxctl: %s: %s\n", what, result_str(r));
	return 125;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static char *slurp(const char *path, size_t *len)
{
	struct stat st;
	char *data;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size > (1 << 30)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	data = malloc((size_t)st.st_size + 1);
	if (data && read(fd, data, (size_t)st.st_size) != st.st_size) {
		free(data);
		data = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return data;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	int i = (int)(p * (n - 1) + 0.5);

	return v[i];
}

/* parse_limit: "cpus=Q", "memory=Q", "disk=Q" or "pids=N" into lim. */
static bool parse_limit(const char *arg, struct sandbox_limits *lim)
{
	const char *v = strchr(arg, '=');
	char *end;

	if (!v++)
		return false;
	if (strncmp(arg, "cpus=", 5) == 0)
		return reslimit_parse_cpus(v, &lim->cpu_millis) == R_SUCCESS;
	if (strncmp(arg, "memory=", 7) == 0)
		return reslimit_parse_memory(v, &lim->memory_bytes) == R_SUCCESS;
	if (strncmp(arg, "disk=", 5) == 0)
		return reslimit_parse_memory(v, &lim->disk_bytes) == R_SUCCESS;
	if (strncmp(arg, "pids=", 5) == 0) {
		unsigned long n = strtoul(v, &end, 10);

		lim->pids_max = n > 0 && n <= UINT32_MAX && *end == '\0' ? (uint32_t)n : 0;
		return lim->pids_max > 0;
	}
	return false;
}

static int do_exec(struct backend *b, const char *id, int argc, char **argv)
{
	struct agentproto_exec e = {0};
	struct agent_exec_result res;
	struct agent_conn *c = NULL;
	const char *env[64];
	char addr[BACKEND_ADDR_MAX], *in = NULL;
	size_t envc = 0, inlen = 0;
	enum result r;
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			e.timeout_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			e.stdout_cap = e.stderr_cap = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			e.cwd = argv[++i];
		else if (strcmp(argv[i], "-e") == 0 && i + 1 < argc && envc < 64)
			env[envc++] = argv[++i];
		else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) {
			in = slurp(argv[++i], &inlen);
			if (!in)
				return fail("cannot read stdin file", R_INVALID);
		} else if (strcmp(argv[i], "-x") == 0 && i + 1 < argc) {
			e.flags |= AP_EXEC_SHELL;
			e.argv = (const char *const *)&argv[i + 1];
			e.argc = 1;
			i++;
		} else if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
			e.argv = (const char *const *)&argv[i + 1];
			e.argc = (size_t)(argc - i - 1);
			break;
		} else {
			return usage();
		}
	}
	if (!e.argv)
		return usage();
	e.env = env;
	e.envc = envc;
	e.stdin_data = (const uint8_t *)in;
	e.stdin_len = inlen;
	r = backend_agent_address(b, id, addr, sizeof(addr));
	if (r == R_SUCCESS)
		r = agent_client_connect(addr, NULL, 2000, &c);
	if (r != R_SUCCESS) {
		free(in);
		return fail("cannot reach the agent", r);
	}
	r = agent_client_exec(c, &e, 5000, &res);
	if (r != R_SUCCESS) {
		fprintf(stderr, "sandpit-boxctl: exec: %s %s\n", result_str(r),
			agent_client_last_error(c));
		agent_client_close(c);
		free(in);
		return 125;
	}
	write_all(1, res.out, res.out_len);
	write_all(2, res.err, res.err_len);
	fprintf(stderr,
		"\n#meta exit_code=%d signal=%d timed_out=%d oom_killed=%d truncated=%d "
		"duration_ms=%llu out_len=%zu err_len=%zu\n",
		res.exit_code, res.signal, res.timed_out, res.oom_killed, res.truncated,
		(unsigned long long)res.duration_ms, res.out_len, res.err_len);
	i = res.exit_code < 0 ? 125 : res.exit_code;
	agent_exec_result_free(&res);
	agent_client_close(c);
	free(in);
	return i;
}

static int do_bench(struct backend *b, int n)
{
	double *create = calloc((size_t)n, sizeof(double)),
	       *exec = calloc((size_t)n * 10, sizeof(double));
	double *destroy = calloc((size_t)n, sizeof(double));
	static const char *const argv_true[] = {"true"};
	struct agentproto_exec e = {.argv = argv_true, .argc = 1, .timeout_ms = 5000};
	struct agent_exec_result res;
	struct timespec t0;
	char id[32], addr[BACKEND_ADDR_MAX];
	int i, k, ne = 0, rc = 0;
	struct agent_conn *c = NULL;

	if (!create || !exec || !destroy) {
		rc = 125;
		goto out;
	}
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "bench-%d-%d", (int)getpid(), i);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (backend_create(b, id, NULL, addr, sizeof(addr)) != R_SUCCESS ||
		    agent_client_connect(addr, NULL, 2000, &c) != R_SUCCESS ||
		    agent_client_ping(c, 2000) != R_SUCCESS) {
			rc = fail("bench create", R_UPSTREAM);
			goto out;
		}
		create[i] = clock_ms_since(&t0);
		for (k = 0; k < 10; k++) {
			clock_gettime(CLOCK_MONOTONIC, &t0);
			if (agent_client_exec(c, &e, 2000, &res) != R_SUCCESS ||
			    res.exit_code != 0) {
				rc = fail("bench exec", R_UPSTREAM);
				goto out;
			}
			exec[ne++] = clock_ms_since(&t0);
			agent_exec_result_free(&res);
		}
		agent_client_close(c);
		c = NULL;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (backend_destroy(b, id) != R_SUCCESS) {
			rc = fail("bench destroy", R_UPSTREAM);
			goto out;
		}
		destroy[i] = clock_ms_since(&t0);
	}
	qsort(create, (size_t)n, sizeof(double), cmp_double);
	qsort(exec, (size_t)ne, sizeof(double), cmp_double);
	qsort(destroy, (size_t)n, sizeof(double), cmp_double);
	printf("create_ready_ms p50=%.2f p99=%.2f\n", pct(create, n, 0.5), pct(create, n, 0.99));
	printf("exec_true_ms p50=%.3f p99=%.3f\n", pct(exec, ne, 0.5), pct(exec, ne, 0.99));
	printf("destroy_ms p50=%.2f p99=%.2f\n", pct(destroy, n, 0.5), pct(destroy, n, 0.99));
out:
	agent_client_close(c);
	free(create);
	free(exec);
	free(destroy);
	return rc;
}

int main(int argc, char **argv)
{
	struct backend_config cfg = {0};
	struct backend *b = NULL;
	struct sandbox_limits lim = {0};
	struct sandbox_usage u;
	char addr[BACKEND_ADDR_MAX], **ids;
	const char *cmd, *id, *image = NULL;
	size_t n, i;
	enum result r;
	int a;

	if (argc < 4 || strcmp(argv[1], "-s") != 0)
		return usage();
	cfg.daemon_socket = argv[2];
	cfg.timeout_ms = 30000;
	if (backend_open(&cfg, &b) != R_SUCCESS)
		return fail("bad socket path", R_INVALID);
	cmd = argv[3];
	id = argc > 4 ? argv[4] : "";
	if (strcmp(cmd, "list") == 0) {
		r = backend_list(b, &ids, &n);
		if (r != R_SUCCESS)
			return fail("list", r);
		for (i = 0; i < n; i++)
			printf("%s\n", ids[i]);
		backend_list_free(ids, n);
	} else if (strcmp(cmd, "create") == 0 || strcmp(cmd, "resize") == 0) {
		for (a = 5; a < argc; a++)
			if (strncmp(argv[a], "image=", 6) == 0 && cmd[0] == 'c')
				image = argv[a] + 6;
			else if (!parse_limit(argv[a], &lim))
				return fail(argv[a], R_INVALID);
		if (cmd[0] == 'r') {
			r = backend_resize(b, id, &lim);
			if (r != R_SUCCESS)
				return fail("resize", r);
		} else {
			r = backend_create_image(b, id, &lim, image, addr, sizeof(addr));
			if (r != R_SUCCESS)
				return fail("create", r);
			printf("%s\n", addr);
		}
	} else if (strcmp(cmd, "destroy") == 0) {
		r = backend_destroy(b, id);
		if (r != R_SUCCESS)
			return fail("destroy", r);
	} else if (strcmp(cmd, "addr") == 0) {
		r = backend_agent_address(b, id, addr, sizeof(addr));
		if (r != R_SUCCESS)
			return fail("addr", r);
		printf("%s\n", addr);
	} else if (strcmp(cmd, "inspect") == 0) {
		r = backend_inspect(b, id, &u);
		if (r != R_SUCCESS)
			return fail("inspect", r);
		printf("alive=%d cpu_usec=%llu memory_current=%llu memory_peak=%llu pids=%u\n",
		       u.alive, (unsigned long long)u.cpu_usec,
		       (unsigned long long)u.memory_current, (unsigned long long)u.memory_peak,
		       u.pids);
	} else if (strcmp(cmd, "ps") == 0 || strcmp(cmd, "setenv") == 0) {
		struct agent_conn *c = NULL;
		struct agentproto_procs ps;

		r = backend_agent_address(b, id, addr, sizeof(addr));
		if (r == R_SUCCESS)
			r = agent_client_connect(addr, NULL, 2000, &c);
		if (r == R_SUCCESS && cmd[0] == 'p') {
			r = agent_client_ps(c, 2000, &ps);
			for (i = 0; r == R_SUCCESS && i < ps.n; i++)
				printf("%u %u %u %c %s\n", ps.procs[i].pid, ps.procs[i].ppid,
				       ps.procs[i].uid, ps.procs[i].state, ps.procs[i].cmd);
			if (r == R_SUCCESS)
				agentproto_procs_free(&ps);
		} else if (r == R_SUCCESS) {
			r = agent_client_set_env(c, (const char *const *)&argv[5],
						 (size_t)(argc - 5), false, 2000);
		}
		agent_client_close(c);
		if (r != R_SUCCESS)
			return fail(cmd, r);
	} else if (strcmp(cmd, "exec") == 0 && argc > 5) {
		a = do_exec(b, id, argc - 5, argv + 5);
		backend_close(b);
		return a;
	} else if (strcmp(cmd, "bench") == 0) {
		a = do_bench(b, (int)strtol(id, NULL, 10) > 0 ? (int)strtol(id, NULL, 10) : 50);
		backend_close(b);
		return a;
	} else {
		return usage();
	}
	backend_close(b);
	return 0;
}
