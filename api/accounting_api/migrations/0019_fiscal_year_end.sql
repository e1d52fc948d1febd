-- Each organization's fiscal year end: the last month of its fiscal year (1-12, December
-- by default, so existing organizations keep calendar years). The balance sheet splits
-- equity's earnings by it: retained earnings (every earlier fiscal year) and current-year
-- earnings (domain/fiscal.py).
--
-- An expand step only (docs/migrations.md): a column with a default, which the previous
-- version neither reads nor writes, and the right to update that one column.
ALTER TABLE organizations
  ADD COLUMN fiscal_year_end_month smallint NOT NULL DEFAULT 12
    CHECK (fiscal_year_end_month BETWEEN 1 AND 12);

GRANT UPDATE (fiscal_year_end_month) ON organizations TO accounting_app;

-- A new fiscal year end changes the balance sheet of every date: the cached reports of
-- the organization (0009_report_cache.sql) must not be served after it.
CREATE FUNCTION bump_ledger_version_of_organization() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM bump_ledger_version(NEW.id);
  RETURN NULL;
END $$;

CREATE TRIGGER organizations_fiscal_year_bump_version
  AFTER UPDATE OF fiscal_year_end_month ON organizations
  FOR EACH ROW WHEN (OLD.fiscal_year_end_month IS DISTINCT FROM NEW.fiscal_year_end_month)
  EXECUTE FUNCTION bump_ledger_version_of_organization();

REVOKE ALL ON FUNCTION bump_ledger_version_of_organization() FROM PUBLIC;
