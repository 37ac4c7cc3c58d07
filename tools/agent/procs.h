/* procs.h: the sandbox's process list (PS). */
#ifndef SANDPIT_AGENT_PROCS_H
#define SANDPIT_AGENT_PROCS_H

struct conn;

/* procs_list: answer a PS request of c with up to 256 processes of the
 * sandbox (all but the agent), read from /proc; an error when /proc cannot
 * be read. */
void procs_list(struct conn *c);

#endif
