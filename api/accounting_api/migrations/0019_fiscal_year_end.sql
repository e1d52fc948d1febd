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

-- Closing a fiscal year: closing the last month of a fiscal year posts a closing entry,
-- dated the month's (the year's) last day, that brings every revenue and expense
-- account to zero against retained earnings (the equity account coded 3900 of the same
-- currency), one entry for all currencies, balanced in each; a currency without such an
-- account is not closed (its reports compute the same figures either way). Reopening
-- that month reverses the entry with an entry of the same date, also marked. hledger's
-- `close --retain` posts the same transaction.
--
-- closes_fiscal_year marks both: the fiscal year's last day. Only these functions write
-- it (the app role has no right to the column). The 3-argument close and reopen of 0004
-- are unchanged, so the previous version, which calls them, keeps working as before.
ALTER TABLE journal_entries ADD COLUMN closes_fiscal_year date;

CREATE INDEX journal_entries_closing ON journal_entries (organization_id, entry_date)
  WHERE closes_fiscal_year IS NOT NULL;

-- A closing entry is reversed only by reopening its month, never by a bare reversal.
CREATE FUNCTION check_closing_entry_reversal() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.closes_fiscal_year IS NULL AND EXISTS (
       SELECT 1 FROM journal_entries
        WHERE id = NEW.reverses_entry_id AND closes_fiscal_year IS NOT NULL) THEN
    RAISE EXCEPTION 'journal entry % closed a fiscal year: reopen its month instead',
      NEW.reverses_entry_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_entries_closing_reversals AFTER INSERT ON journal_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.reverses_entry_id IS NOT NULL)
  EXECUTE FUNCTION check_closing_entry_reversal();

-- The lines of the closing entry of the fiscal year ending p_ends_on, from the balances as
-- of that day: the closing of p_after_period (the latest closed month, or NULL) plus the
-- postings after p_after_ends_on. Each revenue and expense account's balance reversed,
-- and their sum to the currency's retained earnings account.
CREATE FUNCTION fiscal_year_closing_lines(
  p_ends_on date, p_after_period date, p_after_ends_on date
) RETURNS TABLE (account_id text, currency text, code text, amount bigint)
  LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  WITH moves AS (
    SELECT account_id, balance AS amount FROM closing_balances
     WHERE organization_id = app_current_org() AND period = p_after_period
    UNION ALL
    SELECT account_id, amount FROM postings
     WHERE organization_id = app_current_org() AND entry_date <= p_ends_on
       AND entry_date > coalesce(p_after_ends_on, '-infinity'::date)
  ), retained AS (
    SELECT id, currency FROM accounts
     WHERE organization_id = app_current_org() AND code = '3900' AND type = 'equity'
  ), closed AS (
    SELECT a.id, a.currency, a.code, -sum(m.amount)::bigint AS amount
      FROM moves m
      JOIN accounts a ON a.id = m.account_id AND a.organization_id = app_current_org()
     WHERE a.type IN ('revenue', 'expense') AND a.currency IN (SELECT currency FROM retained)
     GROUP BY a.id, a.currency, a.code HAVING sum(m.amount) <> 0
  )
  SELECT id, currency, code, amount FROM closed
  UNION ALL
  SELECT r.id, r.currency, '3900', -sum(c.amount)::bigint
    FROM closed c JOIN retained r ON r.currency = c.currency
   GROUP BY r.id, r.currency HAVING sum(c.amount) <> 0
$$;

-- Post the closing entry p_entry_id of the fiscal year ending p_ends_on (nothing when
-- every revenue and expense account is already at zero).
CREATE FUNCTION post_fiscal_year_closing(
  p_entry_id text, p_ends_on date, p_after_period date, p_after_ends_on date,
  p_user_id text, p_request_id text
) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM fiscal_year_closing_lines(p_ends_on, p_after_period,
                                                         p_after_ends_on)) THEN
    RETURN;
  END IF;
  INSERT INTO journal_entries (id, organization_id, entry_date, description, created_by,
                               request_id, closes_fiscal_year)
    VALUES (p_entry_id, app_current_org(), p_ends_on,
            format('Closing of the fiscal year ending %s into retained earnings', p_ends_on),
            p_user_id, p_request_id, p_ends_on);
  INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency, amount,
                        entry_date)
  SELECT app_current_org(), p_entry_id,
         (row_number() OVER (ORDER BY l.currency, l.code, l.account_id) - 1)::smallint,
         l.account_id, l.currency, l.amount, p_ends_on
    FROM fiscal_year_closing_lines(p_ends_on, p_after_period, p_after_ends_on) l;
