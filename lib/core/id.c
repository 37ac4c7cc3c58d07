/* id.c: random identifiers and API keys by rejection sampling over
 * crypto_random bytes. */
#include "core/id.h"

#include <string.h>

#include "core/crypto.h"

static const char base36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* draw: fill out with n characters uniform over alphabet[0..radix). A byte is
 * used only when below the largest multiple of radix that fits in 256 (252
 * for 36, 248 for 62); taking byte % radix of every byte would favour the
 * first 256 % radix characters. Writes to out only on success. */
static enum result draw(const char *alphabet, unsigned radix, char *out, size_t n)
{
	unsigned char pool[64];
	char tmp[64];
	unsigned limit = 256 - 256 % radix;
	size_t got = 0, used = sizeof(pool);
	enum result r = R_SUCCESS;

	if (n > sizeof(tmp))
		return R_INTERNAL;
	while (got < n) {
		if (used == sizeof(pool)) {
			r = crypto_random(pool, sizeof(pool));
			if (r != R_SUCCESS)
				goto wipe;
			used = 0;
		}
		unsigned char b = pool[used++];
		if (b < limit)
			tmp[got++] = alphabet[b % radix];
	}
	memcpy(out, tmp, n);
wipe:
	/* The pool and tmp hold key material when drawing an API key. */
	crypto_wipe(pool, sizeof(pool));
	crypto_wipe(tmp, sizeof(tmp));
	return r;
}

static bool prefix_ok(const char *prefix, size_t *len)
{
	size_t n;

	if (prefix == NULL)
		return false;
	n = strnlen(prefix, ID_PREFIX_MAX + 1);
	if (n == 0 || n > ID_PREFIX_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = prefix[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	*len = n;
	return true;
}

static bool all_in(const char *s, size_t n, const char *alphabet)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
			return false;
	return true;
}

enum result id_new(const char *prefix, char *out, size_t outsize)
{
	char rnd[ID_RAND_LEN];
	size_t plen = 0;
	enum result r;

	if (!prefix_ok(prefix, &plen))
		return R_INVALID;
	if (outsize < plen + ID_RAND_LEN + 1)
		return R_TOO_BIG;
	r = draw(base36, 36, rnd, sizeof(rnd));
	if (r != R_SUCCESS)
		return r;
	memcpy(out, prefix, plen);
	memcpy(out + plen, rnd, ID_RAND_LEN);
	out[plen + ID_RAND_LEN] = '\0';
	return R_SUCCESS;
}

bool id_is_valid(const char *prefix, const char *s)
{
	size_t plen = 0;

	if (s == NULL || !prefix_ok(prefix, &plen))
		return false;
	/* strnlen bounds the scan: s may be an unterminated-looking huge input. */
	if (strnlen(s, plen + ID_RAND_LEN + 1) != plen + ID_RAND_LEN)
		return false;
	return memcmp(s, prefix, plen) == 0 && all_in(s + plen, ID_RAND_LEN, base36);
}

/* word_of: s is 1..max bytes, each in alphabet; the scan is bounded. */
static bool word_of(const char *s, size_t max, const char *alphabet)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strnlen(s, max + 1);
	return n > 0 && n <= max && strspn(s, alphabet) == n;
}

bool id_is_name(const char *s)
{
	return word_of(s, ID_NAME_MAX,
		       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
}

bool id_request_is_sane(const char *s)
{
	return word_of(s, ID_REQUEST_MAX,
		       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");
}

enum result id_new_api_key(char *out, size_t outsize)
{
	const size_t plen = sizeof(ID_API_KEY_PREFIX) - 1;
	char rnd[ID_API_KEY_RAND_LEN];
	enum result r;

	if (outsize < ID_API_KEY_SIZE)
		return R_TOO_BIG;
	r = draw(base62, 62, rnd, sizeof(rnd));
	if (r != R_SUCCESS)
		return r;
	memcpy(out, ID_API_KEY_PREFIX, plen);
	memcpy(out + plen, rnd, sizeof(rnd));
	out[ID_API_KEY_LEN] = '\0';
	crypto_wipe(rnd, sizeof(rnd));
	return R_SUCCESS;
}

bool id_is_api_key(const char *s)
{
	const size_t plen = sizeof(ID_API_KEY_PREFIX) - 1;

	if (s == NULL || strnlen(s, ID_API_KEY_LEN + 1) != ID_API_KEY_LEN)
		return false;
	return memcmp(s, ID_API_KEY_PREFIX, plen) == 0 &&
	       all_in(s + plen, ID_API_KEY_RAND_LEN, base62);
}

enum result id_api_key_display(const char *key, char *out, size_t outsize)
{
	if (!id_is_api_key(key))
		return R_INVALID;
	if (outsize < ID_API_KEY_DISPLAY_SIZE)
		return R_TOO_BIG;
	memcpy(out, key, ID_API_KEY_DISPLAY_LEN);
	out[ID_API_KEY_DISPLAY_LEN] = '\0';
	return R_SUCCESS;
}
