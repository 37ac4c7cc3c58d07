/* jwt.c: HS256 JSON Web Tokens over crypto.c and json.c. */
#include "auth/jwt.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"

/* base64url('{"alg":"HS256","typ":"JWT"}'); fixed, so signing never has to
 * print or encode a header. */
static const char header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/* b64_part: append the base64url form of n bytes to b. */
static enum result b64_part(struct buf *b, const void *p, size_t n)
{
	size_t size;
	char *enc;
	enum result r;

	r = crypto_base64url_size(n, &size);
	if (r != R_SUCCESS)
		return r;
	if (size > JWT_MAX_LEN + 1)
		return R_TOO_BIG;
	enc = malloc(size);
	if (enc == NULL)
		return R_NO_MEMORY;
	r = crypto_base64url_encode(p, n, enc, size, &n);
	if (r == R_SUCCESS)
		r = buf_append(b, enc, n);
	free(enc);
	return r;
}

enum result jwt_sign(const struct json *claims, const void *secret, size_t secretlen, char **token)
{
	unsigned char mac[CRYPTO_SHA256_LEN];
	struct buf b;
	char *payload;
	enum result r;

	if (!json_is_object(claims) || secret == NULL || secretlen == 0)
		return R_INVALID;
	payload = json_print(claims);
	if (payload == NULL)
		return R_NO_MEMORY;
	buf_init(&b, JWT_MAX_LEN);
	r = buf_append(&b, header_b64, sizeof(header_b64) - 1);
	if (r == R_SUCCESS)
		r = buf_append(&b, ".", 1);
	if (r == R_SUCCESS)
		r = b64_part(&b, payload, strlen(payload));
	if (r != R_SUCCESS)
		goto free_payload;
	r = crypto_hmac_sha256(secret, secretlen, b.data, b.len, mac);
	if (r == R_SUCCESS)
		r = buf_append(&b, ".", 1);
	if (r == R_SUCCESS)
		r = b64_part(&b, mac, sizeof(mac));
	if (r != R_SUCCESS)
		goto free_payload;
	*token = buf_steal(&b);

free_payload:
	/* Claims may carry who-can-do-what; do not leave copies behind. */
	crypto_wipe(payload, strlen(payload));
	free(payload);
	buf_free(&b);
	return r;
}

/* parse_part: strict base64url-decode len characters and parse the result as
 * a JSON object. NULL for anything else; *oom tells allocation failure apart
 * from bad input. */
static struct json *parse_part(const char *s, size_t len, bool *oom)
{
	size_t max = crypto_base64_decoded_max(len), n = 0;
	struct json *j = NULL;
	char *raw;

	raw = malloc(max);
	if (raw == NULL) {
		*oom = true;
		return NULL;
	}
	if (crypto_base64url_decode(s, len, raw, max, &n) != R_SUCCESS || n == 0)
		goto free_raw;
	j = json_parse(raw, n);
	if (j != NULL && !json_is_object(j)) {
		json_free(j);
		j = NULL;
	}
free_raw:
	free(raw);
	return j;
}

/* time_ok: exp and nbf are NumericDates (possibly fractional); absent is
 * fine, present with another type is not. */
static bool time_ok(const struct json *claims, long long now)
{
	const struct json *exp = json_get(claims, "exp");
	const struct json *nbf = json_get(claims, "nbf");

	if (exp != NULL && (!json_is_number(exp) || json_number(exp) <= (double)now))
		return false;
	if (nbf != NULL && (!json_is_number(nbf) || json_number(nbf) > (double)now))
		return false;
	return true;
}

enum result jwt_verify(const char *token, const void *secret, size_t secretlen, long long now,
		       struct json **claims)
{
	unsigned char mac[CRYPTO_SHA256_LEN], sig[CRYPTO_SHA256_LEN + 2];
	const char *dot1, *dot2, *alg;
	struct json *header = NULL, *body = NULL;
	size_t len, hlen, plen, slen, n = 0;
	bool oom = false;
	enum result r = R_UNAUTHORIZED;

	if (token == NULL || secret == NULL || secretlen == 0)
		return R_UNAUTHORIZED;
	len = strnlen(token, JWT_MAX_LEN + 1);
	if (len > JWT_MAX_LEN)
		return R_UNAUTHORIZED;
	dot1 = memchr(token, '.', len);
	if (dot1 == NULL)
		return R_UNAUTHORIZED;
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		return R_UNAUTHORIZED;
	hlen = (size_t)(dot1 - token);
	plen = (size_t)(dot2 - dot1 - 1);
	slen = len - (size_t)(dot2 + 1 - token);
	if (hlen == 0 || plen == 0 || slen == 0)
		return R_UNAUTHORIZED;

	header = parse_part(token, hlen, &oom);
	if (header == NULL)
		goto fail;
	/* Exact, case-sensitive match: "none" and algorithm confusion die here. */
	if (json_get_str(header, "alg", &alg) != R_SUCCESS || strcmp(alg, "HS256") != 0)
		goto fail;
	/* RFC 7515 4.1.11: unknown critical extensions must be rejected, and we
	 * understand none. */
	if (json_get(header, "crit") != NULL)
		goto fail;

	if (crypto_base64url_decode(dot2 + 1, slen, sig, sizeof(sig), &n) != R_SUCCESS ||
	    n != CRYPTO_SHA256_LEN)
		goto fail;
	r = crypto_hmac_sha256(secret, secretlen, token, (size_t)(dot2 - token), mac);
	if (r != R_SUCCESS)
		goto fail_keep;
	r = R_UNAUTHORIZED;
	if (!crypto_equal(mac, sig, sizeof(mac)))
		goto fail;

	body = parse_part(dot1 + 1, plen, &oom);
	if (body == NULL || !time_ok(body, now))
		goto fail;
	json_free(header);
	*claims = body;
	return R_SUCCESS;

fail:
	if (oom)
		r = R_NO_MEMORY;
fail_keep:
	json_free(body);
	json_free(header);
	return r;
}
