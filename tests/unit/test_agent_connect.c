/* test_agent_connect.c: agent_client_connect_start/_retry, the event loop's
 * connect: never waits, reports a full backlog as pending, and connects on
 * a retry once the listener took a connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "unit.h"

/* listener: a unix socket with the smallest backlog, at a fresh path. */
static int listener(char *addr, size_t size, char *path, size_t psize)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	snprintf(path, psize, "/tmp/sp-unit-agent-%ld.sock", (long)getpid());
	snprintf(addr, size, "unix:%s", path);
	unlink(path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 0) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void full_backlog_is_pending(void)
{
	char addr[128], path[108];
	/* one slot past the loop's bound, so the fatal check below is not the
	 * only thing keeping c[n] in bounds (cppcheck cannot see CUnit's) */
	struct agent_conn *c[9] = {0}, *late = NULL;
	bool pending = false;
	int lfd = listener(addr, sizeof(addr), path, sizeof(path)), n = 0, afd;

	CU_ASSERT_FATAL(lfd >= 0);
	/* fill the backlog: connects complete without an accept until it is full */
	for (n = 0; n < 8; n++) {
		CU_ASSERT_EQUAL_FATAL(agent_client_connect_start(addr, NULL, &c[n], &pending),
				      R_SUCCESS);
		if (pending)
			break;
	}
	CU_ASSERT_FATAL(n < 8 && pending);
	late = c[n];
	/* still full: still pending, and no wait */
	CU_ASSERT_EQUAL(agent_client_connect_retry(late, addr, &pending), R_SUCCESS);
	CU_ASSERT_TRUE(pending);
	/* the listener takes one: the retry connects */
	afd = accept(lfd, NULL, NULL);
	CU_ASSERT(afd >= 0);
	CU_ASSERT_EQUAL(agent_client_connect_retry(late, addr, &pending), R_SUCCESS);
	CU_ASSERT_FALSE(pending);
	for (int i = 0; i <= n; i++)
		agent_client_close(c[i]);
	if (afd >= 0)
		close(afd);
	close(lfd);
	unlink(path);
}

static void refusals(void)
{
	struct agent_conn *c = NULL;
	bool pending = false;

	CU_ASSERT_EQUAL(agent_client_connect_start("tcp:127.0.0.1:1", NULL, &c, &pending),
			R_INVALID);
	CU_ASSERT_EQUAL(agent_client_connect_start("unix:relative", NULL, &c, &pending), R_INVALID);
	CU_ASSERT_EQUAL(
	    agent_client_connect_start("unix:/nonexistent/sandpit-agent.sock", NULL, &c, &pending),
	    R_UPSTREAM);
	CU_ASSERT_PTR_NULL(c);
}

UNIT_SUITE(agent_connect, {"full backlog is pending", full_backlog_is_pending},
	   {"refusals", refusals});
