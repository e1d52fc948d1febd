"""SQL for the receivables sub-ledger (migration 0011): rows are only ever added."""

from __future__ import annotations

from accounting_api.db.connection import Connection
from accounting_api.domain import receivables


async def insert(conn: Connection, organization_id: str, entry: receivables.Entry) -> None:
    """The entry's moves, in the transaction that posts it (checked at commit against
    what the entry posts to receivable)."""
    if not entry.moves:
        return
    await conn.executemany(
        "INSERT INTO receivable_entries (organization_id, invoice_id, journal_entry_id,"
        " entry_date, account_id, currency, amount) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (
                organization_id,
                move.invoice_id,
                entry.journal_entry_id,
                entry.entry_date,
                entry.account_id,
                entry.currency,
                move.amount,
            )
            for move in entry.moves
        ],
    )


async def invoice_balance(conn: Connection, invoice_id: str) -> int:
    """What the invoice's receivable holds now."""
    balance = await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM receivable_entries WHERE invoice_id = $1",
        invoice_id,
    )
    return int(balance)
