/* request.h: the boxproto requests the daemon serves (lib/backend/boxproto.h):
 * create, destroy, inspect, list, addr and resize, one per connection. The
 * handlers check everything a request says (the client is an unprivileged
 * API worker, and may be compromised), then call down into the table
 * (table.h), spawn.h, etc.h, bounds.h and cgroup.h; nothing calls back up
 * into main.c. */
#ifndef SANDPIT_BOXD_REQUEST_H
#define SANDPIT_BOXD_REQUEST_H

#include <stddef.h>

#include "core/result.h"

struct daemon; /* daemon.h */

/* reply: the reply being built; text has size bytes (BOXPROTO_MAX_MSG),
 * allocated once by the caller and reused for every request. A reply that
 * does not fit is cut short, never overrun. */
struct reply {
	char *text;
	size_t len, size;
};

/* serve_client: read one request from the connected socket fd (waiting at
 * most a second for it), handle it and send the reply built in rep. The
 * caller closes fd. Errors go into the reply ("err <code> <message>") or,
 * when the peer is gone, nowhere. */
void serve_client(struct daemon *d, int fd, struct reply *rep);

/* teardown: everything of id goes, whatever state it is in: its agent (when
 * our child) is killed and reaped, its cgroup's processes killed and the
 * cgroup removed, its files in the run directory unlinked and its slot
 * freed. R_SUCCESS; R_NOT_FOUND when nothing of id existed; R_INTERNAL when its
 * processes survive SIGKILL, or cgroup_remove's error: then the slot and
 * the files stay, and a later destroy tries again. */
SP_MUST_CHECK enum result teardown(struct daemon *d, const char *id);

#endif
