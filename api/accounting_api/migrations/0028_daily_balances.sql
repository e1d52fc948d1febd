-- What each account moved per day, kept as postings are written: the reports' tail.
--
-- A balance as of D is the latest closing on or before D plus what moved after it
-- (0004). That tail was read from the postings themselves, so a trial balance or balance
-- sheet cost every posting of the open period and slowed down for as long as one month
-- stayed open (BENCHMARKS.md, "Soak": 28 to 156 ms in ten minutes of writes). Read from
-- daily_balances, it costs a row per account and day instead, however many postings.
--
-- Writers never wait for each other here: a row belongs to one backend (`slot` is the
-- writing backend's pid, unique among live sessions, as ledger_versions' slots are for
-- the same reason, 0009), so two transactions posting to one account on one day update
-- two rows. The worker folds the rows of every day into slot 0 (fold_daily_balances),
-- skipping any row a writer holds, so the rows stay about one per account and day.
--
-- Sums are numeric (README "Amounts"; 0023). Postings are immutable (0001), so their
-- insert is the only change to follow. An expand step (docs/migrations.md): the previous
-- version writes postings as before and the trigger keeps this table true for it.

CREATE TABLE daily_balances (
  organization_id text NOT NULL REFERENCES organizations (id),
  entry_date      date NOT NULL,
  account_id      text NOT NULL,
  slot            integer NOT NULL CHECK (slot >= 0),
  amount          numeric NOT NULL,
  PRIMARY KEY (organization_id, entry_date, account_id, slot)
);

CALL enable_tenant_isolation(ARRAY['daily_balances']);
REVOKE ALL ON daily_balances FROM PUBLIC;
GRANT SELECT ON daily_balances TO accounting_app;

-- The functions below (SECURITY DEFINER) write the rows of whatever organization the
-- postings belong to, and the fold every organization's: a policy for their owner, the
-- role that runs the migrations (0024), which the application's roles can never become.
DO $$
BEGIN
  EXECUTE format('CREATE POLICY maintenance ON daily_balances USING (current_user = %L)',
                 current_user);
END $$;

CREATE FUNCTION add_to_daily_balances() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  INSERT INTO daily_balances AS d (organization_id, entry_date, account_id, slot, amount)
  SELECT organization_id, entry_date, account_id, pg_backend_pid(), sum(amount)
    FROM new_postings GROUP BY organization_id, entry_date, account_id
  ON CONFLICT (organization_id, entry_date, account_id, slot)
    DO UPDATE SET amount = d.amount + excluded.amount;
  RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION add_to_daily_balances() FROM PUBLIC;

-- Created before the backfill: it locks postings against inserts until this migration
-- commits, so no posting is missed by both.
CREATE TRIGGER postings_add_to_daily_balances AFTER INSERT ON postings
  REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION add_to_daily_balances();

ALTER TABLE postings NO FORCE ROW LEVEL SECURITY;
ALTER TABLE daily_balances NO FORCE ROW LEVEL SECURITY;
INSERT INTO daily_balances (organization_id, entry_date, account_id, slot, amount)
  SELECT organization_id, entry_date, account_id, 0, sum(amount)
    FROM postings GROUP BY organization_id, entry_date, account_id;
ALTER TABLE postings FORCE ROW LEVEL SECURITY;
ALTER TABLE daily_balances FORCE ROW LEVEL SECURITY;

-- Folds the writers' rows (slot > 0) of every organization into slot 0, at most p_limit
-- of them; returns how many it folded. A row a writer holds (its transaction has not
-- committed) is skipped and folded next time, so the fold never waits for a writer; a
-- writer that reaches a row being folded waits for this short transaction, then writes
-- a new row of its own. One fold runs at a time (several workers may call it).
CREATE FUNCTION fold_daily_balances(p_limit integer) RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  folded bigint;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('fold_daily_balances')) THEN
    RETURN 0;
  END IF;
  WITH picked AS (
    SELECT organization_id, entry_date, account_id, slot FROM daily_balances
     WHERE slot > 0 LIMIT p_limit FOR UPDATE SKIP LOCKED
  ), gone AS (
    DELETE FROM daily_balances d USING picked p
     WHERE (d.organization_id, d.entry_date, d.account_id, d.slot)
         = (p.organization_id, p.entry_date, p.account_id, p.slot)
    RETURNING d.organization_id, d.entry_date, d.account_id, d.amount
  ), sums AS (
    SELECT organization_id, entry_date, account_id, sum(amount) AS amount, count(*) AS n
      FROM gone GROUP BY organization_id, entry_date, account_id
  ), upserted AS (  -- a data-modifying CTE runs whether or not it is read
    INSERT INTO daily_balances AS d (organization_id, entry_date, account_id, slot, amount)
    SELECT organization_id, entry_date, account_id, 0, amount FROM sums
    ON CONFLICT (organization_id, entry_date, account_id, slot)
      DO UPDATE SET amount = d.amount + excluded.amount
  )
  SELECT coalesce(sum(n), 0) INTO folded FROM sums;
  RETURN folded;
END $$;
REVOKE ALL ON FUNCTION fold_daily_balances(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fold_daily_balances(integer) TO accounting_app;
