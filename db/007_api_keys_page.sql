-- 007_api_keys_page: the key list pages by (created_at, id) newest first;
-- an index in that order answers a page without a sort.
CREATE INDEX api_keys_org_page ON api_keys (org_id, created_at DESC, id DESC);
DROP INDEX api_keys_org;
