-- Credit notes and customer credit. A finalized invoice is never edited: a correction is
-- a credit note against it, numbered gap-free per organization like invoices. What a
-- credit note takes off the invoice's amount due is an application of its credit to that
-- invoice; the rest (an invoice already paid) is the customer's credit, which later
-- applications move onto other open invoices, as an overpayment's credit is.
--
-- The running amounts are kept by triggers from the rows that justify them, and CHECKs
-- refuse over-crediting (invoices.amount_credited <= total), over-applying
-- (amount_paid + amount_credit_applied <= total on the invoice, amount_applied <= amount
-- on the credit note) and crediting a line beyond its amounts, whatever SQL is sent.

ALTER TABLE invoices
  ADD COLUMN amount_credited bigint NOT NULL DEFAULT 0,
  ADD COLUMN amount_credit_applied bigint NOT NULL DEFAULT 0 CHECK (amount_credit_applied >= 0),
  ADD CONSTRAINT invoice_not_overcredited CHECK (amount_credited BETWEEN 0 AND total),
  ADD CONSTRAINT invoice_not_overpaid CHECK (amount_paid + amount_credit_applied <= total),
  ADD CONSTRAINT invoices_customer_key UNIQUE (organization_id, id, customer_id, currency);

CREATE TABLE credit_note_number_counters (
  organization_id text PRIMARY KEY REFERENCES organizations (id),
  last_number     bigint NOT NULL CHECK (last_number > 0)
);

-- amount includes tax. pre_payment_amount is what it took off the invoice's amount due
-- (its first application); amount - amount_applied is the customer's credit it holds.
CREATE TABLE credit_notes (
  id                 text PRIMARY KEY,
  organization_id    text NOT NULL REFERENCES organizations (id),
  invoice_id         text NOT NULL,
  customer_id        text NOT NULL,
  currency           text NOT NULL,
  number             bigint NOT NULL CHECK (number > 0),
  reason             text CHECK (reason IN ('duplicate', 'fraudulent', 'order_change',
                                            'product_unsatisfactory')),
  memo               text NOT NULL DEFAULT '' CHECK (length(memo) <= 1000),
  amount             bigint NOT NULL CHECK (amount > 0),
  tax                bigint NOT NULL CHECK (tax BETWEEN 0 AND amount),
  pre_payment_amount bigint NOT NULL CHECK (pre_payment_amount BETWEEN 0 AND amount),
  amount_applied     bigint NOT NULL DEFAULT 0,
  credited_on        date NOT NULL,
  journal_entry_id   text NOT NULL UNIQUE,
  created_at         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id),
  UNIQUE (organization_id, id, customer_id, currency),
  UNIQUE (organization_id, number),
  FOREIGN KEY (organization_id, invoice_id, customer_id, currency)
    REFERENCES invoices (organization_id, id, customer_id, currency),
  FOREIGN KEY (organization_id, journal_entry_id) REFERENCES journal_entries (organization_id, id),
  CONSTRAINT credit_note_not_overapplied CHECK (amount_applied BETWEEN 0 AND amount)
);
CREATE INDEX credit_notes_by_invoice ON credit_notes (organization_id, invoice_id, id);
CREATE INDEX credit_notes_by_customer ON credit_notes (organization_id, customer_id, id);

-- What a credit note takes off each invoice line: amount (net of discount) and tax;
-- deferred is the part of amount taken from deferred revenue (not yet recognized).
CREATE TABLE credit_note_lines (
  organization_id text NOT NULL,
  credit_note_id  text NOT NULL,
  line_id         text NOT NULL REFERENCES invoice_lines (id),
  position        integer NOT NULL CHECK (position >= 0),
  quantity_milli  bigint CHECK (quantity_milli > 0),
  amount          bigint NOT NULL CHECK (amount >= 0),
  tax             bigint NOT NULL CHECK (tax >= 0),
  deferred        bigint NOT NULL DEFAULT 0 CHECK (deferred BETWEEN 0 AND amount),
  PRIMARY KEY (credit_note_id, line_id),
  UNIQUE (credit_note_id, position),
  FOREIGN KEY (organization_id, credit_note_id) REFERENCES credit_notes (organization_id, id),
  CHECK (amount + tax > 0)
);
CREATE INDEX credit_note_lines_by_line ON credit_note_lines (line_id);

