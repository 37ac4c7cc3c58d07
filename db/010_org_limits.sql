-- 010_org_limits: per-organization overrides of the instance's limits on
-- requests and API keys, like max_sandboxes. NULL: the instance default
-- (SANDPIT_ORG_RATE_LIMIT, SANDPIT_ORG_RATE_BURST, SANDPIT_MAX_KEYS_PER_ORG).

ALTER TABLE organizations
	ADD COLUMN rate_limit integer CHECK (rate_limit > 0),   -- requests a minute, all keys
	ADD COLUMN rate_burst integer CHECK (rate_burst > 0),   -- bucket size, all keys
	ADD COLUMN max_api_keys integer CHECK (max_api_keys > 0);  -- live keys at once
