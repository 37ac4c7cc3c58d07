/* privs.h: the agent's own privileges, narrowed once at start-up before any
 * untrusted code exists. */
#ifndef SANDPIT_AGENT_PRIVS_H
#define SANDPIT_AGENT_PRIVS_H

/* privs_narrow: make the agent non-dumpable, keep only the capabilities it
 * needs (to start commands, signal them and own files) in every set including
 * the bounding set, set no_new_privs and install the seccomp deny-list
 * (sysfilter.h) that every command inherits. Returns NULL on success, else
 * what failed with errno still set: the caller cannot go on. */
const char *privs_narrow(void);

#endif
