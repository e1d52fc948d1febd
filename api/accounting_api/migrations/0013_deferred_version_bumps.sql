-- The ledger version (0009) is bumped at commit, not when a row changes.
--
-- Bumping when the row changed held the version counter's row lock for the rest of the
-- transaction, while it went on to take other locks: a posting bumped, then waited for
-- the period lock behind a close that, once granted, bumped the same counter (deadlock);
-- a void bumped, then waited for recognition pieces a worker held while it bumped too.
-- Deferred constraint triggers run at commit, after every other lock the transaction
-- takes, so the counter's lock is the last one taken and held only until the commit
-- that follows. The version still changes in the transaction that changes the data, so
-- a cached report can never outlive a committed change. A transaction bumps each
-- organization it touched once (a transaction-local setting remembers it).

CREATE FUNCTION bump_ledger_version_once() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  org text := CASE WHEN TG_OP = 'DELETE' THEN OLD.organization_id ELSE NEW.organization_id END;
  done text := coalesce(current_setting('ua.ledger_version_bumped', true), '');
BEGIN
  IF position(',' || org || ',' IN done) = 0 THEN
    PERFORM bump_ledger_version(org);
    PERFORM set_config('ua.ledger_version_bumped',
                       CASE WHEN done = '' THEN ',' ELSE done END || org || ',', true);
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER journal_entries_bump_version ON journal_entries;
DROP TRIGGER accounts_bump_version ON accounts;
DROP TRIGGER accounting_periods_closed_bump_version ON accounting_periods;
DROP TRIGGER accounting_periods_reopened_bump_version ON accounting_periods;
DROP TRIGGER invoices_bump_version ON invoices;
DROP TRIGGER receivable_entries_bump_version ON receivable_entries;

CREATE CONSTRAINT TRIGGER journal_entries_bump_version AFTER INSERT ON journal_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_ledger_version_once();
CREATE CONSTRAINT TRIGGER accounts_bump_version AFTER INSERT ON accounts
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_ledger_version_once();
CREATE CONSTRAINT TRIGGER accounting_periods_bump_version
  AFTER INSERT OR DELETE ON accounting_periods
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_ledger_version_once();
CREATE CONSTRAINT TRIGGER invoices_bump_version AFTER UPDATE ON invoices
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.status <> 'draft')
  EXECUTE FUNCTION bump_ledger_version_once();

CREATE CONSTRAINT TRIGGER receivable_entries_bump_version AFTER INSERT ON receivable_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_ledger_version_once();

REVOKE ALL ON FUNCTION bump_ledger_version_once() FROM PUBLIC;
