"""SQL for credit notes, their numbers and lines, and customer credit applied to invoices.

Inserting a credit note or an application moves the running amounts (an invoice's
amount credited and credit applied, a credit note's or payment's amount applied)
through the triggers of migrations 0003 and 0007.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain import credit_notes
from accounting_api.domain.credit_notes import CreditLine, CreditNote, Source, SourceKind

_COLUMNS = (
    "id, number, invoice_id, customer_id, currency, reason, memo, amount, tax,"
    " pre_payment_amount, amount_applied, amount_refunded, credited_on, journal_entry_id,"
    " created_at, ARRAY(SELECT journal_entry_id FROM credit_note_entries e"
    " WHERE e.credit_note_id = credit_notes.id ORDER BY journal_entry_id)"
    " AS recognition_entry_ids"
)


def _credit_note(row: asyncpg.Record, lines: Sequence[CreditLine]) -> CreditNote:
    values = dict(row.items())
    reason = values.pop("reason")
    entries = tuple(values.pop("recognition_entry_ids"))
    return CreditNote(
        **values,
        reason=credit_notes.Reason(reason) if reason is not None else None,
        lines=tuple(lines),
        recognition_entry_ids=entries,
    )


async def next_number(conn: Connection, organization_id: str) -> int:
    """The organization's next credit note number, gap-free as invoice numbers are:
    the counter row stays locked to commit, and a rollback frees the number."""
    number = await conn.fetchval(
        "INSERT INTO credit_note_number_counters AS c (organization_id, last_number)"
        " VALUES ($1, 1) ON CONFLICT (organization_id) DO UPDATE"
        " SET last_number = c.last_number + 1 RETURNING last_number",
        organization_id,
    )
    return int(number)


async def credited_by_line(conn: Connection, invoice_id: str) -> dict[str, credit_notes.Credited]:
    """Line id -> what its invoice's credit notes took so far: amount, tax, and the
    quantity credits by quantity took."""
    rows = await conn.fetch(
        "SELECT l.line_id, sum(l.amount) AS amount, sum(l.tax) AS tax,"
        " coalesce(sum(l.quantity_milli), 0) AS quantity_milli FROM credit_note_lines l"
        " JOIN credit_notes n ON n.id = l.credit_note_id WHERE n.invoice_id = $1"
        " GROUP BY l.line_id",
        invoice_id,
    )
    return {
        row["line_id"]: credit_notes.Credited(
            int(row["amount"]), int(row["tax"]), int(row["quantity_milli"])
        )
        for row in rows
    }


async def insert_credit_note(conn: Connection, organization_id: str, note: CreditNote) -> None:
    """The credit note, its lines, and the application of its pre-payment part to its
    invoice."""
    await conn.execute(
        "INSERT INTO credit_notes (organization_id, id, number, invoice_id, customer_id,"
        " currency, reason, memo, amount, tax, pre_payment_amount, credited_on,"
        " journal_entry_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        organization_id,
        note.id,
        note.number,
        note.invoice_id,
        note.customer_id,
        note.currency,
        note.reason.value if note.reason else None,
        note.memo,
        note.amount,
        note.tax,
        note.pre_payment_amount,
        note.credited_on,
        note.journal_entry_id,
    )
    await conn.executemany(
        "INSERT INTO credit_note_lines (organization_id, credit_note_id, line_id, position,"
        " quantity_milli, amount, tax, deferred) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (organization_id, note.id, c.line_id, i, c.quantity_milli, c.amount, c.tax, c.deferred)
            for i, c in enumerate(note.lines)
        ],
    )
    if note.pre_payment_amount:
        source = Source(SourceKind.CREDIT_NOTE, note.id, note.amount, note.created_at)
        invoice = (note.invoice_id, note.customer_id, note.currency)
        await apply_credit(conn, organization_id, invoice, [(source, note.pre_payment_amount)])


async def insert_recognition_entries(
    conn: Connection, organization_id: str, note_id: str, entry_ids: Sequence[str]
) -> None:
    """Link the entries that took back recognized revenue to the credit note (0032)."""
    await conn.executemany(
        "INSERT INTO credit_note_entries (organization_id, credit_note_id, journal_entry_id)"
        " VALUES ($1, $2, $3)",
        [(organization_id, note_id, entry_id) for entry_id in entry_ids],
    )


async def _lines(conn: Connection, note_ids: Sequence[str]) -> dict[str, list[CreditLine]]:
    found: dict[str, list[CreditLine]] = {n: [] for n in note_ids}
    for row in await conn.fetch(
        "SELECT credit_note_id, line_id, quantity_milli, amount, tax, deferred"
        " FROM credit_note_lines WHERE credit_note_id = ANY($1::text[])"
        " ORDER BY credit_note_id, position",
        list(note_ids),
    ):
        values = dict(row.items())
        found[values.pop("credit_note_id")].append(CreditLine(**values))
    return found


async def get_credit_note(
    conn: Connection, note_id: str, *, lock: bool = False
) -> CreditNote | None:
    """The credit note; held FOR UPDATE with `lock` (a refund of its credit)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM credit_notes WHERE id = $1{' FOR UPDATE' if lock else ''}",
        note_id,
    )
    if row is None:
        return None
    return _credit_note(row, (await _lines(conn, [note_id]))[note_id])


