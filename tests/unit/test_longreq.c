/* test_longreq.c: the per-org and per-host long-request counts, within a
 * process and across forked ones (as the API's workers share them). */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../fcgi-app/longreq.h"
#include "unit.h"

static void per_org_cap(void)
{
	struct longreq *lr = longreq_new(16);

	CU_ASSERT_PTR_NOT_NULL_FATAL(lr);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(longreq_enter(lr, "org_a", 3, 10), R_SUCCESS);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_a", 3, 10), R_QUOTA);
	/* another org is not held back by the first one's cap */
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_b", 3, 10), R_SUCCESS);
	CU_ASSERT_EQUAL(longreq_count(lr, "org_a"), 3);
	longreq_leave(lr, "org_a");
	CU_ASSERT_EQUAL(longreq_count(lr, "org_a"), 2);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_a", 3, 10), R_SUCCESS);
	longreq_free(lr);
}

static void host_cap(void)
{
	struct longreq *lr = longreq_new(16);

	CU_ASSERT_PTR_NOT_NULL_FATAL(lr);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_a", 5, 3), R_SUCCESS);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_b", 5, 3), R_SUCCESS);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_c", 5, 3), R_SUCCESS);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_d", 5, 3), R_CONFLICT);
	longreq_leave(lr, "org_b");
	CU_ASSERT_EQUAL(longreq_count(lr, "org_b"), 0);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_d", 5, 3), R_SUCCESS);
	/* a full table refuses rather than overflowing */
	longreq_free(lr);
	lr = longreq_new(1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lr);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_a", 5, 5), R_SUCCESS);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_b", 5, 5), R_CONFLICT);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_a", 5, 5), R_SUCCESS);
	longreq_free(lr);
	CU_ASSERT_PTR_NULL(longreq_new(0));
}

/* A forked process shares the counts; a dead one's are dropped by forget. */
static void shared_and_forgotten(void)
{
	struct longreq *lr = longreq_new(16);
	int status = 0;
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(lr);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		/* dies holding two slots, as a killed worker would */
		_exit(longreq_enter(lr, "org_a", 2, 10) != R_SUCCESS ||
		      longreq_enter(lr, "org_a", 2, 10) != R_SUCCESS);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(longreq_count(lr, "org_a"), 2);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_a", 2, 10), R_QUOTA);
	longreq_forget(lr, pid);
	CU_ASSERT_EQUAL(longreq_count(lr, "org_a"), 0);
	CU_ASSERT_EQUAL(longreq_enter(lr, "org_a", 2, 10), R_SUCCESS);
	longreq_free(lr);
}

UNIT_SUITE(longreq, {"per org cap", per_org_cap}, {"host cap and full table", host_cap},
	   {"shared across processes, forgotten with a dead one", shared_and_forgotten});
