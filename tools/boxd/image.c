/* image.c: resolving and idmapping image layers (image.h). Runs in boxd as
 * root. Every step below the configured cache is an openat of one name with
 * O_NOFOLLOW, so nothing anyone planted (a symlink, a directory another
 * user may write) is followed or mounted. */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/json.h"

#define MAX_JSON 65536

bool image_spec_is_valid(const char *spec)
{
	const char *at = strchr(spec, '@');
	char name[RECIPE_MAX_NAME];
	size_t i, n;

	if (!at || (size_t)(at - spec) >= sizeof(name))
		return false;
	n = (size_t)(at - spec);
	memcpy(name, spec, n);
	name[n] = '\0';
	if (!recipe_name_is_valid(name) || strlen(at + 1) != RECIPE_KEY_LEN)
		return false;
	for (i = 1; i <= RECIPE_KEY_LEN; i++)
		if (!((at[i] >= '0' && at[i] <= '9') || (at[i] >= 'a' && at[i] <= 'f')))
			return false;
	return true;
}

void image_layers_close(struct image_layers *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (l->fd[i] >= 0)
			close(l->fd[i]);
	l->n = 0;
}

/* safe: root's, and nobody else may write it (a layer anyone could change
 * would be code every later sandbox runs). */
static bool safe(const struct stat *st, mode_t type)
{
	return (st->st_mode & S_IFMT) == type && st->st_uid == 0 &&
	       (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* open_safe: one name under dir, never through a symlink; R_NOT_FOUND when
 * absent, R_INVALID when not a safe entry of the given type. */
static enum result open_safe(int dir, const char *name, int flags, mode_t type, int *out, char *err,
			     size_t errlen)
{
	struct stat st;
	int fd = openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "'%s' is not in the image cache (%s)", name, strerror(errno));
		return errno == ENOENT ? R_NOT_FOUND : R_INVALID;
	}
	if (fstat(fd, &st) != 0 || !safe(&st, type)) {
		close(fd);
		snprintf(err, errlen, "'%s' in the image cache has unsafe ownership or permissions",
			 name);
		return R_INVALID;
	}
	*out = fd;
	return R_SUCCESS;
}

static enum result read_json(int dir, struct json **out, char *err, size_t errlen)
{
	char *text = NULL;
	struct stat st;
	enum result r;
	ssize_t n;
	int fd;

	r = open_safe(dir, "image.json", O_RDONLY | O_NONBLOCK, S_IFREG, &fd, err, errlen);
	if (r != R_SUCCESS)
		return r;
	r = R_INVALID;
	if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size > MAX_JSON)
		goto done;
	text = malloc((size_t)st.st_size);
	if (!text) {
		r = R_NO_MEMORY;
		goto done;
	}
	n = read(fd, text, (size_t)st.st_size);
	if (n != st.st_size)
		goto done;
	*out = json_parse(text, (size_t)n);
	if (*out && json_is_object(*out))
		r = R_SUCCESS;
	else if (*out)
		json_free(*out);
done:
	if (r == R_INVALID)
		snprintf(err, errlen, "unreadable image.json");
	free(text);
	close(fd);
	return r;
}

/* next_spec: "parent@parent_key" of a layer's image.json, "" for a base
 * layer; R_INVALID unless its name and key are the ones asked for. */
static enum result next_spec(const struct json *j, const char *name, const char *key, char *spec,
			     size_t size)
{
	const struct json *p = json_get(j, "parent"), *pk = json_get(j, "parent_key");
	const struct json *jn = json_get(j, "name"), *jk = json_get(j, "key");
	int n;

	if (!jn || !jk || !json_is_string(jn) || !json_is_string(jk) ||
	    strcmp(json_str(jn), name) != 0 || strcmp(json_str(jk), key) != 0)
		return R_INVALID;
	if (!p || json_is_null(p)) {
		spec[0] = '\0';
		return R_SUCCESS;
	}
	if (!json_is_string(p) || !pk || !json_is_string(pk))
		return R_INVALID;
	n = snprintf(spec, size, "%s@%s", json_str(p), json_str(pk));
	return n > 0 && (size_t)n < size && image_spec_is_valid(spec) ? R_SUCCESS : R_INVALID;
}

/* one_layer: the O_PATH fd of NAME/KEY/root and the next spec up. */
static enum result one_layer(int cache, char *spec, int *root, char *err, size_t errlen)
{
	char *at = strchr(spec, '@'), key[RECIPE_KEY_LEN + 1];
	struct json *j = NULL;
	int nd = -1, kd = -1;
	enum result r;

	*at = '\0';
	memcpy(key, at + 1, sizeof(key));
	r = open_safe(cache, spec, O_PATH | O_DIRECTORY, S_IFDIR, &nd, err, errlen);
	if (r == R_SUCCESS)
		r = open_safe(nd, key, O_PATH | O_DIRECTORY, S_IFDIR, &kd, err, errlen);
	if (r == R_SUCCESS)
		r = read_json(kd, &j, err, errlen);
	if (r == R_SUCCESS)
		r = open_safe(kd, "root", O_PATH | O_DIRECTORY, S_IFDIR, root, err, errlen);
	if (r == R_SUCCESS) {
		char name[RECIPE_MAX_NAME];

		memcpy(name, spec, strlen(spec) + 1);
		r = next_spec(j, name, key, spec, IMAGE_SPEC_MAX);
		if (r != R_SUCCESS) {
			close(*root);
			snprintf(err, errlen, "image.json of '%s' does not match its place", name);
		}
	}
	json_free(j);
	if (kd >= 0)
		close(kd);
	if (nd >= 0)
		close(nd);
	return r;
}

enum result image_resolve(const char *cache, const char *spec, struct image_layers *out, char *err,
			  size_t errlen)
{
	char cur[IMAGE_SPEC_MAX];
	enum result r;
	struct stat st;
	int cd;

	out->n = 0;
	if (strlen(spec) >= sizeof(cur) || !image_spec_is_valid(spec)) {
		snprintf(err, errlen, "image must be NAME@KEY");
		return R_INVALID;
	}
	memcpy(cur, spec, strlen(spec) + 1);
	cd = open(cache, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cd < 0 || fstat(cd, &st) != 0 || !safe(&st, S_IFDIR)) {
		snprintf(err, errlen, "the image cache is missing or unsafe");
		if (cd >= 0)
			close(cd);
		return cd < 0 ? R_NOT_FOUND : R_INVALID;
	}
	r = R_SUCCESS;
	while (r == R_SUCCESS && cur[0] != '\0') {
		if (out->n == IMAGE_MAX_LAYERS) {
			snprintf(err, errlen, "image chain deeper than %d layers",
				 IMAGE_MAX_LAYERS);
			r = R_INVALID;
			break;
		}
		r = one_layer(cd, cur, &out->fd[out->n], err, errlen);
		if (r == R_SUCCESS)
			out->n++;
	}
	close(cd);
	if (r != R_SUCCESS)
		image_layers_close(out);
	return r;
}

enum result image_idmap(const struct image_layers *l, int userns_fd, int *mnt_fds)
{
	struct mount_attr attr = {
	    .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
	    .userns_fd = (unsigned long long)userns_fd,
	};
	int i, fd;

	for (i = 0; i < l->n; i++) {
		fd = (int)syscall(SYS_open_tree, l->fd[i], "",
				  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
		if (fd < 0 ||
		    syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) != 0) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			while (i-- > 0)
				close(mnt_fds[i]);
			errno = e;
			return R_INTERNAL;
		}
		mnt_fds[i] = fd;
	}
	return R_SUCCESS;
}
