-- 015_jobs: the async job queue (fcgi-app/jobs.c submits, tools/runner/
-- claims and runs). A job is one row; its claim is a lease a runner renews
-- while it works, so a runner that dies leaves a lease that expires.

CREATE TABLE jobs (
	id text PRIMARY KEY,
	org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	status text NOT NULL DEFAULT 'queued' CHECK (status IN
		('queued', 'running', 'completed', 'failed', 'cancelled')),
	language text NOT NULL,
	code text NOT NULL,
	spec jsonb NOT NULL,      -- validated stdin, files, limits, tests, compare
	attempts integer NOT NULL DEFAULT 0,
	runner text,              -- runner instance holding the lease
	host text,                -- that runner's host (per-host bound)
	lease_until timestamptz,
	sandbox_id text,          -- sandbox of the step running now, if any
	result jsonb,
	error text,               -- why a job failed (not the program's errors)
	created_at timestamptz NOT NULL DEFAULT now(),
	started_at timestamptz,
	finished_at timestamptz
);
CREATE INDEX jobs_org ON jobs (org_id, created_at DESC, id DESC);
CREATE INDEX jobs_queued ON jobs (org_id, created_at, id) WHERE status = 'queued';
CREATE INDEX jobs_running ON jobs (org_id) WHERE status = 'running';
CREATE INDEX jobs_running_host ON jobs (host) WHERE status = 'running';
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE status = 'running';

-- sp_job_claim: the next job for a runner of p_host, or no row. Fair
-- between orgs: the org with the fewest running jobs goes first (ties: the
-- org whose oldest queued job is oldest), then that org's oldest job; so a
-- freed slot goes to an org with nothing running before one that already
-- runs jobs, whatever either has queued. Orgs at p_per_org and hosts at
-- p_per_host get nothing. Claims take one transaction-scoped advisory lock
-- so the running counts they read are exact across runners and hosts (a
-- claim is a few index lookups); the row itself is still taken with
-- FOR UPDATE SKIP LOCKED so a concurrent cancel never blocks a runner.
CREATE FUNCTION sp_job_claim(p_runner text, p_host text, p_lease int, p_per_org int,
	p_per_host int) RETURNS SETOF jobs
LANGUAGE plpgsql AS $$
DECLARE
	v_org text;
	v_id text;
BEGIN
	PERFORM pg_advisory_xact_lock(727315);
	IF (SELECT count(*) FROM jobs WHERE status = 'running' AND host = p_host) >= p_per_host THEN
		RETURN;
	END IF;
	-- The orgs with queued jobs by a skip scan of jobs_queued (one index
	-- probe per org, not a pass over every queued row: an org with 10,000
	-- queued jobs costs what one with a single job does).
	WITH RECURSIVE orgs(org_id) AS (
		(SELECT j.org_id FROM jobs j WHERE j.status = 'queued' ORDER BY j.org_id LIMIT 1)
		UNION ALL
		SELECT (SELECT j.org_id FROM jobs j WHERE j.status = 'queued' AND j.org_id > o.org_id
		        ORDER BY j.org_id LIMIT 1)
		FROM orgs o WHERE o.org_id IS NOT NULL
	)
	SELECT o.org_id INTO v_org
	FROM orgs o
	CROSS JOIN LATERAL (SELECT count(*) AS n FROM jobs r
	                    WHERE r.org_id = o.org_id AND r.status = 'running') c
	CROSS JOIN LATERAL (SELECT min(q.created_at) AS oldest FROM jobs q
	                    WHERE q.org_id = o.org_id AND q.status = 'queued') q
	WHERE o.org_id IS NOT NULL AND c.n < p_per_org
	ORDER BY c.n, q.oldest, o.org_id
	LIMIT 1;
	IF v_org IS NULL THEN
		RETURN;
	END IF;
	SELECT id INTO v_id FROM jobs
	WHERE org_id = v_org AND status = 'queued'
	ORDER BY created_at, id
	LIMIT 1 FOR UPDATE SKIP LOCKED;
	IF v_id IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY UPDATE jobs SET status = 'running', attempts = attempts + 1,
		runner = p_runner, host = p_host, sandbox_id = NULL,
		lease_until = now() + make_interval(secs => p_lease),
		started_at = now()
	WHERE id = v_id RETURNING *;
END
$$;
