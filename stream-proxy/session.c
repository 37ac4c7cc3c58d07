/* session.c: caller authentication and sandbox lookup for the proxy. */
#include "session.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "core/config.h"
#include "db/db.h"
#include "core/instance.h"
#include "core/log.h"
#include "auth/ratelimit.h"
#include "auth/streamtoken.h"

/* KEY_LIVE_SQL: the key that minted a stream token is still live and of
 * the token's org. */
#define KEY_LIVE_SQL                                                                               \
	"SELECT 1 FROM api_keys WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL AND "         \
	"(expires_at IS NULL OR expires_at > now())"

struct session {
	struct db *db;
	struct auth_policy policy;
};

enum result session_open(struct ratelimit *limits, struct session **out)
{
	char conninfo[1024];
	struct session *s;
	enum result r;

	r = instance_conninfo(conninfo, sizeof(conninfo));
	if (r != R_SUCCESS)
		return r;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return R_NO_MEMORY;
	/* db_open hands back a handle even when the server is away; it then
	 * reconnects on the next statement, so a proxy started before the
	 * database still works once it is up. */
	r = db_open(conninfo, &s->db);
	if (r != R_SUCCESS && r != R_DB) {
		free(s);
		return r;
	}
	if (r == R_DB)
		log_warnx("session", "database unreachable at start, will retry");
	s->policy.limits = limits;
	s->policy.jwt_secret = config()->jwt_secret;
	s->policy.rate_per_minute = (double)config()->rate_limit;
	s->policy.burst = (double)config()->rate_burst;
	s->policy.org_rate_per_minute = (double)config()->org_rate_limit;
	s->policy.org_burst = (double)config()->org_rate_burst;
	*out = s;
	return R_SUCCESS;
}

void session_free(struct session *s)
{
	if (s == NULL)
		return;
	db_close(s->db);
	free(s);
}

/* key_is_live: R_SUCCESS when key_id (of org_id) is neither revoked nor expired,
 * R_UNAUTHORIZED when it is, R_DB when the database is away. */
static enum result key_is_live(struct session *s, const char *key_id, const char *org_id)
{
	struct db_res *res = NULL;
	enum result r;

	r = db_exec(s->db, KEY_LIVE_SQL, 2, (const char *[]){key_id, org_id}, &res);
	if (r != R_SUCCESS)
		return r == R_DB ? R_DB : R_INTERNAL;
	r = db_res_rows(res) == 1 ? R_SUCCESS : R_UNAUTHORIZED;
	db_res_free(res);
	return r;
}

enum result session_authenticate(struct session *s, const char *authorization, const char *token,
				 const char *sandbox_id, struct session_grant *out,
				 int *retry_after)
{
	struct session_grant g;
	enum result r;

	memset(&g, 0, sizeof(g));
	if (authorization != NULL && authorization[0] != '\0') {
		struct auth a;

		r = auth_check(s->db, authorization, &s->policy, &a, retry_after);
		if (r != R_SUCCESS)
			return r;
		memcpy(g.org_id, a.org_id, sizeof(g.org_id));
		memcpy(g.actor, a.actor, sizeof(g.actor));
		g.org_id[sizeof(g.org_id) - 1] = '\0';
		g.actor[sizeof(g.actor) - 1] = '\0';
		g.scopes = a.scopes;
	} else if (token != NULL && token[0] != '\0') {
		const char *secret = config()->secret_key;
		char key_id[STREAMTOKEN_ID_MAX];

		r = streamtoken_verify(secret, strlen(secret), token, sandbox_id,
				       (long long)time(NULL), g.org_id, sizeof(g.org_id), key_id,
				       sizeof(key_id));
		if (r != R_SUCCESS)
			return r == R_TOO_BIG ? R_UNAUTHORIZED : r;
		/* A token dies with its key. One minted with a JWT names none:
		 * it lives its minute, as the JWT itself cannot be revoked. */
		if (key_id[0] != '\0' && (r = key_is_live(s, key_id, g.org_id)) != R_SUCCESS)
			return r;
		memcpy(g.actor, "stream-token", sizeof("stream-token"));
		/* A token is minted by a caller who could write to the sandbox
		 * and is good for exactly one sandbox's stream. */
		g.scopes = AUTH_SCOPE_READ | AUTH_SCOPE_WRITE;
	} else
		return R_UNAUTHORIZED;
	*out = g;
	return R_SUCCESS;
}

enum result session_find_sandbox(struct session *s, const char *org_id, const char *sandbox_id,
				 struct session_target *out)
{
	static const char sql[] = "SELECT status, coalesce(agent_address, '') FROM sandboxes "
				  "WHERE id = $1 AND org_id = $2";
	const char *params[2] = {sandbox_id, org_id};
	struct session_target t;
	struct db_res *res = NULL;
	const char *st, *addr;
	enum result r;

	r = db_exec(s->db, sql, 2, params, &res);
	if (r != R_SUCCESS)
		return r;
	if (db_res_rows(res) != 1) {
		r = R_NOT_FOUND;
		goto out_res;
	}
	st = db_res_get(res, 0, 0);
	addr = db_res_get(res, 0, 1);
	if (st == NULL || addr == NULL || strlen(st) >= sizeof(t.status) ||
	    strlen(addr) >= sizeof(t.agent_address)) {
		r = R_INTERNAL;
		goto out_res;
	}
	memcpy(t.status, st, strlen(st) + 1);
	memcpy(t.agent_address, addr, strlen(addr) + 1);
	*out = t;
	r = R_SUCCESS;

out_res:
	db_res_free(res);
	return r;
}
