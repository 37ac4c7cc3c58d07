/* bounds.h: what the operator lets the API ask of sandpit-boxd. boxd trusts
 * no request: a compromised API worker may ask for anything, so every
 * sandbox's limits are checked against a ceiling here, and all sandboxes of
 * the instance together are held by limits on their parent cgroup.
 */
#ifndef SANDPIT_BOXD_BOUNDS_H
#define SANDPIT_BOXD_BOUNDS_H

#include <stdbool.h>

#include "backend/backend.h"
#include "cgroup.h"

struct bounds {
	struct sandbox_limits ceiling; /* per sandbox: --max-cpus/-memory/-pids/-disk */
	struct cgroup_limits total;    /* the instance: --total-cpus/-memory/-pids */
};

/* bounds_defaults: no ceiling below the absolute maxima; the instance may
 * use three quarters of the host's memory and half its pid space. */
void bounds_defaults(struct bounds *b);

/* bounds_parse: apply flag (e.g. "--max-memory") with val. Returns false
 * when flag is not one of ours; *ok says whether val was acceptable. */
bool bounds_parse(struct bounds *b, const char *flag, const char *val, bool *ok);

/* bounds_admit: are l's limits within the floors and the ceiling? */
bool bounds_admit(const struct bounds *b, const struct sandbox_limits *l);

#endif
