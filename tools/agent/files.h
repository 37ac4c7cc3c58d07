/* files.h: the agent's file operations (FPUT/FGET/FSTAT/FLIST/FREMOVE/FMKDIR/
 * FMOVE of lib/agent/agentproto.h), served by a forked helper that is the sandbox
 * user and nothing more. */
#ifndef SANDPIT_AGENT_FILES_H
#define SANDPIT_AGENT_FILES_H

#include <stddef.h>
#include <stdint.h>

/* files_serve: called in a freshly forked child of the agent. fd is the host
 * connection; pre holds bytes already read from it (starting with the file
 * request's frame). Narrows the process to the sandbox user (gid and
 * effective uid code_uid, real and saved uid the agent's so the user's code
 * cannot signal it, no capabilities, no other fds, the agent's seccomp
 * filter inherited), then serves file requests on fd until EOF, a protocol error or
 * an idle timeout, and exits. Never returns. */
void files_serve(int fd, const uint8_t *pre, size_t npre, unsigned code_uid)
    __attribute__((noreturn));

#endif
