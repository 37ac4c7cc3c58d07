-- 001_core: organizations, users, API keys, rate buckets, audit log.

CREATE TABLE organizations (
	id text PRIMARY KEY,
	name text NOT NULL,
	slug text NOT NULL UNIQUE,
	plan text NOT NULL DEFAULT 'hobby',
	max_sandboxes integer,          -- NULL: the instance default
	max_duration_seconds integer,   -- NULL: the instance maximum
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
	id text PRIMARY KEY,
	org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	first_name text NOT NULL,
	last_name text NOT NULL,
	email text NOT NULL,
	role text NOT NULL DEFAULT 'owner',
	use_case text,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE api_keys (
	id text PRIMARY KEY,
	org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	user_id text REFERENCES users (id) ON DELETE SET NULL,
	name text NOT NULL,
	key_hash text NOT NULL UNIQUE,  -- hex SHA-256 of the whole key
	key_prefix text NOT NULL,
	scopes text[] NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz,
	expires_at timestamptz,
	revoked_at timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at DESC);

-- Token buckets are advisory state: losing them in a crash only refills
-- them, so they skip the WAL.
CREATE UNLOGGED TABLE rate_buckets (
	key_id text PRIMARY KEY,
	tokens double precision NOT NULL,
	updated_at timestamptz NOT NULL
);

CREATE TABLE audit_logs (
	id bigserial PRIMARY KEY,
	org_id text NOT NULL,
	actor text,          -- api key id, user id or 'system'
	action text NOT NULL,
	target text,
	request_id text,
	details jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_org ON audit_logs (org_id, created_at DESC);

-- rate_take: refill the bucket for p_key at p_rate tokens a minute up to
-- p_burst and take one token if there is one. retry_after is the seconds
-- until the next token when none was left.
CREATE FUNCTION rate_take(p_key text, p_rate double precision, p_burst double precision,
			  OUT allowed boolean, OUT retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
	t double precision;
BEGIN
	INSERT INTO rate_buckets AS b (key_id, tokens, updated_at)
	VALUES (p_key, p_burst, now())
	ON CONFLICT ON CONSTRAINT rate_buckets_pkey DO UPDATE
	   SET tokens = LEAST(p_burst, b.tokens +
			  EXTRACT(EPOCH FROM now() - b.updated_at) * p_rate / 60.0),
	       updated_at = now()
	RETURNING b.tokens INTO t;
	allowed := t >= 1;
	IF allowed THEN
		UPDATE rate_buckets b SET tokens = t - 1 WHERE b.key_id = p_key;
		retry_after := 0;
	ELSE
		retry_after := GREATEST(1, ceil((1 - t) * 60.0 / p_rate)::integer);
	END IF;
END $$;

-- auth_key: one round trip per request: resolve a key hash, take a rate
-- token, and touch last_used_at at most once a minute (not a write per
-- request). No row for an unknown, revoked or expired key.
CREATE FUNCTION auth_key(p_hash text, p_rate double precision, p_burst double precision)
RETURNS TABLE (key_id text, org_id text, scopes text[], allowed boolean, retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
	k api_keys%ROWTYPE;
BEGIN
	SELECT * INTO k FROM api_keys a
	 WHERE a.key_hash = p_hash AND a.revoked_at IS NULL
	   AND (a.expires_at IS NULL OR a.expires_at > now());
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute' THEN
		UPDATE api_keys a SET last_used_at = now() WHERE a.id = k.id;
	END IF;
	key_id := k.id;
	org_id := k.org_id;
	scopes := k.scopes;
	SELECT r.allowed, r.retry_after INTO allowed, retry_after
	  FROM rate_take(k.id, p_rate, p_burst) r;
	RETURN NEXT;
END $$;

-- auth_org: the JWT path: the org must exist; the bucket is per subject.
CREATE FUNCTION auth_org(p_org text, p_bucket text, p_rate double precision,
			 p_burst double precision)
RETURNS TABLE (allowed boolean, retry_after integer)
LANGUAGE plpgsql AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = p_org) THEN
		RETURN;
	END IF;
	RETURN QUERY SELECT r.allowed, r.retry_after FROM rate_take(p_bucket, p_rate, p_burst) r;
END $$;

-- ts: the API's one timestamp format, RFC 3339 in UTC with milliseconds.
CREATE FUNCTION ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
