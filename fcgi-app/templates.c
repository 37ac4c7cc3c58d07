/* templates.c: the templates a sandbox can be created from: every image
 * recipe offered as one, with what the shared image cache holds for it. */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "handlers.h"
#include "template_pick.h"
#include "core/log.h"
#include "sandbox/recipe.h"

#define MAX_TEMPLATES 64

static const char *state_name(enum recipe_state s)
{
	return s == RECIPE_READY ? "ready" : s == RECIPE_BUILDING ? "building" : "not_built";
}

static struct json *words_json(const struct buf *list)
{
	struct json *a = json_new_array();
	const char *p = list->data;

	while (a && p && *p) {
		size_t n = strcspn(p, "\n");

		if (json_push(a, json_new_strn(p, n)) != R_SUCCESS) {
			json_free(a);
			return NULL;
		}
		p += n + (p[n] == '\n');
	}
	return a;
}

/* template_json: {name, description, preinstalled, status, size_bytes}
 * (size_bytes: the layer and its parents, null until built). */
static struct json *template_json(const struct recipe *r)
{
	long long size = 0;
	enum recipe_state st = recipe_state(config()->image_cache, r, &size);
	struct json *o = json_new_object();

	if (o == NULL || json_add_str(o, "name", r->name) != R_SUCCESS ||
	    json_add_str(o, "description", r->description) != R_SUCCESS ||
	    json_add(o, "preinstalled", words_json(&r->preinstalled)) != R_SUCCESS ||
	    json_add_str(o, "status", state_name(st)) != R_SUCCESS ||
	    json_add(o, "size_bytes", st == RECIPE_READY ? json_new_int(size) : json_new_null()) !=
		R_SUCCESS) {
		json_free(o);
		return NULL;
	}
	return o;
}

enum result templates_list(struct req *rq)
{
	char names[MAX_TEMPLATES][RECIPE_MAX_NAME];
	int n = recipe_names(config()->image_recipes, names, MAX_TEMPLATES);
	struct json *body = json_new_object(), *arr = json_new_array();
	enum result r = body && arr ? R_SUCCESS : R_NO_MEMORY;

	if (n < 0) {
		log_warn("templates", "cannot read '%s'", config()->image_recipes);
		r = R_INTERNAL;
	}
	for (int i = 0; r == R_SUCCESS && i < n; i++) {
		struct recipe *t = NULL;
		char why[512];

		if (recipe_load(config()->image_recipes, names[i], &t, why, sizeof(why)) !=
			R_SUCCESS ||
		    t == NULL) {
			log_errx("templates", "bad recipe: %s", why);
			r = R_INTERNAL;
		} else if (t->template && json_push(arr, template_json(t)) != R_SUCCESS) {
			r = R_NO_MEMORY;
		}
		recipe_free(t);
	}
	if (r == R_SUCCESS && json_add(body, "templates", arr) == R_SUCCESS) {
		arr = NULL;
		if (json_add(body, "next_cursor", json_new_null()) == R_SUCCESS) {
			http_respond_json(rq, 200, body, NULL);
			return R_SUCCESS;
		}
		r = R_NO_MEMORY;
	}
	json_free(arr);
	json_free(body);
	return r;
}

enum result templates_get(struct req *rq)
{
	struct recipe *t = NULL;
	struct json *o;
	enum result r = template_load(rq, rq->params[0], &t);

	if (r != R_SUCCESS)
		return r;
	o = template_json(t);
	recipe_free(t);
	if (o == NULL)
		return R_NO_MEMORY;
	http_respond_json(rq, 200, o, NULL);
	return R_SUCCESS;
}
