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

from accounting_api.db import posting
from accounting_api.db.billing import INVOICE_COLUMNS, invoice_of
from accounting_api.db.connection import Connection
from accounting_api.domain import billing, ledger, receivables
from accounting_api.domain.billing import Invoice

NUMBER = "{number}"
"""Stands for the invoice's number in the description of an entry it posts."""

_NUMBERED = f"replace(e.description, '{NUMBER}', i.number::text)"

_FINALIZE = f"""
WITH counter AS (
  INSERT INTO invoice_number_counters AS c (organization_id, last_number) VALUES ($1, 1)
  ON CONFLICT (organization_id) DO UPDATE SET last_number = c.last_number + 1
  RETURNING last_number
), invoice AS (
  UPDATE invoices SET status = $15, number = (SELECT last_number FROM counter),
         issue_date = $16, due_date = $17, finalized_at = now(),
         paid_at = CASE WHEN $15 = 'paid' THEN now() END
   WHERE id = $14
  RETURNING {INVOICE_COLUMNS}
), {posting.entries(_NUMBERED, ", invoice i")},
links AS (
  INSERT INTO invoice_entries (organization_id, invoice_id, kind, journal_entry_id)
  SELECT $1, $14, * FROM unnest($18::text[], $4::text[])
), {posting.moves(19)}
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
        *posting.entry_args(organization_id, entries, created_by=created_by, request_id=request_id),
        invoice.id,
        finalized.status.value,
        finalized.issue_date,
        finalized.due_date,
        [kind.value for kind, _ in finalized.posted],
        *posting.move_args(finalized.moved),
    )
    assert row is not None
    links = [billing.PostedEntry(kind, entry.id) for kind, entry in finalized.posted]
    return invoice_of(row, invoice.lines, [*invoice.entries, *links])
