/* test_route.c: route patterns against request paths, table-driven. */
#include <string.h>

#include "../../fcgi-app/route.h"
#include "unit.h"

struct route_case {
	const char *pattern, *path;
	bool hit;
	const char *cap0, *cap1;
};

static const struct route_case cases[] = {
    {"/api/v1/health", "/api/v1/health", true, NULL, NULL},
    {"/api/v1/health", "/api/v1/health/", false, NULL, NULL},
    {"/api/v1/health", "/api/v1/healthz", false, NULL, NULL},
    {"/api/v1/health", "/api/v1", false, NULL, NULL},
    {"/api/v1/health", "/api/v1//health", false, NULL, NULL},
    {"/api/v1/sandbox/:id", "/api/v1/sandbox/sbx_1", true, "sbx_1", NULL},
    {"/api/v1/sandbox/:id", "/api/v1/sandbox/", false, NULL, NULL},
    {"/api/v1/sandbox/:id", "/api/v1/sandbox", false, NULL, NULL},
    {"/api/v1/sandbox/:id", "/api/v1/sandbox/a/b", false, NULL, NULL},
    {"/api/v1/sandbox/:id/files", "/api/v1/sandbox/x/files", true, "x", NULL},
    {"/api/v1/sandbox/:id/files", "/api/v1/sandbox//files", false, NULL, NULL},
    {"/api/v1/webhooks/:id/deliveries", "/api/v1/webhooks/wh_9/deliveries", true, "wh_9", NULL},
    {"/a/:x/b/:y", "/a/1/b/2", true, "1", "2"},
    {"/a/:x/b/:y", "/a/1/c/2", false, NULL, NULL},
    {"/a/:x", "/a/..", true, "..", NULL}, /* a capture is a segment, validated by its handler */
    {"", "", true, NULL, NULL},
    {"/", "", false, NULL, NULL},
};

static void match_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct route_case *c = &cases[i];
		struct route_caps caps = {.n = 99};
		bool hit = route_match(c->pattern, c->path, &caps);

		CU_ASSERT_EQUAL(hit, c->hit);
		if (!hit) {
			CU_ASSERT_EQUAL(caps.n, 99); /* untouched on a miss */
			continue;
		}
		CU_ASSERT_EQUAL(caps.n, (c->cap0 != NULL) + (c->cap1 != NULL));
		if (c->cap0)
			CU_ASSERT(caps.len[0] == strlen(c->cap0) &&
				  memcmp(caps.at[0], c->cap0, caps.len[0]) == 0);
		if (c->cap1)
			CU_ASSERT(caps.len[1] == strlen(c->cap1) &&
				  memcmp(caps.at[1], c->cap1, caps.len[1]) == 0);
	}
}

static void capture_count_is_bounded(void)
{
	struct route_caps caps;

	CU_ASSERT_TRUE(route_match("/:a/:b/:c/:d", "/1/2/3/4", &caps));
	CU_ASSERT_EQUAL(caps.n, 4);
	CU_ASSERT_FALSE(route_match("/:a/:b/:c/:d/:e", "/1/2/3/4/5", &caps));
}

UNIT_SUITE(route, {"match table", match_table},
	   {"capture count is bounded", capture_count_is_bounded});
