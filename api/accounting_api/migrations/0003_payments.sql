-- Payments, their applications to invoices, and refunds. The running amounts
-- (invoices.amount_paid, payments.amount_applied, payments.amount_refunded) are kept
-- by triggers from the rows that justify them, and the CHECKs on those columns are what
-- forbids overpaying an invoice, over-applying a payment or over-refunding it, whatever
-- SQL is sent. The service also locks the invoices FOR UPDATE (in id order) so that
-- racing payments queue rather than fail.

CREATE TABLE payments (
  id               text PRIMARY KEY,
  organization_id  text NOT NULL REFERENCES organizations (id),
  customer_id      text NOT NULL,
  currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  amount           bigint NOT NULL CHECK (amount > 0),
  method           text NOT NULL
                     CHECK (method IN ('card', 'bank_transfer', 'cash', 'check', 'other')),
  received_on      date NOT NULL,
  description      text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
  -- Applied to invoices now (net of refunded applications); the rest not refunded is
  -- the customer's credit.
  amount_applied   bigint NOT NULL DEFAULT 0 CHECK (amount_applied >= 0),
  amount_refunded  bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
  status           text NOT NULL GENERATED ALWAYS AS (
                     CASE WHEN amount_refunded = 0 THEN 'succeeded'
                          WHEN amount_refunded = amount THEN 'refunded'
                          ELSE 'partially_refunded' END) STORED,
  journal_entry_id text NOT NULL UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id),
  UNIQUE (organization_id, id, currency),
  FOREIGN KEY (organization_id, customer_id, currency)
    REFERENCES customers (organization_id, id, currency),
  FOREIGN KEY (organization_id, journal_entry_id) REFERENCES journal_entries (organization_id, id),
  CONSTRAINT payment_not_overspent CHECK (amount_applied + amount_refunded <= amount)
);
CREATE INDEX payments_by_customer ON payments (organization_id, customer_id, id);

CREATE TABLE payment_applications (
  organization_id text NOT NULL,
  payment_id      text NOT NULL,
  invoice_id      text NOT NULL,
  currency        text NOT NULL,
  position        integer NOT NULL CHECK (position >= 0),
  amount          bigint NOT NULL CHECK (amount > 0),
  amount_refunded bigint NOT NULL DEFAULT 0 CHECK (amount_refunded BETWEEN 0 AND amount),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (payment_id, invoice_id),
  UNIQUE (payment_id, position),
  FOREIGN KEY (organization_id, payment_id, currency)
    REFERENCES payments (organization_id, id, currency),
  FOREIGN KEY (organization_id, invoice_id, currency)
    REFERENCES invoices (organization_id, id, currency)
);
CREATE INDEX payment_applications_by_invoice ON payment_applications (invoice_id);

CREATE TABLE refunds (
  id               text PRIMARY KEY,
  organization_id  text NOT NULL,
  payment_id       text NOT NULL,
  currency         text NOT NULL,
  amount           bigint NOT NULL CHECK (amount > 0),
  from_credit      bigint NOT NULL CHECK (from_credit >= 0),
  refunded_on      date NOT NULL,
  reason           text NOT NULL DEFAULT '' CHECK (length(reason) <= 1000),
  journal_entry_id text NOT NULL UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, payment_id, currency)
    REFERENCES payments (organization_id, id, currency),
  FOREIGN KEY (organization_id, journal_entry_id) REFERENCES journal_entries (organization_id, id),
  CHECK (from_credit <= amount)
);
CREATE INDEX refunds_by_payment ON refunds (organization_id, payment_id, id);

-- An application moves money onto an invoice that is open or written off, never onto
-- a draft, void or paid one; its refunded part comes back off the invoice. The CHECK
-- amount_paid BETWEEN 0 AND total (0002) is what refuses an overpayment.
CREATE FUNCTION apply_payment_application() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  delta bigint;
  current_status text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'payment applications are never deleted: refund instead'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT status INTO current_status FROM invoices WHERE id = NEW.invoice_id;
    IF current_status NOT IN ('open', 'uncollectible') THEN
      RAISE EXCEPTION 'invoice % is %: it cannot be paid', NEW.invoice_id, current_status
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    delta := NEW.amount;
  ELSE
    IF (NEW.payment_id, NEW.invoice_id, NEW.amount) IS DISTINCT FROM
       (OLD.payment_id, OLD.invoice_id, OLD.amount) OR NEW.amount_refunded < OLD.amount_refunded
    THEN
      RAISE EXCEPTION 'a payment application only ever gains refunds'
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    delta := OLD.amount_refunded - NEW.amount_refunded;
  END IF;
  UPDATE invoices SET amount_paid = amount_paid + delta WHERE id = NEW.invoice_id;
  UPDATE payments SET amount_applied = amount_applied + delta WHERE id = NEW.payment_id;
  RETURN NEW;
END $$;

CREATE TRIGGER payment_applications_keep_amounts
  AFTER INSERT OR UPDATE ON payment_applications
  FOR EACH ROW EXECUTE FUNCTION apply_payment_application();
CREATE TRIGGER payment_applications_never_deleted BEFORE DELETE ON payment_applications
  FOR EACH ROW EXECUTE FUNCTION apply_payment_application();

CREATE FUNCTION apply_refund() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  UPDATE payments SET amount_refunded = amount_refunded + NEW.amount WHERE id = NEW.payment_id;
  RETURN NEW;
END $$;

CREATE TRIGGER refunds_keep_amounts AFTER INSERT ON refunds
  FOR EACH ROW EXECUTE FUNCTION apply_refund();
CREATE TRIGGER refunds_immutable BEFORE UPDATE OR DELETE ON refunds
  FOR EACH ROW EXECUTE FUNCTION forbid_ledger_change();

-- The invoice state machine of 0002, plus what payments need: a refund of a paid
-- invoice's payment makes it owed again (paid -> open, or back to uncollectible when it
-- had been written off), and an invoice with money applied to it is never voided
-- (refund the payments first), as voiding reverses its whole receivable.
CREATE OR REPLACE FUNCTION check_invoice_change() RETURNS trigger
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
       ('open', 'uncollectible'), ('uncollectible', 'paid'), ('uncollectible', 'void'))
     AND NOT (OLD.status = 'paid' AND NEW.status IN ('open', 'uncollectible')
              AND NEW.amount_paid < NEW.total) THEN
    RAISE EXCEPTION 'invoice % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF NEW.status = 'void' AND OLD.status <> 'void' AND NEW.amount_paid > 0 THEN
    RAISE EXCEPTION 'invoice % has payments applied: refund them before voiding it', OLD.id
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

CALL enable_tenant_isolation(ARRAY['payments', 'payment_applications', 'refunds']);

REVOKE ALL ON payments, payment_applications, refunds FROM PUBLIC;
GRANT SELECT, INSERT ON payments, payment_applications, refunds TO accounting_app;
-- The triggers run as the app role: these are the columns they keep.
GRANT UPDATE (amount_applied, amount_refunded) ON payments TO accounting_app;
GRANT UPDATE (amount_refunded) ON payment_applications TO accounting_app;
GRANT UPDATE (amount_paid) ON invoices TO accounting_app;
