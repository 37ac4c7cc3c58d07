/* image.h: a sandbox's root from image layers (tools/admin/images.h has the
 * cache layout). boxd resolves "NAME@KEY" only inside its own cache
 * (--images), walking NAME/KEY/image.json's parent chain through directory
 * fds without following symlinks, and refuses any layer directory that is
 * not root's or that anyone else may write. The API names an image; it
 * never names a path.
 *
 * The layers are mounted in the sandbox idmapped (image_idmap): files owned
 * by root on disk appear owned by the sandbox's root, so its overlay's
 * upper layer can take copies of them (spawn.c). */
#ifndef SANDPIT_BOXD_IMAGE_H
#define SANDPIT_BOXD_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "sandbox/recipe.h"
#include "core/result.h"

#define IMAGE_MAX_LAYERS (RECIPE_MAX_DEPTH + 1)
#define IMAGE_SPEC_MAX	 (RECIPE_MAX_NAME + 1 + RECIPE_KEY_LEN + 1)

struct image_layers {
	int n;
	int fd[IMAGE_MAX_LAYERS]; /* O_PATH on each layer's root, nearest first */
};

/* image_spec_is_valid: "NAME@KEY", NAME a recipe name, KEY 64 lowercase hex. */
bool image_spec_is_valid(const char *spec);

/* image_resolve: the layer chain of spec inside cache. R_INVALID for a bad
 * spec, a malformed image.json, a chain too deep, or a layer with unsafe
 * ownership or permissions; R_NOT_FOUND when a layer is not in the cache.
 * err says which. On success the caller closes out (image_layers_close). */
SP_MUST_CHECK enum result image_resolve(const char *cache, const char *spec,
					struct image_layers *out, char *err, size_t errlen);

/* image_layers_close: close every fd; safe on a zeroed or closed set. */
void image_layers_close(struct image_layers *l);

/* image_idmap: for each layer a detached read-only, nosuid, nodev clone of
 * its mount, idmapped through the user namespace userns_fd (the sandbox's,
 * its maps written). mnt_fds receives l->n fds (O_CLOEXEC) for move_mount;
 * on failure none stays open. Needs real root. */
SP_MUST_CHECK enum result image_idmap(const struct image_layers *l, int userns_fd, int *mnt_fds);

#endif
