/* test_auth.c: scope sets and key hashing (the database side is covered by
 * the integration suite). */
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/json.h"
#include "unit.h"

static void scopes_from_json(void)
{
	static const struct {
		const char *text;
		enum result r;
		unsigned set;
	} v[] = {
	    {"[\"read\"]", R_SUCCESS, AUTH_SCOPE_READ},
	    {"[\"read\",\"write\",\"admin\"]", R_SUCCESS, AUTH_SCOPES_ALL},
	    {"[\"admin\",\"admin\"]", R_SUCCESS, AUTH_SCOPE_ADMIN},
	    {"[]", R_INVALID, 0},
	    {"[\"root\"]", R_INVALID, 0},
	    {"[\"Read\"]", R_INVALID, 0},
	    {"[1]", R_INVALID, 0},
	    {"\"read\"", R_INVALID, 0},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct json *j = json_parse(v[i].text, strlen(v[i].text));
		unsigned set = 99;

		CU_ASSERT_PTR_NOT_NULL_FATAL(j);
		CU_ASSERT_EQUAL(auth_scopes_from_json(j, &set), v[i].r);
		CU_ASSERT_EQUAL(set, v[i].r == R_SUCCESS ? v[i].set : 99);
		json_free(j);
	}
}

static void scopes_round_trip(void)
{
	char pg[64];
	struct json *j = auth_scopes_to_json(AUTH_SCOPE_READ | AUTH_SCOPE_ADMIN);
	char *text = json_print(j);

	auth_scopes_pg(AUTH_SCOPES_ALL, pg, sizeof(pg));
	CU_ASSERT_STRING_EQUAL(pg, "{read,write,admin}");
	auth_scopes_pg(AUTH_SCOPE_WRITE, pg, sizeof(pg));
	CU_ASSERT_STRING_EQUAL(pg, "{write}");
	CU_ASSERT_STRING_EQUAL(text, "[\"read\",\"admin\"]");
	free(text);
	json_free(j);
}

static void key_hash_is_sha256_hex(void)
{
	char hex[65];

	CU_ASSERT_EQUAL(auth_hash_key("abc", hex), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(hex,
			       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void malformed_headers_never_reach_the_database(void)
{
	struct auth_policy p = {.jwt_secret = "", .rate_per_minute = 60, .burst = 10};
	static const char *const bad[] = {NULL,
					  "",
					  "ApiKey",
					  "ApiKey short",
					  "Basic abc",
					  "Bearer not-a-jwt",
					  "ApiKey sk-sandbox-"};
	struct auth a;
	int retry = -1;

	/* db is NULL: any of these touching the database would crash. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(auth_check(NULL, bad[i], &p, &a, &retry), R_UNAUTHORIZED);
	CU_ASSERT_EQUAL(retry, -1);
}

UNIT_SUITE(auth, {"scopes from json", scopes_from_json}, {"scopes round trip", scopes_round_trip},
	   {"key hash is sha256 hex", key_hash_is_sha256_hex},
	   {"malformed headers never reach the database",
	    malformed_headers_never_reach_the_database});
