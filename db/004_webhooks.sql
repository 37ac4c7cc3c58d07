-- 004_webhooks: webhook subscriptions and their deliveries (one row per
-- event per subscription, fanned out from the events outbox).

CREATE TABLE webhooks (
	id text PRIMARY KEY,
	org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	url text NOT NULL,
	events text[] NOT NULL,       -- event types, or '{*}' for all
	secret_sealed text NOT NULL,  -- hex of AES-256-GCM(secret), aad = webhook id
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at DESC, id DESC);

-- sp_rand_id: prefix + 20 lowercase base36 characters, for rows created in
-- SQL (fan-out inserts many at once). gen_random_uuid draws from the
-- server's strong random source; a modulo bias of 4/256 per character does
-- not matter for an identifier that is not a secret.
CREATE FUNCTION sp_rand_id(p_prefix text) RETURNS text
LANGUAGE sql VOLATILE AS $$
	SELECT p_prefix || string_agg(substr('0123456789abcdefghijklmnopqrstuvwxyz',
					     get_byte(b, i) % 36 + 1, 1), '' ORDER BY i)
	  FROM (SELECT decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex') AS b) r,
	       generate_series(0, 19) i
$$;

CREATE TABLE webhook_deliveries (
	id text PRIMARY KEY,                 -- X-Sandpit-Delivery: receivers de-duplicate on it
	webhook_id text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	org_id text NOT NULL,
	event_id text NOT NULL,
	event_type text NOT NULL,
	body text NOT NULL,                  -- the exact bytes signed and sent
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'delivered', 'failed')),
	attempts integer NOT NULL DEFAULT 0,
	-- when pending: the next attempt is due (a claimed attempt pushes it past
	-- its own timeout, so a sweep killed mid-delivery is retried, not lost)
	next_attempt_at timestamptz,
	last_status_code integer,
	last_error text,
	last_duration_ms integer,
	response_excerpt text,
	created_at timestamptz NOT NULL DEFAULT now(),
	last_attempt_at timestamptz,
	delivered_at timestamptz,
	UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
	WHERE status = 'pending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
