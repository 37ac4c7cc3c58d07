-- 006_rate_lease: the tokens a host took from a bucket in its last lease.
-- Hosts lease tokens from a bucket in batches (lib/ratelimit.c); the size
-- of the last grant is kept in the row because PostgreSQL 15's RETURNING
-- cannot see the row as it was before an upsert.
ALTER TABLE rate_buckets ADD COLUMN leased double precision NOT NULL DEFAULT 0;
