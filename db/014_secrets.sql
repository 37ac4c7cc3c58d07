-- 014_secrets: an organization's secrets (bring-your-own keys), injected into
-- the environment of its new sandboxes. Only the sealed form is stored:
-- hex of AES-256-GCM(value) with aad "org_id/name", under the ring key
-- key_id (lib/secrets.h). Names are environment variable names.
CREATE TABLE secrets (
	id text PRIMARY KEY,
	org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	name text NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]*$' AND length(name) <= 128),
	key_id text NOT NULL,
	sealed text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, name)
);
-- The list pages by (created_at, id) newest first, like every list.
CREATE INDEX secrets_org_page ON secrets (org_id, created_at DESC, id DESC);
-- Rotation finds the rows not under the current key.
CREATE INDEX secrets_key_id ON secrets (key_id);
