-- The receivables sub-ledger: what each journal entry moved on each invoice's receivable.
--
-- Invoices carry today's amounts only (amount_paid, amount_credit_applied grow and
-- shrink in place), so they cannot say what a customer owed on a past date. Every entry
-- that posts to receivable for invoices writes, in its own transaction, one row per
-- invoice with the signed (debit-positive) amount it moved on that invoice's receivable:
-- finalize (+total), payment applications (-), refunds of applications (+), the part of a
-- credit note taken off the amount due (-), customer credit applied (-), write-off
-- (-what was owed) and the reversals a void posts. A written-off invoice's receivable is
-- zero from its write-off on: what is paid or credited on it afterwards, and refunds of
-- its payments, move bad-debt expense (6900), never receivable, and write no row.
--
-- The aging as of D is then the sum of the rows dated on or before D per invoice, and its
-- total is the receivable accounts' balance on D in every currency. The database checks
-- at commit that an entry's rows add up, per account, to what it posts to those accounts
-- and to receivable (1200 and its twins), for every entry that has rows and every entry
-- an invoice, payment, refund or credit note posted; and it refuses to reverse such an
-- entry by hand (refund, credit or void instead).

CREATE TABLE receivable_entries (
  organization_id  text NOT NULL,
  invoice_id       text NOT NULL,
  journal_entry_id text NOT NULL,
  entry_date       date NOT NULL,
  account_id       text NOT NULL,
  currency         text NOT NULL,
  amount           bigint NOT NULL CHECK (amount <> 0),
  PRIMARY KEY (journal_entry_id, invoice_id),
  FOREIGN KEY (organization_id, invoice_id, currency)
    REFERENCES invoices (organization_id, id, currency),
  FOREIGN KEY (organization_id, journal_entry_id, entry_date)
    REFERENCES journal_entries (organization_id, id, entry_date),
  FOREIGN KEY (organization_id, account_id, currency)
    REFERENCES accounts (organization_id, id, currency)
);
CREATE INDEX receivable_entries_by_date ON receivable_entries (organization_id, entry_date)
  INCLUDE (invoice_id, amount);
CREATE INDEX receivable_entries_by_invoice ON receivable_entries (invoice_id);

CREATE TRIGGER receivable_entries_immutable BEFORE UPDATE OR DELETE ON receivable_entries
  FOR EACH ROW EXECUTE FUNCTION forbid_ledger_change();

-- The accounts billing posts receivables to: 1200, or its twin '1200.<currency>'.
CREATE FUNCTION is_receivable_account(p_type text, p_code text) RETURNS boolean
  LANGUAGE sql IMMUTABLE AS $$ SELECT p_type = 'asset' AND p_code ~ '^1200(\.[A-Z]{3})?$' $$;

-- Backfill, before the triggers below exist (they are for new entries). Each existing
-- entry's receivable postings are split over the invoices it concerns, so the rows of
-- every entry add up to its postings and the aging ties to the receivable accounts on
-- every date. An invoice's own entries, a credit note and customer credit applied (its
-- entry names the invoice) concern one invoice: exact. A payment or a refund that touched
-- several invoices is split over its applications (in their order for a payment, the
-- latest first for a refund), each up to its amount: exact when it touched one invoice;
-- the rows written since this migration are exact in every case.
-- The tables read are forced under row-level security, which would show the migration's
-- role no tenant's rows: lifted for the backfill, in this transaction only.
ALTER TABLE postings NO FORCE ROW LEVEL SECURITY;
ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE journal_entries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE invoice_entries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE credit_notes NO FORCE ROW LEVEL SECURITY;
ALTER TABLE payments NO FORCE ROW LEVEL SECURITY;
ALTER TABLE refunds NO FORCE ROW LEVEL SECURITY;
ALTER TABLE payment_applications NO FORCE ROW LEVEL SECURITY;

-- backfill:begin
CREATE TEMPORARY TABLE receivable_moves ON COMMIT DROP AS
SELECT po.organization_id, po.journal_entry_id, po.entry_date, po.account_id, po.currency,
       sum(po.amount)::bigint AS amount
  FROM postings po JOIN accounts a ON a.id = po.account_id
 WHERE is_receivable_account(a.type, a.code)
 GROUP BY po.organization_id, po.journal_entry_id, po.entry_date, po.account_id, po.currency;

INSERT INTO receivable_entries (organization_id, invoice_id, journal_entry_id, entry_date,
                                account_id, currency, amount)
SELECT m.organization_id, owner.invoice_id, m.journal_entry_id, m.entry_date, m.account_id,
       m.currency, m.amount
  FROM receivable_moves m
  JOIN (SELECT journal_entry_id, invoice_id FROM invoice_entries
        UNION ALL
        SELECT journal_entry_id, invoice_id FROM credit_notes
        UNION ALL
        SELECT id, substring(description FROM '\((inv_[^)]+)\)$') FROM journal_entries
         WHERE description LIKE 'Customer credit applied to invoice #%') owner
    ON owner.journal_entry_id = m.journal_entry_id
 WHERE m.amount <> 0;

INSERT INTO receivable_entries (organization_id, invoice_id, journal_entry_id, entry_date,
                                account_id, currency, amount)
