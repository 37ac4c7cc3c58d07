-- 005_resource_level: the memory pressure level last announced for a
-- sandbox (0 normal, 1 past 80% of its limit, 2 past 95%), so the reaper
-- emits resource.warning / resource.critical once per upward crossing.
ALTER TABLE sandboxes ADD COLUMN resource_level smallint NOT NULL DEFAULT 0;
