/* child.h: a command's process between its fork and its exec: the fixed
 * order in which it sheds what the agent holds. */
#ifndef SANDPIT_AGENT_CHILD_H
#define SANDPIT_AGENT_CHILD_H

#include "agent/agentproto.h"

#define CODE_UID 1000 /* the sandbox user, in the sandbox's user namespace */

/* child_limits_parse: the rlimits of commands from the agent's arguments
 * (--nofile N --nproc N --fsize N; a missing or zero value keeps the
 * default). Call once at start-up. */
void child_limits_parse(int argc, char **argv);

/* child_run: in the forked child of command e: a new session, stdio from
 * fds (or the tty slave when slave >= 0), every other fd closed, signals to
 * default, rlimits, no bounding set, the sandbox user's ids (no capability
 * left), e's working directory, then exec of e with envp. no_new_privs and
 * seccomp are inherited from the agent. A failure before the exec is
 * written to errfd (close-on-exec, so the parent reads EOF on success) and
 * the child exits 127. Never returns. */
void child_run(const struct agentproto_exec *e, char **envp, int fds[3], int slave, int errfd)
    __attribute__((noreturn));

#endif
