-- The organization's ledger version: what cached reports are keyed by.
--
-- Reports are pure functions of the organization's accounts, postings, closed periods
-- and issued invoices. Every change to those bumps the version in the transaction that
-- makes it, so the version a report reads and the data it reads agree: a cached report
-- can never outlive a committed change, and nothing has to be deleted from the cache.
--
-- The version is the sum of 16 counters per organization, each bumped by the sessions
-- whose backend pid falls in its slot: concurrent postings of one organization would
-- otherwise queue on a single row until each commits. Counters only grow, so the sum
-- changes with every committed bump.

CREATE TABLE ledger_versions (
  organization_id text NOT NULL REFERENCES organizations (id),
  slot            smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
  version         bigint NOT NULL CHECK (version > 0),
  PRIMARY KEY (organization_id, slot)
);

CALL enable_tenant_isolation(ARRAY['ledger_versions']);
-- The bump functions (SECURITY DEFINER) write the version of the organization of the
-- rows that changed, whatever the session's tenant setting.
CREATE POLICY version_bump ON ledger_versions USING (current_user <> session_user);

CREATE FUNCTION bump_ledger_version(p_organization_id text) RETURNS void
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  INSERT INTO ledger_versions AS v (organization_id, slot, version)
  VALUES (p_organization_id, pg_backend_pid() % 16, 1)
  ON CONFLICT (organization_id, slot) DO UPDATE SET version = v.version + 1
$$;

-- Once per statement and organization, so a batch of 1,000 entries bumps once.
CREATE FUNCTION bump_ledger_versions_of_rows() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM bump_ledger_version(org)
     FROM (SELECT DISTINCT organization_id AS org FROM changed_rows) orgs;
  RETURN NULL;
END $$;

CREATE FUNCTION bump_ledger_version_of_row() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM bump_ledger_version(NEW.organization_id);
  RETURN NULL;
END $$;

-- Journal entries (and so postings, which only join an entry in its own transaction),
-- accounts (a new one is a line of the trial balance), period closes and reopens.
CREATE TRIGGER journal_entries_bump_version AFTER INSERT ON journal_entries
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bump_ledger_versions_of_rows();
CREATE TRIGGER accounts_bump_version AFTER INSERT ON accounts
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bump_ledger_versions_of_rows();
CREATE TRIGGER accounting_periods_closed_bump_version AFTER INSERT ON accounting_periods
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bump_ledger_versions_of_rows();
CREATE TRIGGER accounting_periods_reopened_bump_version AFTER DELETE ON accounting_periods
  REFERENCING OLD TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bump_ledger_versions_of_rows();
-- Issued invoices (the receivables aging): finalized, paid, voided, written off. Edits
-- of drafts change no report. Customers' names never change (only archived_at).
CREATE TRIGGER invoices_bump_version AFTER UPDATE ON invoices
  FOR EACH ROW WHEN (NEW.status <> 'draft')
  EXECUTE FUNCTION bump_ledger_version_of_row();

REVOKE ALL ON ledger_versions FROM PUBLIC;
REVOKE ALL ON FUNCTION bump_ledger_version(text), bump_ledger_versions_of_rows(),
  bump_ledger_version_of_row() FROM PUBLIC;
GRANT SELECT ON ledger_versions TO accounting_app;
