/* test_id.c: prefixed IDs and API keys: format, uniqueness, validation. */
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "unit.h"

#define MANY 10000

static void format_and_prefix(void)
{
	static const char *prefixes[] = {"sbx_", "org_", "ckpt_", "art_",
					 "wh_",	 "evt_", "job_",  "x"};
	char id[ID_MAX_SIZE];

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t plen = strlen(prefixes[i]);

		CU_ASSERT_EQUAL_FATAL(id_new(prefixes[i], id, sizeof(id)), R_SUCCESS);
		CU_ASSERT_EQUAL(strlen(id), plen + ID_RAND_LEN);
		CU_ASSERT_EQUAL(strncmp(id, prefixes[i], plen), 0);
		CU_ASSERT_EQUAL(strspn(id + plen, "0123456789abcdefghijklmnopqrstuvwxyz"),
				ID_RAND_LEN);
		CU_ASSERT_TRUE(id_is_valid(prefixes[i], id));
	}
	/* ID_SIZE is exactly enough. */
	{
		char exact[ID_SIZE("sbx_")];
		CU_ASSERT_EQUAL(sizeof(exact), 25);
		CU_ASSERT_EQUAL(id_new("sbx_", exact, sizeof(exact)), R_SUCCESS);
		CU_ASSERT_TRUE(id_is_valid("sbx_", exact));
	}
}

static int cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void unique_and_spread(void)
{
	char(*ids)[ID_SIZE("sbx_")] = malloc(MANY * sizeof(*ids));
	unsigned counts[36] = {0};
	size_t dups = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
	for (size_t i = 0; i < MANY; i++) {
		CU_ASSERT_EQUAL_FATAL(id_new("sbx_", ids[i], sizeof(ids[i])), R_SUCCESS);
		for (size_t k = 4; k < 4 + ID_RAND_LEN; k++) {
			char c = ids[i][k];
			counts[c <= '9' ? c - '0' : c - 'a' + 10]++;
		}
	}
	qsort(ids, MANY, sizeof(ids[0]), cmp);
	for (size_t i = 1; i < MANY; i++)
		dups += strcmp(ids[i - 1], ids[i]) == 0;
	CU_ASSERT_EQUAL(dups, 0);
	/* 200,000 characters, expected 5,556 each (sd about 73). Modulo bias
	 * would put the first four characters about 1.6% (90) high; this bound
	 * only catches gross errors (a dead or doubled character). */
	for (size_t c = 0; c < 36; c++) {
		CU_ASSERT(counts[c] > 5100);
		CU_ASSERT(counts[c] < 6000);
	}
	free(ids);
}

static void rejects_bad_ids(void)
{
	static const struct {
		const char *prefix, *s;
	} bad[] = {
	    {"sbx_", NULL},
	    {"sbx_", ""},
	    {"sbx_", "sbx_"},
	    {"sbx_", "sbx_0123456789abcdefghi"},   /* 19 */
	    {"sbx_", "sbx_0123456789abcdefghijk"}, /* 21 */
	    {"sbx_", "sbx_0123456789ABCDEFGHIJ"},  /* uppercase */
	    {"sbx_", "sbx_0123456789abcdefgh-j"},  /* outside the alphabet */
	    {"sbx_", "sbx_0123456789abcdefgh j"},
	    {"sbx_", "sbx_0123456789abcdefgh_j"},
	    {"sbx_", "sbx_0123456789abcdefgh%j"},
	    {"sbx_", "SBX_0123456789abcdefghij"}, /* prefix case */
	    {"sbx_", "org_0123456789abcdefghij"}, /* other prefix */
	    {"sbx_", "sbx-0123456789abcdefghij"},
	    {"sbx_", "xsbx_0123456789abcdefghi"},
	    {"sbx_", "sbx_0123456789abcdefghij/"},
	    {"sbx_", "sbx_../../../etc/passwdxx"},
	    {"sbx", "sbx_0123456789abcdefghij"}, /* prefix must match exactly */
	    {"", "0123456789abcdefghij"},	 /* bad prefixes are never valid */
	    {NULL, "sbx_0123456789abcdefghij"},
	    {"SBX_", "SBX_0123456789abcdefghij"},
	    {"sbx-", "sbx-0123456789abcdefghij"},
	    {"abcdefghijklmnopq", "abcdefghijklmnopq0123456789abcdefghij"}, /* 17 > max */
	};
	char id[ID_MAX_SIZE];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_FALSE(id_is_valid(bad[i].prefix, bad[i].s));
	CU_ASSERT_TRUE(id_is_valid("sbx_", "sbx_0123456789abcdefghij"));
	CU_ASSERT_TRUE(id_is_valid("abcdefghijklmnop", "abcdefghijklmnop0123456789abcdefghij"));
	/* A NUL inside the random part makes it too short. */
	CU_ASSERT_FALSE(id_is_valid("sbx_", "sbx_0123456789\0bcdefghij"));

	/* id_new: bad prefixes and short buffers; out left untouched. */
	memcpy(id, "untouched", sizeof("untouched"));
	CU_ASSERT_EQUAL(id_new("", id, sizeof(id)), R_INVALID);
	CU_ASSERT_EQUAL(id_new(NULL, id, sizeof(id)), R_INVALID);
	CU_ASSERT_EQUAL(id_new("Sbx_", id, sizeof(id)), R_INVALID);
	CU_ASSERT_EQUAL(id_new("sbx/", id, sizeof(id)), R_INVALID);
	CU_ASSERT_EQUAL(id_new("abcdefghijklmnopq", id, sizeof(id)), R_INVALID);
	CU_ASSERT_EQUAL(id_new("sbx_", id, ID_SIZE("sbx_") - 1), R_TOO_BIG);
	CU_ASSERT_STRING_EQUAL(id, "untouched");
}

