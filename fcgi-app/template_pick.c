/* template_pick.c: the template of a create (template_pick.h). The key
 * sent to boxd is the recipe's as it is now in the repository: a recipe
 * changed since its last build is "not built" until it is rebuilt, so a
 * sandbox never boots from layers that do not match its recipe. */
#include "template_pick.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "handlers.h"
#include "core/log.h"

#define DEFAULT_TEMPLATE "default"

enum result template_load(struct req *rq, const char *name, struct recipe **out)
{
	struct recipe *r = NULL;
	enum result res;
	char why[512];

	if (!recipe_name_is_valid(name))
		return http_set_error(rq, R_NOT_FOUND, "no template named '%.64s'", name);
	res = recipe_load(config()->image_recipes, name, &r, why, sizeof(why));
	if (res == R_NOT_FOUND || (res == R_SUCCESS && !r->template)) {
		recipe_free(r);
		return http_set_error(rq, R_NOT_FOUND, "no template named '%s'", name);
	}
	if (res != R_SUCCESS) {
		log_errx("templates", "bad recipe: %s", why);
		return http_set_error(rq, R_INTERNAL, "the recipe of template '%s' is broken",
				      name);
	}
	*out = r;
	return R_SUCCESS;
}

enum result template_pick(struct req *rq, char name[RECIPE_MAX_NAME],
			  char image[TEMPLATE_IMAGE_MAX])
{
	const struct json *v = json_get(rq->body, "template");
	struct recipe *r = NULL;
	enum recipe_state st;
	long long size = 0;
	enum result res;

	name[0] = image[0] = '\0';
	if (v == NULL || json_is_null(v)) {
		if (!config()->images)
			return R_SUCCESS;
		memcpy(name, DEFAULT_TEMPLATE, sizeof(DEFAULT_TEMPLATE));
	} else if (!json_is_string(v)) {
		return http_set_error(rq, R_INVALID, "'template' must be a string");
	} else if (!recipe_name_is_valid(json_str(v))) {
		return http_set_error(rq, R_NOT_FOUND, "no template named '%.64s'", json_str(v));
	} else {
		snprintf(name, RECIPE_MAX_NAME, "%s", json_str(v));
	}
	res = template_load(rq, name, &r);
	if (res != R_SUCCESS)
		return res;
	st = recipe_state(config()->image_cache, r, &size);
	if (st != RECIPE_READY) {
		recipe_free(r);
		return http_set_error(
		    rq, R_CONFLICT,
		    "template '%s' is %s on this host; build it with `sandpit-admin "
		    "images build %s`",
		    name, st == RECIPE_BUILDING ? "being built" : "not built", name);
	}
	snprintf(image, TEMPLATE_IMAGE_MAX, "%s@%s", r->name, r->key);
	recipe_free(r);
	return R_SUCCESS;
}

/* set: key=value in obj, replacing an earlier value */
static enum result set(struct json *obj, const char *key, struct json *value)
{
	json_free(json_detach(obj, key));
	return json_add(obj, key, value);
}

/* add_recipe_env: r's parents' lines first, so a layer's own win. */
static enum result add_recipe_env(struct json *obj, const struct recipe *r)
{
	const char *p = r->env.data;
	enum result res = r->up ? add_recipe_env(obj, r->up) : R_SUCCESS;
	char key[256];

	while (res == R_SUCCESS && p && *p) {
		size_t n = strcspn(p, "\n"), k = strcspn(p, "=");

		if (k < n && k < sizeof(key)) {
			memcpy(key, p, k);
			key[k] = '\0';
			res = set(obj, key, json_new_strn(p + k + 1, n - k - 1));
		}
		p += n + (p[n] == '\n');
	}
	return res;
}

enum result template_env(struct req *rq, const char *name, char **env_text)
{
	struct json *obj = json_new_object(), *own = NULL;
	struct recipe *r = NULL;
	enum result res;
	char why[512];
	char *text;

	res = obj ? recipe_load(config()->image_recipes, name, &r, why, sizeof(why)) : R_NO_MEMORY;
	if (res == R_SUCCESS)
		res = add_recipe_env(obj, r);
	if (res == R_SUCCESS && *env_text) {
		own = json_parse(*env_text, strlen(*env_text));
		res = own ? R_SUCCESS : R_INTERNAL;
		for (const struct json *m = own ? json_child(own) : NULL; res == R_SUCCESS && m;
		     m = json_next(m))
			res = set(obj, json_key(m), json_new_str(json_str(m)));
	}
	text = res == R_SUCCESS ? json_print(obj) : NULL;
	json_free(own);
	json_free(obj);
	recipe_free(r);
	if (!text)
		return http_set_error(rq, res == R_SUCCESS ? R_NO_MEMORY : res,
				      "cannot apply the environment of template '%s'", name);
	free(*env_text);
	*env_text = text;
	return R_SUCCESS;
}
