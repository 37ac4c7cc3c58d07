/* buf.c: capped growable buffers. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* grow: make room for n more bytes plus the terminator. */
static enum result grow(struct buf *b, size_t n)
{
	size_t want, ncap;
	char *p;

	if (n > b->limit || b->len > b->limit - n)
		return R_TOO_BIG;
	want = b->len + n + 1;
	if (want <= b->cap)
		return R_SUCCESS;
	ncap = b->cap ? b->cap : 64;
	while (ncap < want)
		ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
	if (b->limit < SIZE_MAX && ncap > b->limit + 1)
		ncap = b->limit + 1;
	p = realloc(b->data, ncap);
	if (p == NULL)
		return R_NO_MEMORY;
	b->data = p;
	b->cap = ncap;
	return R_SUCCESS;
}

enum result buf_append(struct buf *b, const void *p, size_t n)
{
	enum result r = grow(b, n);

	if (r != R_SUCCESS) {
		buf_free(b);
		return r;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return R_SUCCESS;
}

enum result buf_extend(struct buf *b, size_t n, char **at)
{
	enum result r = grow(b, n);

	if (r != R_SUCCESS)
		return r;
	*at = b->data + b->len;
	b->len += n;
	b->data[b->len] = '\0';
	return R_SUCCESS;
}

enum result buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

enum result buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	enum result r;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf_free(b);
		return R_INTERNAL;
	}
	r = grow(b, (size_t)n);
	if (r != R_SUCCESS) {
		buf_free(b);
		return r;
	}
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return R_SUCCESS;
}

char *buf_steal(struct buf *b)
{
	char *p = b->data;

	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
