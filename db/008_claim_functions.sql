-- 008_claim_functions: the per-organization sandbox limit in one place, and
-- a warm-pool claim in one round trip.

-- sp_org_room: lock the organization's row, then count its live sandboxes;
-- returns the room left under its limit (p_default when it has none), NULL
-- when there is no such organization. The lock comes first and the count
-- after it, in a statement of its own: under READ COMMITTED a statement that
-- waited for the lock still counts with the snapshot it started with, while
-- each statement of a volatile function takes a new one.
CREATE FUNCTION sp_org_room(p_org text, p_default int) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	lim int;
BEGIN
	SELECT COALESCE(max_sandboxes, p_default) INTO lim
	FROM organizations WHERE id = p_org FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN lim - (SELECT count(*) FROM sandboxes
		      WHERE org_id = p_org AND status IN ('creating', 'running', 'stopping'));
END
$$;

-- sp_claim_warm: give the oldest pooled sandbox with exactly these limits to
-- p_org if it has room, in one transaction with its sandbox.created and
-- sandbox.ready events (their payloads get the sandbox id here). The pooled
-- row is taken with SKIP LOCKED: two claims never get the same one. NULL when
-- there is no room, no such organization, or no fitting sandbox; created_at
-- and the expiry restart at the claim.
CREATE FUNCTION sp_claim_warm(p_org text, p_default int, p_millis int, p_bytes bigint,
			      p_cpus text, p_memory text, p_timeout int, p_env jsonb,
			      p_metadata jsonb, p_created_id text, p_created jsonb,
			      p_ready_id text, p_ready jsonb) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	sid text;
BEGIN
	IF COALESCE(sp_org_room(p_org, p_default), 0) <= 0 THEN
		RETURN NULL;
	END IF;
	UPDATE sandboxes SET org_id = p_org, cpus = p_cpus, memory = p_memory,
		timeout_seconds = p_timeout, env = COALESCE(p_env, '{}'),
		metadata = COALESCE(p_metadata, '{}'), created_at = clock_timestamp(),
		ready_at = clock_timestamp(),
		expires_at = clock_timestamp() + make_interval(secs => p_timeout)
	WHERE id = (SELECT id FROM sandboxes WHERE org_id IS NULL AND status = 'running'
		    AND cpus_millis = p_millis AND memory_bytes = p_bytes
		    ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
	RETURNING id INTO sid;
	IF sid IS NULL THEN
		RETURN NULL;
	END IF;
	INSERT INTO events (id, org_id, sandbox_id, type, payload) VALUES
		(p_created_id, p_org, sid, 'sandbox.created',
		 p_created || jsonb_build_object('sandboxId', sid)),
		(p_ready_id, p_org, sid, 'sandbox.ready',
		 p_ready || jsonb_build_object('sandboxId', sid));
	RETURN sid;
END
$$;
