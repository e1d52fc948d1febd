-- Refunds of customer credit held by a credit note: goods returned, credit note, money
-- back. A credit note of a paid invoice gives the customer credit (2300); a refund of
-- that credit gives the money back (2300 debit, cash credit) and leaves the invoice and
-- the payment that settled it as they are (the invoice stays paid: it no longer bills
-- what was credited, and what paid it is covered by what the customer got back). This
-- is the flow 0012 points refunds of a credited invoice's payment to.
--
-- A refund is now of a payment or of a credit note, never both; a credit note's refund
-- is all credit (from_credit = amount). credit_notes.amount_refunded is kept by the
-- refund trigger, and amount_applied + amount_refunded <= amount refuses over-refunding
-- whatever SQL is sent.

ALTER TABLE credit_notes
  ADD COLUMN amount_refunded bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
  ADD CONSTRAINT credit_note_not_overspent CHECK (amount_applied + amount_refunded <= amount),
  ADD CONSTRAINT credit_notes_currency_key UNIQUE (organization_id, id, currency);

ALTER TABLE refunds
  ALTER COLUMN payment_id DROP NOT NULL,
  ADD COLUMN credit_note_id text,
  ADD CONSTRAINT refund_of_one_source CHECK (num_nonnulls(payment_id, credit_note_id) = 1),
  ADD CONSTRAINT refund_of_credit_note_is_credit
    CHECK (credit_note_id IS NULL OR from_credit = amount),
  ADD FOREIGN KEY (organization_id, credit_note_id, currency)
    REFERENCES credit_notes (organization_id, id, currency);
CREATE INDEX refunds_by_credit_note ON refunds (organization_id, credit_note_id, id)
  WHERE credit_note_id IS NOT NULL;

CREATE OR REPLACE FUNCTION apply_refund() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.payment_id IS NOT NULL THEN
    UPDATE payments SET amount_refunded = amount_refunded + NEW.amount WHERE id = NEW.payment_id;
  ELSE
    UPDATE credit_notes SET amount_refunded = amount_refunded + NEW.amount
     WHERE id = NEW.credit_note_id;
  END IF;
  RETURN NEW;
END $$;

-- 0007's credit notes, which now also gain refunds: only amount_applied and
-- amount_refunded change, and only ever grow.
CREATE OR REPLACE FUNCTION apply_credit_note() RETURNS trigger
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
  IF TG_OP = 'DELETE'
     OR to_jsonb(NEW) - 'amount_applied' - 'amount_refunded'
        <> to_jsonb(OLD) - 'amount_applied' - 'amount_refunded'
     OR NEW.amount_refunded < OLD.amount_refunded THEN
    RAISE EXCEPTION 'credit notes are immutable'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION emit_refund_event() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM emit_event(NEW.organization_id, 'refund.created', jsonb_build_object(
    'object', 'refund', 'id', NEW.id, 'payment', NEW.payment_id,
    'credit_note', NEW.credit_note_id, 'currency', NEW.currency,
    'amount', NEW.amount, 'date', NEW.refunded_on, 'reason', NEW.reason));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION customer_credit_balance(p_customer_id text) RETURNS bigint
  LANGUAGE sql STABLE AS $$
  SELECT ((SELECT coalesce(sum(amount - amount_applied - amount_refunded), 0) FROM payments
            WHERE customer_id = p_customer_id)
        + (SELECT coalesce(sum(amount - amount_applied - amount_refunded), 0) FROM credit_notes
            WHERE customer_id = p_customer_id))::bigint $$;

GRANT UPDATE (amount_refunded) ON credit_notes TO accounting_app;
