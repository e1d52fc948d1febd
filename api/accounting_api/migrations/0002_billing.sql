-- Billing: customers, invoices and their lines, the per-organization invoice-number
-- counter and the journal entries each invoice posted. Same tenant policy (FORCE RLS)
-- as every other tenant-owned table; the app role gets only the privileges it uses.

CREATE TABLE customers (
  id              text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  email           text CHECK (length(email) <= 320),
  currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  tier            text NOT NULL CHECK (tier IN ('free', 'standard', 'premium', 'enterprise')),
  billing_address jsonb CHECK (billing_address IS NULL OR jsonb_typeof(billing_address) = 'object'),
  archived_at     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id),
  UNIQUE (organization_id, id, currency)
);

-- A customer is never deleted (only archived), and once archived stays archived.
CREATE FUNCTION check_customer_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'customers are never deleted: archive them instead'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF OLD.archived_at IS NOT NULL AND NEW.archived_at IS DISTINCT FROM OLD.archived_at THEN
    RAISE EXCEPTION 'customer % is archived', OLD.id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER customers_soft_archive BEFORE UPDATE OR DELETE ON customers
  FOR EACH ROW EXECUTE FUNCTION check_customer_change();

-- Totals are stored (computed by the code from the lines) so that reports and the
-- posted entries agree with what the customer was shown. number is gap-free per
-- organization, assigned at finalize from invoice_number_counters.
CREATE TABLE invoices (
  id                 text PRIMARY KEY,
  organization_id    text NOT NULL REFERENCES organizations (id),
  customer_id        text NOT NULL,
  currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status             text NOT NULL DEFAULT 'draft'
                       CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
  number             bigint CHECK (number > 0),
  description        text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
  days_until_due     integer CHECK (days_until_due BETWEEN 0 AND 3650),
  issue_date         date,
  due_date           date,
  subtotal           bigint NOT NULL DEFAULT 0 CHECK (subtotal >= 0),
  total_discount     bigint NOT NULL DEFAULT 0 CHECK (total_discount BETWEEN 0 AND subtotal),
  tax                bigint NOT NULL DEFAULT 0 CHECK (tax >= 0),
  total              bigint NOT NULL DEFAULT 0
                       CHECK (total = subtotal - total_discount + tax),
  amount_paid        bigint NOT NULL DEFAULT 0 CHECK (amount_paid BETWEEN 0 AND total),
  created_at         timestamptz NOT NULL DEFAULT now(),
  finalized_at       timestamptz,
  paid_at            timestamptz,
  voided_at          timestamptz,
  uncollectible_at   timestamptz,
  UNIQUE (organization_id, id),
  UNIQUE (organization_id, id, currency),
  UNIQUE (organization_id, number),
  FOREIGN KEY (organization_id, customer_id, currency)
    REFERENCES customers (organization_id, id, currency),
  CHECK ((status = 'draft') = (number IS NULL)),
  CHECK ((status = 'draft') = (issue_date IS NULL)),
  CHECK (status = 'draft' OR due_date IS NOT NULL),
  CHECK (due_date >= issue_date)
);
CREATE INDEX invoices_by_customer ON invoices (organization_id, customer_id, id);
CREATE INDEX invoices_by_status ON invoices (organization_id, status, id);

CREATE TABLE invoice_lines (
  id                 text PRIMARY KEY,
  organization_id    text NOT NULL,
  invoice_id         text NOT NULL,
  position           integer NOT NULL CHECK (position >= 0),
  currency           text NOT NULL,
  description        text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
  -- Thousandths of a unit: 1.5 hours is 1500. Never a float.
  quantity_milli     bigint NOT NULL CHECK (quantity_milli > 0),
  unit_amount        bigint NOT NULL CHECK (unit_amount >= 0),
  discount           bigint NOT NULL DEFAULT 0 CHECK (discount BETWEEN 0 AND amount),
  tax_rate_bp        integer NOT NULL DEFAULT 0 CHECK (tax_rate_bp BETWEEN 0 AND 10000),
  amount             bigint NOT NULL CHECK (amount >= 0),
  tax                bigint NOT NULL CHECK (tax >= 0),
  total              bigint NOT NULL CHECK (total = amount - discount + tax),
  revenue_account_id text NOT NULL,
  service_start      date,
  service_end        date,
  created_at         timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (organization_id, invoice_id, currency)
    REFERENCES invoices (organization_id, id, currency),
  FOREIGN KEY (organization_id, revenue_account_id, currency)
    REFERENCES accounts (organization_id, id, currency),
  CHECK ((service_start IS NULL) = (service_end IS NULL)),
  CHECK (service_end >= service_start),
  UNIQUE (invoice_id, position)
);

-- The one row per organization finalize locks (an upsert takes the same row lock as
-- SELECT ... FOR UPDATE, held to commit): numbers are gap-free, because a rolled-back
-- finalize rolls its increment back too, which a sequence would not.
CREATE TABLE invoice_number_counters (
  organization_id text PRIMARY KEY REFERENCES organizations (id),
  last_number     bigint NOT NULL CHECK (last_number > 0)
);

