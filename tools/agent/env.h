/* env.h: the environment of commands: a fixed base, the sandbox's own
 * variables (SETENV) and the request's, later ones overriding earlier. */
#ifndef SANDPIT_AGENT_ENV_H
#define SANDPIT_AGENT_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agentproto.h"

struct conn;

/* env_init: the sandbox's variables start empty. Returns false when out of
 * memory. */
bool env_init(void);

/* env_build: the environment of command e, a NULL-terminated array of
 * "K=V" strings the caller frees with env_free; *n is its length. NULL on a
 * malformed variable or when out of memory. */
char **env_build(const struct agentproto_exec *e, size_t *n);

void env_free(char **env, size_t envc);

/* env_setenv: serve a SETENV request (payload p, n bytes) of c: merge or
 * replace the sandbox's variables and answer OK, or answer an error and
 * keep them. */
void env_setenv(struct conn *c, const uint8_t *p, size_t n);

#endif
