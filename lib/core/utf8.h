/* utf8.h: making arbitrary bytes safe for a JSON string. */
#ifndef SANDPIT_UTF8_H
#define SANDPIT_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* utf8_is_valid: n bytes are well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF) and hold no NUL. */
bool utf8_is_valid(const void *p, size_t n);

/* utf8_sanitize: a malloc'd NUL-terminated copy with every invalid sequence
 * and every NUL replaced by U+FFFD; NULL on allocation failure. *out_len gets
 * the length (may be NULL). */
char *utf8_sanitize(const void *p, size_t n, size_t *out_len);

#endif
