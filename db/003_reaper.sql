-- 003_reaper: when a sandbox entered its current status, so the reaper can
-- tell a row stuck in "stopping" (its stopper crashed) from one being
-- stopped right now. A trigger keeps it true whoever changes the status.

ALTER TABLE sandboxes ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now();

CREATE FUNCTION sandboxes_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.status IS DISTINCT FROM OLD.status THEN
		NEW.status_changed_at := clock_timestamp();
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER sandboxes_status_changed BEFORE UPDATE OF status ON sandboxes
	FOR EACH ROW EXECUTE FUNCTION sandboxes_status_changed();

-- The warm pool: unowned ready sandboxes, found by limits at claim time.
CREATE INDEX sandboxes_pool ON sandboxes (cpus_millis, memory_bytes, created_at)
	WHERE org_id IS NULL AND status = 'running';