async def list_credit_notes(
    conn: Connection,
    *,
    limit: int,
    before: str | None,
    invoice_id: str | None,
    customer_id: str | None,
) -> list[CreditNote]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM credit_notes"
        " WHERE organization_id = app_current_org() AND ($1::text IS NULL OR id < $1)"
        "   AND ($3::text IS NULL OR invoice_id = $3) AND ($4::text IS NULL OR customer_id = $4)"
        " ORDER BY id DESC LIMIT $2",
        before,
        limit,
        invoice_id,
        customer_id,
    )
    lines = await _lines(conn, [row["id"] for row in rows])
    return [_credit_note(row, lines[row["id"]]) for row in rows]


# --- customer credit -------------------------------------------------------------------


async def lock_credit_sources(
    conn: Connection, customer_id: str, on_or_before: datetime.date
) -> list[Source]:
    """The customer's payments and credit notes dated by `on_or_before` that hold credit,
    locked (payments first, each in id order, as refunds lock a payment before its
    invoices); rows drained meanwhile are re-checked after the wait and left out."""
    payments = await conn.fetch(
        "SELECT id, amount - amount_applied - amount_refunded AS available, created_at"
        " FROM payments WHERE customer_id = $1 AND received_on <= $2"
        " AND amount > amount_applied + amount_refunded ORDER BY id FOR UPDATE",
        customer_id,
        on_or_before,
    )
    notes = await conn.fetch(
        "SELECT id, amount - amount_applied - amount_refunded AS available, created_at"
        " FROM credit_notes WHERE customer_id = $1 AND credited_on <= $2"
        " AND amount > amount_applied + amount_refunded"
        " ORDER BY id FOR UPDATE",
        customer_id,
        on_or_before,
    )
    return [Source(SourceKind.PAYMENT, **dict(r.items())) for r in payments] + [
        Source(SourceKind.CREDIT_NOTE, **dict(r.items())) for r in notes
    ]


_APPLY_PAYMENT = (
    "INSERT INTO payment_applications AS a (organization_id, payment_id, invoice_id, currency,"
    " position, amount) SELECT $1, $2, $3, $4, coalesce(max(position) + 1, 0), $5"
    " FROM payment_applications WHERE payment_id = $2"
    " ON CONFLICT (payment_id, invoice_id) DO UPDATE SET amount = a.amount + EXCLUDED.amount"
)
_APPLY_CREDIT_NOTE = (
    "INSERT INTO credit_note_applications AS a (organization_id, credit_note_id, invoice_id,"
    " currency, amount, customer_id) VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT (credit_note_id, invoice_id) DO UPDATE SET amount = a.amount + EXCLUDED.amount"
)


async def apply_credit(
    conn: Connection,
    organization_id: str,
    invoice: tuple[str, str, str],
    drawn: Sequence[tuple[Source, int]],
) -> None:
    """Move (source, amount) credit onto the (id, customer, currency) invoice; an
    application of the same source to the same invoice grows."""
    invoice_id, customer_id, currency = invoice
    for source, amount in drawn:
        args = (organization_id, source.id, invoice_id, currency, amount)
        if source.kind is SourceKind.PAYMENT:
            await conn.execute(_APPLY_PAYMENT, *args)
        else:
            await conn.execute(_APPLY_CREDIT_NOTE, *args, customer_id)
