/* backend_impl.h: the struct behind the opaque handle; for implementations
 * only (the API includes backend.h). */
#ifndef SANDPIT_BACKEND_IMPL_H
#define SANDPIT_BACKEND_IMPL_H

#include <limits.h>

#include "backend/backend.h"

struct backend {
	const struct backend_ops *ops;
	char daemon_socket[108]; /* sun_path size */
	unsigned timeout_ms;
};

#endif
