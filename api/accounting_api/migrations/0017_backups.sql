-- Backups. The backup role (read-only, BYPASSRLS, a member of accounting_backup) reads
-- every table for pg_dump; each backup and each restore test of it is recorded in
-- `backups`, without secrets, so the API and its compliance report can see the newest
-- verified backup. BYPASSRLS is an attribute of the login role and cannot be inherited:
-- a superuser creates that role (see docs/backups.md); this group holds its privileges.

DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'accounting_backup') THEN
    CREATE ROLE accounting_backup NOLOGIN;
  END IF;
END $$;

CREATE TABLE backups (
  key            text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 1024),
  bucket         text NOT NULL CHECK (length(bucket) BETWEEN 1 AND 63),
  started_at     timestamptz NOT NULL,
  finished_at    timestamptz NOT NULL CHECK (finished_at >= started_at),
  size_bytes     bigint NOT NULL CHECK (size_bytes > 0),
  sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  schema_version integer NOT NULL,
  -- The newest restore test: when, and whether every check passed (the first failed
  -- check otherwise).
  verified_at    timestamptz,
  verification   text CHECK (verification IN ('passed', 'failed')),
  verification_detail text CHECK (length(verification_detail) <= 2000),
  -- Set when retention deleted the backup from the bucket.
  deleted_at     timestamptz,
  CHECK ((verified_at IS NULL) = (verification IS NULL))
);
CREATE INDEX backups_newest_verified ON backups (finished_at DESC) WHERE verification = 'passed';

GRANT USAGE ON SCHEMA public TO accounting_backup;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO accounting_backup;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO accounting_backup;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO accounting_backup;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO accounting_backup;
GRANT INSERT, UPDATE ON backups TO accounting_backup;
GRANT SELECT ON backups TO accounting_app;
