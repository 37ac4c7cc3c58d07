/* boxproto.c: token helpers for sandpit-boxd's request language. */
#include "backend/boxproto.h"

#include <string.h>

static const char *word_at(const char *msg, unsigned n, size_t *len)
{
	const char *p = msg;

	for (;;) {
		while (*p == ' ' || *p == '\n')
			p++;
		if (*p == '\0')
			return NULL;
		*len = strcspn(p, " \n");
		if (n-- == 0)
			return p;
		p += *len;
	}
}

bool boxproto_word(const char *msg, unsigned n, char *out, size_t size)
{
	size_t len;
	const char *w = word_at(msg, n, &len);

	if (!w || len >= size)
		return false;
	memcpy(out, w, len);
	out[len] = '\0';
	return true;
}

bool boxproto_get(const char *msg, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key), len;
	unsigned i;
	const char *w;

	for (i = 0; (w = word_at(msg, i, &len)) != NULL; i++) {
		if (len > kl && strncmp(w, key, kl) == 0 && w[kl] == '=') {
			if (len - kl - 1 >= size)
				return false;
			memcpy(out, w + kl + 1, len - kl - 1);
			out[len - kl - 1] = '\0';
			return true;
		}
	}
	return false;
}

bool boxproto_get_u64(const char *msg, const char *key, uint64_t *out)
{
	char v[24];
	uint64_t x = 0;
	size_t i;

	if (!boxproto_get(msg, key, v, sizeof(v)) || v[0] == '\0')
		return false;
	for (i = 0; v[i]; i++) {
		if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return true;
}

enum result boxproto_result(const char *reply)
{
	static const enum result all[] = {
	    R_INVALID, R_UNAUTHORIZED, R_FORBIDDEN, R_NOT_FOUND, R_CONFLICT, R_TOO_BIG, R_QUOTA,
	    R_TIMEOUT, R_DB,	       R_UPSTREAM,  R_NO_MEMORY, R_INTERNAL, R_NO_SPACE};
	char w[32];
	size_t i;

	if (boxproto_word(reply, 0, w, sizeof(w)) && strcmp(w, "ok") == 0)
		return R_SUCCESS;
	if (!boxproto_word(reply, 1, w, sizeof(w)))
		return R_UPSTREAM;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(w, result_str(all[i])) == 0)
			return all[i] == R_DB ? R_UPSTREAM : all[i];
	return R_UPSTREAM;
}
