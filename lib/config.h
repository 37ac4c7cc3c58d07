/* config.h: the configuration table. Values come from the built-in defaults,
 * then an optional file (SANDPIT_CONFIG, KEY=VALUE lines), then the process
 * environment; each is checked against the table's type and bounds. After
 * config_load the values are read-only. */
#ifndef SANDPIT_CONFIG_H
#define SANDPIT_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "result.h"

/* config_load: read file + environment into the table. On failure, *why (a
 * static-lifetime or internal buffer) says which key and why. Call once,
 * before any thread starts. */
SP_MUST_CHECK enum result config_load(const char **why);

/* config_str: the value of a string (or any) key; never NULL for a known
 * key. Aborts on an unknown name: that is a programming error. */
const char *config_str(const char *name);

/* config_int: the value of an integer, size or bool key. */
long long config_int(const char *name);

/* config_bool: the value of a bool key. */
bool config_bool(const char *name);

/* config_print: every key and value, secrets redacted, one per line. */
void config_print(FILE *out);

/* config_parse_size: "1024", "64k", "10MiB", "2Gi" → bytes. R_INVALID on a
 * malformed or overflowing value. */
SP_MUST_CHECK enum result config_parse_size(const char *s, long long *out);

/* config_parse_int: a whole decimal integer, nothing else. */
SP_MUST_CHECK enum result config_parse_int(const char *s, long long *out);

#endif
