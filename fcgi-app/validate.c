/* validate.c: field validation with messages that name the field. */
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/id.h"

enum result validate_known_fields(struct req *rq, const struct json *obj, const char *const *known)
{
	for (const struct json *m = json_child(obj); m != NULL; m = json_next(m)) {
		const char *k = json_key(m);
		bool ok = false;

		for (size_t i = 0; known[i] != NULL && !ok; i++)
			ok = strcmp(known[i], k) == 0;
		if (!ok)
			return http_set_error(rq, R_INVALID, "unknown field '%.64s'", k);
	}
	return R_SUCCESS;
}

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

enum result validate_str(struct req *rq, const struct json *obj, const char *key, bool required,
			 size_t maxlen, const char **out)
{
	const char *s;
	enum result r = json_get_str(obj, key, &s);

	if (r == R_NOT_FOUND && !required)
		return R_NOT_FOUND;
	if (r == R_NOT_FOUND)
		return http_set_error(rq, R_INVALID, "'%s' is required", key);
	if (r != R_SUCCESS)
		return http_set_error(rq, R_INVALID, "'%s' must be a string", key);
	if (*s == '\0' || strlen(s) > maxlen)
		return http_set_error(rq, R_INVALID, "'%s' must be 1 to %zu bytes", key, maxlen);
	if (has_control(s))
		return http_set_error(rq, R_INVALID, "'%s' must not contain control characters",
				      key);
	*out = s;
	return R_SUCCESS;
}

enum result validate_int(struct req *rq, const struct json *obj, const char *key, bool required,
			 long long min, long long max, long long *out)
{
	long long v;
	enum result r = json_get_int(obj, key, &v);

	if (r == R_NOT_FOUND && !required)
		return R_NOT_FOUND;
	if (r == R_NOT_FOUND)
		return http_set_error(rq, R_INVALID, "'%s' is required", key);
	if (r != R_SUCCESS)
		return http_set_error(rq, R_INVALID, "'%s' must be an integer", key);
	if (v < min || v > max)
		return http_set_error(rq, R_INVALID, "'%s' must be between %lld and %lld", key, min,
				      max);
	*out = v;
	return R_SUCCESS;
}

bool validate_email(const char *s)
{
	const char *at = strchr(s, '@');
	const char *dot;
	size_t n = strlen(s);

	if (at == NULL || at == s || at - s > 64 || n > 254 || strchr(at + 1, '@') != NULL)
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	dot = strrchr(at + 1, '.');
	return dot != NULL && dot > at + 1 && dot[1] != '\0' && strstr(at + 1, "..") == NULL &&
	       at[1] != '.';
}

enum result validate_page(struct req *rq, const char *cursor_prefix, int def, int max, int *limit,
			  char *cursor, size_t cursor_size)
{
	char v[32];
	long long n = def;
	enum result r = http_query(rq, "limit", v, sizeof(v));

	if (r == R_SUCCESS && (config_parse_int(v, &n) != R_SUCCESS || n < 1 || n > max))
		return http_set_error(rq, R_INVALID, "'limit' must be an integer from 1 to %d",
				      max);
	if (r != R_SUCCESS && r != R_NOT_FOUND)
		return http_set_error(rq, R_INVALID, "'limit' is malformed");
	r = http_query(rq, "cursor", cursor, cursor_size);
	if (r == R_NOT_FOUND || (r == R_SUCCESS && cursor[0] == '\0')) {
		cursor[0] = '\0';
	} else if (r != R_SUCCESS || !id_is_valid(cursor_prefix, cursor)) {
		return http_set_error(rq, R_INVALID, "'cursor' is malformed");
	}
	*limit = (int)n;
	return R_SUCCESS;
}

/* digits: n decimal digits at s, their value in *v. */
static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

bool validate_timestamp(const char *s)
{
	int y, mo, d, h, mi, sec, oh, om;

	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	s += 19;
	if (*s == '.') {
		size_t n = strspn(s + 1, "0123456789");

		if (n == 0 || n > 9)
			return false;
		s += 1 + n;
	}
	if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
		return true;
	return (*s == '+' || *s == '-') && digits(s + 1, 2, &oh) && s[3] == ':' &&
	       digits(s + 4, 2, &om) && s[6] == '\0' && oh < 24 && om < 60;
}

/* validate_env_name: a portable environment variable name. */
bool validate_env_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
	       strlen(s);
}
