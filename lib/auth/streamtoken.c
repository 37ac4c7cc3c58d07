/* streamtoken.c: HMAC-signed, short-lived stream tokens. */
#include "auth/streamtoken.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"

#define PREFIX	    "st2."
#define PREFIX_LEN  4
#define PAYLOAD_MAX (3 * STREAMTOKEN_ID_MAX + 24)

/* derive: the token key, HMAC(secret, label): a token MAC can then never be
 * confused with any other MAC or ciphertext made with the same secret. */
static enum result derive(const void *secret, size_t secretlen,
			  unsigned char key[CRYPTO_SHA256_LEN])
{
	static const char label[] = "sandpit stream token v1";

	if (secretlen == 0)
		return R_INVALID;
	return crypto_hmac_sha256(secret, secretlen, label, sizeof(label) - 1, key);
}

static enum result mac(const void *secret, size_t secretlen, const char *signed_part, size_t n,
		       unsigned char out[CRYPTO_SHA256_LEN])
{
	unsigned char key[CRYPTO_SHA256_LEN];
	enum result r;

	r = derive(secret, secretlen, key);
	if (r == R_SUCCESS)
		r = crypto_hmac_sha256(key, sizeof(key), signed_part, n, out);
	crypto_wipe(key, sizeof(key));
	return r;
}

static bool id_ok(const char *id)
{
	size_t n = strnlen(id, STREAMTOKEN_ID_MAX);

	if (n == 0 || n >= STREAMTOKEN_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
			return false;
	return true;
}

enum result streamtoken_mint(const void *secret, size_t secretlen, const char *org_id,
			     const char *sandbox_id, const char *key_id, long long now,
			     unsigned ttl, char *out, size_t outsize)
{
	char payload[PAYLOAD_MAX];
	char tok[STREAMTOKEN_MAX];
	unsigned char m[CRYPTO_SHA256_LEN];
	size_t n, pos;
	int w;
	enum result r;

	if (key_id == NULL)
		key_id = "";
	if (secretlen == 0 || !id_ok(org_id) || !id_ok(sandbox_id) ||
	    (key_id[0] != '\0' && !id_ok(key_id)) || ttl == 0 || ttl > STREAMTOKEN_MAX_TTL ||
	    now < 0)
		return R_INVALID;
	w = snprintf(payload, sizeof(payload), "%s\n%s\n%lld\n%s", org_id, sandbox_id,
		     now + (long long)ttl, key_id);
	if (w < 0 || (size_t)w >= sizeof(payload))
		return R_INVALID;
	memcpy(tok, PREFIX, PREFIX_LEN);
	r = crypto_base64url_encode(payload, (size_t)w, tok + PREFIX_LEN, sizeof(tok) - PREFIX_LEN,
				    &n);
	if (r != R_SUCCESS)
		return r;
	pos = PREFIX_LEN + n;
	r = mac(secret, secretlen, tok, pos, m);
	if (r != R_SUCCESS)
		return r;
	if (sizeof(tok) - pos < 2)
		return R_TOO_BIG;
	tok[pos++] = '.';
	r = crypto_base64url_encode(m, sizeof(m), tok + pos, sizeof(tok) - pos, &n);
	if (r != R_SUCCESS)
		return r;
	pos += n;
	if (pos + 1 > outsize)
		return R_TOO_BIG;
	memcpy(out, tok, pos + 1);
	return R_SUCCESS;
}

/* parse_exp: a positive decimal of at most 18 digits. */
static bool parse_exp(const char *s, size_t n, long long *out)
{
	long long v = 0;

	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* copy_out: n bytes of s, NUL-terminated, into out (room checked). */
static void copy_out(const char *s, size_t n, char *out)
{
	memcpy(out, s, n);
	out[n] = '\0';
}

enum result streamtoken_verify(const void *secret, size_t secretlen, const char *token,
			       const char *sandbox_id, long long now, char *org_out, size_t orgsize,
			       char *key_out, size_t keysize)
{
	unsigned char want[CRYPTO_SHA256_LEN], got[CRYPTO_SHA256_LEN];
	char payload[PAYLOAD_MAX + 1];
	const char *dot, *nl1, *nl2, *nl3;
	size_t tlen, signed_len, plen, glen, orglen, keylen;
	long long exp;
	enum result r;

	if (secretlen == 0)
		return R_UNAUTHORIZED;
	tlen = strnlen(token, STREAMTOKEN_MAX);
	if (tlen >= STREAMTOKEN_MAX || tlen <= PREFIX_LEN || memcmp(token, PREFIX, PREFIX_LEN) != 0)
		return R_UNAUTHORIZED;
	dot = memchr(token + PREFIX_LEN, '.', tlen - PREFIX_LEN);
	if (dot == NULL)
		return R_UNAUTHORIZED;
	signed_len = (size_t)(dot - token);
	/* The MAC first, in constant time: nothing of an unauthenticated token is
	 * interpreted before it is known to be ours. */
	if (crypto_base64url_decode(dot + 1, tlen - signed_len - 1, got, sizeof(got), &glen) !=
		R_SUCCESS ||
	    glen != sizeof(got))
		return R_UNAUTHORIZED;
	r = mac(secret, secretlen, token, signed_len, want);
	if (r != R_SUCCESS)
		return r == R_INVALID ? R_UNAUTHORIZED : r;
	if (!crypto_equal(want, got, sizeof(want)))
		return R_UNAUTHORIZED;
	if (crypto_base64url_decode(token + PREFIX_LEN, signed_len - PREFIX_LEN, payload,
				    sizeof(payload) - 1, &plen) != R_SUCCESS)
		return R_UNAUTHORIZED;
	payload[plen] = '\0';
	nl1 = memchr(payload, '\n', plen);
	if (nl1 == NULL)
		return R_UNAUTHORIZED;
	nl2 = memchr(nl1 + 1, '\n', plen - (size_t)(nl1 + 1 - payload));
	if (nl2 == NULL)
		return R_UNAUTHORIZED;
	nl3 = memchr(nl2 + 1, '\n', plen - (size_t)(nl2 + 1 - payload));
	if (nl3 == NULL)
		return R_UNAUTHORIZED;
	if (!parse_exp(nl2 + 1, (size_t)(nl3 - nl2 - 1), &exp))
		return R_UNAUTHORIZED;
	if (exp <= now || exp - now > STREAMTOKEN_MAX_TTL)
		return R_UNAUTHORIZED;
	if ((size_t)(nl2 - nl1 - 1) != strlen(sandbox_id) ||
	    memcmp(nl1 + 1, sandbox_id, (size_t)(nl2 - nl1 - 1)) != 0)
		return R_UNAUTHORIZED;
	orglen = (size_t)(nl1 - payload);
	keylen = plen - (size_t)(nl3 + 1 - payload);
	if (orglen == 0 || memchr(nl3 + 1, '\n', keylen) != NULL)
		return R_UNAUTHORIZED;
	if (orglen + 1 > orgsize || keylen + 1 > keysize)
		return R_TOO_BIG;
	copy_out(payload, orglen, org_out);
	copy_out(nl3 + 1, keylen, key_out);
	return R_SUCCESS;
}
