"""SQL that finalizes an invoice: its number, dates and status, and what it posts, in one statement.

The organization's invoice-number counter stays locked from this statement to commit
(numbers are gap-free: a rolled-back finalize frees its number), so every finalize of an
organization waits for the one before it to commit. The statement therefore writes all
that depends on the number at once (the invoice's new state, its journal entries and
their postings, its links to them, what they move on its receivable), one round trip
where separate statements held the lock for one each.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from accounting_api.db.billing import INVOICE_COLUMNS, invoice_of
from accounting_api.db.connection import Connection
from accounting_api.domain import billing, ledger, receivables
from accounting_api.domain.billing import Invoice

NUMBER = "{number}"
"""Stands for the invoice's number in the description of an entry it posts."""

_FINALIZE = f"""
WITH counter AS (
  INSERT INTO invoice_number_counters AS c (organization_id, last_number) VALUES ($1, 1)
  ON CONFLICT (organization_id) DO UPDATE SET last_number = c.last_number + 1
  RETURNING last_number
), invoice AS (
  UPDATE invoices SET status = $3, number = (SELECT last_number FROM counter), issue_date = $4,
         due_date = $5, finalized_at = now(), paid_at = CASE WHEN $3 = 'paid' THEN now() END
   WHERE id = $2
  RETURNING {INVOICE_COLUMNS}
), entries AS (
  INSERT INTO journal_entries (organization_id, created_by, request_id, id, entry_date,
                               description)
  SELECT $1, $6, $7, e.id, e.entry_date, replace(e.description, '{NUMBER}', i.number::text)
    FROM invoice i, unnest($8::text[], $9::date[], $10::text[]) AS e(id, entry_date, description)
), postings AS (
  INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency, amount,
                        entry_date)
  SELECT $1, * FROM unnest($11::text[], $12::int2[], $13::text[], $14::text[], $15::int8[],
                           $16::date[])
), links AS (
  INSERT INTO invoice_entries (organization_id, invoice_id, kind, journal_entry_id)
  SELECT $1, $2, * FROM unnest($17::text[], $8::text[])
), moves AS (
  INSERT INTO receivable_entries (organization_id, invoice_id, journal_entry_id, entry_date,
                                  account_id, currency, amount)
  SELECT $1, * FROM unnest($18::text[], $19::text[], $20::date[], $21::text[], $22::text[],
                           $23::int8[])
)
SELECT * FROM invoice
"""


@dataclass(frozen=True, slots=True)
class Finalized:
    """The invoice's state at finalize, and what it posts."""

    status: billing.InvoiceStatus
    issue_date: datetime.date
    due_date: datetime.date
    posted: Sequence[tuple[billing.EntryKind, ledger.NewEntry]]
    """The entries, their descriptions naming the number as NUMBER."""
    moved: Sequence[receivables.Entry]


def _entry_columns(posted: Sequence[ledger.NewEntry]) -> list[list[object]]:
    return [[e.id for e in posted], [e.entry_date for e in posted], [e.description for e in posted]]


def _posting_columns(posted: Sequence[ledger.NewEntry]) -> list[list[object]]:
    lines = [(e, i, p) for e in posted for i, p in enumerate(e.postings)]
    return [
        [e.id for e, _, _ in lines],
        [i for _, i, _ in lines],
        [p.account_id for _, _, p in lines],
        [p.currency for _, _, p in lines],
        [p.signed for _, _, p in lines],
        [e.entry_date for e, _, _ in lines],
    ]


def _move_columns(moved: Sequence[receivables.Entry]) -> list[list[object]]:
    rows = [(entry, move) for entry in moved for move in entry.moves]
    return [
        [m.invoice_id for _, m in rows],
        [e.journal_entry_id for e, _ in rows],
        [e.entry_date for e, _ in rows],
        [e.account_id for e, _ in rows],
        [e.currency for e, _ in rows],
        [m.amount for _, m in rows],
    ]


async def finalize(
    conn: Connection,
    organization_id: str,
    invoice: Invoice,
    finalized: Finalized,
    *,
    created_by: str | None,
    request_id: str | None,
) -> Invoice:
    """Number the locked draft `invoice` and write what it posts; the invoice as it is now."""
    entries = [entry for _, entry in finalized.posted]
    row = await conn.fetchrow(
        _FINALIZE,
        organization_id,
        invoice.id,
        finalized.status.value,
        finalized.issue_date,
        finalized.due_date,
        created_by,
        request_id,
        *_entry_columns(entries),
        *_posting_columns(entries),
        [kind.value for kind, _ in finalized.posted],
        *_move_columns(finalized.moved),
    )
    assert row is not None
    links = [billing.PostedEntry(kind, entry.id) for kind, entry in finalized.posted]
    return invoice_of(row, invoice.lines, [*invoice.entries, *links])
