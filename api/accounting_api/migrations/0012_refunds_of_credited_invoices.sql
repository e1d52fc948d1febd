-- What a credit note takes off an invoice is covered by what settled it: its pre-payment
-- part is credit applied to the invoice, and the rest (the customer's credit it became)
-- was justified by payments or credit already on the invoice. Refunding those payments
-- afterwards would give the money back while the customer keeps the credit, and make the
-- invoice owed again (open, aging, write-off) for an amount it no longer bills. So
-- payments and applied credit together always cover what credit notes took:
--
--   amount_paid + amount_credit_applied >= amount_credited
--
-- Only a refund of a payment's application lowers the left side; the service refuses
-- such a refund first (refund_reopens_credited_invoice), and this is the backstop
-- whatever SQL is sent. It is checked at commit, not as a CHECK: a credit note raises
-- amount_credited before its own pre-payment application (which references it) raises
-- amount_credit_applied. A statement that leaves an invoice covered queues no check, so
-- only the rare uncovered moment costs a read at commit.

CREATE FUNCTION check_invoice_credit_covered() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  -- NEW is the row as this statement left it; the commit-time state is what counts.
  IF EXISTS (SELECT 1 FROM invoices WHERE id = NEW.id
                AND amount_paid + amount_credit_applied < amount_credited) THEN
    RAISE EXCEPTION 'invoice % would owe again what credit notes took off it: refund the'
      ' customer''s credit instead', NEW.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'invoice_credit_covered';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER invoices_credit_covered
  AFTER UPDATE OF amount_paid, amount_credit_applied, amount_credited ON invoices
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (NEW.amount_paid + NEW.amount_credit_applied < NEW.amount_credited)
  EXECUTE FUNCTION check_invoice_credit_covered();
