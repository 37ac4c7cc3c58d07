/* url.c: percent-decoding (url.h). Escapes are decoded into a scratch
 * result and copied out only whole, so a refused input leaves out alone. */
#include "core/url.h"

#include <string.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* decoded_len: how long s decodes to, or -1 for a bad escape. */
static long decoded_len(const char *s, size_t n)
{
	long len = 0;

	for (size_t i = 0; i < n; i++, len++) {
		if (s[i] != '%')
			continue;
		if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0 ||
		    (hexval(s[i + 1]) | hexval(s[i + 2])) == 0)
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
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return R_OK;
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
