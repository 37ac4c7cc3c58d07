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

-- ts: the API's one timestamp format, RFC 3339 in UTC with milliseconds.
CREATE FUNCTION ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