-- The journal entries an invoice posted, at most one of each kind.
CREATE TABLE invoice_entries (
  organization_id  text NOT NULL,
  invoice_id       text NOT NULL,
  journal_entry_id text NOT NULL UNIQUE,
  kind             text NOT NULL
                     CHECK (kind IN ('finalize', 'uncollectible', 'void', 'void_uncollectible')),
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (invoice_id, kind),
  FOREIGN KEY (organization_id, invoice_id) REFERENCES invoices (organization_id, id),
  FOREIGN KEY (organization_id, journal_entry_id) REFERENCES journal_entries (organization_id, id)
);

-- The invoice state machine, whatever SQL is sent: only these transitions exist, and
-- a finalized invoice's amounts, number and dates never change.
CREATE FUNCTION check_invoice_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'invoice % is %: a finalized invoice is never deleted', OLD.id, OLD.status
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.status <> OLD.status AND (OLD.status, NEW.status) NOT IN (
       ('draft', 'open'), ('draft', 'paid'), ('open', 'paid'), ('open', 'void'),
       ('open', 'uncollectible'), ('uncollectible', 'paid'), ('uncollectible', 'void')) THEN
    RAISE EXCEPTION 'invoice % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF OLD.status <> 'draft' AND
     (NEW.customer_id, NEW.currency, NEW.number, NEW.description, NEW.issue_date, NEW.due_date,
      NEW.days_until_due, NEW.subtotal, NEW.total_discount, NEW.tax, NEW.total, NEW.finalized_at)
     IS DISTINCT FROM
     (OLD.customer_id, OLD.currency, OLD.number, OLD.description, OLD.issue_date, OLD.due_date,
      OLD.days_until_due, OLD.subtotal, OLD.total_discount, OLD.tax, OLD.total, OLD.finalized_at)
  THEN
    RAISE EXCEPTION 'invoice % is %: a finalized invoice is never edited', OLD.id, OLD.status
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER invoices_state_machine BEFORE UPDATE OR DELETE ON invoices
  FOR EACH ROW EXECUTE FUNCTION check_invoice_change();

-- Lines change only while their invoice is a draft. FOR SHARE waits for a concurrent
-- finalize (which holds the invoice FOR UPDATE) and then reads the status it committed.
CREATE FUNCTION check_invoice_line_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  target text := CASE TG_OP WHEN 'DELETE' THEN OLD.invoice_id ELSE NEW.invoice_id END;
  current_status text;
BEGIN
  SELECT status INTO current_status FROM invoices WHERE id = target FOR SHARE;
  IF current_status IS DISTINCT FROM 'draft' THEN
    RAISE EXCEPTION 'invoice % is %: its lines are fixed', target, current_status
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.invoice_id <> OLD.invoice_id THEN
    RAISE EXCEPTION 'a line cannot move to another invoice'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE TRIGGER invoice_lines_draft_only BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines
  FOR EACH ROW EXECUTE FUNCTION check_invoice_line_change();

CREATE TRIGGER invoice_entries_immutable BEFORE UPDATE OR DELETE ON invoice_entries
  FOR EACH ROW EXECUTE FUNCTION forbid_ledger_change();

-- An entry an invoice posted is reversed only by the invoice (voiding it), never by a
-- bare reversal that would leave the invoice open with nothing receivable. Checked at
-- commit, as the invoice records its reversal after writing it.
CREATE FUNCTION check_invoice_entry_reversal() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  owner text;
BEGIN
  SELECT invoice_id INTO owner FROM invoice_entries WHERE journal_entry_id = NEW.reverses_entry_id;
  IF owner IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM invoice_entries WHERE journal_entry_id = NEW.id AND invoice_id = owner) THEN
    RAISE EXCEPTION 'journal entry % was posted by invoice %: void the invoice instead',
      NEW.reverses_entry_id, owner
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_entries_invoice_reversals AFTER INSERT ON journal_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.reverses_entry_id IS NOT NULL)
  EXECUTE FUNCTION check_invoice_entry_reversal();

CALL enable_tenant_isolation(ARRAY['customers', 'invoices', 'invoice_lines',
                                   'invoice_number_counters', 'invoice_entries']);

REVOKE ALL ON customers, invoices, invoice_lines, invoice_number_counters, invoice_entries
  FROM PUBLIC;
GRANT SELECT, INSERT ON customers, invoices, invoice_lines, invoice_number_counters,
  invoice_entries TO accounting_app;
GRANT UPDATE (archived_at) ON customers TO accounting_app;
-- What finalize, void and mark-uncollectible change, and the totals a draft's line
-- edits change; never the customer, currency or id.
GRANT UPDATE (status, number, issue_date, due_date, subtotal, total_discount, tax, total,
  finalized_at, paid_at, voided_at, uncollectible_at) ON invoices TO accounting_app;
GRANT DELETE ON invoice_lines TO accounting_app;
GRANT UPDATE (last_number) ON invoice_number_counters TO accounting_app;
