/* test_streamtoken.c: minting, verification and every way a token is refused. */
#include <string.h>

#include "auth/streamtoken.h"
#include "unit.h"

static const char secret[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
#define SEC secret, sizeof(secret) - 1
#define NOW 1700000000LL

static void roundtrip(void)
{
	char tok[STREAMTOKEN_MAX], org[64], key[64];

	CU_ASSERT_EQUAL_FATAL(
	    streamtoken_mint(SEC, "org_abc", "sbx_123", "key_1", NOW, 60, tok, sizeof(tok)),
	    R_SUCCESS);
	CU_ASSERT_EQUAL(strncmp(tok, "st2.", 4), 0);
	/* URL-safe: no characters that need escaping in a query string */
	CU_ASSERT_EQUAL(
	    strspn(tok, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."),
	    strlen(tok));
	CU_ASSERT_EQUAL(
	    streamtoken_verify(SEC, tok, "sbx_123", NOW, org, sizeof(org), key, sizeof(key)),
	    R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(org, "org_abc");
	CU_ASSERT_STRING_EQUAL(key, "key_1");
	CU_ASSERT_EQUAL(
	    streamtoken_verify(SEC, tok, "sbx_123", NOW + 59, org, sizeof(org), key, sizeof(key)),
	    R_SUCCESS);
	/* minted with a JWT: no key */
	CU_ASSERT_EQUAL_FATAL(
	    streamtoken_mint(SEC, "org_abc", "sbx_123", NULL, NOW, 60, tok, sizeof(tok)),
	    R_SUCCESS);
	CU_ASSERT_EQUAL(
	    streamtoken_verify(SEC, tok, "sbx_123", NOW, org, sizeof(org), key, sizeof(key)),
	    R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(key, "");
}

/* st1 tokens named no key, so they could outlive it: refused. */
static void st1_refused(void)
{
	char org[64] = "untouched", key[64];
	/* correctly signed under secret for org_abc/sbx_123, exp NOW + 60: as
	 * st1, and as st2 without the key field */
	static const char st1[] = "st1.b3JnX2FiYwpzYnhfMTIzCjE3MDAwMDAwNjA."
				  "Yg_HbL1l4lGlsTq0fq7Ebz4HkAplJIPyl6P3GzYKWbA";
	static const char nokey[] = "st2.b3JnX2FiYwpzYnhfMTIzCjE3MDAwMDAwNjA."
				    "cEod2J8ag3m5101wdL-2v7qY1RjFY6zcmQHEEJOcn58";

	CU_ASSERT_EQUAL(
	    streamtoken_verify(SEC, st1, "sbx_123", NOW, org, sizeof(org), key, sizeof(key)),
	    R_UNAUTHORIZED);
	CU_ASSERT_EQUAL(
	    streamtoken_verify(SEC, nokey, "sbx_123", NOW, org, sizeof(org), key, sizeof(key)),
	    R_UNAUTHORIZED);
	CU_ASSERT_STRING_EQUAL(org, "untouched");
}

static void refusals(void)
{
	char tok[STREAMTOKEN_MAX], bad[STREAMTOKEN_MAX], org[64] = "untouched", key[64];
	size_t n;

	CU_ASSERT_EQUAL_FATAL(
	    streamtoken_mint(SEC, "org_abc", "sbx_123", "key_1", NOW, 60, tok, sizeof(tok)),
	    R_SUCCESS);
	/* expired, other sandbox, other secret */
	CU_ASSERT_EQUAL(
	    streamtoken_verify(SEC, tok, "sbx_123", NOW + 60, org, sizeof(org), key, sizeof(key)),
	    R_UNAUTHORIZED);
	CU_ASSERT_EQUAL(
	    streamtoken_verify(SEC, tok, "sbx_124", NOW, org, sizeof(org), key, sizeof(key)),
	    R_UNAUTHORIZED);
	CU_ASSERT_EQUAL(
	    streamtoken_verify("other", 5, tok, "sbx_123", NOW, org, sizeof(org), key, sizeof(key)),
	    R_UNAUTHORIZED);
	CU_ASSERT_EQUAL(
	    streamtoken_verify("", 0, tok, "sbx_123", NOW, org, sizeof(org), key, sizeof(key)),
	    R_UNAUTHORIZED);
	/* minted far in the past for a time far in the future: refused */
	CU_ASSERT_EQUAL(
	    streamtoken_verify(SEC, tok, "sbx_123", NOW - 4000, org, sizeof(org), key, sizeof(key)),
	    R_UNAUTHORIZED);
	/* every single-character change of the token is refused */
	n = strlen(tok);
	for (size_t i = 0; i < n; i++) {
		memcpy(bad, tok, n + 1);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		CU_ASSERT_EQUAL(streamtoken_verify(SEC, bad, "sbx_123", NOW, org, sizeof(org), key,
						   sizeof(key)),
				R_UNAUTHORIZED);
	}
	/* truncations */
	for (size_t i = 0; i < n; i++) {
		memcpy(bad, tok, i);
		bad[i] = '\0';
		CU_ASSERT_EQUAL(streamtoken_verify(SEC, bad, "sbx_123", NOW, org, sizeof(org), key,
						   sizeof(key)),
				R_UNAUTHORIZED);
	}
	CU_ASSERT_EQUAL(
	    streamtoken_verify(SEC, "st1..", "sbx_123", NOW, org, sizeof(org), key, sizeof(key)),
	    R_UNAUTHORIZED);
	CU_ASSERT_STRING_EQUAL(org, "untouched");
	/* too small an output buffer */
	CU_ASSERT_EQUAL(streamtoken_verify(SEC, tok, "sbx_123", NOW, org, 4, key, sizeof(key)),
			R_TOO_BIG);
	CU_ASSERT_EQUAL(streamtoken_verify(SEC, tok, "sbx_123", NOW, org, sizeof(org), key, 3),
			R_TOO_BIG);
}

static void mint_validates(void)
{
	char tok[STREAMTOKEN_MAX];

	CU_ASSERT_EQUAL(streamtoken_mint("", 0, "org", "sbx", NULL, NOW, 60, tok, sizeof(tok)),
			R_INVALID);
	CU_ASSERT_EQUAL(streamtoken_mint(SEC, "", "sbx", NULL, NOW, 60, tok, sizeof(tok)),
			R_INVALID);
	CU_ASSERT_EQUAL(streamtoken_mint(SEC, "o\nrg", "sbx", NULL, NOW, 60, tok, sizeof(tok)),
			R_INVALID);
	CU_ASSERT_EQUAL(streamtoken_mint(SEC, "org", "sbx", "key", NOW, 0, tok, sizeof(tok)),
			R_INVALID);
	CU_ASSERT_EQUAL(streamtoken_mint(SEC, "org", "sbx", "key", NOW, STREAMTOKEN_MAX_TTL + 1,
					 tok, sizeof(tok)),
			R_INVALID);
	CU_ASSERT_EQUAL(streamtoken_mint(SEC, "org", "sbx", "key", NOW, 60, tok, 10), R_TOO_BIG);
	CU_ASSERT_EQUAL(streamtoken_mint(SEC, "org", "sbx", "k\ney", NOW, 60, tok, sizeof(tok)),
			R_INVALID);
}

UNIT_SUITE(streamtoken, {"roundtrip", roundtrip}, {"refusals", refusals},
	   {"st1 refused", st1_refused}, {"mint validates", mint_validates});
