/* json.h: the project's JSON values; the only module that sees cJSON.
 *
 * A struct json is an opaque node. Trees are owned by whoever built or parsed
 * the root; nodes reached through getters are borrowed from that root. */
#ifndef SANDPIT_JSON_H
#define SANDPIT_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

struct json;

/* json_parse: parse exactly len bytes (no trailing garbage, nesting capped at
 * 64). Returns an owned tree or NULL when the text is not valid JSON. */
struct json *json_parse(const char *text, size_t len);

/* json_free: release a tree; NULL is a no-op. */
void json_free(struct json *j);

/* Type predicates; NULL is none of them. */
bool json_is_object(const struct json *j);
bool json_is_array(const struct json *j);
bool json_is_string(const struct json *j);
bool json_is_number(const struct json *j);
bool json_is_bool(const struct json *j);
bool json_is_null(const struct json *j);

/* json_get: member key of an object (case-sensitive), or NULL. */
struct json *json_get(const struct json *obj, const char *key);

/* json_str: the string of a string node, else NULL. */
const char *json_str(const struct json *j);

/* json_number: the value of a number node (0 for others). */
double json_number(const struct json *j);

/* json_bool_value: true only for a true node. */
bool json_bool_value(const struct json *j);

/* Typed member getters. Out-params are written only on R_SUCCESS; a missing
 * member (or JSON null) gives R_NOT_FOUND, a wrong type R_INVALID. */
SP_MUST_CHECK enum result json_get_str(const struct json *obj, const char *key, const char **out);
SP_MUST_CHECK enum result json_get_int(const struct json *obj, const char *key, long long *out);
SP_MUST_CHECK enum result json_get_bool(const struct json *obj, const char *key, bool *out);

/* Arrays and objects: size, and children in order (object members too). */
size_t json_len(const struct json *j);
struct json *json_at(const struct json *j, size_t i);
struct json *json_child(const struct json *j);
struct json *json_next(const struct json *j);
/* json_key: the member name of an object's child, else NULL. */
const char *json_key(const struct json *j);

/* Builders. json_new_* return owned nodes or NULL on allocation failure. The
 * json_add_* functions append to an object (json_push to an array), take
 * ownership of child even on failure, and return R_NO_MEMORY on failure. */
struct json *json_new_object(void);
struct json *json_new_array(void);
struct json *json_new_str(const char *s);
struct json *json_new_strn(const char *s, size_t n);
struct json *json_new_int(long long v);
struct json *json_new_double(double v);
struct json *json_new_bool(bool v);
struct json *json_new_null(void);
SP_MUST_CHECK enum result json_add(struct json *obj, const char *key, struct json *child);
SP_MUST_CHECK enum result json_push(struct json *arr, struct json *child);
SP_MUST_CHECK enum result json_add_str(struct json *obj, const char *key, const char *s);
SP_MUST_CHECK enum result json_add_int(struct json *obj, const char *key, long long v);
SP_MUST_CHECK enum result json_add_bool(struct json *obj, const char *key, bool v);
/* json_add_str_or_null: s == NULL adds a JSON null. */
SP_MUST_CHECK enum result json_add_str_or_null(struct json *obj, const char *key, const char *s);

/* json_detach: remove key from obj and return it, owned by the caller. */
struct json *json_detach(struct json *obj, const char *key);

/* json_dup: deep copy, owned; NULL on failure. */
struct json *json_dup(const struct json *j);

/* json_print: compact text, malloc'd, owned by the caller (free()); NULL on
 * failure. Always valid UTF-8: bytes of a string that are not are replaced
 * by U+FFFD. */
char *json_print(const struct json *j);

#endif
