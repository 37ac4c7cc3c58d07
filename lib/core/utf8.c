/* utf8.c: UTF-8 validation and lossy repair (RFC 3629). */
#include "core/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* seq_len: length of the valid sequence at s (of n bytes), 0 if invalid. */
static size_t seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

bool utf8_is_valid(const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n;) {
		size_t l = seq_len(s + i, n - i);

		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

char *utf8_sanitize(const void *p, size_t n, size_t *out_len)
{
	static const char repl[] = "\xef\xbf\xbd";
	const unsigned char *s = p;
	size_t o = 0;
	char *out;

	/* Worst case: every byte becomes a 3-byte replacement. */
	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	out = malloc(n * 3 + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t l = seq_len(s + i, n - i);

		if (l == 0) {
			memcpy(out + o, repl, 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, s + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	if (out_len != NULL)
		*out_len = o;
	return out;
}