-- Credit moved onto an invoice of the same customer and currency (the foreign keys say
-- so): its own invoice at creation, other open invoices later.
CREATE TABLE credit_note_applications (
  organization_id text NOT NULL,
  credit_note_id  text NOT NULL,
  invoice_id      text NOT NULL,
  customer_id     text NOT NULL,
  currency        text NOT NULL,
  amount          bigint NOT NULL CHECK (amount > 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (credit_note_id, invoice_id),
  FOREIGN KEY (organization_id, credit_note_id, customer_id, currency)
    REFERENCES credit_notes (organization_id, id, customer_id, currency),
  FOREIGN KEY (organization_id, invoice_id, customer_id, currency)
    REFERENCES invoices (organization_id, id, customer_id, currency)
);
CREATE INDEX credit_note_applications_by_invoice ON credit_note_applications (invoice_id);

-- A credit note is issued against a finalized invoice (open, paid or written off), never
-- a draft or a void one; it is never changed but by its applications.
CREATE FUNCTION apply_credit_note() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  current_status text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT status INTO current_status FROM invoices WHERE id = NEW.invoice_id FOR UPDATE;
    IF current_status NOT IN ('open', 'paid', 'uncollectible') THEN
      RAISE EXCEPTION 'invoice % is %: it cannot be credited', NEW.invoice_id, current_status
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE invoices SET amount_credited = amount_credited + NEW.amount WHERE id = NEW.invoice_id;
    PERFORM emit_event(NEW.organization_id, 'credit_note.created', jsonb_build_object(
      'object', 'credit_note', 'id', NEW.id, 'number', NEW.number, 'invoice', NEW.invoice_id,
      'customer', NEW.customer_id, 'currency', NEW.currency, 'amount', NEW.amount,
      'reason', NEW.reason));
    RETURN NEW;
  END IF;
  IF TG_OP = 'DELETE' OR to_jsonb(NEW) - 'amount_applied' <> to_jsonb(OLD) - 'amount_applied' THEN
    RAISE EXCEPTION 'credit notes are immutable'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER credit_notes_keep_amounts AFTER INSERT ON credit_notes
  FOR EACH ROW EXECUTE FUNCTION apply_credit_note();
CREATE TRIGGER credit_notes_immutable BEFORE UPDATE OR DELETE ON credit_notes
  FOR EACH ROW EXECUTE FUNCTION apply_credit_note();

-- A credit note's lines are lines of its invoice, and all the credit notes of a line
-- together take at most its amount (net of discount) and its tax. The invoice is locked
-- first, so racing credit notes of one invoice check one after the other.
CREATE FUNCTION check_credit_note_line() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  line invoice_lines;
  credited record;
BEGIN
  SELECT l.* INTO line FROM invoice_lines l JOIN credit_notes n ON n.invoice_id = l.invoice_id
   WHERE l.id = NEW.line_id AND n.id = NEW.credit_note_id;
  IF line.id IS NULL THEN
    RAISE EXCEPTION 'line % is not a line of the credited invoice', NEW.line_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  PERFORM 1 FROM invoices WHERE id = line.invoice_id FOR UPDATE;
  SELECT sum(amount) AS amount, sum(tax) AS tax INTO credited
    FROM credit_note_lines WHERE line_id = NEW.line_id;
  IF credited.amount > line.amount - line.discount OR credited.tax > line.tax THEN
    RAISE EXCEPTION 'line % would be credited beyond its amounts', NEW.line_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_note_line_not_overcredited';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER credit_note_lines_within_line AFTER INSERT ON credit_note_lines
  FOR EACH ROW EXECUTE FUNCTION check_credit_note_line();
CREATE TRIGGER credit_note_lines_immutable BEFORE UPDATE OR DELETE ON credit_note_lines
  FOR EACH ROW EXECUTE FUNCTION forbid_ledger_change();

-- A credit note's lines add up to it, checked at commit (the lines follow it).
CREATE FUNCTION check_credit_note_whole() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT (coalesce(sum(amount + tax), 0)::bigint, coalesce(sum(tax), 0)::bigint)
        FROM credit_note_lines
       WHERE credit_note_id = NEW.id) IS DISTINCT FROM (NEW.amount, NEW.tax) THEN
    RAISE EXCEPTION 'credit note % does not add up to its lines', NEW.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_note_whole';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER credit_notes_whole AFTER INSERT ON credit_notes
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_credit_note_whole();

-- An application moves credit onto an open or written-off invoice, and only ever grows.
CREATE FUNCTION apply_credit_note_application() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  delta bigint := NEW.amount;
  current_status text;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF (NEW.credit_note_id, NEW.invoice_id) IS DISTINCT FROM (OLD.credit_note_id, OLD.invoice_id)
       OR NEW.amount < OLD.amount THEN
      RAISE EXCEPTION 'a credit note application only ever grows'
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    delta := NEW.amount - OLD.amount;
  END IF;
  SELECT status INTO current_status FROM invoices WHERE id = NEW.invoice_id;
  IF current_status NOT IN ('open', 'uncollectible') THEN
    RAISE EXCEPTION 'invoice % is %: no credit can be applied to it', NEW.invoice_id,
      current_status USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  UPDATE invoices SET amount_credit_applied = amount_credit_applied + delta
   WHERE id = NEW.invoice_id;
  UPDATE credit_notes SET amount_applied = amount_applied + delta WHERE id = NEW.credit_note_id;
  RETURN NEW;
END $$;

CREATE TRIGGER credit_note_applications_keep_amounts
  AFTER INSERT OR UPDATE ON credit_note_applications
  FOR EACH ROW EXECUTE FUNCTION apply_credit_note_application();
CREATE TRIGGER credit_note_applications_never_deleted BEFORE DELETE ON credit_note_applications
  FOR EACH ROW EXECUTE FUNCTION forbid_ledger_change();

