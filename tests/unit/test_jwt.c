/* test_jwt.c: HS256 tokens, the RFC 7519 example, and every rejection rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/json.h"
#include "auth/jwt.h"
#include "unit.h"

#define NOW 1700000000LL

static const char secret[] = "test-secret-that-is-long-enough-0123456789";

/* forge: build "<b64url(header)>.<b64url(payload)>.<b64url(HMAC)>" by hand so
 * a token can carry any header while still having a valid signature; then
 * the only reason for a rejection is the one under test. */
static void forge(const char *header, const char *payload, char *out, size_t outsize)
{
	unsigned char mac[CRYPTO_SHA256_LEN];
	size_t n = 0, used;

	CU_ASSERT_EQUAL_FATAL(crypto_base64url_encode(header, strlen(header), out, outsize, &n),
			      R_SUCCESS);
	used = n;
	CU_ASSERT_FATAL(used + 1 < outsize);
	out[used++] = '.';
	CU_ASSERT_EQUAL_FATAL(
	    crypto_base64url_encode(payload, strlen(payload), out + used, outsize - used, &n),
	    R_SUCCESS);
	used += n;
	CU_ASSERT_EQUAL_FATAL(crypto_hmac_sha256(secret, strlen(secret), out, used, mac),
			      R_SUCCESS);
	CU_ASSERT_FATAL(used + 1 < outsize);
	out[used++] = '.';
	CU_ASSERT_EQUAL_FATAL(
	    crypto_base64url_encode(mac, sizeof(mac), out + used, outsize - used, &n), R_SUCCESS);
}

static enum result verify(const char *token, long long now)
{
	struct json *claims = (struct json *)&claims; /* sentinel: must survive failure */
	enum result r = jwt_verify(token, secret, strlen(secret), now, &claims);

	if (r == R_SUCCESS)
		json_free(claims);
	else
		CU_ASSERT_PTR_EQUAL(claims, (struct json *)&claims);
	return r;
}