SELECT organization_id, invoice_id, journal_entry_id, entry_date, account_id, currency,
       sign(amount) * least(applied, greatest(abs(amount) - earlier, 0))
  FROM (SELECT m.*, pa.invoice_id, pa.amount AS applied,
               coalesce(sum(pa.amount) OVER (
                 PARTITION BY m.journal_entry_id
                 ORDER BY CASE WHEN m.amount < 0 THEN pa.position ELSE -pa.position END
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS earlier
          FROM receivable_moves m
          JOIN (SELECT journal_entry_id, id AS payment_id FROM payments
                UNION ALL
                SELECT journal_entry_id, payment_id FROM refunds) doc
            ON doc.journal_entry_id = m.journal_entry_id
          JOIN payment_applications pa ON pa.payment_id = doc.payment_id) split
 WHERE least(applied, greatest(abs(amount) - earlier, 0)) > 0;
-- backfill:end

ALTER TABLE postings FORCE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
ALTER TABLE journal_entries FORCE ROW LEVEL SECURITY;
ALTER TABLE invoice_entries FORCE ROW LEVEL SECURITY;
ALTER TABLE credit_notes FORCE ROW LEVEL SECURITY;
ALTER TABLE payments FORCE ROW LEVEL SECURITY;
ALTER TABLE refunds FORCE ROW LEVEL SECURITY;
ALTER TABLE payment_applications FORCE ROW LEVEL SECURITY;

-- Reports read the sub-ledger: new rows change the ledger version (they always come with
-- a journal entry, which bumps it too; this keeps the rule local).
CREATE TRIGGER receivable_entries_bump_version AFTER INSERT ON receivable_entries
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bump_ledger_versions_of_rows();

CREATE FUNCTION check_receivable_entries() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  entry text := to_jsonb(NEW) ->> 'journal_entry_id';
  mismatch record;
BEGIN
  SELECT coalesce(s.account_id, p.account_id) AS account_id, s.amount AS rows, p.amount AS posted
    INTO mismatch
    FROM (SELECT account_id, sum(amount) AS amount FROM receivable_entries
           WHERE journal_entry_id = entry GROUP BY account_id) s
    FULL JOIN (SELECT po.account_id, sum(po.amount) AS amount
                 FROM postings po JOIN accounts a ON a.id = po.account_id
                WHERE po.journal_entry_id = entry
                  AND (is_receivable_account(a.type, a.code) OR po.account_id IN (
                        SELECT account_id FROM receivable_entries WHERE journal_entry_id = entry))
                GROUP BY po.account_id) p ON p.account_id = s.account_id
   WHERE s.amount IS DISTINCT FROM p.amount
   LIMIT 1;
  IF mismatch.account_id IS NULL THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'journal entry % posts % to receivable account % but its invoices'' rows'
    ' say %', entry, coalesce(mismatch.posted, 0), mismatch.account_id,
    coalesce(mismatch.rows, 0)
    USING ERRCODE = 'check_violation', CONSTRAINT = 'receivable_entries_match_postings';
END $$;

CREATE CONSTRAINT TRIGGER receivable_entries_match AFTER INSERT ON receivable_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_receivable_entries();
CREATE CONSTRAINT TRIGGER invoice_entries_receivable AFTER INSERT ON invoice_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_receivable_entries();
CREATE CONSTRAINT TRIGGER payments_receivable AFTER INSERT ON payments
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_receivable_entries();
CREATE CONSTRAINT TRIGGER refunds_receivable AFTER INSERT ON refunds
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_receivable_entries();
CREATE CONSTRAINT TRIGGER credit_notes_receivable AFTER INSERT ON credit_notes
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_receivable_entries();

-- 0002 keeps an invoice's entries from being reversed but by voiding it (and says so);
-- the same for the entries of payments, refunds, credit notes and credit applied to
-- receivables: a bare reversal would leave the documents, the sub-ledger and customer
-- credit behind.
CREATE FUNCTION check_document_entry_reversal() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM payments WHERE journal_entry_id = NEW.reverses_entry_id)
     OR EXISTS (SELECT 1 FROM refunds WHERE journal_entry_id = NEW.reverses_entry_id)
     OR EXISTS (SELECT 1 FROM credit_notes WHERE journal_entry_id = NEW.reverses_entry_id)
     OR (EXISTS (SELECT 1 FROM receivable_entries WHERE journal_entry_id = NEW.reverses_entry_id)
         AND NOT EXISTS (SELECT 1 FROM invoice_entries
                          WHERE journal_entry_id = NEW.reverses_entry_id)) THEN
    RAISE EXCEPTION 'journal entry % was posted by a payment, refund, credit note or credit'
      ' application: refund, credit or void instead of reversing it', NEW.reverses_entry_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_entries_document_reversals AFTER INSERT ON journal_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.reverses_entry_id IS NOT NULL)
  EXECUTE FUNCTION check_document_entry_reversal();


CALL enable_tenant_isolation(ARRAY['receivable_entries']);

REVOKE ALL ON receivable_entries FROM PUBLIC;
REVOKE ALL ON FUNCTION is_receivable_account(text, text) FROM PUBLIC;
-- Rows are immutable: the app only ever adds them.
GRANT SELECT, INSERT ON receivable_entries TO accounting_app;
GRANT EXECUTE ON FUNCTION is_receivable_account(text, text) TO accounting_app;
