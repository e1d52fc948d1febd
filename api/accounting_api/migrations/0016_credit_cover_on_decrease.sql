-- The commit-time check of 0012 (payments and applied credit cover what credit notes took)
-- is queued only by a statement that LOWERS an invoice's cover. Queued on any statement
-- leaving an invoice uncovered, it refused every later partial payment or credit
-- application on an invoice a refund had uncovered before 0012 existed, although such a
-- statement only brings it closer to covered. Those invoices are listed by
--   SELECT id FROM invoices WHERE amount_paid + amount_credit_applied < amount_credited;
-- paying or crediting them settles them.
DROP TRIGGER invoices_credit_covered ON invoices;
CREATE CONSTRAINT TRIGGER invoices_credit_covered
  AFTER UPDATE OF amount_paid, amount_credit_applied, amount_credited ON invoices
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (NEW.amount_paid + NEW.amount_credit_applied < NEW.amount_credited
        AND NEW.amount_paid + NEW.amount_credit_applied - NEW.amount_credited
          < OLD.amount_paid + OLD.amount_credit_applied - OLD.amount_credited)
  EXECUTE FUNCTION check_invoice_credit_covered();
