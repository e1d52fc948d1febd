-- What `accounting-api worker` works through: revenue recognition schedules and the
-- overdue mark on invoices.
--
-- Workers of every tenant run as the app role, under the same row-level security as
-- the API: they find which organizations have due work through SECURITY DEFINER
-- functions that return organization ids only, then claim the work itself inside a
-- transaction scoped to that organization, with FOR UPDATE SKIP LOCKED.

-- One row per piece of a deferred invoice line: the part of the line's deferred amount
-- earned by recognize_on (straight-line by day, one piece per calendar month of the
-- service period). pending -> recognized (posted by the worker) -> reversed (the
-- invoice was voided); pending -> cancelled (voided before it was due).
CREATE TABLE revenue_recognitions (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id     text NOT NULL,
  invoice_id          text NOT NULL,
  line_id             text NOT NULL REFERENCES invoice_lines (id),
  currency            text NOT NULL,
  revenue_account_id  text NOT NULL,
  deferred_account_id text NOT NULL,
  recognize_on        date NOT NULL,
  amount              bigint NOT NULL CHECK (amount > 0),
  status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'recognized', 'reversed', 'cancelled')),
  journal_entry_id    text,
  reversal_entry_id   text,
  recognized_at       timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (line_id, recognize_on),
  FOREIGN KEY (organization_id, invoice_id, currency)
    REFERENCES invoices (organization_id, id, currency),
  FOREIGN KEY (organization_id, revenue_account_id, currency)
    REFERENCES accounts (organization_id, id, currency),
  FOREIGN KEY (organization_id, deferred_account_id, currency)
    REFERENCES accounts (organization_id, id, currency),
  FOREIGN KEY (organization_id, journal_entry_id) REFERENCES journal_entries (organization_id, id),
  FOREIGN KEY (organization_id, reversal_entry_id)
    REFERENCES journal_entries (organization_id, id),
  CHECK ((status IN ('recognized', 'reversed')) = (journal_entry_id IS NOT NULL)),
  CHECK ((status = 'reversed') = (reversal_entry_id IS NOT NULL))
);
CREATE INDEX revenue_recognitions_due ON revenue_recognitions (recognize_on, organization_id)
  WHERE status = 'pending';
CREATE INDEX revenue_recognitions_by_invoice ON revenue_recognitions (invoice_id);

-- A piece moves forward only, and its amounts and accounts never change.
CREATE FUNCTION check_recognition_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'revenue recognition rows are never deleted'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF (OLD.status, NEW.status) NOT IN (('pending', 'recognized'), ('pending', 'cancelled'),
                                      ('recognized', 'reversed')) THEN
    RAISE EXCEPTION 'revenue recognition % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER revenue_recognitions_forward_only BEFORE UPDATE OR DELETE ON revenue_recognitions
  FOR EACH ROW EXECUTE FUNCTION check_recognition_change();

-- A recognition entry is reversed only by voiding its invoice (which records the
-- reversal on the row), never by a bare reversal that would leave the row claiming
-- revenue the books no longer show. Checked at commit, like the invoice rule.
CREATE FUNCTION check_recognition_reversal() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM revenue_recognitions WHERE journal_entry_id = NEW.reverses_entry_id)
     AND NOT EXISTS (SELECT 1 FROM revenue_recognitions WHERE reversal_entry_id = NEW.id) THEN
    RAISE EXCEPTION 'journal entry % recognized invoice revenue: void the invoice instead',
      NEW.reverses_entry_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_entries_recognition_reversals AFTER INSERT ON journal_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.reverses_entry_id IS NOT NULL)
  EXECUTE FUNCTION check_recognition_reversal();

-- Overdue is a mark, not a status: an overdue invoice is still open (payable, voidable)
-- and the state machine of 0002 is unchanged.
ALTER TABLE invoices ADD COLUMN overdue_at timestamptz;
CREATE INDEX invoices_to_mark_overdue ON invoices (organization_id, due_date)
  WHERE status = 'open' AND overdue_at IS NULL;

-- The due date of every invoice that was opened, until the worker has dealt with it:
-- what the worker's discovery reads across tenants, so invoices keep their single
-- tenant policy. Filled by a trigger whatever path opens an invoice.
CREATE TABLE invoice_due_watch (
  organization_id text NOT NULL,
  invoice_id      text PRIMARY KEY,
  due_date        date NOT NULL,
  FOREIGN KEY (organization_id, invoice_id) REFERENCES invoices (organization_id, id)
);
CREATE INDEX invoice_due_watch_by_date ON invoice_due_watch (due_date, organization_id);

CREATE FUNCTION watch_opened_invoice() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO invoice_due_watch (organization_id, invoice_id, due_date)
  VALUES (NEW.organization_id, NEW.id, NEW.due_date) ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;

CREATE TRIGGER invoices_watch_due_date AFTER UPDATE OF status ON invoices
  FOR EACH ROW WHEN (OLD.status = 'draft' AND NEW.status = 'open')
  EXECUTE FUNCTION watch_opened_invoice();

CALL enable_tenant_isolation(ARRAY['revenue_recognitions', 'invoice_due_watch']);
-- The discovery functions below (SECURITY DEFINER) see every tenant's rows.
CREATE POLICY worker_discovery ON revenue_recognitions
  FOR SELECT USING (current_user <> session_user);
CREATE POLICY worker_discovery ON invoice_due_watch
  FOR SELECT USING (current_user <> session_user);