static void api_keys(void)
{
	char k1[ID_API_KEY_SIZE], k2[ID_API_KEY_SIZE], disp[ID_API_KEY_DISPLAY_SIZE];

	CU_ASSERT_EQUAL(ID_API_KEY_LEN, 54);
	CU_ASSERT_EQUAL_FATAL(id_new_api_key(k1, sizeof(k1)), R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(id_new_api_key(k2, sizeof(k2)), R_SUCCESS);
	CU_ASSERT_EQUAL(strlen(k1), 54);
	CU_ASSERT_EQUAL(strncmp(k1, "sk-sandbox-", 11), 0);
	CU_ASSERT_EQUAL(strspn(k1 + 11, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"abcdefghijklmnopqrstuvwxyz"),
			43);
	CU_ASSERT_STRING_NOT_EQUAL(k1, k2);
	CU_ASSERT_TRUE(id_is_api_key(k1));

	CU_ASSERT_EQUAL_FATAL(id_api_key_display(k1, disp, sizeof(disp)), R_SUCCESS);
	CU_ASSERT_EQUAL(strlen(disp), 15);
	CU_ASSERT_EQUAL(strncmp(disp, k1, 15), 0);
	CU_ASSERT_EQUAL(strncmp(disp, "sk-sandbox-", 11), 0);
	CU_ASSERT_EQUAL(id_api_key_display(k1, disp, sizeof(disp) - 1), R_TOO_BIG);
	CU_ASSERT_EQUAL(id_api_key_display("sk-sandbox-short", disp, sizeof(disp)), R_INVALID);
	CU_ASSERT_EQUAL(id_new_api_key(k2, sizeof(k2) - 1), R_TOO_BIG);

	/* Format checks on near misses of a real key. */
	CU_ASSERT_FALSE(id_is_api_key(NULL));
	CU_ASSERT_FALSE(id_is_api_key(""));
	CU_ASSERT_FALSE(id_is_api_key("sk-sandbox-"));
	memcpy(k2, k1, sizeof(k1));
	k2[0] = 'S';
	CU_ASSERT_FALSE(id_is_api_key(k2));
	memcpy(k2, k1, sizeof(k1));
	k2[20] = '-';
	CU_ASSERT_FALSE(id_is_api_key(k2));
	memcpy(k2, k1, sizeof(k1));
	k2[53] = '\0';
	CU_ASSERT_FALSE(id_is_api_key(k2));
	{
		char longer[ID_API_KEY_SIZE + 1];
		memcpy(longer, k1, ID_API_KEY_LEN);
		longer[ID_API_KEY_LEN] = 'a';
		longer[ID_API_KEY_LEN + 1] = '\0';
		CU_ASSERT_FALSE(id_is_api_key(longer));
	}
}

static void api_keys_unique(void)
{
	char(*keys)[ID_API_KEY_SIZE] = malloc(1000 * sizeof(*keys));
	size_t dups = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(keys);
	for (size_t i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL_FATAL(id_new_api_key(keys[i], sizeof(keys[i])), R_SUCCESS);
	qsort(keys, 1000, sizeof(keys[0]), cmp);
	for (size_t i = 1; i < 1000; i++)
		dups += strcmp(keys[i - 1], keys[i]) == 0;
	CU_ASSERT_EQUAL(dups, 0);
	free(keys);
}

/* word_rule: fn takes every good word and the longest one of max bytes,
 * refuses NULL, "", every bad word and one byte over max. */
static void word_rule(bool (*fn)(const char *), size_t max, const char *const *good,
		      const char *const *bad)
{
	char longest[80];

	CU_ASSERT_FATAL(max + 2 <= sizeof(longest));
	for (size_t i = 0; good[i] != NULL; i++)
		CU_ASSERT_TRUE(fn(good[i]));
	for (size_t i = 0; bad[i] != NULL; i++)
		CU_ASSERT_FALSE(fn(bad[i]));
	CU_ASSERT_FALSE(fn(NULL));
	CU_ASSERT_FALSE(fn(""));
	memset(longest, 'a', max + 1);
	longest[max] = '\0';
	CU_ASSERT_TRUE(fn(longest));
	longest[max] = 'a';
	longest[max + 1] = '\0';
	CU_ASSERT_FALSE(fn(longest));
}

/* Runtime names: the backend's, boxd's and the cgroup module's one rule. */
static void names(void)
{
	word_rule(id_is_name, 63,
		  (const char *const[]){"sbx_0123456789abcdefghij", "Warm-Pool_1", NULL},
		  (const char *const[]){".", "..", "a/b", "a b", "a\nb", "a.b", NULL});
}

/* Request IDs: the API's and the stream proxy's one rule. */
static void request_ids(void)
{
	word_rule(id_request_is_sane, 39,
		  (const char *const[]){"req_0123abcd", "trace-1.2_A", NULL},
		  (const char *const[]){"a b", "a\"b", "a=b", "a\nb", "a/b", NULL});
}

UNIT_SUITE(id, {"format and prefix", format_and_prefix}, {"runtime names", names},
	   {"request ids", request_ids}, {"unique over 10000 and spread", unique_and_spread},
	   {"rejects bad ids", rejects_bad_ids}, {"api keys", api_keys},
	   {"api keys unique", api_keys_unique});
