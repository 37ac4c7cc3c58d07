/* template_pick.h: which image a new sandbox boots from (issue #13):
 * the create body's "template", else "default" when SANDPIT_IMAGES is on,
 * else none (the host-directories root of before images). */
#ifndef SANDPIT_TEMPLATE_PICK_H
#define SANDPIT_TEMPLATE_PICK_H

#include <stddef.h>

#include "http.h"
#include "sandbox/recipe.h"

/* "NAME@KEY" as boxd's create takes it (lib/backend/boxproto.h) */
#define TEMPLATE_IMAGE_MAX (RECIPE_MAX_NAME + 1 + RECIPE_KEY_LEN + 1)

/* template_load: the template called name with its parents (*out owned by
 * the caller, recipe_free). 404 naming it when it is not a recipe or is a
 * base layer; 500 when its recipe is broken (logged). */
SP_MUST_CHECK enum result template_load(struct req *rq, const char *name, struct recipe **out);

/* template_pick: name and image ("NAME@KEY" of the recipe's current key)
 * of the template to use; both "" for none. Fails through http_set_error: 400
 * for a template that is not a string, 404 naming an unknown template, 409
 * with the command that builds one that is not built. */
SP_MUST_CHECK enum result template_pick(struct req *rq, char name[RECIPE_MAX_NAME],
					char image[TEMPLATE_IMAGE_MAX]);

/* template_env: the env lines of template name's recipe and its parents
 * (a layer's over its parent's) with the object text *env_text (the
 * create's own env, may be NULL) over them; *env_text is replaced by the
 * merged object's text (owned). */
SP_MUST_CHECK enum result template_env(struct req *rq, const char *name, char **env_text);

#endif
