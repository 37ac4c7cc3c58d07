/* json.c: JSON over cJSON, with a nesting cap and strict length handling. */
#include "core/json.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

#define JSON_MAX_DEPTH 64

/* struct json is cJSON itself; the cast is the whole adapter. */
#define C(j) ((cJSON *)(j))
#define J(c) ((struct json *)(c))

/* depth_ok: cJSON recurses without bound on nesting in older versions; scan
 * brackets outside strings first so a hostile body cannot blow the stack. */
static bool depth_ok(const char *s, size_t len)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '[' || c == '{') {
			if (++depth > JSON_MAX_DEPTH)
				return false;
		} else if (c == ']' || c == '}')
			depth--;
	}
	return true;
}

struct json *json_parse(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *c;

	if (text == NULL || len == 0 || memchr(text, '\0', len) != NULL || !depth_ok(text, len))
		return NULL;
	c = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (c == NULL)
		return NULL;
	while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != text + len) {
		cJSON_Delete(c);
		return NULL;
	}
	return J(c);
}

void json_free(struct json *j)
{
	cJSON_Delete(C(j));
}

bool json_is_object(const struct json *j)
{
	return j != NULL && cJSON_IsObject(C(j));
}

bool json_is_array(const struct json *j)
{
	return j != NULL && cJSON_IsArray(C(j));
}

bool json_is_string(const struct json *j)
{
	return j != NULL && cJSON_IsString(C(j));
}

bool json_is_number(const struct json *j)
{
	return j != NULL && cJSON_IsNumber(C(j));
}

bool json_is_bool(const struct json *j)
{
	return j != NULL && cJSON_IsBool(C(j));
}

bool json_is_null(const struct json *j)
{
	return j != NULL && cJSON_IsNull(C(j));
}

struct json *json_get(const struct json *obj, const char *key)
{
	if (!json_is_object(obj))
		return NULL;
	return J(cJSON_GetObjectItemCaseSensitive(C(obj), key));
}

const char *json_str(const struct json *j)
{
	return json_is_string(j) ? C(j)->valuestring : NULL;
}

double json_number(const struct json *j)
{
	return json_is_number(j) ? C(j)->valuedouble : 0;
}

bool json_bool_value(const struct json *j)
{
	return j != NULL && cJSON_IsTrue(C(j));
}

enum result json_get_str(const struct json *obj, const char *key, const char **out)
{
	struct json *m = json_get(obj, key);

	if (m == NULL || json_is_null(m))
		return R_NOT_FOUND;
	if (!json_is_string(m))
		return R_INVALID;
	*out = C(m)->valuestring;
	return R_SUCCESS;
}

enum result json_get_int(const struct json *obj, const char *key, long long *out)
{
	struct json *m = json_get(obj, key);
	double d;

	if (m == NULL || json_is_null(m))
		return R_NOT_FOUND;
	if (!json_is_number(m))
		return R_INVALID;
	d = C(m)->valuedouble;
	/* Only exact integers within the range doubles represent exactly. */
	if (!isfinite(d) || d != floor(d) || d > 9007199254740992.0 || d < -9007199254740992.0)
		return R_INVALID;
	*out = (long long)d;
	return R_SUCCESS;
}

enum result json_get_bool(const struct json *obj, const char *key, bool *out)
{
	struct json *m = json_get(obj, key);

	if (m == NULL || json_is_null(m))
		return R_NOT_FOUND;
	if (!json_is_bool(m))
		return R_INVALID;
	*out = cJSON_IsTrue(C(m));
	return R_SUCCESS;
}

size_t json_len(const struct json *j)
{
	if (!json_is_array(j) && !json_is_object(j))
		return 0;
	return (size_t)cJSON_GetArraySize(C(j));
}

struct json *json_at(const struct json *j, size_t i)
{
	if (!json_is_array(j) || i > (size_t)__INT_MAX__)
		return NULL;
	return J(cJSON_GetArrayItem(C(j), (int)i));
}

struct json *json_child(const struct json *j)
{
	if (!json_is_array(j) && !json_is_object(j))
		return NULL;
	return J(C(j)->child);
}

struct json *json_next(const struct json *j)
{
	return j ? J(C(j)->next) : NULL;
}

const char *json_key(const struct json *j)
{
	return j ? C(j)->string : NULL;
}

struct json *json_new_object(void)
{
	return J(cJSON_CreateObject());
}

struct json *json_new_array(void)
{
	return J(cJSON_CreateArray());
}

struct json *json_new_str(const char *s)
{
	return J(cJSON_CreateString(s));
}

struct json *json_new_strn(const char *s, size_t n)
{
	char *tmp = strndup(s, n);
	cJSON *c;

	if (tmp == NULL)
		return NULL;
	c = cJSON_CreateString(tmp);
	free(tmp);
	return J(c);
}

struct json *json_new_int(long long v)
{
	return J(cJSON_CreateNumber((double)v));
}

struct json *json_new_double(double v)
{
	return J(cJSON_CreateNumber(v));
}

struct json *json_new_bool(bool v)
{
	return J(cJSON_CreateBool(v));
}

struct json *json_new_null(void)
{
	return J(cJSON_CreateNull());
}

enum result json_add(struct json *obj, const char *key, struct json *child)
{
	if (child == NULL)
		return R_NO_MEMORY;
	if (!cJSON_AddItemToObject(C(obj), key, C(child))) {
		cJSON_Delete(C(child));
		return R_NO_MEMORY;
	}
	return R_SUCCESS;
}

enum result json_push(struct json *arr, struct json *child)
{
	if (child == NULL)
		return R_NO_MEMORY;
	if (!cJSON_AddItemToArray(C(arr), C(child))) {
		cJSON_Delete(C(child));
		return R_NO_MEMORY;
	}
	return R_SUCCESS;
}

enum result json_add_str(struct json *obj, const char *key, const char *s)
{
	return json_add(obj, key, json_new_str(s));
}

enum result json_add_int(struct json *obj, const char *key, long long v)
{
	return json_add(obj, key, json_new_int(v));
}

enum result json_add_bool(struct json *obj, const char *key, bool v)
{
	return json_add(obj, key, json_new_bool(v));
}

enum result json_add_str_or_null(struct json *obj, const char *key, const char *s)
{
	return json_add(obj, key, s ? json_new_str(s) : json_new_null());
}

struct json *json_detach(struct json *obj, const char *key)
{
	if (!json_is_object(obj))
		return NULL;
	return J(cJSON_DetachItemFromObjectCaseSensitive(C(obj), key));
}

struct json *json_dup(const struct json *j)
{
	return j ? J(cJSON_Duplicate(C(j), 1)) : NULL;
}

char *json_print(const struct json *j)
{
	char *text, *clean;

	text = j ? cJSON_PrintUnformatted(C(j)) : NULL;
	if (text == NULL || utf8_is_valid(text, strlen(text)))
		return text;
	/* cJSON copies string bytes as they are, so a string built from bytes
	 * that are not UTF-8 (a file name, an agent's message) would make the
	 * text invalid JSON for every strict reader, PostgreSQL's jsonb among
	 * them. Such bytes can only sit inside strings (the structure is
	 * ASCII), so replacing each bad sequence by U+FFFD keeps the document
	 * well formed. Callers that must not lose bytes check their input. */
	clean = utf8_sanitize(text, strlen(text), NULL);
	cJSON_free(text);
	return clean;
}
