/* etc.h: the /etc a sandbox sees. Never the host's: a template built once
 * per instance under the run directory (generated passwd, group, hosts,
 * resolv.conf, nsswitch.conf..., plus a snapshot of the few host entries
 * runtimes need: the CA bundle, alternatives, the loader cache...), and two
 * per-sandbox files (hosts and hostname naming the sandbox). All of it is
 * written by boxd in root-owned directories no sandbox or unprivileged user
 * can write, before the sandbox exists; the child bind-mounts it read-only
 * (spawn.c). */
#ifndef SANDPIT_BOXD_ETC_H
#define SANDPIT_BOXD_ETC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"

/* etc_prepare: make sure <run_dir>/.etc holds the template. With rebuild
 * (no sandbox is using it) a fresh snapshot replaces it; otherwise an
 * existing one is kept (live sandboxes have it mounted). Logs and returns
 * R_INTERNAL on failure: boxd does not start without it. */
SP_MUST_CHECK enum result etc_prepare(const char *run_dir, bool rebuild);

/* etc_template: the template's path (after etc_prepare). */
SP_MUST_CHECK bool etc_template(const char *run_dir, char *out, size_t size);

/* etc_write_sandbox: <run_dir>/<id>.hosts and <id>.hostname, created anew
 * (O_EXCL, O_NOFOLLOW); their paths in hosts/hostname. */
SP_MUST_CHECK enum result etc_write_sandbox(const char *run_dir, const char *id, char *hosts,
					    char *hostname, size_t size);

/* etc_remove_sandbox: unlink them (a mounted copy stays valid); true if
 * either existed. */
bool etc_remove_sandbox(const char *run_dir, const char *id);

#endif
