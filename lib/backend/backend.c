/* backend.c: dispatch of the backend interface to its implementation. */
#include "backend/backend.h"

#include <stdlib.h>
#include <string.h>

#include "backend/backend_impl.h"
#include "core/id.h"

enum result backend_open(const struct backend_config *cfg, struct backend **out)
{
	struct backend *b;
	const char *kind = cfg->kind ? cfg->kind : "local";

	if (strcmp(kind, "local") != 0)
		return R_INVALID;
	if (!cfg->daemon_socket || strlen(cfg->daemon_socket) >= sizeof(b->daemon_socket))
		return R_INVALID;
	b = calloc(1, sizeof(*b));
	if (!b)
		return R_NO_MEMORY;
	b->ops = &backend_local_ops;
	memcpy(b->daemon_socket, cfg->daemon_socket, strlen(cfg->daemon_socket) + 1);
	b->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 10000;
	*out = b;
	return R_SUCCESS;
}

void backend_close(struct backend *b)
{
	free(b);
}

enum result backend_create(struct backend *b, const char *id, const struct sandbox_limits *lim,
			   char *addr, size_t addr_size)
{
	return backend_create_image(b, id, lim, NULL, addr, addr_size);
}

/* image_is_token: 1..160 bytes of [a-z0-9@-]: nothing that could end the
 * token or add another to the request. */
static bool image_is_token(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i >= 160 || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
				  s[i] == '@' || s[i] == '-'))
			return false;
	return i > 0;
}

enum result backend_create_image(struct backend *b, const char *id,
				 const struct sandbox_limits *lim, const char *image, char *addr,
				 size_t addr_size)
{
	static const struct sandbox_limits none;

	if (!id_is_name(id) || addr_size == 0 || (image && !image_is_token(image)))
		return R_INVALID;
	return b->ops->create(b, id, lim ? lim : &none, image, addr, addr_size);
}

enum result backend_destroy(struct backend *b, const char *id)
{
	if (!id_is_name(id))
		return R_INVALID;
	return b->ops->destroy(b, id);
}

enum result backend_inspect(struct backend *b, const char *id, struct sandbox_usage *out)
{
	if (!id_is_name(id))
		return R_INVALID;
	return b->ops->inspect(b, id, out);
}

enum result backend_list(struct backend *b, char ***ids, size_t *n)
{
	return b->ops->list(b, ids, n);
}

void backend_list_free(char **ids, size_t n)
{
	size_t i;

	if (!ids)
		return;
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

enum result backend_agent_address(struct backend *b, const char *id, char *addr, size_t addr_size)
{
	if (!id_is_name(id) || addr_size == 0)
		return R_INVALID;
	return b->ops->agent_address(b, id, addr, addr_size);
}

enum result backend_resize(struct backend *b, const char *id, const struct sandbox_limits *lim)
{
	if (!id_is_name(id) || !lim)
		return R_INVALID;
	return b->ops->resize(b, id, lim);
}
