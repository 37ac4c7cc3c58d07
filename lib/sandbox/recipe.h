/* recipe.h: image recipes (etc/images/NAME.image): parsing, the parent
 * chain, the content key that names a built layer in the image cache, and
 * what the cache holds for a recipe. The format is described in
 * etc/images/README; the cache layout in tools/admin/images.h. */
#ifndef SANDPIT_RECIPE_H
#define SANDPIT_RECIPE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/result.h"

#define RECIPE_MAX_NAME	 64
#define RECIPE_MAX_DEPTH 8     /* parents above an image, at most */
#define RECIPE_MAX_TEXT	 65536 /* bytes of one recipe file */
#define RECIPE_KEY_LEN	 64    /* hex SHA-256 */

struct recipe {
	char name[RECIPE_MAX_NAME];
	char parent[RECIPE_MAX_NAME]; /* "" for the base layer */
	char description[256];
	char node[128];		 /* npm spec of a package with bin/node, or "" */
	char smoke[1024];	 /* shell command, or "" */
	struct buf debian;	 /* package names, each followed by '\n' */
	struct buf npm;		 /* npm specs, each followed by '\n' */
	struct buf env;		 /* KEY=VALUE lines */
	struct buf preinstalled; /* words, each followed by '\n' */
	bool template;		 /* offered as a template (every image but base layers) */
	char key[RECIPE_KEY_LEN + 1];
	struct recipe *up; /* the parent, owned by this recipe */
};

/* recipe_load: NAME's recipe from dir and, recursively, its parents; keys
 * computed. *out is owned by the caller (recipe_free). R_NOT_FOUND when a
 * file is missing, R_INVALID for a bad name, syntax, unknown key, a value
 * outside its alphabet, a parent cycle or a chain deeper than
 * RECIPE_MAX_DEPTH; *why then says which file, line and why. */
SP_MUST_CHECK enum result recipe_load(const char *dir, const char *name, struct recipe **out,
				      char *why, size_t whylen);

/* recipe_free: the recipe and its parents. NULL is a no-op. */
void recipe_free(struct recipe *r);

/* recipe_names: the NAME of every NAME.image in dir, sorted, at most max;
 * -1 when dir cannot be read. */
int recipe_names(const char *dir, char names[][RECIPE_MAX_NAME], int max);

enum recipe_state { RECIPE_NOT_BUILT, RECIPE_BUILDING, RECIPE_READY };

/* recipe_state: what the cache holds for r: READY when r's exact key is
 * built (*size then the bytes of r's layer and its parents' together),
 * BUILDING while a build of r holds its lock, else NOT_BUILT. */
enum recipe_state recipe_state(const char *cache, const struct recipe *r, long long *size);

/* recipe_name_is_valid: [a-z0-9][a-z0-9-]* of at most RECIPE_MAX_NAME-1. */
bool recipe_name_is_valid(const char *name);

#endif
