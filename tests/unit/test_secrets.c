/* test_secrets.c: the key ring's configuration checks, and sealing and
 * opening of secrets across key rotation. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "sandbox/secrets.h"
#include "unit.h"

#define K0 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define K1 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

/* load: config_load with these two keys in the environment. */
static enum result load(const char *key, const char *keys, const char **why)
{
	setenv("SANDPIT_SECRET_KEY", key, 1);
	setenv("SANDPIT_SECRET_KEYS", keys, 1);
	return config_load(why);
}

static void restore(void)
{
	const char *why;

	unsetenv("SANDPIT_SECRET_KEY");
	unsetenv("SANDPIT_SECRET_KEYS");
	CU_ASSERT_EQUAL(config_load(&why), R_SUCCESS);
}

static void ring_formats(void)
{
	static const struct {
		const char *key, *keys;
		enum result r;
	} v[] = {
	    {"", "", R_SUCCESS},
	    {K0, "", R_SUCCESS},
	    {K0, "a:" K1, R_SUCCESS},
	    {"", "a:" K1 ",b-2_X:" K0, R_SUCCESS},
	    {K0, "0:" K0 ",k1:" K1, R_SUCCESS},
	    {"abc", "", R_INVALID},
	    {K0 "0", "", R_INVALID},
	    {"zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "", R_INVALID},
	    {K0, K1, R_INVALID},
	    {K0, "a:" K1 ",", R_INVALID},
	    {K0, ",a:" K1, R_INVALID},
	    {K0, "a:" K1 ",a:" K0, R_INVALID},
	    {K0, "a b:" K1, R_INVALID},
	    {K0, ":" K1, R_INVALID},
	    {K0, "a:" K1 "0", R_INVALID},
	    {K0, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:" K1, R_INVALID},
	};
	const char *why;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		enum result r = load(v[i].key, v[i].keys, &why);

		CU_ASSERT_EQUAL(r, v[i].r);
		/* an error names the setting, never the key itself */
		if (r != R_SUCCESS) {
			CU_ASSERT_PTR_NOT_NULL(strstr(why, "SANDPIT_SECRET_KEY"));
			CU_ASSERT_PTR_NULL(strstr(why, K0));
			CU_ASSERT_PTR_NULL(strstr(why, K1));
		}
	}
	restore();
}

static void check_config(void)
{
	const char *why;

	CU_ASSERT_EQUAL_FATAL(load("", "", &why), R_SUCCESS);
	CU_ASSERT_EQUAL(secrets_check_config(&why), R_INVALID);
	CU_ASSERT_EQUAL_FATAL(load(K0, "", &why), R_SUCCESS);
	CU_ASSERT_EQUAL(secrets_check_config(&why), R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(load("", "a:" K1, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(secrets_check_config(&why), R_SUCCESS);
	/* "0" is SANDPIT_SECRET_KEY: the ring may name it, with the same bytes */
	CU_ASSERT_EQUAL_FATAL(load(K0, "0:" K1, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(secrets_check_config(&why), R_INVALID);
	CU_ASSERT_EQUAL_FATAL(load(K0, "0:" K0, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(secrets_check_config(&why), R_SUCCESS);
	restore();
}

static void seal_open_rotate(void)
{
	char id[SECRETS_KEY_ID_MAX + 1], *old = NULL, *cur = NULL, *v = NULL;
	const char *why;
	char saved;

	/* no key: nothing is sealed */
	CU_ASSERT_EQUAL_FATAL(load("", "", &why), R_SUCCESS);
	CU_ASSERT_EQUAL(secrets_seal("org_a", "N", "value", id, &old), R_INTERNAL);
	/* SANDPIT_SECRET_KEY alone: key "0" */
	CU_ASSERT_EQUAL_FATAL(load(K0, "", &why), R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(secrets_seal("org_a", "N", "value one", id, &old), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(id, "0");
	CU_ASSERT_EQUAL(strlen(old), 2 * (strlen("value one") + 28));
	CU_ASSERT_EQUAL_FATAL(secrets_open("org_a", "N", "0", old, &v), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(v, "value one");
	secrets_value_free(v);
	v = NULL;
	/* bound to org and name */
	CU_ASSERT_EQUAL(secrets_open("org_b", "N", "0", old, &v), R_INVALID);
	CU_ASSERT_EQUAL(secrets_open("org_a", "M", "0", old, &v), R_INVALID);
	CU_ASSERT_EQUAL(secrets_open("org_a/N", "", "0", old, &v), R_INVALID);
	CU_ASSERT_EQUAL(secrets_open("org_a", "N", "k1", old, &v), R_NOT_FOUND);
	CU_ASSERT_EQUAL(secrets_open("org_a", "N", "0", "abc", &v), R_INVALID);
	saved = old[30];
	old[30] = saved == '0' ? '1' : '0';
	CU_ASSERT_EQUAL(secrets_open("org_a", "N", "0", old, &v), R_INVALID);
	old[30] = saved;
	CU_ASSERT_PTR_NULL(v);
	/* a new current key: new seals use it, old ones still open */
	CU_ASSERT_EQUAL_FATAL(load(K0, "k1:" K1, &why), R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(secrets_seal("org_a", "N", "value two", id, &cur), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(id, "k1");
	CU_ASSERT_EQUAL_FATAL(secrets_open("org_a", "N", "0", old, &v), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(v, "value one");
	secrets_value_free(v);
	v = NULL;
	CU_ASSERT_EQUAL(secrets_open("org_a", "N", "0", cur, &v), R_INVALID);
	CU_ASSERT_EQUAL_FATAL(secrets_open("org_a", "N", "k1", cur, &v), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(v, "value two");
	secrets_value_free(v);
	v = NULL;
	/* the old key gone: its ciphertexts no longer open */
	CU_ASSERT_EQUAL_FATAL(load("", "k1:" K1, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(secrets_open("org_a", "N", "0", old, &v), R_NOT_FOUND);
	secrets_value_free(NULL);
	free(old);
	free(cur);
	restore();
}

UNIT_SUITE(secrets, {"key ring formats", ring_formats}, {"check config", check_config},
	   {"seal, open and rotate", seal_open_rotate});
