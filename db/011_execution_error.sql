-- 011_execution_error: why an execution has no result (its agent failed,
-- timed out, or refused to start the command). NULL when the command ran
-- to its end; set together with finished_at and the command.failed event.
ALTER TABLE executions ADD COLUMN IF NOT EXISTS error text;
