-- The money range (README, "Amounts"; domain/money.py MAX_AMOUNT): every amount a posting
-- or a document carries is at most 999,999,999,999,999 minor units (10^15 - 1), and no
-- sum of them can overflow a read.
--
-- 1. The database holds every amount column to the maximum, as the API does. What is
--    stored per document (an invoice's totals and what was paid or credited on it, a
--    payment's applied and refunded parts) is bounded by the document's own amount, which
--    the existing CHECKs already say (amount_paid <= total, ...): within bigint for good.
--    The constraints are NOT VALID: rows written before this migration (up to 2^63 - 1,
--    which the API accepted then) are immutable ledger rows that no migration may refuse;
--    they stay readable, as every sum over them is now numeric. New rows are checked, and
--    so is a change to an old one: a document above the maximum from before is still read,
--    but no longer paid or credited (refused by its CHECK), as it could not be issued today.
-- 2. Sums over many rows are numeric. The one stored such sum, an account's closing
--    balance (0004), outgrows bigint after 9,223 postings at the maximum: it gains an
--    exact numeric column that the closes write and the reports read. `balance` keeps the
--    same value while it fits a bigint (NULL beyond), for the previous version, which
--    reads it and could never sum such an account anyway.
-- 3. A customer's credit is summed over its payments and credit notes: a numeric
--    customer_credit() replaces the bigint customer_credit_balance() (kept, unchanged,
--    for the previous version).
-- 4. The closing entry of a fiscal year (0019) posts each revenue and expense account's
--    balance: one posting per account cannot carry a balance above the maximum, so it
--    posts it in pieces of at most the maximum each (at most 32,768 of them: an entry's
--    line is a smallint; beyond, the close is refused with fiscal_year_closing_too_large).
--
-- An expand step (docs/migrations.md): a nullable column, constraints, new functions,
-- redefined ones with their signatures. The previous version, rolled back to, keeps
-- working but for an amount above the maximum, which its API accepted and these CHECKs
-- now refuse: the very writes that made its own reads fail.

CREATE FUNCTION money_max_amount() RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 999999999999999::bigint $$;

ALTER TABLE postings ADD CONSTRAINT postings_amount_in_range
  CHECK (abs(amount) <= money_max_amount()) NOT VALID;
ALTER TABLE receivable_entries ADD CONSTRAINT receivable_entries_amount_in_range
  CHECK (abs(amount) <= money_max_amount()) NOT VALID;
ALTER TABLE invoices ADD CONSTRAINT invoices_amounts_in_range
  CHECK (subtotal <= money_max_amount() AND total <= money_max_amount()) NOT VALID;
ALTER TABLE invoice_lines ADD CONSTRAINT invoice_lines_amounts_in_range
  CHECK (unit_amount <= money_max_amount() AND amount <= money_max_amount()
         AND total <= money_max_amount()) NOT VALID;
ALTER TABLE payments ADD CONSTRAINT payments_amount_in_range
  CHECK (amount <= money_max_amount()) NOT VALID;
ALTER TABLE payment_applications ADD CONSTRAINT payment_applications_amount_in_range
  CHECK (amount <= money_max_amount()) NOT VALID;
ALTER TABLE refunds ADD CONSTRAINT refunds_amount_in_range
  CHECK (amount <= money_max_amount()) NOT VALID;
ALTER TABLE credit_notes ADD CONSTRAINT credit_notes_amount_in_range
  CHECK (amount <= money_max_amount()) NOT VALID;
ALTER TABLE credit_note_lines ADD CONSTRAINT credit_note_lines_amounts_in_range
  CHECK (amount <= money_max_amount() AND tax <= money_max_amount()) NOT VALID;
ALTER TABLE credit_note_applications ADD CONSTRAINT credit_note_applications_amount_in_range
  CHECK (amount <= money_max_amount()) NOT VALID;
ALTER TABLE revenue_recognitions ADD CONSTRAINT revenue_recognitions_amount_in_range
  CHECK (amount <= money_max_amount()) NOT VALID;

-- p_total as pieces of at most the maximum each, of its sign, that add up to it.
CREATE FUNCTION money_pieces(p_total numeric) RETURNS SETOF bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (sign(p_total) * money_max_amount())::bigint
    FROM generate_series(1, floor(abs(p_total) / money_max_amount())::bigint)
  UNION ALL
  SELECT (sign(p_total) * mod(abs(p_total), money_max_amount()))::bigint
   WHERE mod(abs(p_total), money_max_amount()) <> 0 $$;

-- 2. Exact closing balances.
ALTER TABLE closing_balances
  ADD COLUMN balance_exact numeric,
  ALTER COLUMN balance DROP NOT NULL;

CREATE FUNCTION bigint_or_null(p_value numeric) RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_value BETWEEN -9223372036854775808 AND 9223372036854775807
              THEN p_value::bigint END $$;

ALTER TABLE closing_balances NO FORCE ROW LEVEL SECURITY;
-- backfill:begin
UPDATE closing_balances SET balance_exact = balance WHERE balance_exact IS NULL;
-- backfill:end
ALTER TABLE closing_balances FORCE ROW LEVEL SECURITY;

ALTER TABLE closing_balances ADD CONSTRAINT closing_balances_exact
  CHECK (balance_exact IS NOT NULL AND balance IS NOT DISTINCT FROM bigint_or_null(balance_exact));

-- 0004's close, the closing balances summed in numeric (the 4-argument close of 0019
-- calls this one).
CREATE OR REPLACE FUNCTION close_accounting_period(p_period date, p_user_id text, p_request_id text)
  RETURNS SETOF accounting_periods
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  org text := app_current_org();
  last_closed accounting_periods;
  unclosed date;
