/* url.c: percent-decoding (url.h). Escapes are decoded into a scratch
 * result and copied out only whole, so a refused input leaves out alone. */
#include "core/url.h"

#include <string.h>

#include "core/crypto.h"

/* escaped: the byte of the escape "%XY" at s (XY: two hex digits, either
 * case); false for anything else. */
static bool escaped(const char *s, size_t left, unsigned char *byte)
{
	return left >= 3 && s[0] == '%' && crypto_hex_decode(s + 1, 2, byte, 1, NULL) == R_SUCCESS;
}

/* decoded_len: how long s decodes to, or -1 for a bad escape. */
static long decoded_len(const char *s, size_t n)
{
	long len = 0;

	for (size_t i = 0; i < n; i++, len++) {
		unsigned char b;

		if (s[i] != '%')
			continue;
		if (!escaped(s + i, n - i, &b) || b == 0)
			return -1;
		i += 2;
	}
	return len;
}

enum result url_decode(const char *s, size_t n, bool plus_space, char *out, size_t size)
{
	long len = decoded_len(s, n);
	size_t o = 0;

	if (len < 0)
		return R_INVALID;
	if ((size_t)len >= size)
		return R_TOO_BIG;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			unsigned char b = 0;

			(void)escaped(s + i, n - i, &b); /* checked by decoded_len */
			c = b;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return R_SUCCESS;
}

enum result url_query_get(const char *query, const char *name, char *out, size_t size)
{
	const char *q = query;
	size_t nlen = strlen(name);

	while (*q != '\0') {
		size_t seg = strcspn(q, "&");
		const char *eq = memchr(q, '=', seg);
		size_t klen = eq ? (size_t)(eq - q) : seg;

		if (klen == nlen && strncmp(q, name, nlen) == 0)
			return eq ? url_decode(eq + 1, seg - klen - 1, true, out, size)
				  : url_decode("", 0, false, out, size);
		q += seg;
		q += *q == '&';
	}
	return R_NOT_FOUND;
}