static void rfc7519_example(void)
{
	static const char token[] =
	    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
	    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb2"
	    "90Ijp0cnVlfQ"
	    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	/* RFC 7515 appendix A.1 key, as its JWK "k" member (base64url). */
	static const char k[] =
	    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4"
	    "hcgUuTwjAzZr1Z9CAow";
	unsigned char key[64];
	struct json *claims = NULL;
	const char *iss = NULL;
	bool root = false;
	long long exp = 0;
	size_t klen = 0;

	CU_ASSERT_EQUAL_FATAL(crypto_base64url_decode(k, strlen(k), key, sizeof(key), &klen),
			      R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(klen, 64);
	/* exp is 1300819380: verify one second before it. */
	CU_ASSERT_EQUAL_FATAL(jwt_verify(token, key, klen, 1300819379LL, &claims), R_SUCCESS);
	CU_ASSERT_EQUAL(json_get_str(claims, "iss", &iss), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(iss, "joe");
	CU_ASSERT_EQUAL(json_get_int(claims, "exp", &exp), R_SUCCESS);
	CU_ASSERT_EQUAL(exp, 1300819380LL);
	CU_ASSERT_EQUAL(json_get_bool(claims, "http://example.com/is_root", &root), R_SUCCESS);
	CU_ASSERT_TRUE(root);
	json_free(claims);
	/* At exp it is expired (exp <= now), and today it certainly is. */
	claims = NULL;
	CU_ASSERT_EQUAL(jwt_verify(token, key, klen, 1300819380LL, &claims), R_UNAUTHORIZED);
	CU_ASSERT_EQUAL(jwt_verify(token, key, klen, NOW, &claims), R_UNAUTHORIZED);
	CU_ASSERT_PTR_NULL(claims);
	/* Wrong key. */
	key[0] ^= 1;
	CU_ASSERT_EQUAL(jwt_verify(token, key, klen, 1300819379LL, &claims), R_UNAUTHORIZED);
}

static struct json *sample_claims(long long exp)
{
	struct json *c = json_new_object();

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(json_add_str(c, "sub", "user_1"), R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(json_add_str(c, "org_id", "org_abc"), R_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(json_add_int(c, "exp", exp), R_SUCCESS);
	return c;
}

static void sign_then_verify(void)
{
	struct json *c = sample_claims(NOW + 60), *got = NULL;
	const char *org = NULL;
	char *tok = NULL, *again = NULL;

	CU_ASSERT_EQUAL_FATAL(jwt_sign(c, secret, strlen(secret), &tok), R_SUCCESS);
	CU_ASSERT_EQUAL(strncmp(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37), 0);
	CU_ASSERT_EQUAL_FATAL(jwt_verify(tok, secret, strlen(secret), NOW, &got), R_SUCCESS);
	CU_ASSERT_EQUAL(json_get_str(got, "org_id", &org), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(org, "org_abc");
	/* Deterministic: the same claims and key give the same token. */
	CU_ASSERT_EQUAL_FATAL(jwt_sign(got, secret, strlen(secret), &again), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(tok, again);
	/* A different secret, or a prefix of it, does not verify. */
	CU_ASSERT_EQUAL(jwt_verify(tok, "other", 5, NOW, &got), R_UNAUTHORIZED);
	CU_ASSERT_EQUAL(jwt_verify(tok, secret, strlen(secret) - 1, NOW, &got), R_UNAUTHORIZED);
	json_free(got);
	json_free(c);
	free(tok);
	free(again);
}

static void sign_refuses(void)
{
	struct json *arr = json_new_array(), *big = json_new_object();
	char *tok = NULL, *s;

	CU_ASSERT_EQUAL(jwt_sign(arr, secret, strlen(secret), &tok), R_INVALID);
	CU_ASSERT_EQUAL(jwt_sign(NULL, secret, strlen(secret), &tok), R_INVALID);
	CU_ASSERT_EQUAL(jwt_sign(big, "", 0, &tok), R_INVALID);
	CU_ASSERT_EQUAL(jwt_sign(big, NULL, 0, &tok), R_INVALID);
	/* Claims too large for JWT_MAX_LEN once encoded. */
	s = malloc(JWT_MAX_LEN);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(s, 'x', JWT_MAX_LEN - 1);
	s[JWT_MAX_LEN - 1] = '\0';
	CU_ASSERT_EQUAL_FATAL(json_add_str(big, "pad", s), R_SUCCESS);
	CU_ASSERT_EQUAL(jwt_sign(big, secret, strlen(secret), &tok), R_TOO_BIG);
	CU_ASSERT_PTR_NULL(tok);
	free(s);
	json_free(arr);
	json_free(big);
}

static void tampered(void)
{
	struct json *c = sample_claims(NOW + 60);
	char *tok = NULL, *dot1, *dot2, save;

	CU_ASSERT_EQUAL_FATAL(jwt_sign(c, secret, strlen(secret), &tok), R_SUCCESS);
	CU_ASSERT_EQUAL(verify(tok, NOW), R_SUCCESS);
	dot1 = strchr(tok, '.');
	dot2 = strchr(dot1 + 1, '.');

	/* Payload: change one character in the middle, then put it back. */
	save = dot1[5];
	dot1[5] = save == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(verify(tok, NOW), R_UNAUTHORIZED);
	dot1[5] = save;
	CU_ASSERT_EQUAL(verify(tok, NOW), R_SUCCESS);

	/* Signature: first character, and one in the middle. */
	save = dot2[1];
	dot2[1] = save == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(verify(tok, NOW), R_UNAUTHORIZED);
	dot2[1] = save;
	CU_ASSERT_EQUAL(verify(tok, NOW), R_SUCCESS);
	dot2[20] = dot2[20] == 'z' ? 'y' : 'z';
	CU_ASSERT_EQUAL(verify(tok, NOW), R_UNAUTHORIZED);
	dot2[20] = '\0'; /* truncated signature */
	CU_ASSERT_EQUAL(verify(tok, NOW), R_UNAUTHORIZED);
	json_free(c);
	free(tok);
}

static void expiry_and_not_before(void)
{
	static const struct {
		const char *payload;
		enum result want;
	} rows[] = {
	    {"{\"exp\":1700000001}", R_SUCCESS},
	    {"{\"exp\":1700000000}", R_UNAUTHORIZED}, /* exp == now is expired */
	    {"{\"exp\":1699999999}", R_UNAUTHORIZED},
	    {"{\"exp\":1700000000.5}", R_SUCCESS}, /* NumericDate may be fractional */
	    {"{\"nbf\":1700000000}", R_SUCCESS},
	    {"{\"nbf\":1700000001}", R_UNAUTHORIZED}, /* not yet valid */
	    {"{\"nbf\":1699999999,\"exp\":1700000100}", R_SUCCESS},
	    {"{\"nbf\":1700000050,\"exp\":1700000100}", R_UNAUTHORIZED},
	    {"{\"exp\":\"1800000000\"}", R_UNAUTHORIZED}, /* not a number */
	    {"{\"exp\":null}", R_UNAUTHORIZED},
	    {"{\"exp\":true}", R_UNAUTHORIZED},
	    {"{\"nbf\":\"0\"}", R_UNAUTHORIZED},
	    {"{\"nbf\":[0]}", R_UNAUTHORIZED},
	    {"{}", R_SUCCESS}, /* no exp: valid until the key rotates */
	};
	char tok[512];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", rows[i].payload, tok, sizeof(tok));
		CU_ASSERT_EQUAL(verify(tok, NOW), rows[i].want);
	}
}

static void bad_headers_and_claims(void)
{
	static const struct {
		const char *header, *payload;
	} rows[] = {
	    {"{\"alg\":\"none\"}", "{}"},
	    {"{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "{}"},
	    {"{\"alg\":\"HS384\"}", "{}"},
	    {"{\"alg\":\"RS256\"}", "{}"},
	    {"{\"alg\":\"hs256\"}", "{}"},
	    {"{\"alg\":\"Hs256\"}", "{}"},
	    {"{\"alg\":\"HS256 \"}", "{}"},
	    {"{\"alg\":\"\"}", "{}"},
	    {"{\"alg\":256}", "{}"},
	    {"{\"alg\":null}", "{}"},
	    {"{\"typ\":\"JWT\"}", "{}"},		      /* alg missing */
	    {"{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{}"}, /* unknown crit */
	    {"[\"HS256\"]", "{}"},			      /* header not an object */
	    {"\"HS256\"", "{}"},
	    {"{\"alg\":\"HS256\"", "{}"},   /* header not JSON */
	    {"{\"alg\":\"HS256\"}", "[1]"}, /* claims not an object */
	    {"{\"alg\":\"HS256\"}", "\"sub\""},
	    {"{\"alg\":\"HS256\"}", "null"},
	    {"{\"alg\":\"HS256\"}", "{\"sub\":1"}, /* claims not JSON */
	    {"{\"alg\":\"HS256\"}", "{} {}"},
	};
	char tok[512];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		forge(rows[i].header, rows[i].payload, tok, sizeof(tok));
		CU_ASSERT_EQUAL(verify(tok, NOW), R_UNAUTHORIZED);
		if (verify(tok, NOW) != R_UNAUTHORIZED)
			fprintf(stderr, "accepted header=%s payload=%s\n", rows[i].header,
				rows[i].payload);
	}
	/* Control: the same machinery with a good header passes. */
	forge("{\"alg\":\"HS256\"}", "{\"sub\":\"x\"}", tok, sizeof(tok));
	CU_ASSERT_EQUAL(verify(tok, NOW), R_SUCCESS);
}

static void alg_none_unsigned(void)
{
	/* The classic attack: alg none and an empty signature. */
	static const char tok[] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiJ9.";

	CU_ASSERT_EQUAL(verify(tok, NOW), R_UNAUTHORIZED);
}

static void malformed_structure(void)
{
	char good[512], buf[1200];
	static const char *rows[] = {
	    "",
	    ".",
	    "..",
	    "...",
	    "abc",
	    "eyJhbGciOiJIUzI1NiJ9.e30",		  /* two parts */
	    "eyJhbGciOiJIUzI1NiJ9.e30.",	  /* empty signature */
	    ".e30.c2ln",			  /* empty header */
	    "eyJhbGciOiJIUzI1NiJ9..c2ln",	  /* empty payload */
	    "eyJhbGciOiJIUzI1NiJ9.e30.c2ln.c2ln", /* four parts */
	    "eyJhbGciOiJIUzI1NiJ9=.e30.c2ln",	  /* padding */
	    "eyJhbGciOiJIUzI1NiJ9.e30=.c2ln",
	    "eyJhbGciOiJIUzI1NiJ9.e3+0.c2ln", /* standard alphabet */
	    "eyJhbGciOiJIUzI1NiJ9.e3/0.c2ln",
	    "eyJhbGciOiJIUzI1NiJ9.e 30.c2ln", /* whitespace */
	    "eyJhbGciOiJIUzI1NiJ9.e30.c2ln\n",
	    "eyJhbGciOiJIUzI1NiJ9.e.c2ln", /* 1 mod 4 */
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CU_ASSERT_EQUAL(verify(rows[i], NOW), R_UNAUTHORIZED);
	CU_ASSERT_EQUAL(verify(NULL, NOW), R_UNAUTHORIZED);

	forge("{\"alg\":\"HS256\"}", "{}", good, sizeof(good));
	CU_ASSERT_EQUAL(verify(good, NOW), R_SUCCESS);
	/* A valid token with extra parts or padding on its signature. */
	snprintf(buf, sizeof(buf), "%s.%s", good, strrchr(good, '.') + 1);
	CU_ASSERT_EQUAL(verify(buf, NOW), R_UNAUTHORIZED);
	snprintf(buf, sizeof(buf), "%s=", good);
	CU_ASSERT_EQUAL(verify(buf, NOW), R_UNAUTHORIZED);
	snprintf(buf, sizeof(buf), "%sAA", good); /* signature decodes to 33 bytes */
	CU_ASSERT_EQUAL(verify(buf, NOW), R_UNAUTHORIZED);
	/* Empty secret never verifies, even a token made with an empty key. */
	{
		struct json *c = NULL;
		CU_ASSERT_EQUAL(jwt_verify(good, "", 0, NOW, &c), R_UNAUTHORIZED);
		CU_ASSERT_EQUAL(jwt_verify(good, NULL, 0, NOW, &c), R_UNAUTHORIZED);
		CU_ASSERT_PTR_NULL(c);
	}
}

static void length_cap(void)
{
	char *big = malloc(JWT_MAX_LEN + 2), head[64];
	size_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	/* A long token is refused before any decoding or MAC work. */
	CU_ASSERT_EQUAL_FATAL(
	    crypto_base64url_encode("{\"alg\":\"HS256\"}", 15, head, sizeof(head), &n), R_SUCCESS);
	memcpy(big, head, n);
	big[n] = '.';
	memset(big + n + 1, 'A', JWT_MAX_LEN + 1 - n - 1);
	big[JWT_MAX_LEN - 10] = '.';
	big[JWT_MAX_LEN + 1] = '\0';
	CU_ASSERT_EQUAL(strlen(big), JWT_MAX_LEN + 1);
	CU_ASSERT_EQUAL(verify(big, NOW), R_UNAUTHORIZED);
	free(big);
}

UNIT_SUITE(jwt, {"rfc 7519 3.1 example", rfc7519_example}, {"sign then verify", sign_then_verify},
	   {"sign refuses", sign_refuses}, {"tampered payload and signature", tampered},
	   {"exp and nbf", expiry_and_not_before},
	   {"bad alg, header, claims", bad_headers_and_claims},
	   {"alg none unsigned", alg_none_unsigned},
	   {"malformed structure and bad base64", malformed_structure}, {"length cap", length_cap});
