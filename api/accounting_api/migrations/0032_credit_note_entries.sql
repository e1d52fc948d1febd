-- The journal entries a credit note posts besides its own (credit_notes.journal_entry_id):
-- the reversals of revenue already recognized for the lines it credits, one per piece of
-- the recognition schedule it takes from, each at that piece's date (or the first open day
-- after a closed month). They were linked to their credit note by their description alone
-- ("<the credit note's entry's description>: takes back ..."); an auditor follows the link
-- here instead, and GET /v1/credit-notes/{id} lists them (recognition_entry_ids).
--
-- An expand step (docs/migrations.md): the previous version posts reversals without a row
-- here, so the backfill links those by that description, once, and the API lists what the
-- table holds.

CREATE TABLE credit_note_entries (
  organization_id  text NOT NULL,
  credit_note_id   text NOT NULL,
  journal_entry_id text NOT NULL UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (credit_note_id, journal_entry_id),
  FOREIGN KEY (organization_id, credit_note_id) REFERENCES credit_notes (organization_id, id),
  FOREIGN KEY (organization_id, journal_entry_id) REFERENCES journal_entries (organization_id, id)
);

CREATE TRIGGER credit_note_entries_immutable BEFORE UPDATE OR DELETE ON credit_note_entries
  FOR EACH ROW EXECUTE FUNCTION forbid_ledger_change();

CALL enable_tenant_isolation(ARRAY['credit_note_entries']);
REVOKE ALL ON credit_note_entries FROM PUBLIC;
GRANT SELECT, INSERT ON credit_note_entries TO accounting_app;

-- Backfill: a reversal's description is its credit note's entry's description followed by
-- ': takes back '. Matched by hash on that prefix (one pass over the entries, whatever the
-- number of credit notes). The tables are forced under row-level security, which would show
-- the migration's role no tenant's rows: lifted for the backfill, in this transaction only.
ALTER TABLE credit_notes NO FORCE ROW LEVEL SECURITY;
ALTER TABLE journal_entries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE credit_note_entries NO FORCE ROW LEVEL SECURITY;

INSERT INTO credit_note_entries (organization_id, credit_note_id, journal_entry_id, created_at)
SELECT c.organization_id, c.id, r.id, r.created_at
  FROM (SELECT organization_id, id, created_at,
               left(description, strpos(description, ': takes back ') - 1) AS credited_by
          FROM journal_entries
         WHERE strpos(description, ': takes back ') > 0) r
  JOIN journal_entries own
    ON own.organization_id = r.organization_id AND own.description = r.credited_by
  JOIN credit_notes c
    ON c.organization_id = own.organization_id AND c.journal_entry_id = own.id;

ALTER TABLE credit_notes FORCE ROW LEVEL SECURITY;
ALTER TABLE journal_entries FORCE ROW LEVEL SECURITY;
ALTER TABLE credit_note_entries FORCE ROW LEVEL SECURITY;
