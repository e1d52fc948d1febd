-- Accounting periods (months), the closing balances stored when one closes, and the
-- rule that no journal entry is ever dated in a closed month.
--
-- The books close in order: closing month M needs every earlier month that has
-- entries to be closed already, so the closed months end at one date (the end of the
-- latest closed month, "closed through") and nothing dated on or before it can be
-- posted. A month without entries before M is covered by that rule without a row.
-- Only the latest closed month may be reopened. The app role cannot write these
-- tables: it calls close_accounting_period() / reopen_accounting_period(), which
-- check those rules under a per-organization lock.

CREATE TABLE accounting_periods (
  organization_id text NOT NULL REFERENCES organizations (id),
  period          date NOT NULL CHECK (period = date_trunc('month', period)::date),
  ends_on         date NOT NULL GENERATED ALWAYS AS
                    ((period + interval '1 month' - interval '1 day')::date) STORED,
  closed_at       timestamptz NOT NULL DEFAULT now(),
  closed_by       text,
  PRIMARY KEY (organization_id, period)
);

-- Cumulative signed (debit-positive) balance of every account that ever had a posting,
-- from inception to the period's last day: a report as of D adds to the latest of these
-- on or before D only the postings after it.
CREATE TABLE closing_balances (
  organization_id text NOT NULL,
  period          date NOT NULL,
  account_id      text NOT NULL,
  currency        text NOT NULL,
  balance         bigint NOT NULL,
  PRIMARY KEY (organization_id, period, account_id),
  FOREIGN KEY (organization_id, period) REFERENCES accounting_periods (organization_id, period)
    ON DELETE CASCADE,
  FOREIGN KEY (organization_id, account_id, currency)
    REFERENCES accounts (organization_id, id, currency)
);

-- Who closed and reopened what, when: kept after a reopen deletes the period's row.
CREATE TABLE accounting_period_events (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  period          date NOT NULL,
  action          text NOT NULL CHECK (action IN ('close', 'reopen')),
  user_id         text,
  request_id      text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounting_period_events_by_org ON accounting_period_events (organization_id, id);

-- The tail of a report (postings after the latest closing) by date, index-only.
CREATE INDEX postings_by_date ON postings (organization_id, entry_date)
  INCLUDE (account_id, amount);

CALL enable_tenant_isolation(ARRAY['accounting_periods', 'closing_balances',
                                   'accounting_period_events']);
-- The posting trigger (SECURITY DEFINER) reads the periods of the organization of the
-- rows it checks, whatever the session's tenant setting.
CREATE POLICY period_check ON accounting_periods FOR SELECT USING (current_user <> session_user);

-- Postings take this lock shared (per organization) until they commit and closing
-- takes it exclusively: a close waits for in-flight postings, and postings queue
-- behind a close and then see it. Postings never wait for one another.
CREATE FUNCTION period_lock_key(p_organization_id text) RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT hashtext(p_organization_id) $$;

CREATE FUNCTION check_period_open() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  org record;
  through date;
BEGIN
  FOR org IN SELECT organization_id, min(entry_date) AS earliest FROM new_entries
              GROUP BY organization_id LOOP
    PERFORM pg_advisory_xact_lock_shared(44224, period_lock_key(org.organization_id));
    SELECT max(ends_on) INTO through FROM accounting_periods
     WHERE organization_id = org.organization_id;
    IF org.earliest <= through THEN
      RAISE EXCEPTION 'the books are closed through %: an entry dated % cannot be posted; '
        'date it after the closed period or reopen the period', through, org.earliest
        USING ERRCODE = 'object_not_in_prerequisite_state', CONSTRAINT = 'period_closed';
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

CREATE TRIGGER journal_entries_period_open AFTER INSERT ON journal_entries
  REFERENCING NEW TABLE AS new_entries
  FOR EACH STATEMENT EXECUTE FUNCTION check_period_open();

CREATE FUNCTION period_refused(p_constraint text, p_message text) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%', p_message
    USING ERRCODE = 'object_not_in_prerequisite_state', CONSTRAINT = p_constraint;
END $$;

-- Close p_period (a month's first day) for the current tenant and store its closing
-- balances: the previous closing balances plus the postings since, in one statement.
CREATE FUNCTION close_accounting_period(p_period date, p_user_id text, p_request_id text)
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
  INSERT INTO closing_balances (organization_id, period, account_id, currency, balance)
  SELECT org, p_period, account_id, currency, sum(amount)::bigint FROM (
    SELECT account_id, currency, balance AS amount FROM closing_balances
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

CREATE FUNCTION reopen_accounting_period(p_period date, p_user_id text, p_request_id text)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  org text := app_current_org();
  latest date;
BEGIN
  IF org IS NULL THEN
    PERFORM period_refused('period_no_tenant', 'no organization is set');
  END IF;
  PERFORM pg_advisory_xact_lock(44224, period_lock_key(org));
  IF NOT EXISTS (SELECT 1 FROM accounting_periods WHERE organization_id = org AND period = p_period)
  THEN
    PERFORM period_refused('period_not_closed',
      format('%s is not closed', to_char(p_period, 'YYYY-MM')));
  END IF;
  SELECT max(period) INTO latest FROM accounting_periods WHERE organization_id = org;
  IF latest <> p_period THEN
    PERFORM period_refused('period_not_latest',
      format('%s is closed after it: reopen that first', to_char(latest, 'YYYY-MM')));
  END IF;
  DELETE FROM accounting_periods WHERE organization_id = org AND period = p_period;
  INSERT INTO accounting_period_events (organization_id, period, action, user_id, request_id)
    VALUES (org, p_period, 'reopen', p_user_id, p_request_id);
END $$;

REVOKE ALL ON accounting_periods, closing_balances, accounting_period_events FROM PUBLIC;
REVOKE ALL ON FUNCTION period_lock_key(text), period_refused(text, text), check_period_open(),
  close_accounting_period(date, text, text), reopen_accounting_period(date, text, text)
  FROM PUBLIC;
GRANT SELECT ON accounting_periods, closing_balances, accounting_period_events TO accounting_app;
GRANT EXECUTE ON FUNCTION close_accounting_period(date, text, text),
  reopen_accounting_period(date, text, text) TO accounting_app;
