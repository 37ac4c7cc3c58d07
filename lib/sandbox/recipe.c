/* recipe.c: image recipe files: `key = value` lines, checked against each
 * key's alphabet so no value can smuggle shell syntax into a build step. */
#include "sandbox/recipe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/json.h"

/* Bumped when the way a layer is built changes: every key changes with it. */
#define BUILDER_VERSION "sandpit-image-v1"

enum kind { K_TEXT, K_NAME, K_WORDS_DEB, K_WORDS_NPM, K_WORDS, K_ENV, K_SPEC, K_YESNO };

struct key_def {
	const char *key;
	enum kind kind;
	bool repeat;
	size_t off; /* char array in struct recipe, or struct buf for lists */
	size_t size;
};

#define ARR(m)	offsetof(struct recipe, m), sizeof(((struct recipe *)0)->m)
#define LIST(m) offsetof(struct recipe, m), 0

static const struct key_def keys[] = {
    {"description", K_TEXT, false, ARR(description)},
    {"parent", K_NAME, false, ARR(parent)},
    {"node", K_SPEC, false, ARR(node)},
    {"smoke", K_TEXT, false, ARR(smoke)},
    {"debian", K_WORDS_DEB, true, LIST(debian)},
    {"npm", K_WORDS_NPM, true, LIST(npm)},
    {"env", K_ENV, true, LIST(env)},
    {"preinstalled", K_WORDS, true, LIST(preinstalled)},
    {"template", K_YESNO, false, 0, 0},
};

bool recipe_name_is_valid(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n < RECIPE_MAX_NAME &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") == n && name[0] != '-';
}

static bool word_ok(const char *w, size_t n, enum kind k)
{
	static const char deb[] = "abcdefghijklmnopqrstuvwxyz0123456789+.-";
	static const char npm[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "0123456789@._/~^*-";
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];

		if (k == K_WORDS_DEB && !strchr(deb, c))
			return false;
		if ((k == K_WORDS_NPM || k == K_SPEC) && !strchr(npm, c))
			return false;
		if (k == K_WORDS && (c <= 0x20 || c >= 0x7f))
			return false;
	}
	return k != K_WORDS_DEB || (w[0] >= 'a' || (w[0] >= '0' && w[0] <= '9'));
}

static bool text_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool env_ok(const char *s)
{
	size_t k = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");

	return k > 0 && s[k] == '=' && !(s[0] >= '0' && s[0] <= '9') && text_ok(s);
}

/* add_words: each space-separated word of v, checked, then '\n'. */
static bool add_words(struct buf *b, const char *v, enum kind k)
{
	while (*v) {
		size_t n;

		v += strspn(v, " \t");
		n = strcspn(v, " \t");
		if (n == 0)
			break;
		if (!word_ok(v, n, k) || buf_append(b, v, n) != R_SUCCESS ||
		    buf_append(b, "\n", 1) != R_SUCCESS)
			return false;
		v += n;
	}
	return true;
}

/* set: apply one `key = value`; false with *msg on any problem. */
static bool set(struct recipe *r, const char *key, const char *v, unsigned *seen, const char **msg)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[i].key, key) != 0; i++)
		;
	if (i == sizeof(keys) / sizeof(keys[0]))
		return *msg = "unknown key", false;
	if (!keys[i].repeat && (*seen & (1u << i)))
		return *msg = "key given twice", false;
	*seen |= 1u << i;
	if (keys[i].kind == K_YESNO) {
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return *msg = "template wants yes or no", false;
		r->template = strcmp(v, "yes") == 0;
		return true;
	}
	if (keys[i].size != 0) {
		char *dst = (char *)r + keys[i].off;

		if (strlen(v) >= keys[i].size)
			return *msg = "value too long", false;
		if (!text_ok(v) || (keys[i].kind == K_NAME && !recipe_name_is_valid(v)) ||
		    (keys[i].kind == K_SPEC && !word_ok(v, strlen(v), K_SPEC)))
			return *msg = "value has characters its key does not allow", false;
		memcpy(dst, v, strlen(v) + 1);
		return true;
	}
	if (keys[i].kind == K_ENV) {
		struct buf *b = (struct buf *)(void *)((char *)r + keys[i].off);

		if (!env_ok(v) || buf_append_str(b, v) != R_SUCCESS ||
		    buf_append(b, "\n", 1) != R_SUCCESS)
			return *msg = "env wants KEY=VALUE (KEY in A-Z 0-9 _)", false;
		return true;
	}
	if (!add_words((struct buf *)(void *)((char *)r + keys[i].off), v, keys[i].kind))
		return *msg = "a word has characters its key does not allow", false;
	return true;
}

static char *trim(char *s)
{
	char *e;

	s += strspn(s, " \t");
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static enum result parse(struct recipe *r, char *text, const char *path, char *why, size_t whylen)
{
	unsigned line = 0, seen = 0;
	char *p = text, *nl;
	const char *msg = NULL;

	for (; p && *p; p = nl) {
		char *eq, *k;

		line++;
		nl = strchr(p, '\n');
		if (nl)
			*nl++ = '\0';
		p = trim(p);
		if (*p == '\0' || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			msg = "expected 'key = value'";
			goto fail;
		}
		*eq = '\0';
		k = trim(p);
		if (!set(r, k, trim(eq + 1), &seen, &msg))
			goto fail;
	}
	return R_SUCCESS;
fail:
	snprintf(why, whylen, "%s:%u: %s", path, line, msg);
	return R_INVALID;
}

static enum result read_text(const char *path, struct buf *out)
{
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT ? R_NOT_FOUND : R_INVALID;
	buf_init(out, RECIPE_MAX_TEXT);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(out, chunk, (size_t)n) != R_SUCCESS)
			break;
	close(fd);
	if (n != 0) {
		buf_free(out);
		return R_TOO_BIG;
	}
	return R_SUCCESS;
}