-- 0003's payment applications, which may now also grow: a payment's credit applied
-- later to an invoice it already paid part of adds to that application.
CREATE OR REPLACE FUNCTION apply_payment_application() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  delta bigint;
  current_status text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'payment applications are never deleted: refund instead'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF TG_OP = 'UPDATE' AND ((NEW.payment_id, NEW.invoice_id) IS DISTINCT FROM
       (OLD.payment_id, OLD.invoice_id) OR NEW.amount < OLD.amount
       OR NEW.amount_refunded < OLD.amount_refunded) THEN
    RAISE EXCEPTION 'a payment application only ever grows or gains refunds'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF TG_OP = 'INSERT' OR NEW.amount > OLD.amount THEN
    SELECT status INTO current_status FROM invoices WHERE id = NEW.invoice_id;
    IF current_status NOT IN ('open', 'uncollectible') THEN
      RAISE EXCEPTION 'invoice % is %: it cannot be paid', NEW.invoice_id, current_status
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
  END IF;
  delta := CASE TG_OP WHEN 'INSERT' THEN NEW.amount
           ELSE (NEW.amount - NEW.amount_refunded) - (OLD.amount - OLD.amount_refunded) END;
  UPDATE invoices SET amount_paid = amount_paid + delta WHERE id = NEW.invoice_id;
  UPDATE payments SET amount_applied = amount_applied + delta WHERE id = NEW.payment_id;
  RETURN NEW;
END $$;

-- The invoice state machine of 0003, where credit counts as paid: an invoice is owed
-- again only while payments and applied credit leave part of it uncovered, and an
-- invoice with credit notes is never voided (its corrections would be undone twice).
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
              AND NEW.amount_paid + NEW.amount_credit_applied < NEW.total) THEN
    RAISE EXCEPTION 'invoice % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF NEW.status = 'void' AND OLD.status <> 'void'
     AND (NEW.amount_paid > 0 OR NEW.amount_credited > 0 OR NEW.amount_credit_applied > 0) THEN
    RAISE EXCEPTION 'invoice % has payments or credit applied: it cannot be voided', OLD.id
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

-- Revenue a credit note takes back from deferred revenue is never recognized: the piece
-- keeps its amount and records the part credited; the worker posts only the rest, and a
-- piece credited in full is cancelled.
ALTER TABLE revenue_recognitions
  ADD COLUMN amount_credited bigint NOT NULL DEFAULT 0,
  ADD CONSTRAINT recognition_not_overcredited CHECK (amount_credited BETWEEN 0 AND amount),
  ADD CONSTRAINT recognition_credited_pending
    CHECK (status IN ('pending', 'cancelled') OR amount_credited < amount);

CREATE OR REPLACE FUNCTION check_recognition_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'revenue recognition rows are never deleted'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF NEW.amount_credited <> OLD.amount_credited
     AND (OLD.status <> 'pending' OR NEW.amount_credited < OLD.amount_credited) THEN
    RAISE EXCEPTION 'revenue recognition % is %: only a pending piece is credited', OLD.id,
      OLD.status USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF (OLD.status, NEW.status) NOT IN (('pending', 'recognized'), ('pending', 'cancelled'),
                                      ('recognized', 'reversed'), ('pending', 'pending')) THEN
    RAISE EXCEPTION 'revenue recognition % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END $$;

-- The customer's available credit, in its currency: the unapplied, unrefunded parts of
-- its payments and the unapplied parts of its credit notes.
CREATE FUNCTION customer_credit_balance(p_customer_id text) RETURNS bigint
  LANGUAGE sql STABLE AS $$
  SELECT ((SELECT coalesce(sum(amount - amount_applied - amount_refunded), 0) FROM payments
            WHERE customer_id = p_customer_id)
        + (SELECT coalesce(sum(amount - amount_applied), 0) FROM credit_notes
            WHERE customer_id = p_customer_id))::bigint $$;

CALL enable_tenant_isolation(ARRAY['credit_note_number_counters', 'credit_notes',
                                   'credit_note_lines', 'credit_note_applications']);

REVOKE ALL ON credit_note_number_counters, credit_notes, credit_note_lines,
  credit_note_applications FROM PUBLIC;
REVOKE ALL ON FUNCTION customer_credit_balance(text) FROM PUBLIC;
GRANT SELECT, INSERT ON credit_note_number_counters, credit_notes, credit_note_lines,
  credit_note_applications TO accounting_app;
GRANT UPDATE (last_number) ON credit_note_number_counters TO accounting_app;
-- The triggers run as the app role: these are the columns they keep, and the growth of
-- an application an upsert makes.
GRANT UPDATE (amount_applied) ON credit_notes TO accounting_app;
GRANT UPDATE (amount) ON credit_note_applications, payment_applications TO accounting_app;
GRANT UPDATE (amount_credited, amount_credit_applied) ON invoices TO accounting_app;
GRANT UPDATE (amount_credited) ON revenue_recognitions TO accounting_app;
GRANT EXECUTE ON FUNCTION customer_credit_balance(text) TO accounting_app;