BEGIN
  IF org IS NULL THEN
    PERFORM period_refused('period_no_tenant', 'no organization is set');
  END IF;
  PERFORM pg_advisory_xact_lock(44224, period_lock_key(org));
  SELECT * INTO last_closed FROM accounting_periods WHERE organization_id = org
   ORDER BY period DESC LIMIT 1;
  IF last_closed.period >= p_period THEN
    PERFORM period_refused('period_already_closed',
      format('the books are already closed through %s', last_closed.ends_on));
  END IF;
  SELECT min(entry_date) INTO unclosed FROM journal_entries
   WHERE organization_id = org AND entry_date < p_period
     AND entry_date > coalesce(last_closed.ends_on, '-infinity'::date);
  IF unclosed IS NOT NULL THEN
    PERFORM period_refused('period_out_of_order',
      format('%s has entries and is open: close it first', to_char(unclosed, 'YYYY-MM')));
  END IF;
  INSERT INTO accounting_periods (organization_id, period, closed_by)
    VALUES (org, p_period, p_user_id);
  INSERT INTO closing_balances (organization_id, period, account_id, currency, balance,
                                balance_exact)
  SELECT org, p_period, account_id, currency, bigint_or_null(sum(amount)), sum(amount) FROM (
    SELECT account_id, currency, balance_exact AS amount FROM closing_balances
     WHERE organization_id = org AND period = last_closed.period
    UNION ALL
    SELECT account_id, currency, amount FROM postings
     WHERE organization_id = org AND entry_date <= (p_period + interval '1 month' - interval '1 day')::date
       AND entry_date > coalesce(last_closed.ends_on, '-infinity'::date)
  ) moves GROUP BY account_id, currency;
  INSERT INTO accounting_period_events (organization_id, period, action, user_id, request_id)
    VALUES (org, p_period, 'close', p_user_id, p_request_id);
  RETURN QUERY SELECT * FROM accounting_periods WHERE organization_id = org AND period = p_period;
END $$;