END $$;

-- Close p_period as 0004's close does; when it is the last month of the organization's
-- fiscal year, first post that year's closing entry (p_entry_id), in the same
-- transaction and under the same lock, so the stored closing balances include it.
CREATE FUNCTION close_accounting_period(
  p_period date, p_user_id text, p_request_id text, p_entry_id text
) RETURNS SETOF accounting_periods
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  org text := app_current_org();
  last_closed accounting_periods;
  end_month smallint;
BEGIN
  IF org IS NULL THEN
    PERFORM period_refused('period_no_tenant', 'no organization is set');
  END IF;
  PERFORM pg_advisory_xact_lock(44224, period_lock_key(org));
  SELECT * INTO last_closed FROM accounting_periods WHERE organization_id = org
   ORDER BY period DESC LIMIT 1;
  SELECT fiscal_year_end_month INTO end_month FROM organizations WHERE id = org;
  -- The other refusals (already closed, out of order) are 0004's, below; a refusal
  -- rolls the closing entry back with everything else.
  IF extract(month FROM p_period) = end_month
     AND coalesce(last_closed.period < p_period, true) THEN
    PERFORM post_fiscal_year_closing(p_entry_id,
      (p_period + interval '1 month' - interval '1 day')::date,
      last_closed.period, last_closed.ends_on, p_user_id, p_request_id);
  END IF;
  RETURN QUERY SELECT * FROM close_accounting_period(p_period, p_user_id, p_request_id);
END $$;

-- Reopen p_period as 0004's reopen does, then reverse the closing entry dated in it that
-- is not reversed yet, if any (p_entry_id), with the same date.
CREATE FUNCTION reopen_accounting_period(
  p_period date, p_user_id text, p_request_id text, p_entry_id text
) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  org text := app_current_org();
  closing journal_entries;
BEGIN
  PERFORM reopen_accounting_period(p_period, p_user_id, p_request_id);
  SELECT * INTO closing FROM journal_entries e
   WHERE e.organization_id = org AND e.closes_fiscal_year IS NOT NULL
     AND e.reverses_entry_id IS NULL
     AND e.entry_date BETWEEN p_period AND (p_period + interval '1 month' - interval '1 day')::date
     AND NOT EXISTS (SELECT 1 FROM journal_entries r WHERE r.reverses_entry_id = e.id)
   ORDER BY e.created_at DESC LIMIT 1;
  IF closing.id IS NULL THEN
    RETURN;
  END IF;
  INSERT INTO journal_entries (id, organization_id, entry_date, description, reverses_entry_id,
                               created_by, request_id, closes_fiscal_year)
    VALUES (p_entry_id, org, closing.entry_date,
            format('Reopening of the fiscal year ending %s: reverses its closing',
                   closing.closes_fiscal_year),
            closing.id, p_user_id, p_request_id, closing.closes_fiscal_year);
  INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency, amount,
                        entry_date)
  SELECT org, p_entry_id, line, account_id, currency, -amount, entry_date
    FROM postings WHERE organization_id = org AND journal_entry_id = closing.id;
END $$;

REVOKE ALL ON FUNCTION check_closing_entry_reversal(),
  fiscal_year_closing_lines(date, date, date),
  post_fiscal_year_closing(text, date, date, date, text, text),
  close_accounting_period(date, text, text, text),
  reopen_accounting_period(date, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION close_accounting_period(date, text, text, text),
  reopen_accounting_period(date, text, text, text) TO accounting_app;