CREATE FUNCTION organizations_with_due_recognitions(p_today date) RETURNS SETOF text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT organization_id FROM revenue_recognitions
   WHERE status = 'pending' AND recognize_on <= p_today $$;

CREATE FUNCTION organizations_with_overdue_invoices(p_today date) RETURNS SETOF text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT organization_id FROM invoice_due_watch WHERE due_date < p_today $$;

REVOKE ALL ON revenue_recognitions, invoice_due_watch FROM PUBLIC;
REVOKE ALL ON FUNCTION organizations_with_due_recognitions(date),
  organizations_with_overdue_invoices(date) FROM PUBLIC;
GRANT SELECT, INSERT ON revenue_recognitions TO accounting_app;
GRANT UPDATE (status, journal_entry_id, reversal_entry_id, recognized_at)
  ON revenue_recognitions TO accounting_app;
GRANT UPDATE (overdue_at) ON invoices TO accounting_app;
GRANT SELECT, INSERT, DELETE ON invoice_due_watch TO accounting_app;
GRANT EXECUTE ON FUNCTION organizations_with_due_recognitions(date),
  organizations_with_overdue_invoices(date) TO accounting_app;

-- Webhooks from a transactional outbox. Events are written by triggers in the
-- transaction of the change they describe (whatever path makes it), and fanned out to
-- one delivery per endpoint of the organization. The worker claims a delivery by
-- pushing next_attempt_at past a lease and commits before the HTTP call: a worker
-- killed mid-delivery leaves it to be claimed again once the lease expires.
CREATE TABLE webhook_endpoints (
  id              text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  url             text NOT NULL CHECK (url ~ '^https?://[^\s]+$' AND length(url) <= 2000),
  -- The signing key: returned once at creation, never listed nor logged.
  secret          text NOT NULL CHECK (length(secret) >= 32),
  description     text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id)
);

CREATE TABLE outbox_events (
  id              text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  type            text NOT NULL,
  data            jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id)
);
CREATE INDEX outbox_events_by_org ON outbox_events (organization_id, created_at);

CREATE TABLE webhook_deliveries (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id text NOT NULL,
  event_id        text NOT NULL,
  endpoint_id     text NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text CHECK (length(last_error) <= 1000),
  delivered_at    timestamptz,
  UNIQUE (event_id, endpoint_id),
  FOREIGN KEY (organization_id, event_id) REFERENCES outbox_events (organization_id, id),
  FOREIGN KEY (organization_id, endpoint_id) REFERENCES webhook_endpoints (organization_id, id),
  CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, organization_id)
  WHERE status = 'pending';

CREATE FUNCTION emit_event(p_organization_id text, p_type text, p_data jsonb) RETURNS void
  LANGUAGE sql AS $$
  WITH event AS (
    INSERT INTO outbox_events (id, organization_id, type, data)
    VALUES ('evt_' || replace(gen_random_uuid()::text, '-', ''), p_organization_id, p_type,
            p_data)
    RETURNING id, organization_id)
  INSERT INTO webhook_deliveries (organization_id, event_id, endpoint_id)
  SELECT event.organization_id, event.id, w.id
    FROM event JOIN webhook_endpoints w ON w.organization_id = event.organization_id $$;

CREATE FUNCTION invoice_event_data(i invoices) RETURNS jsonb
  LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('object', 'invoice', 'id', i.id, 'number', i.number,
    'customer', i.customer_id, 'currency', i.currency, 'status', i.status, 'total', i.total,
    'amount_paid', i.amount_paid, 'issue_date', i.issue_date, 'due_date', i.due_date) $$;

CREATE FUNCTION emit_invoice_events() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'draft' AND NEW.status <> 'draft' THEN
    PERFORM emit_event(NEW.organization_id, 'invoice.finalized', invoice_event_data(NEW));
  END IF;
  IF NEW.status = 'paid' AND OLD.status <> 'paid' THEN
    PERFORM emit_event(NEW.organization_id, 'invoice.paid', invoice_event_data(NEW));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER invoices_emit_events AFTER UPDATE OF status ON invoices
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION emit_invoice_events();

CREATE FUNCTION emit_payment_event() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM emit_event(NEW.organization_id, 'payment.succeeded', jsonb_build_object(
    'object', 'payment', 'id', NEW.id, 'customer', NEW.customer_id, 'currency', NEW.currency,
    'amount', NEW.amount, 'method', NEW.method));
  RETURN NULL;
END $$;

CREATE TRIGGER payments_emit_events AFTER INSERT ON payments
  FOR EACH ROW EXECUTE FUNCTION emit_payment_event();

CALL enable_tenant_isolation(ARRAY['webhook_endpoints', 'outbox_events',
                                   'webhook_deliveries']);
CREATE POLICY worker_discovery ON webhook_deliveries FOR SELECT
  USING (current_user <> session_user);

CREATE FUNCTION organizations_with_due_deliveries() RETURNS SETOF text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT organization_id FROM webhook_deliveries
   WHERE status = 'pending' AND next_attempt_at <= now() $$;

REVOKE ALL ON webhook_endpoints, outbox_events, webhook_deliveries FROM PUBLIC;
REVOKE ALL ON FUNCTION organizations_with_due_deliveries() FROM PUBLIC;
GRANT SELECT, INSERT ON webhook_endpoints, outbox_events, webhook_deliveries TO accounting_app;
GRANT UPDATE (status, attempts, next_attempt_at, last_error, delivered_at)
  ON webhook_deliveries TO accounting_app;
GRANT EXECUTE ON FUNCTION organizations_with_due_deliveries() TO accounting_app;
