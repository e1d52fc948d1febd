-- The fiscal year end cannot change while a fiscal year under it is closed: that year's
-- closing entry and closed balances were made for its last day, and under another year
-- end they would close income into retained earnings in the middle of a year. Reopening
-- the months through that last day (which reverses the closing entry) lifts it.
--
-- The check takes the organization's period lock exclusively (as closing a month does,
-- 0004_periods_reports.sql), so a close and a change of year end never pass each other:
-- whichever comes second sees the other's result.
--
-- An expand step (docs/migrations.md): a trigger, which the application never names; the
-- previous version's PATCH /v1/organization is refused only where the books would lose
-- their meaning.
CREATE FUNCTION check_fiscal_year_end_change() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  closed date;
BEGIN
  PERFORM pg_advisory_xact_lock(44224, period_lock_key(NEW.id));
  SELECT max(ends_on) INTO closed FROM accounting_periods
   WHERE organization_id = NEW.id AND extract(month FROM ends_on) = OLD.fiscal_year_end_month;
  IF closed IS NOT NULL THEN
    PERFORM period_refused('fiscal_year_closed',
      format('the fiscal year ending %s is closed: reopen the months through %s before '
             'changing the fiscal year end', closed, to_char(closed, 'YYYY-MM')));
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER organizations_fiscal_year_end_locked
  BEFORE UPDATE OF fiscal_year_end_month ON organizations
  FOR EACH ROW WHEN (OLD.fiscal_year_end_month IS DISTINCT FROM NEW.fiscal_year_end_month)
  EXECUTE FUNCTION check_fiscal_year_end_change();

REVOKE ALL ON FUNCTION check_fiscal_year_end_change() FROM PUBLIC;
