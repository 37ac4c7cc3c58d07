-- 009_events_once: every event recorded once and delivered in order, in
-- the same bytes whoever sends it.

-- One final usage row per sandbox: an API stop racing the reaper both
-- sample before destroying; the first row stands (lib/lifecycle.c inserts
-- with ON CONFLICT DO NOTHING). Duplicates written before this keep their
-- oldest row.
DELETE FROM usage_events a USING usage_events b
	WHERE a.final AND b.final AND a.sandbox_id = b.sandbox_id AND a.id > b.id;
CREATE UNIQUE INDEX usage_events_final ON usage_events (sandbox_id) WHERE final;

-- sp_json_compact: jsonb as compact JSON text (no blank after ':' or ','),
-- object keys in jsonb's own order. jsonb's text output of a scalar is
-- already JSON (strings escaped), so only the containers are rebuilt, and
-- only they recurse (most event data is flat).
CREATE FUNCTION sp_json_compact(j jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
	CASE jsonb_typeof(j)
	WHEN 'object' THEN
		RETURN '{' || COALESCE((SELECT string_agg(to_jsonb(k)::text || ':' ||
			CASE WHEN jsonb_typeof(v) IN ('object', 'array') THEN sp_json_compact(v)
			     ELSE v::text END, ',' ORDER BY n)
			FROM jsonb_each(j) WITH ORDINALITY AS e(k, v, n)), '') || '}';
	WHEN 'array' THEN
		RETURN '[' || COALESCE((SELECT string_agg(
			CASE WHEN jsonb_typeof(v) IN ('object', 'array') THEN sp_json_compact(v)
			     ELSE v::text END, ',' ORDER BY n)
			FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, n)), '') || ']';
	ELSE
		RETURN j::text;
	END CASE;
END
$$;

-- sp_event_body: the webhook body of an event payload: compact, with the
-- envelope's keys in the documented order (id, event, timestamp, sandboxId,
-- orgId, data), any others after them. The outbox fan-out and the test
-- endpoint both use it, so a receiver gets one form from either.
CREATE FUNCTION sp_event_body(p jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT '{' || COALESCE(string_agg(to_jsonb(k)::text || ':' ||
		CASE WHEN jsonb_typeof(v) IN ('object', 'array') THEN sp_json_compact(v)
		     ELSE v::text END, ',' ORDER BY COALESCE(array_position(ARRAY['id', 'event',
						'timestamp', 'sandboxId', 'orgId', 'data'], k), 7), n),
			       '') || '}'
	FROM jsonb_each(p) WITH ORDINALITY AS e(k, v, n)
$$;

-- Deliveries know their sandbox and their event's place in the outbox, so
-- one endpoint gets a sandbox's events one after another, in order: a
-- delivery is not claimed while an earlier one of the same (webhook,
-- sandbox) is pending (lib/webhook.c, claim).
ALTER TABLE webhook_deliveries ADD COLUMN sandbox_id text, ADD COLUMN event_seq bigint;
UPDATE webhook_deliveries d SET sandbox_id = e.sandbox_id, event_seq = e.seq
	FROM events e WHERE e.id = d.event_id AND d.status = 'pending';
UPDATE webhook_deliveries SET body = sp_event_body(body::jsonb) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, sandbox_id, event_seq)
	WHERE status = 'pending';
