-- 002_sandboxes: sandboxes, executions, the event outbox and usage samples.

CREATE TABLE sandboxes (
	id text PRIMARY KEY,
	org_id text REFERENCES organizations (id) ON DELETE CASCADE, -- NULL: warm pool
	status text NOT NULL CHECK (status IN
		('creating', 'running', 'stopping', 'stopped', 'timeout', 'error')),
	backend text NOT NULL,
	agent_address text,
	cpus_millis integer NOT NULL,
	memory_bytes bigint NOT NULL,
	cpus text NOT NULL,        -- as the client asked ("2", "500m")
	memory text NOT NULL,      -- as the client asked ("2Gi")
	timeout_seconds integer NOT NULL,
	env jsonb NOT NULL DEFAULT '{}',
	metadata jsonb NOT NULL DEFAULT '{}',
	mode text NOT NULL DEFAULT 'stateful',
	template text,
	created_at timestamptz NOT NULL DEFAULT now(),
	ready_at timestamptz,
	expires_at timestamptz NOT NULL,
	stopped_at timestamptz,
	stop_reason text,
	error text
);
CREATE INDEX sandboxes_org ON sandboxes (org_id, created_at DESC, id DESC);
CREATE INDEX sandboxes_live ON sandboxes (status, expires_at)
	WHERE status IN ('creating', 'running', 'stopping');

CREATE TABLE executions (
	id text PRIMARY KEY,
	org_id text NOT NULL,
	sandbox_id text NOT NULL REFERENCES sandboxes (id) ON DELETE CASCADE,
	command jsonb NOT NULL,
	exit_code integer,
	signal integer,
	timed_out boolean,
	oom_killed boolean,
	duration_ms bigint,
	stdout_bytes bigint,
	stderr_bytes bigint,
	started_at timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz
);
CREATE INDEX executions_sandbox ON executions (sandbox_id, started_at DESC);

-- events is the outbox: written in the same transaction as the change it
-- announces; webhook delivery and any other consumer read from here.
CREATE TABLE events (
	id text PRIMARY KEY,
	seq bigserial UNIQUE,
	org_id text,
	sandbox_id text,
	type text NOT NULL,
	payload jsonb NOT NULL,  -- the exact webhook body: {id,event,timestamp,...}
	created_at timestamptz NOT NULL DEFAULT now(),
	dispatched_at timestamptz -- set once fanned out to webhook deliveries
);
CREATE INDEX events_undispatched ON events (seq) WHERE dispatched_at IS NULL;
CREATE INDEX events_org ON events (org_id, seq DESC);

CREATE TABLE usage_events (
	id bigserial PRIMARY KEY,
	org_id text,
	sandbox_id text NOT NULL,
	cpu_seconds double precision NOT NULL,
	memory_byte_seconds double precision NOT NULL,
	sampled_at timestamptz NOT NULL DEFAULT now(),
	final boolean NOT NULL DEFAULT false
);
CREATE INDEX usage_events_sandbox ON usage_events (sandbox_id, sampled_at);