-- 3. The customer's available credit, in numeric (0014's customer_credit_balance summed
-- the same parts into a bigint).
CREATE FUNCTION customer_credit(p_customer_id text) RETURNS numeric
  LANGUAGE sql STABLE AS $$
  SELECT (SELECT coalesce(sum(amount - amount_applied - amount_refunded), 0) FROM payments
           WHERE customer_id = p_customer_id)
       + (SELECT coalesce(sum(amount - amount_applied - amount_refunded), 0) FROM credit_notes
           WHERE customer_id = p_customer_id) $$;

-- 4. 0019's closing lines, from the exact closing balances, each account's balance (and
-- each currency's retained earnings line) in pieces of at most the maximum: the lines of
-- one account are its pieces.
CREATE OR REPLACE FUNCTION fiscal_year_closing_lines(
  p_ends_on date, p_after_period date, p_after_ends_on date
) RETURNS TABLE (account_id text, currency text, code text, amount bigint)
  LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  WITH moves AS (
    SELECT account_id, balance_exact AS amount FROM closing_balances
     WHERE organization_id = app_current_org() AND period = p_after_period
    UNION ALL
    SELECT account_id, amount FROM postings
     WHERE organization_id = app_current_org() AND entry_date <= p_ends_on
       AND entry_date > coalesce(p_after_ends_on, '-infinity'::date)
  ), retained AS (
    SELECT id, currency FROM accounts
     WHERE organization_id = app_current_org() AND code = '3900' AND type = 'equity'
  ), closed AS (
    SELECT a.id, a.currency, a.code, -sum(m.amount) AS amount
      FROM moves m
      JOIN accounts a ON a.id = m.account_id AND a.organization_id = app_current_org()
     WHERE a.type IN ('revenue', 'expense') AND a.currency IN (SELECT currency FROM retained)
     GROUP BY a.id, a.currency, a.code HAVING sum(m.amount) <> 0
  ), lines AS (
    SELECT id, currency, code, amount FROM closed
    UNION ALL
    SELECT r.id, r.currency, '3900', -sum(c.amount)
      FROM closed c JOIN retained r ON r.currency = c.currency
     GROUP BY r.id, r.currency HAVING sum(c.amount) <> 0
  )
  SELECT l.id, l.currency, l.code, piece FROM lines l, money_pieces(l.amount) AS piece
$$;

CREATE OR REPLACE FUNCTION post_fiscal_year_closing(
  p_entry_id text, p_ends_on date, p_after_period date, p_after_ends_on date,
  p_user_id text, p_request_id text
) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  pieces bigint;
BEGIN
  SELECT count(*) INTO pieces
    FROM fiscal_year_closing_lines(p_ends_on, p_after_period, p_after_ends_on);
  IF pieces = 0 THEN
    RETURN;
  END IF;
  -- An entry's lines are numbered by a smallint: a year whose income passes about
  -- 1.6 * 10^19 minor units cannot be closed in one entry. Refused, naming the figures.
  IF pieces > 32768 THEN
    PERFORM period_refused('fiscal_year_closing_too_large',
      format('closing the fiscal year ending %s takes %s postings of at most %s each; one '
             'entry holds at most 32768', p_ends_on, pieces, money_max_amount()));
  END IF;
  INSERT INTO journal_entries (id, organization_id, entry_date, description, created_by,
                               request_id, closes_fiscal_year)
    VALUES (p_entry_id, app_current_org(), p_ends_on,
            format('Closing of the fiscal year ending %s into retained earnings', p_ends_on),
            p_user_id, p_request_id, p_ends_on);
  INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency, amount,
                        entry_date)
  SELECT app_current_org(), p_entry_id,
         (row_number() OVER (ORDER BY l.currency, l.code, l.account_id, l.amount) - 1)::smallint,
         l.account_id, l.currency, l.amount, p_ends_on
    FROM fiscal_year_closing_lines(p_ends_on, p_after_period, p_after_ends_on) l;
END $$;

-- money_max_amount() and bigint_or_null() stay executable by every role: the CHECKs above
-- call them for whoever writes the rows (a restore included).
REVOKE ALL ON FUNCTION customer_credit(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION customer_credit(text) TO accounting_app;