static enum result compute_key(struct recipe *r, const struct buf *text)
{
	static const char hex[] = "0123456789abcdef";
	struct crypto_sha256 *h = crypto_sha256_new();
	unsigned char d[CRYPTO_SHA256_LEN];
	const char *up = r->up ? r->up->key : "";
	enum result res = R_NO_MEMORY;

	if (h &&
	    (res = crypto_sha256_update(h, BUILDER_VERSION "\n", sizeof(BUILDER_VERSION))) ==
		R_SUCCESS &&
	    (res = crypto_sha256_update(h, up, strlen(up) + 1)) == R_SUCCESS &&
	    (res = crypto_sha256_update(h, text->data ? text->data : "", text->len)) == R_SUCCESS &&
	    (res = crypto_sha256_final(h, d)) == R_SUCCESS) {
		for (size_t i = 0; i < sizeof(d); i++) {
			r->key[2 * i] = hex[d[i] >> 4];
			r->key[2 * i + 1] = hex[d[i] & 15];
		}
		r->key[RECIPE_KEY_LEN] = '\0';
	}
	crypto_sha256_free(h);
	return res;
}

static struct recipe *recipe_new(void)
{
	struct recipe *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	buf_init(&r->debian, RECIPE_MAX_TEXT);
	buf_init(&r->npm, RECIPE_MAX_TEXT);
	buf_init(&r->env, RECIPE_MAX_TEXT);
	buf_init(&r->preinstalled, RECIPE_MAX_TEXT);
	r->template = true;
	return r;
}

void recipe_free(struct recipe *r)
{
	while (r) {
		struct recipe *up = r->up;

		buf_free(&r->debian);
		buf_free(&r->npm);
		buf_free(&r->env);
		buf_free(&r->preinstalled);
		free(r);
		r = up;
	}
}

static enum result load(const char *dir, const char *name, unsigned depth, struct recipe **out,
			char *why, size_t whylen)
{
	struct recipe *r = NULL;
	struct buf text = {0};
	char path[4096];
	enum result res;

	if (!recipe_name_is_valid(name)) {
		snprintf(why, whylen, "'%s' is not an image name", name);
		return R_INVALID;
	}
	if (depth > RECIPE_MAX_DEPTH) {
		snprintf(why, whylen, "'%s': parents nest deeper than %d (a cycle?)", name,
			 RECIPE_MAX_DEPTH);
		return R_INVALID;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.image", dir, name) >= sizeof(path))
		return R_INVALID;
	res = read_text(path, &text);
	if (res != R_SUCCESS) {
		snprintf(why, whylen, "%s: %s", path,
			 res == R_NOT_FOUND ? "no such image recipe" : "cannot read it");
		return res;
	}
	r = recipe_new();
	res = r ? R_SUCCESS : R_NO_MEMORY;
	if (res == R_SUCCESS) {
		memcpy(r->name, name, strlen(name) + 1);
		res = parse(r, text.data ? text.data : (char[]){""}, path, why, whylen);
	}
	if (res == R_SUCCESS && r->parent[0] != '\0')
		res = load(dir, r->parent, depth + 1, &r->up, why, whylen);
	/* parse cut the text into lines: read it again for the key */
	buf_free(&text);
	if (res == R_SUCCESS)
		res = read_text(path, &text);
	if (res == R_SUCCESS)
		res = compute_key(r, &text);
	buf_free(&text);
	if (res != R_SUCCESS) {
		recipe_free(r);
		return res;
	}
	*out = r;
	return R_SUCCESS;
}

enum result recipe_load(const char *dir, const char *name, struct recipe **out, char *why,
			size_t whylen)
{
	return load(dir, name, 0, out, why, whylen);
}

int recipe_names(const char *dir, char names[][RECIPE_MAX_NAME], int max)
{
	struct dirent **list;
	int k = scandir(dir, &list, NULL, alphasort), n = 0;

	if (k < 0)
		return -1;
	for (int i = 0; i < k; i++) {
		size_t len = strlen(list[i]->d_name);

		if (len > 6 && len - 6 < RECIPE_MAX_NAME && n < max &&
		    strcmp(list[i]->d_name + len - 6, ".image") == 0) {
			memcpy(names[n], list[i]->d_name, len - 6);
			names[n][len - 6] = '\0';
			n++;
		}
		free(list[i]);
	}
	free(list);
	return n;
}

/* layer_size: size_bytes from the image.json of r's exact key; -1 if r is
 * not built. */
static long long layer_size(const char *cache, const struct recipe *r)
{
	char path[4096];
	struct buf text;
	struct json *j;
	long long size = -1;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s/image.json", cache, r->name, r->key) >=
		sizeof(path) ||
	    read_text(path, &text) != R_SUCCESS)
		return -1;
	j = json_parse(text.data ? text.data : "", text.len);
	if (j == NULL || json_get_int(j, "size_bytes", &size) != R_SUCCESS || size < 0)
		size = -1;
	json_free(j);
	buf_free(&text);
	return size;
}

/* is_locked: a build of name holds the image's lock right now. */
static bool is_locked(const char *cache, const char *name)
{
	char path[4096];
	bool busy = false;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/.lock", cache, name) >= sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		busy = errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

enum recipe_state recipe_state(const char *cache, const struct recipe *r, long long *size)
{
	long long total = 0;

	for (const struct recipe *p = r; p; p = p->up) {
		long long n = layer_size(cache, p);

		if (n < 0)
			return is_locked(cache, r->name) ? RECIPE_BUILDING : RECIPE_NOT_BUILT;
		total += n;
	}
	*size = total;
	return RECIPE_READY;
}
