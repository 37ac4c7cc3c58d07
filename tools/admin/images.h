/* images.h: `sandpit-admin images build|list`: read-only root layers built
 * from the recipes in SANDPIT_IMAGE_RECIPES and kept in SANDPIT_IMAGE_CACHE,
 * a cache shared by every instance on the machine.
 *
 * Cache layout, per image NAME and recipe key KEY (recipe.h):
 *   NAME/KEY/root        the layer (an overlay upper directory; the base
 *                        layer is a whole root filesystem)
 *   NAME/KEY/image.json  {name, key, parent, parent_key, description,
 *                        preinstalled, env, size_bytes, built_at}
 *   NAME/KEY/build.log   what the build printed
 *   NAME/current         symlink to the KEY last built and verified
 *   NAME/.lock           flock: one build of NAME at a time, machine-wide
 * A failed build leaves NAME/current where it was and its log as
 * NAME/failed.log. Needs root (mmdebstrap, mounts, chroot). */
#ifndef SANDPIT_IMAGES_H
#define SANDPIT_IMAGES_H

/* images_main: argv after "images": "build [NAME...]" (all recipes when none
 * is named) or "list". Returns the process exit status (0 ok, 1 failure,
 * 2 usage). */
int images_main(int argc, char **argv);

#endif
