"""SQL for revenue recognition schedules and the overdue mark on invoices."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain.recognition import Due, Piece, Scheduled


async def insert_schedule(
    conn: Connection,
    organization_id: str,
    invoice_id: str,
    pieces: Sequence[Piece],
    *,
    currency: str,
    deferred_account_id: str,
) -> None:
    if not pieces:
        return
    await conn.execute(
        "INSERT INTO revenue_recognitions (organization_id, invoice_id, currency,"
        " deferred_account_id, line_id, revenue_account_id, recognize_on, amount)"
        " SELECT $1, $2, $3, $4, * FROM unnest($5::text[], $6::text[], $7::date[], $8::int8[])",
        organization_id,
        invoice_id,
        currency,
        deferred_account_id,
        [p.line_id for p in pieces],
        [p.revenue_account_id for p in pieces],
        [p.recognize_on for p in pieces],
        [p.amount for p in pieces],
    )


async def organizations_with_due(conn: Connection, today: datetime.date) -> list[str]:
    rows = await conn.fetch("SELECT organizations_with_due_recognitions($1) AS id", today)
    return [row["id"] for row in rows]


def _due(row: asyncpg.Record) -> Due:
    return Due(**{name: value for name, value in row.items() if name != "posted"})


_COLUMNS = (
    "r.id, r.invoice_id, i.number AS invoice_number, r.line_id, r.currency,"
    " r.revenue_account_id, r.deferred_account_id, r.recognize_on,"
    " r.amount - r.amount_credited AS amount"
)
_FROM = " FROM revenue_recognitions r JOIN invoices i ON i.id = r.invoice_id"
_DUE = f"SELECT {_COLUMNS}{_FROM}"


async def claim_due(conn: Connection, today: datetime.date, limit: int) -> list[Due]:
    """Lock pending pieces due by today of the current tenant's unvoided invoices, with
    what credit notes left of them.

    SKIP LOCKED: pieces another worker holds are left to it; a piece it has
    recognized meanwhile is re-checked against `status = 'pending'` and dropped.
    """
    rows = await conn.fetch(
        f"{_DUE} WHERE r.organization_id = app_current_org() AND r.status = 'pending'"
        " AND r.recognize_on <= $1 AND i.status <> 'void'"
        " ORDER BY r.recognize_on, r.id LIMIT $2"
        " FOR UPDATE OF r SKIP LOCKED",
        today,
        limit,
    )
    return [_due(row) for row in rows]


async def lock_due(conn: Connection, through: datetime.date) -> list[Due]:
    """Every pending piece due by `through` of the current tenant's unvoided invoices,
    locked: waits for a worker posting one of them (which then is no longer pending)."""
    rows = await conn.fetch(
        f"{_DUE} WHERE r.organization_id = app_current_org() AND r.status = 'pending'"
        " AND r.recognize_on <= $1 AND i.status <> 'void'"
        " ORDER BY r.recognize_on, r.id FOR UPDATE OF r",
        through,
    )
    return [_due(row) for row in rows]


async def mark_recognized(conn: Connection, recognized: Sequence[tuple[int, str]]) -> None:
    """(piece id, journal entry id) pairs."""
    await conn.execute(
        "UPDATE revenue_recognitions r SET status = 'recognized', journal_entry_id = u.entry,"
        " recognized_at = now() FROM unnest($1::int8[], $2::text[]) AS u(id, entry)"
        " WHERE r.id = u.id",
        [piece_id for piece_id, _ in recognized],
        [entry_id for _, entry_id in recognized],
    )


async def closed_through(conn: Connection) -> datetime.date | None:
    value: datetime.date | None = await conn.fetchval(
        "SELECT max(ends_on) FROM accounting_periods WHERE organization_id = app_current_org()"
    )
    return value


async def lock_invoice_schedule(conn: Connection, invoice_id: str) -> list[asyncpg.Record]:
    """Every piece of an invoice, locked: waits for a worker posting one of them."""
    return await conn.fetch(
        "SELECT id, status, journal_entry_id FROM revenue_recognitions"
        " WHERE invoice_id = $1 ORDER BY id FOR UPDATE",
        invoice_id,
    )


async def lock_due_after(
    conn: Connection, invoice_id: str, after: datetime.date
) -> list[Scheduled]:
    """The invoice's pieces due after `after` that still hold revenue (pending or
    posted, not all credited), locked: waits for a worker posting one of them."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, r.status = 'recognized' AS posted{_FROM}"
        " WHERE r.invoice_id = $1 AND r.status IN ('pending', 'recognized')"
        " AND r.recognize_on > $2 AND r.amount > r.amount_credited"
        " ORDER BY r.recognize_on, r.id FOR UPDATE OF r",
        invoice_id,
        after,
    )
    return [Scheduled(_due(row), row["posted"]) for row in rows]


async def credit_pieces(conn: Connection, taken: Sequence[tuple[int, int]]) -> None:
    """(piece id, amount credited) pairs; a pending piece credited in full is cancelled
    (a posted one stays recognized: its credited part was reversed)."""
    await conn.execute(
        "UPDATE revenue_recognitions r SET amount_credited = r.amount_credited + u.part,"
        " status = CASE WHEN r.amount_credited + u.part = r.amount AND r.status = 'pending'"
        " THEN 'cancelled'"
        " ELSE r.status END FROM unnest($1::int8[], $2::int8[]) AS u(id, part) WHERE r.id = u.id",
        [piece_id for piece_id, _ in taken],
        [part for _, part in taken],
    )


async def cancel_pending(conn: Connection, piece_ids: Sequence[int]) -> None:
    await conn.execute(
        "UPDATE revenue_recognitions SET status = 'cancelled' WHERE id = ANY($1::int8[])",
        list(piece_ids),
    )


async def mark_reversed(conn: Connection, reversed_: Sequence[tuple[int, str]]) -> None:
    """(piece id, reversal entry id) pairs."""
    await conn.execute(
        "UPDATE revenue_recognitions r SET status = 'reversed', reversal_entry_id = u.entry"
        " FROM unnest($1::int8[], $2::text[]) AS u(id, entry) WHERE r.id = u.id",
        [piece_id for piece_id, _ in reversed_],
        [entry_id for _, entry_id in reversed_],
    )


async def organizations_with_overdue(conn: Connection, today: datetime.date) -> list[str]:
    rows = await conn.fetch("SELECT organizations_with_overdue_invoices($1) AS id", today)
    return [row["id"] for row in rows]


async def mark_overdue(conn: Connection, today: datetime.date, limit: int) -> list[str]:
    """Mark the current tenant's open invoices due before today; return their ids."""
    rows = await conn.fetch(
        "UPDATE invoices SET overdue_at = now() WHERE id IN ("
        " SELECT id FROM invoices WHERE organization_id = app_current_org()"
        " AND status = 'open' AND overdue_at IS NULL AND due_date < $1"
        " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)"
        " AND status = 'open' AND overdue_at IS NULL RETURNING id",
        today,
        limit,
    )
    return [row["id"] for row in rows]


async def forget_settled_due_dates(conn: Connection, today: datetime.date) -> None:
    """Drop the current tenant's watched due dates that need no more work: the invoice
    is marked overdue or no longer open. Invoices skipped as locked stay watched."""
    await conn.execute(
        "DELETE FROM invoice_due_watch w USING invoices i WHERE i.id = w.invoice_id"
        " AND w.organization_id = app_current_org() AND w.due_date < $1"
        " AND (i.status <> 'open' OR i.overdue_at IS NOT NULL)",
        today,
    )
