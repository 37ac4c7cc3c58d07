/* env.c: the environment commands start with: a fixed base, the sandbox's
 * variables set by SETENV, then the request's own. */
#include "env.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

#define MAX_ENV_BYTES (1024u * 1024u)

static char **sandbox_env;
static size_t sandbox_envc;

static bool env_set(char ***envp, size_t *envc, const char *kv)
{
	size_t klen = strcspn(kv, "="), i;
	char *copy, **grown;

	if (klen == 0 || kv[klen] != '=')
		return false;
	copy = strdup(kv);
	if (!copy)
		return false;
	for (i = 0; i < *envc; i++) {
		if (strncmp((*envp)[i], kv, klen + 1) == 0) {
			free((*envp)[i]);
			(*envp)[i] = copy;
			return true;
		}
	}
	if (*envc >= AGENTPROTO_MAX_ENV * 2) {
		free(copy);
		return false;
	}
	grown = realloc(*envp, (*envc + 2) * sizeof(char *));
	if (!grown) {
		free(copy);
		return false;
	}
	grown[(*envc)++] = copy;
	grown[*envc] = NULL;
	*envp = grown;
	return true;
}

void env_free(char **env, size_t envc)
{
	size_t i;

	for (i = 0; i < envc; i++)
		free(env[i]);
	free(env);
}

static size_t env_bytes(char **env, size_t envc)
{
	size_t i, n = 0;

	for (i = 0; i < envc; i++)
		n += strlen(env[i]) + 1;
	return n;
}

bool env_init(void)
{
	sandbox_env = calloc(1, sizeof(char *));
	return sandbox_env != NULL;
}

char **env_build(const struct agentproto_exec *e, size_t *n)
{
	char **env = NULL;
	size_t envc = 0, i;
	bool ok = true;

	ok = env_set(&env, &envc,
		     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") &&
	     env_set(&env, &envc, "HOME=/workspace") && env_set(&env, &envc, "LANG=C.UTF-8") &&
	     env_set(&env, &envc, "USER=sandbox");
	if (ok && (e->flags & AP_EXEC_TTY))
		ok = env_set(&env, &envc, "TERM=xterm-256color");
	for (i = 0; ok && i < sandbox_envc; i++)
		ok = env_set(&env, &envc, sandbox_env[i]);
	for (i = 0; ok && i < e->envc; i++)
		ok = env_set(&env, &envc, e->env[i]);
	if (!ok) {
		env_free(env, envc);
		return NULL;
	}
	*n = envc;
	return env;
}

void env_setenv(struct conn *c, const uint8_t *p, size_t n)
{
	struct agentproto_setenv se;
	char **env = NULL;
	size_t envc = 0, i;
	bool ok = true;

	if (agentproto_get_setenv(p, n, &se) != R_SUCCESS) {
		conn_error(c, R_INVALID, "malformed setenv");
		return;
	}
	for (i = 0; ok && !se.replace && i < sandbox_envc; i++)
		ok = env_set(&env, &envc, sandbox_env[i]);
	for (i = 0; ok && i < se.envc; i++)
		ok = env_set(&env, &envc, se.env[i]);
	agentproto_setenv_free(&se);
	if (!ok || env_bytes(env, envc) > MAX_ENV_BYTES) {
		env_free(env, envc);
		conn_error(c, R_INVALID, "bad or too large environment");
		return;
	}
	env_free(sandbox_env, sandbox_envc);
	sandbox_env = env;
	sandbox_envc = envc;
	conn_queued(c, agentproto_put_empty(conn_out(c), AP_OK));
}
