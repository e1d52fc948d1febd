-- Receivable closings: what each invoice owed at the end of every closed period.
--
-- The AR aging as of D summed every receivables sub-ledger row (0011) dated on or before
-- D: a cost that grows with every invoice ever issued. As closing_balances (0004) do for
-- the trial balance, closing a period now also stores each invoice's receivable at the
-- period's last day (the invoices that owe something only), computed from the previous
-- closing plus the sub-ledger rows since; the aging as of D reads the latest closing on
-- or before D plus the rows after it up to D. Exact on every date because nothing is
-- ever dated on or before the end of a closed period: not a journal entry (0004), and
-- now not a sub-ledger row either (checked below, although a row's date is its entry's).
-- Reopening a period deletes its row in accounting_periods, and its closings with it.

CREATE TABLE receivable_closings (
  organization_id text NOT NULL,
  period          date NOT NULL,
  invoice_id      text NOT NULL,
  balance         bigint NOT NULL CHECK (balance <> 0),
  PRIMARY KEY (organization_id, period, invoice_id),
  FOREIGN KEY (organization_id, period) REFERENCES accounting_periods (organization_id, period)
    ON DELETE CASCADE,
  FOREIGN KEY (organization_id, invoice_id) REFERENCES invoices (organization_id, id)
);

-- Written when a period's row is inserted, i.e. by close_accounting_period() under its
-- per-organization lock, after its ordering checks: periods close in order, so the
-- latest earlier row is the previous closing.
CREATE FUNCTION store_receivable_closings() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  previous accounting_periods;
BEGIN
  SELECT * INTO previous FROM accounting_periods
   WHERE organization_id = NEW.organization_id AND period < NEW.period
   ORDER BY period DESC LIMIT 1;
  INSERT INTO receivable_closings (organization_id, period, invoice_id, balance)
  SELECT NEW.organization_id, NEW.period, invoice_id, sum(amount)::bigint FROM (
    SELECT invoice_id, balance AS amount FROM receivable_closings
     WHERE organization_id = NEW.organization_id AND period = previous.period
    UNION ALL
    SELECT invoice_id, amount FROM receivable_entries
     WHERE organization_id = NEW.organization_id AND entry_date <= NEW.ends_on
       AND entry_date > coalesce(previous.ends_on, '-infinity'::date)
  ) moves GROUP BY invoice_id HAVING sum(amount) <> 0;
  RETURN NULL;
END $$;

CREATE TRIGGER accounting_periods_receivable_closings AFTER INSERT ON accounting_periods
  FOR EACH ROW EXECUTE FUNCTION store_receivable_closings();

-- A sub-ledger row is dated by its journal entry (foreign key), which the period check
-- already refuses in a closed period; the same check on the rows themselves keeps the
-- closings exact even for rows added later to an old entry.
CREATE TRIGGER receivable_entries_period_open AFTER INSERT ON receivable_entries
  REFERENCING NEW TABLE AS new_entries
  FOR EACH STATEMENT EXECUTE FUNCTION check_period_open();

-- Backfill the periods closed before this migration: each one's closing is the sum of
-- the rows dated by its end. The tables read are forced under row-level security, which
-- would show the migration's role no tenant's rows: lifted in this transaction only.
ALTER TABLE accounting_periods NO FORCE ROW LEVEL SECURITY;
ALTER TABLE receivable_entries NO FORCE ROW LEVEL SECURITY;

-- backfill:begin
INSERT INTO receivable_closings (organization_id, period, invoice_id, balance)
SELECT p.organization_id, p.period, r.invoice_id, sum(r.amount)::bigint
  FROM accounting_periods p
  JOIN receivable_entries r
    ON r.organization_id = p.organization_id AND r.entry_date <= p.ends_on
 GROUP BY p.organization_id, p.period, r.invoice_id
HAVING sum(r.amount) <> 0;
-- backfill:end

ALTER TABLE accounting_periods FORCE ROW LEVEL SECURITY;
ALTER TABLE receivable_entries FORCE ROW LEVEL SECURITY;

CALL enable_tenant_isolation(ARRAY['receivable_closings']);

REVOKE ALL ON receivable_closings FROM PUBLIC;
REVOKE ALL ON FUNCTION store_receivable_closings() FROM PUBLIC;
-- Written only by the trigger above (SECURITY DEFINER): the app reads them.
GRANT SELECT ON receivable_closings TO accounting_app;
