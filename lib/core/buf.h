/* buf.h: a growable byte buffer with a hard cap (like curl's dynbuf). */
#ifndef SANDPIT_BUF_H
#define SANDPIT_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

struct buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;   /* allocated bytes */
	size_t limit; /* hard cap on len */
};

/* buf_init: an empty buffer that never holds more than limit bytes. */
void buf_init(struct buf *b, size_t limit);

/* buf_append: append n bytes. R_TOO_BIG past the limit, R_NO_MEMORY on
 * allocation failure; on either the buffer is freed and reset (a half-built
 * buffer is never used). */
SP_MUST_CHECK enum result buf_append(struct buf *b, const void *p, size_t n);

/* buf_extend: make room for n more bytes, count them in len and hand back
 * where they start in *at; the caller fills them before the next call on b
 * (they hold garbage until then). Unlike buf_append, a failure (R_TOO_BIG,
 * R_NO_MEMORY) leaves the buffer exactly as it was: this is how a queue adds
 * a whole frame or nothing without dropping what it already holds. */
SP_MUST_CHECK enum result buf_extend(struct buf *b, size_t n, char **at);

/* buf_append_str: append a NUL-terminated string. */
SP_MUST_CHECK enum result buf_append_str(struct buf *b, const char *s);

/* buf_printf: append formatted text; same failure rules as buf_append. */
SP_MUST_CHECK enum result buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* buf_steal: hand the bytes (NUL-terminated, possibly NULL when empty) to the
 * caller, who frees them; the buffer is reset. */
char *buf_steal(struct buf *b);

/* buf_reset: drop the contents, keep the allocation. */
void buf_reset(struct buf *b);

/* buf_free: release the memory; the buffer can be reused after buf_init. */
void buf_free(struct buf *b);

#endif
